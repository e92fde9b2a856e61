//! Opening the store: a SQLite file (the embedded default) or a PostgreSQL database (`[store]
//! url`, several nodes sharing it). Both go through sqlx's `Any` driver, so that one set of
//! statements serves both: placeholders are `$1`, `$2`… (SQLite reads them too), times integer
//! milliseconds, enums text, no function only one of them has. What differs lives here and in
//! `Backend`: SQLite's connection settings (WAL so that readers such as the CLI never block the
//! daemon; `synchronous=FULL` so that a committed transaction survives power loss; a busy
//! timeout so that the CLI and the daemon wait for each other instead of failing) and the way a
//! write transaction starts.

use sqlx::AnyPool;
use sqlx::Connection;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// SQLite: connections that read (one more writes).
pub(super) const READERS: u32 = 4;
/// PostgreSQL: a connection idle this long is pinged before it is used.
const IDLE_PING: Duration = Duration::from_secs(1);
/// PostgreSQL: connections that write, at most.
const WRITERS: u32 = 4;
/// How long a statement waits for SQLite's lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a connection to PostgreSQL may take before the store is called unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `[store]`: where jobs are kept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://user:password@host:port/database` (TLS to the server with
    /// `?sslmode=verify-full&sslrootcert=/path/ca.pem`): the database several nodes share.
    /// Without it, a SQLite file under data_dir (one node).
    pub url: Option<String>,
    /// PostgreSQL: connections this node keeps at most for reading (one more writes).
    pub connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            connections: 8,
        }
    }
}

impl StoreConfig {
    /// Where the store is: the URL's database, or `faxhub.db` under `data_dir`.
    pub fn target(&self, data_dir: &Path) -> Result<Target, String> {
        let Some(url) = &self.url else {
            return Ok(Target::File(data_dir.join("faxhub.db")));
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(format!(
                "store.url: {} is not a postgres:// URL",
                redacted(url)
            ));
        }
        if !(1..=1000).contains(&self.connections) {
            return Err("store.connections must be from 1 to 1000".into());
        }
        Ok(Target::Postgres {
            url: url.clone(),
            connections: self.connections,
        })
    }
}

/// `url` without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let password = if userinfo.contains(':') { ":…" } else { "" };
            format!("{user}{password}@{host}")
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=…"),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Which database holds the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file.
    File(PathBuf),
    /// A PostgreSQL database: its `postgres://` URL and how many connections to keep at most.
    Postgres { url: String, connections: u32 },
}

/// The database behind a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The database's clock in milliseconds since the Unix epoch, as SQL: leases are judged by
    /// it, so that nodes whose clocks differ agree on when one expired.
    pub(super) fn now_ms(self) -> &'static str {
        match self {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS BIGINT)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// What a SELECT of rows a transaction will claim ends with: PostgreSQL locks them and
    /// passes over those another node's transaction holds; SQLite's one writer needs nothing.
    pub(super) fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// How a transaction that will write starts: SQLite's IMMEDIATE takes the write lock at
    /// once (one that read first and wrote later would fail with "database is locked" whenever
    /// another connection wrote in between, instead of waiting its turn).
    pub(super) fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }
}

impl std::fmt::Display for Target {
    /// The file, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::File(path) => write!(f, "{}", path.display()),
            Target::Postgres { url, .. } => f.write_str(&redacted(url)),
        }
    }
}

impl Target {
    pub fn backend(&self) -> Backend {
        match self {
            Target::File(_) => Backend::Sqlite,
            Target::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The pools: readers, and those this process writes through: on SQLite one connection (its
    /// writers queue there, in order, instead of meeting at the file's lock), on PostgreSQL a few.
    pub(super) async fn pools(&self) -> Result<(AnyPool, AnyPool), sqlx::Error> {
        sqlx::any::install_default_drivers();
        match self {
            Target::File(path) => Ok((sqlite(path, READERS).await?, sqlite(path, 1).await?)),
            Target::Postgres { url, connections } => {
                // sqlx pings a connection when it goes back to the pool, and by default again
                // when it is taken: one more round trip per statement. Taken here, it is pinged
                // only if it might have died since its release: idle for IDLE_PING, or
                // released before a statement last failed for its connection (the server
                // restarted: the first failure has every older connection checked).
                let pool = |n: u32| {
                    AnyPoolOptions::new()
                        .max_connections(n)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .test_before_acquire(false)
                        .before_acquire(|conn, meta| {
                            Box::pin(async move {
                                if meta.idle_for >= IDLE_PING || released_before_loss(meta.idle_for)
                                {
                                    conn.ping().await?;
                                }
                                Ok(true)
                            })
                        })
                        .connect(url)
                };
                // several writers: the scheduler's claims need not wait for an intake commit
                // (the claims are safe between nodes, so between a node's tasks too)
                let connections = (*connections).max(1);
                Ok((
                    pool(connections).await?,
                    pool(connections.min(WRITERS)).await?,
                ))
            }
        }
    }
}

/// Milliseconds after `EPOCH` when a statement last failed for its connection (0: never).
static LOST_AT_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();

fn since_epoch() -> Duration {
    EPOCH.get_or_init(Instant::now).elapsed()
}

/// Notes when a statement failed because its connection did (not for what the statement did).
pub(super) fn note_lost_connection(e: &sqlx::Error) {
    if matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_)
    ) {
        LOST_AT_MS.store(since_epoch().as_millis() as u64 + 1, Ordering::Relaxed);
    }
}

/// Whether a connection idle for `idle_for` went back to the pool before (or as) a connection
/// was last lost.
fn released_before_loss(idle_for: Duration) -> bool {
    let lost = LOST_AT_MS.load(Ordering::Relaxed);
    lost != 0 && since_epoch().saturating_sub(idle_for).as_millis() as u64 <= lost
}

/// A pool of at most `connections` to the SQLite file at `path` (created if missing).
async fn sqlite(path: &Path, connections: u32) -> Result<AnyPool, sqlx::Error> {
    let url = format!("sqlite://{}?mode=rwc", percent_encoded(path));
    let pragmas = format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = {};",
        BUSY_TIMEOUT.as_millis()
    );
    // A local file cannot go away like a server's socket: no ping before each use (with
    // sqlx-sqlite a round trip to the connection's thread per statement).
    AnyPoolOptions::new()
        .max_connections(connections)
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            let pragmas = pragmas.clone();
            Box::pin(async move {
                conn.execute(pragmas.as_str()).await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
}

/// `path` with every byte but unreserved ones and `/` percent-encoded, as sqlx decodes it.
fn percent_encoded(path: &Path) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        for (url, shown) in [
            (
                "postgres://fax:s3cret@db.example.com:5432/faxhub",
                "postgres://fax:…@db.example.com:5432/faxhub",
            ),
            (
                "postgres://fax@db/faxhub?sslmode=verify-full",
                "postgres://fax@db/faxhub?sslmode=verify-full",
            ),
            ("postgres://fax:p@ss@db/x", "postgres://fax:…@db/x"),
            (
                "postgres://db/x?sslmode=require&password=y",
                "postgres://db/x?sslmode=require&password=…",
            ),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
        let config = StoreConfig {
            url: Some("mysql://a:b@c/d".into()),
            ..Default::default()
        };
        assert_eq!(
            config.target(Path::new("/x")).unwrap_err(),
            "store.url: mysql://a:…@c/d is not a postgres:// URL"
        );
    }

    #[test]
    fn a_path_is_percent_encoded_for_the_url() {
        assert_eq!(
            percent_encoded(Path::new("/var/lib/faxhub/faxhub.db")),
            "/var/lib/faxhub/faxhub.db"
        );
        assert_eq!(
            percent_encoded(Path::new("/tmp/a b?mode=ro#x%")),
            "/tmp/a%20b%3Fmode%3Dro%23x%25"
        );
    }
}
