//! A private Dovecot: one that only checks passwords (its auth service), for Postfix's SASL (the
//! relay faxhub logs in to); or an IMAP server whose mailbox an agent reads. Config, socket,
//! log, password file and mail under
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
        let dir = PathBuf::from(format!("/var/tmp/faxhub-tests/dovecot-{name}"));
        let d = dir.display();
        Dovecot::launch(
            &dir,
            user,
            password,
            &format!(
                "protocols =\nbase_dir = {d}/run\nstate_dir = {d}/run\nlog_path = {d}/dovecot.log\n\
                 auth_mechanisms = plain login\ndisable_plaintext_auth = no\nssl = no\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home=/nonexistent\n}}\n\
                 service auth {{\n  unix_listener {d}/auth {{\n    mode = 0666\n  }}\n}}\n"
            ),
            |dovecot| dovecot.socket().exists(),
        )
    }

    /// Writes `conf` in a fresh `dir` (mail under `dir/mail`, owned by the mail user), starts
    /// Dovecot and waits until `ready`.
    fn launch(
        dir: &std::path::Path,
        user: &str,
        password: &str,
        conf_text: &str,
        ready: impl Fn(&Dovecot) -> bool,
    ) -> Dovecot {
        assert!(
            std::path::Path::new("/usr/sbin/dovecot").exists(),
            "Dovecot must be installed for this test: run `make test`, which installs it"
        );
        let conf = dir.join("dovecot.conf");
        stop(&conf); // one a previous run left
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::create_dir_all(dir.join("mail")).unwrap();
        std::os::unix::fs::chown(dir.join("mail"), Some(65534), Some(65534)).unwrap();
        std::fs::write(dir.join("users"), format!("{user}:{{PLAIN}}{password}\n")).unwrap();
        std::fs::write(&conf, conf_text).unwrap();
        let dovecot = Dovecot {
            dir: dir.to_path_buf(),
        };
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
        while !ready(&dovecot) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "dovecot did not start: {}",
                dovecot.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dovecot
    }

    /// Starts it as an IMAP server on 127.0.0.1:`port` with one user whose mail is a Maildir;
    /// messages go in with `save`. With `tls` (certificate and key PEM files), IMAP over TLS
    /// from the first byte (imaps) and nothing in clear; without, plain IMAP on loopback.
    pub fn start_imap(
        name: &str,
        user: &str,
        password: &str,
        port: u16,
        tls: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Dovecot {
        let dir = PathBuf::from(format!("/var/tmp/faxhub-tests/dovecot-{name}"));
        let d = dir.display();
        let (ssl, imap_port, imaps_port) = match tls {
            Some((cert, key)) => (
                format!(
                    "ssl = required\nssl_cert = <{}\nssl_key = <{}\nssl_dh = </usr/share/dovecot/dh.pem\n",
                    cert.display(),
                    key.display()
                ),
                0,
                port,
            ),
            None => ("ssl = no\n".to_string(), port, 0),
        };
        Dovecot::launch(
            &dir,
            user,
            password,
            &format!(
                "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/run\nlog_path = {d}/dovecot.log\n\
                 auth_mechanisms = plain login\ndisable_plaintext_auth = no\n{ssl}\
                 mail_location = maildir:{d}/mail/%u\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={d}/mail/%u\n}}\n\
                 service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}\n\
                 inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps_port}\n  }}\n}}\n\
                 service auth {{\n  unix_listener {d}/auth {{\n    mode = 0666\n  }}\n}}\n"
            ),
            |dovecot| {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && dovecot.socket().exists()
            },
        )
    }

    /// Delivers `message` into the user's mailbox, as Dovecot's own tools do.
    pub fn save(&self, user: &str, message: &[u8]) {
        use std::io::Write;
        let mut child = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .args(["save", "-u", user, "-m", "INBOX"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(message).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "doveadm save: {}{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// How many messages the user's INBOX holds.
    pub fn count(&self, user: &str) -> usize {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .args(["search", "-u", user, "mailbox", "INBOX", "ALL"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "doveadm search: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    /// The flags of each message of the user's INBOX, one line a message.
    pub fn flags(&self, user: &str) -> Vec<String> {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .args(["fetch", "-u", user, "flags", "mailbox", "INBOX", "ALL"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "doveadm fetch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("flags:"))
            .map(|f| f.trim().to_string())
            .collect()
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
        stop(&self.dir.join("dovecot.conf"));
    }
}

fn stop(conf: &std::path::Path) {
    let _ = Command::new("dovecot")
        .arg("-c")
        .arg(conf)
        .arg("stop")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
