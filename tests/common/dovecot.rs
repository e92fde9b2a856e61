//! A private Dovecot that only checks passwords (its auth service), for Postfix's SASL: the
//! relay faxhub logs in to. Config, socket, log and password file under
//! `/var/tmp/faxhub-tests/dovecot-<name>/`; stopped when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dovecot {
    pub dir: PathBuf,
}

impl Dovecot {
    /// Starts it with one user; its auth socket is `socket()`.
    pub fn start(name: &str, user: &str, password: &str) -> Dovecot {
        assert!(
            std::path::Path::new("/usr/sbin/dovecot").exists(),
            "Dovecot must be installed for this test: run `make test`, which installs it"
        );
        let dir = PathBuf::from(format!("/var/tmp/faxhub-tests/dovecot-{name}"));
        let conf = dir.join("dovecot.conf");
        let _ = Command::new("dovecot")
            .arg("-c")
            .arg(&conf)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::write(dir.join("users"), format!("{user}:{{PLAIN}}{password}\n")).unwrap();
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "protocols =\nbase_dir = {d}/run\nstate_dir = {d}/run\nlog_path = {d}/dovecot.log\n\
                 auth_mechanisms = plain login\ndisable_plaintext_auth = no\nssl = no\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home=/nonexistent\n}}\n\
                 service auth {{\n  unix_listener {d}/auth {{\n    mode = 0666\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let dovecot = Dovecot { dir };
        // it goes to the background: its output goes to its log, not to pipes it would hold
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "dovecot: {}", dovecot.log());
        let start = Instant::now();
        while !dovecot.socket().exists() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "dovecot's auth socket did not appear: {}",
                dovecot.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dovecot
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("auth")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }

    /// main.cf lines for Postfix's smtpd to take AUTH (over TLS only) checked by this Dovecot.
    pub fn postfix_sasl(&self) -> String {
        format!(
            "smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = {}\nsmtpd_tls_auth_only = yes\n",
            self.socket().display()
        )
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("dovecot")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
