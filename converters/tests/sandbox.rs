//! The converters' sandbox under attack: what runs inside cannot read the server's files (its
//! store, its configuration, `/etc/shadow`, a file beside its work directory), cannot connect
//! anywhere, and is stopped at its memory and CPU ceilings. Each attack is first shown to work
//! with the sandbox off (the control), so no test passes by accident.

use faxhub_converters::exec::{self, ExecError, Output};
use faxhub_converters::{ConvertConfig, Converter, Sandbox, SandboxConfig, SandboxMode};
use std::path::Path;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

fn sandbox(scratch: &Path, tweak: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut config = SandboxConfig::default();
    tweak(&mut config);
    Sandbox::new(&config, scratch).expect("the sandbox's support files")
}

fn unsandboxed(scratch: &Path) -> Sandbox {
    sandbox(scratch, |c| c.mode = SandboxMode::Off)
}

async fn sh(sandbox: &Sandbox, work: &Path, script: &str) -> Output {
    exec::run(sandbox, "/bin/sh", ["-c", script], work, TIMEOUT)
        .await
        .expect("sh runs")
}

/// A work directory and, beside it, what faxhub keeps to itself: a store, a configuration.
struct Server {
    root: tempfile::TempDir,
}

impl Server {
    fn new() -> Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("data/spool/tmp/job1")).unwrap();
        std::fs::write(root.path().join("data/faxhub.db"), "STORE-CANARY").unwrap();
        std::fs::write(
            root.path().join("faxhub.toml"),
            "password = \"CONFIG-CANARY\"",
        )
        .unwrap();
        Server { root }
    }
    fn work(&self) -> std::path::PathBuf {
        self.root.path().join("data/spool/tmp/job1")
    }
    fn scratch(&self) -> std::path::PathBuf {
        self.root.path().join("data/spool/tmp")
    }
    fn secrets(&self) -> String {
        format!(
            "{} {}",
            self.root.path().join("data/faxhub.db").display(),
            self.root.path().join("faxhub.toml").display()
        )
    }
}

#[tokio::test]
async fn a_converter_cannot_read_the_store_the_configuration_or_the_shadow_file() {
    let server = Server::new();
    let script = format!(
        "cat {} 2>&1; cat /etc/shadow 2>&1 | head -c 200; true",
        server.secrets()
    );
    let control = sh(&unsandboxed(&server.scratch()), &server.work(), &script).await;
    let seen = String::from_utf8_lossy(&control.stdout);
    assert!(
        seen.contains("STORE-CANARY") && seen.contains("CONFIG-CANARY"),
        "control: unsandboxed, the files are read: {seen}"
    );
    let inside = sh(&sandbox(&server.scratch(), |_| {}), &server.work(), &script).await;
    let seen = String::from_utf8_lossy(&inside.stdout);
    assert!(
        !seen.contains("CANARY") && !seen.contains("root:"),
        "sandboxed: {seen}"
    );
    assert!(seen.contains("No such file"), "{seen}");
}

#[tokio::test]
async fn a_converter_runs_as_the_sandbox_user_with_no_capabilities_and_sees_no_home() {
    let server = Server::new();
    let inside = sh(
        &sandbox(&server.scratch(), |_| {}),
        &server.work(),
        "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; ls /home /root 2>&1; \
         touch /usr/x 2>&1; echo written > here && cat here",
    )
    .await;
    let text = String::from_utf8_lossy(&inside.stdout);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        assert!(text.starts_with("65534\n"), "as nobody: {text}");
    }
    assert!(text.contains("CapEff:\t0000000000000000"), "{text}");
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    assert!(
        text.contains("/home") && text.contains("No such file"),
        "{text}"
    );
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(
        text.contains("written"),
        "the work directory is writable: {text}"
    );
}

#[tokio::test]
async fn a_converter_cannot_connect_anywhere() {
    let server = Server::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = format!(
        "/usr/bin/python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 5); print('connected')\" 2>&1"
    );
    let control = sh(&unsandboxed(&server.scratch()), &server.work(), &connect).await;
    assert!(
        String::from_utf8_lossy(&control.stdout).contains("connected"),
        "control: unsandboxed, the listener is reached: {control:?}"
    );
    listener.set_nonblocking(true).unwrap();
    while listener.accept().is_ok() {}
    let inside = sh(
        &sandbox(&server.scratch(), |_| {}),
        &server.work(),
        &connect,
    )
    .await;
    let text = String::from_utf8_lossy(&inside.stdout);
    assert!(!text.contains("connected"), "{text}");
    assert!(
        text.contains("Connection refused") || text.contains("unreachable"),
        "{text}"
    );
    assert!(listener.accept().is_err(), "nothing reached the listener");
}

#[tokio::test]
async fn a_converter_is_stopped_at_its_memory_ceiling() {
    let server = Server::new();
    // 1 GB, touched
    let grow = "/usr/bin/python3 -c \"b = bytearray(1 << 30); b[::4096] = b'x' * (1 << 18); print('allocated')\" 2>&1";
    let control = sh(&unsandboxed(&server.scratch()), &server.work(), grow).await;
    assert!(
        String::from_utf8_lossy(&control.stdout).contains("allocated"),
        "control: under the default 3 GB ceiling the allocation succeeds: {control:?}"
    );
    let small = sandbox(&server.scratch(), |c| c.memory = 300_000_000);
    let inside = sh(&small, &server.work(), grow).await;
    let text = String::from_utf8_lossy(&inside.stdout);
    assert!(!text.contains("allocated"), "{text}");
    assert!(text.contains("MemoryError"), "{text}");
}

#[tokio::test]
async fn a_converter_is_stopped_at_its_cpu_ceiling_before_its_timeout() {
    let server = Server::new();
    let one_second = sandbox(&server.scratch(), |c| c.cpu = Duration::from_secs(1));
    let spin = exec::run(
        &one_second,
        "/bin/sh",
        ["-c", "while :; do :; done"],
        &server.work(),
        TIMEOUT,
    )
    .await;
    // killed by SIGXCPU (or SIGKILL at the hard limit), not by faxhub's time-out
    let out = match spin {
        Ok(out) => out,
        Err(ExecError::Timeout { .. }) => panic!("the CPU ceiling did not stop the loop"),
        Err(e) => panic!("{e}"),
    };
    assert!(!out.status.success(), "{out:?}");
}

#[tokio::test]
async fn a_postscript_that_allocates_without_end_fails_with_a_reason() {
    let server = Server::new();
    // strings kept on the operand stack: Ghostscript's memory grows until something stops it
    let bomb = b"%!PS\n/a 0 def { 10000000 string } loop\nshowpage\n";
    let config = ConvertConfig {
        sandbox: SandboxConfig {
            memory: 400_000_000,
            ..SandboxConfig::default()
        },
        ..ConvertConfig::default()
    };
    let converter = Converter::new(config).with_scratch(server.scratch());
    let err = converter
        .convert_file("bomb.ps", bomb, &server.work())
        .await
        .expect_err("the bomb has no pages");
    let text = err.to_string();
    assert!(text.starts_with("bomb.ps: "), "named: {text}");
    assert!(
        !matches!(err, faxhub_converters::ConvertError::Timeout { .. }),
        "{text}"
    );
}

#[tokio::test]
async fn the_probe_finds_a_missing_bwrap_and_a_visible_secret() {
    let server = Server::new();
    let good = sandbox(&server.scratch(), |_| {});
    good.probe(
        &server.scratch(),
        &[&server.root.path().join("faxhub.toml")],
    )
    .await
    .expect("bwrap works here");
    let off = unsandboxed(&server.scratch());
    off.probe(&server.scratch(), &[])
        .await
        .expect("off is not probed");
    // a path the sandbox shows (a system file) is reported as visible
    let err = good
        .probe(&server.scratch(), &[Path::new("/usr/bin/gs")])
        .await
        .unwrap_err();
    assert!(err.contains("/usr/bin/gs inside"), "{err}");
}
