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
        let port = super::free_port();
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
