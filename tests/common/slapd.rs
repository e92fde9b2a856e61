//! A private OpenLDAP server (Debian's `slapd`) for a test: its own directory, schema files from
//! /etc/ldap/schema, an mdb database loaded with the test's LDIF by `slapadd`, listening on
//! loopback ports in plain LDAP (with StartTLS) and LDAPS, in the foreground; killed when
//! dropped. Never the system's instance.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Slapd {
    child: Option<Child>,
    pub dir: PathBuf,
    /// `ldap://` (StartTLS offered).
    pub port: u16,
    /// `ldaps://`.
    pub tls_port: u16,
    config: PathBuf,
}

pub const BASE: &str = "dc=example,dc=com";

impl Slapd {
    /// slapd with `ldif` loaded under `BASE`, its certificate `cert`/`key` (for localhost).
    pub fn start(dir: &Path, ldif: &str, cert: &Path, key: &Path) -> Slapd {
        let dir = dir.join("slapd");
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let config = dir.join("slapd.conf");
        std::fs::write(
            &config,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 include /etc/ldap/schema/nis.schema\n\
                 modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
                 pidfile {dir}/slapd.pid\n\
                 TLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n\
                 database mdb\nsuffix \"{BASE}\"\nrootdn \"cn=admin,{BASE}\"\nrootpw secret\n\
                 directory {dir}/db\nmaxsize 10485760\n",
                dir = dir.display(),
                cert = cert.display(),
                key = key.display(),
            ),
        )
        .unwrap();
        let data = dir.join("data.ldif");
        std::fs::write(&data, ldif).unwrap();
        let loaded = Command::new("slapadd")
            .arg("-f")
            .arg(&config)
            .arg("-l")
            .arg(&data)
            .output()
            .expect("slapd is installed (scripts/install-deps.sh)");
        assert!(loaded.status.success(), "slapadd: {loaded:?}");
        let mut slapd = Slapd {
            child: None,
            dir,
            port: free_port(),
            tls_port: free_port(),
            config,
        };
        slapd.launch();
        slapd
    }

    /// Starts it (again), waiting until it answers.
    pub fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.join("slapd.log")).unwrap();
        let child = Command::new("slapd")
            .arg("-f")
            .arg(&self.config)
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
                self.port, self.tls_port
            ))
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "slapd did not start: {}",
                std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it (the directory down).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
