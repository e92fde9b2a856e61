//! For tests: a private PostgreSQL server, one per test process, started on first use from
//! Debian's binaries (`/usr/lib/postgresql/<version>/bin`) in a directory of its own under the
//! temporary directory, listening only on a Unix socket there (no TCP port to collide on), as
//! the `postgres` user when the tests run as root (initdb refuses root). It stops (fast
//! shutdown) when the test process ends, by the parent-death signal; a directory a killed run
//! left behind is removed by the next one. Each test takes a database of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running server.
pub struct PgServer {
    /// Where its data and socket are.
    pub dir: PathBuf,
    /// The postmaster's process id.
    pub pid: u32,
    root: bool,
    /// Settings beyond the defaults (`-c name=value`).
    settings: Vec<String>,
    /// Its port (the Unix socket's name says it too).
    port: u16,
}

const PREFIX: &str = "faxhub-pg-";

/// This process's server, started on first call.
pub fn server() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        start(&std::process::id().to_string())
            .unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"))
    })
}

/// A new empty database on this process's server; its URL.
pub fn database() -> String {
    server().database()
}

impl PgServer {
    /// A server of its own (`tag` tells it from the others of this process), for a test that
    /// stops and starts it.
    pub fn start(tag: &str) -> PgServer {
        start(&format!("{}-{tag}", std::process::id()))
            .unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"))
    }

    /// A server of its own that also listens on 127.0.0.1:`port` with TLS only there (a
    /// certificate for `localhost` from a CA made for it); its CA certificate's path.
    pub fn start_tls(tag: &str, port: u16) -> (PgServer, PathBuf) {
        let mut server = PgServer::start(tag);
        server.stop();
        let ca = tls_files(&server.dir, server.root).unwrap_or_else(|e| panic!("TLS files: {e}"));
        let dir = server.dir.display().to_string();
        server.port = port;
        server.settings = vec![
            "listen_addresses=127.0.0.1".into(),
            "ssl=on".into(),
            format!("ssl_cert_file={dir}/server.pem"),
            format!("ssl_key_file={dir}/server.key"),
        ];
        // TLS or nothing over TCP; the socket stays for psql
        std::fs::write(
            server.dir.join("data/pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        server.restart();
        (server, ca)
    }

    /// Stops it (fast shutdown: clients are disconnected) and waits until it is gone.
    pub fn stop(&mut self) {
        // SAFETY: kill(2) with a pid this process started
        unsafe { libc::kill(self.pid as i32, libc::SIGINT) };
        let start = Instant::now();
        while Path::new("/proc").join(self.pid.to_string()).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .unwrap_or_default()
                .contains(") Z")
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "PostgreSQL did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts it again after `stop`.
    pub fn restart(&mut self) {
        self.pid = run(&self.dir, self.root, &self.settings, self.port)
            .unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    }

    /// A new empty database; its URL.
    pub fn database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}", N.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// The URL of database `name` (user `faxhub`, trusted on the socket).
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://faxhub@localhost/{name}?host={}",
            self.dir.display()
        )
    }

    /// Runs `sql` in database `db` with psql; its output (panics if it fails).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(bin("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "faxhub", "-d", db, "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// The newest PostgreSQL's binary `name` (psql also from /usr/bin).
fn bin(name: &str) -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.file_name().to_str()?.parse().ok()?, e.path()))
        })
        .collect();
    versions.sort();
    versions
        .last()
        .map(|(_, dir)| dir.join("bin").join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn start(tag: &str) -> Result<PgServer, String> {
    sweep();
    let dir = std::env::temp_dir().join(format!("{PREFIX}{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: geteuid has no preconditions
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        let chown = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !chown.success() {
            return Err("no postgres user to run the server as (apt install postgresql)".into());
        }
    }
    let init = as_server(root, bin("initdb"))
        .arg("-D")
        .arg(dir.join("data"))
        .args([
            "-A",
            "trust",
            "-U",
            "faxhub",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ])
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !init.status.success() {
        return Err(format!("initdb: {}", String::from_utf8_lossy(&init.stderr)));
    }
    let pid = run(&dir, root, &[], 5432)?;
    Ok(PgServer {
        dir,
        pid,
        root,
        settings: Vec::new(),
        port: 5432,
    })
}

/// `program` as the server's user (`postgres` when the tests run as root), ended by SIGINT
/// (fast shutdown) when the thread that starts it ends.
fn as_server(root: bool, program: PathBuf) -> Command {
    let mut c = Command::new("setpriv");
    if root {
        c.args([
            "--reuid",
            "postgres",
            "--regid",
            "postgres",
            "--clear-groups",
        ]);
    }
    c.arg("--pdeathsig").arg("INT").arg(program);
    c
}

/// Starts the server of `dir` and waits until it answers; its pid.
fn run(dir: &Path, root: bool, settings: &[String], port: u16) -> Result<u32, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .map_err(|e| e.to_string())?;
    let mut command = as_server(root, bin("postgres"));
    command
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-k")
        .arg(dir)
        .args([
            "-c",
            "listen_addresses=",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "shared_buffers=16MB",
            "-c",
            "max_connections=300",
            "-c",
            "dynamic_shared_memory_type=mmap",
        ])
        .arg("-p")
        .arg(port.to_string())
        .args(settings.iter().flat_map(|s| ["-c", s.as_str()]))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    // The parent-death signal goes when the thread that started the child ends: one that
    // lives as long as the server.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || match command.spawn() {
        Ok(mut child) => {
            let _ = tx.send(Ok(child.id()));
            let _ = child.wait();
        }
        Err(e) => {
            let _ = tx.send(Err(format!("postgres: {e}")));
        }
    });
    let pid = rx.recv().map_err(|e| e.to_string())??;
    let start = Instant::now();
    while !ready(dir, port) {
        if start.elapsed() > Duration::from_secs(60) {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            return Err(format!("the server did not answer within a minute:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(pid)
}

/// A CA and a certificate for `localhost` signed by it, in `dir` (the key readable by the
/// server only); the CA certificate's path.
fn tls_files(dir: &Path, root: bool) -> Result<PathBuf, String> {
    let openssl = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    std::fs::write(dir.join("san.cnf"), "subjectAltName=DNS:localhost\n")
        .map_err(|e| e.to_string())?;
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=faxhub test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
        "-out",
        "server.pem",
    ])?;
    let key = dir.join("server.key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    if root {
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&key)
            .arg(dir.join("server.pem"))
            .status()
            .map_err(|e| e.to_string())?;
        if !chown.success() {
            return Err("chown of the server key failed".into());
        }
    }
    Ok(dir.join("ca.pem"))
}

fn ready(dir: &Path, port: u16) -> bool {
    Command::new(bin("pg_isready"))
        .arg("-q")
        .arg("-h")
        .arg(dir)
        .arg("-p")
        .arg(port.to_string())
        .status()
        .is_ok_and(|s| s.success())
}

/// Removes the directories of servers whose test process is gone.
fn sweep() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
