//! What is specific to SQLite: the connection options. WAL so that readers (the CLI) never block
//! the daemon; `synchronous=FULL` so that a committed transaction survives power loss; a busy
//! timeout so that the CLI and the daemon wait for each other instead of failing.

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections that read.
pub(super) const READERS: u32 = 4;

/// A pool of at most `connections` to the database at `path`.
pub(super) async fn connect(path: &Path, connections: u32) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    // A local file cannot go away like a server's socket: no ping before each use (with
    // sqlx-sqlite a round trip to the connection's thread per statement).
    SqlitePoolOptions::new()
        .max_connections(connections)
        .test_before_acquire(false)
        .connect_with(options)
        .await
}
