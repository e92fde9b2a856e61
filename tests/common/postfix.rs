//! A private Postfix instance for tests, started and stopped by the test (it plays the site's
//! mail system: Exchange, Domino). Its config, queue and log live under
//! `/var/tmp/faxhub-tests/postfix-<name>/`; the system Postfix is untouched except that the
//! default `main.cf` must list the private config directory in `alternate_config_directories`
//! (Postfix refuses `-c DIR` otherwise), which `start` arranges.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BASE: &str = "/var/tmp/faxhub-tests";
const DEFAULT_MAIN_CF: &str = "/etc/postfix/main.cf";
static MAIN_CF_LOCK: Mutex<()> = Mutex::new(());

pub struct Postfix {
    pub dir: PathBuf,
    pub port: u16,
}

impl Postfix {
    /// Starts an instance listening on a free loopback port. `main_extra` is appended to its
    /// main.cf (relay and transport settings).
    pub fn start(name: &str, main_extra: &str) -> Postfix {
        Postfix::start_on(name, super::free_port(), main_extra)
    }

    /// Starts an instance listening on `port`.
    pub fn start_on(name: &str, port: u16, main_extra: &str) -> Postfix {
        assert!(
            Path::new("/usr/sbin/postfix").exists(),
            "Postfix must be installed for this test: run `make test`, which installs it"
        );
        let dir = PathBuf::from(format!("{BASE}/postfix-{name}"));
        let conf = dir.join("conf");
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&conf)
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        run(
            "chown",
            &["postfix:postfix", &dir.join("data").display().to_string()],
        );
        allow_config_dir(&conf);
        let master = std::fs::read_to_string("/etc/postfix/master.cf.proto").unwrap();
        let master: String = master
            .lines()
            .map(|l| {
                if l.starts_with("smtp      inet") {
                    format!("127.0.0.1:{port} inet n - n - - smtpd")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(conf.join("master.cf"), master + "\n").unwrap();
        let main = format!(
            "compatibility_level = 3.6\nqueue_directory = {d}/queue\ndata_directory = {d}/data\nmail_owner = postfix\n\
             setgid_group = postdrop\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmyhostname = postfix.test\n\
             mydestination =\nmynetworks = 127.0.0.0/8\nmaillog_file = {d}/maillog\nmaillog_file_prefixes = {BASE}\n\
             smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n{main_extra}\n",
            d = dir.display()
        );
        std::fs::write(conf.join("main.cf"), main).unwrap();
        let out = Command::new("script")
            .arg("-qc")
            .arg(format!("postfix -c {} start", conf.display()))
            .arg("/dev/null")
            .output()
            .unwrap();
        let pf = Postfix { dir, port };
        assert!(
            out.status.success(),
            "postfix start: {} {}",
            String::from_utf8_lossy(&out.stdout),
            pf.log()
        );
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "postfix did not listen: {}",
                pf.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        pf
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Stops the instance (its queue stays): the relay is down.
    pub fn stop(&self) {
        let out = Command::new("postfix")
            .arg("-c")
            .arg(self.dir.join("conf"))
            .arg("stop")
            .output()
            .unwrap();
        assert!(out.status.success(), "postfix stop: {}", self.log());
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "postfix still listens"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts it again, on the same port.
    pub fn start_again(&self) {
        let out = Command::new("script")
            .arg("-qc")
            .arg(format!(
                "postfix -c {} start",
                self.dir.join("conf").display()
            ))
            .arg("/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "postfix start: {}", self.log());
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "postfix did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// main.cf lines that deliver `mailboxes` (local parts of example.com) into Maildirs under
    /// `<dir>/mail/<local part>/` (Postfix's virtual delivery agent, as nobody).
    pub fn maildirs(name: &str, mailboxes: &[&str]) -> String {
        let base = PathBuf::from(format!("{BASE}/postfix-{name}-mail"));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        run("chown", &["nobody:nogroup", &base.display().to_string()]);
        let maps: Vec<String> = mailboxes
            .iter()
            .map(|m| format!("{m}@example.com={m}/"))
            .collect();
        format!(
            "virtual_mailbox_domains = example.com\nvirtual_mailbox_base = {}\n\
             virtual_mailbox_maps = inline:{{{}}}\nvirtual_uid_maps = static:65534\nvirtual_gid_maps = static:65534\n",
            base.display(),
            maps.join(", ")
        )
    }

    /// The Maildir of `mailbox` set up by `maildirs`.
    pub fn maildir(name: &str, mailbox: &str) -> PathBuf {
        PathBuf::from(format!("{BASE}/postfix-{name}-mail/{mailbox}"))
    }

    /// A CA and a certificate it signed for localhost and 127.0.0.1 (openssl), under `dir`:
    /// returns (ca.pem, cert.pem, key.pem), and the main.cf lines for STARTTLS with them.
    pub fn tls(dir: &Path) -> ((PathBuf, PathBuf, PathBuf), String) {
        let ca_key = dir.join("ca.key");
        let ca = dir.join("ca.pem");
        let key = dir.join("key.pem");
        let csr = dir.join("req.csr");
        let cert = dir.join("cert.pem");
        let ext = dir.join("ext.cnf");
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1
",
        )
        .unwrap();
        let p = |p: &PathBuf| p.display().to_string();
        run(
            "openssl",
            &[
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
                &p(&ca_key),
                "-out",
                &p(&ca),
            ],
        );
        run(
            "openssl",
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                &p(&key),
                "-out",
                &p(&csr),
            ],
        );
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &p(&csr),
                "-CA",
                &p(&ca),
                "-CAkey",
                &p(&ca_key),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &p(&ext),
                "-out",
                &p(&cert),
            ],
        );
        run("chmod", &["644", &p(&key)]);
        let main = format!(
            "smtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\nsmtpd_tls_security_level = may\nsmtpd_tls_loglevel = 1\n",
            cert.display(),
            key.display()
        );
        ((ca, cert, key), main)
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(self.dir.join("conf"))
            .arg("stop")
            .output();
    }
}

fn run(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd).args(args).status().unwrap();
    assert!(status.success(), "{cmd} {args:?}");
}

/// Adds `conf` to `alternate_config_directories` in the default main.cf, once.
fn allow_config_dir(conf: &Path) {
    let _guard = MAIN_CF_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let text = std::fs::read_to_string(DEFAULT_MAIN_CF).unwrap_or_default();
    let conf = conf.display().to_string();
    if text.lines().any(|l| {
        l.starts_with("alternate_config_directories") && l.split([' ', ',']).any(|w| w == conf)
    }) {
        return;
    }
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match lines
        .iter_mut()
        .find(|l| l.starts_with("alternate_config_directories"))
    {
        Some(line) => line.push_str(&format!(", {conf}")),
        None => lines.push(format!("alternate_config_directories = {conf}")),
    }
    std::fs::write(DEFAULT_MAIN_CF, lines.join("\n") + "\n").unwrap();
}
