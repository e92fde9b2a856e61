//! Shared helpers for the end-to-end tests: start the real `faxhub` binary on a free loopback
//! port with a private data directory, talk SMTP to it over a real socket, run its CLI, and read
//! what it produced. Nothing here imitates faxhub; it only drives it.
#![allow(dead_code)]

pub mod browser;
pub mod dovecot;
pub mod mail;
pub mod postfix;
pub mod slapd;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_faxhub");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running faxhub with its own data directory.
pub struct Faxhub {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The HTTP API's port.
    pub http_port: u16,
    pub config: PathBuf,
    /// Its `data_dir` (`dir/var` unless the test gave one).
    data: PathBuf,
    child: Option<Child>,
}

impl Faxhub {
    /// Starts faxhub; `smtp_extra` goes inside `[smtp]`, `rest` after it.
    pub fn start(smtp_extra: &str, rest: &str) -> Faxhub {
        Faxhub::start_with("", smtp_extra, rest)
    }

    /// The same with `top` (keys of the top-level table, e.g. `local_domains`) before `[smtp]`.
    pub fn start_with(top: &str, smtp_extra: &str, rest: &str) -> Faxhub {
        Faxhub::start_in(None, top, smtp_extra, rest)
    }

    /// The same with its data in `data_dir` (a file system the test made, say).
    pub fn start_in(data_dir: Option<&Path>, top: &str, smtp_extra: &str, rest: &str) -> Faxhub {
        let dir = tempfile::tempdir().unwrap();
        let data = data_dir.map_or_else(|| dir.path().join("var"), Path::to_path_buf);
        let config = dir.path().join("faxhub.toml");
        let mut hub = Faxhub {
            dir,
            port: 0,
            http_port: 0,
            config,
            data,
            child: None,
        };
        // a port picked free may be taken by another test before the daemon binds it: then
        // other ports are picked
        for tries in 1..=5 {
            hub.configure(top, smtp_extra, rest);
            match hub.try_launch() {
                Ok(()) => return hub,
                Err(log) if tries < 5 && log.contains("Address already in use") => {}
                Err(log) => panic!("faxhub exited: {log}"),
            }
        }
        unreachable!("the last try returns or panics")
    }

    /// Picks its SMTP and HTTP ports and writes its configuration.
    fn configure(&mut self, top: &str, smtp_extra: &str, rest: &str) {
        let port = free_port();
        let http_port = free_port();
        // the file line unless the test names its own (the default loopback line makes calls)
        let lines = if rest.contains("[[lines]]") {
            ""
        } else {
            "[[lines]]\nname = \"file\"\nkind = \"file\"\n"
        };
        // the HTTP API on a port of its own, in the test's [http] table if it has one (or where
        // the test says, `{http_port}` standing for the port)
        let listen = format!("listen = [\"127.0.0.1:{http_port}\"]\n");
        let (http, rest) = match rest.contains("[http]\n") {
            // the test's own listen, on the port picked here
            _ if rest.contains("{http_port}") => (
                String::new(),
                rest.replace("{http_port}", &http_port.to_string()),
            ),
            true => (
                String::new(),
                rest.replacen("[http]\n", &format!("[http]\n{listen}"), 1),
            ),
            false => (format!("[http]\n{listen}"), rest.to_string()),
        };
        let text = format!(
            "data_dir = \"{}\"\n{top}\n[smtp]\nlisten = [\"127.0.0.1:{port}\"]\nhostname = \"faxhub.test\"\n{smtp_extra}\n\
             {http}{rest}\n{lines}",
            self.data.display()
        );
        std::fs::write(&self.config, text).unwrap();
        (self.port, self.http_port) = (port, http_port);
    }

    /// Starts the daemon (again) with the same config and data.
    pub fn launch(&mut self) {
        if let Err(log) = self.try_launch() {
            panic!("faxhub exited: {log}");
        }
    }

    /// [`Faxhub::launch`]; the log if the daemon exited instead of starting.
    fn try_launch(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("faxhub.log"))
            .unwrap();
        let child = Command::new(BIN)
            .args(["serve", "-c"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        // Started means all of it: the SMTP port accepts from the moment it is bound, before the
        // SIP agent and the rest start (and the process may still fail then).
        let start = Instant::now();
        let started = self.log().matches("faxhub started").count() + 1;
        while self.log().matches("faxhub started").count() < started {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "faxhub did not start: {}",
                self.log()
            );
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!("{status}: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(TcpStream::connect(("127.0.0.1", self.port)).is_ok());
        Ok(())
    }

    /// The port its SIP user agent listens on (as it logged at start; give `listen =
    /// "127.0.0.1:0"` so that no port picked beforehand can be taken meanwhile).
    pub fn sip_port(&self) -> u16 {
        let log = self.log();
        let line = log
            .lines()
            .find(|l| l.contains("SIP user agent listening"))
            .unwrap_or_else(|| panic!("no SIP listener: {log}"));
        let at = line.find("listen=").expect("listen=") + "listen=".len();
        let addr: std::net::SocketAddr = line[at..]
            .split_whitespace()
            .next()
            .and_then(|a| a.parse().ok())
            .expect("an address");
        addr.port()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("started").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("faxhub.log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }

    /// kill -9: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM and wait: a clean stop; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().unwrap().code()
    }

    /// Waits for the daemon to exit on its own (a drain); its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        let child = self.child.as_mut().expect("started");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code();
            }
            assert!(
                start.elapsed() < timeout,
                "faxhub did not exit: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `faxhub ARGS… -c CONFIG`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("-c")
            .arg(&self.config)
            .output()
            .unwrap()
    }

    /// A new API token (`faxhub token create ARGS…`), as printed.
    pub fn api_token(&self, args: &[&str]) -> String {
        let mut all = vec!["token", "create"];
        all.extend_from_slice(args);
        let out = self.cli(&all);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// `curl` GET of `path` (sent as it is) on the HTTP API, with `token` as bearer if given:
    /// the status and the body.
    pub fn http_get(&self, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--path-as-is",
            "--max-time",
            "60",
            "-w",
            "\n%{http_code}",
        ]);
        if let Some(token) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let out = cmd
            .arg(format!("http://127.0.0.1:{}{path}", self.http_port))
            .output()
            .expect("curl runs");
        assert!(out.status.success(), "curl {path}: {out:?}");
        let mut body = out.stdout;
        let at = body.iter().rposition(|b| *b == b'\n').unwrap();
        let status = std::str::from_utf8(&body[at + 1..])
            .unwrap()
            .parse()
            .unwrap();
        body.truncate(at);
        (status, body)
    }

    /// Waits until `/readyz` says ready (the converters warm after start), or says why not.
    pub fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let (status, body) = self.http_get("/readyz", None);
            if status == 200 {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "never ready: {status} {}",
                String::from_utf8_lossy(&body)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// [`Faxhub::http_get`] of a JSON answer.
    pub fn http_json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let (status, body) = self.http_get(path, token);
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&body)));
        (status, json)
    }

    pub fn queue(&self, all: bool) -> Vec<Value> {
        let mut args = vec!["queue", "--json"];
        if all {
            args.push("--all");
        }
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "queue failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn show(&self, id: &str) -> Value {
        let out = self.cli(&["queue", "show", id, "--json"]);
        assert!(
            out.status.success(),
            "show {id} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Waits until `done(job)` holds for job `id`, returning the job.
    pub fn wait_job(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let job = self.show(id);
            if done(&job) {
                return job;
            }
            assert!(
                start.elapsed() < timeout,
                "job {id} never reached the expected state: {job:#}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_finished(&self, id: &str, timeout: Duration) -> Value {
        self.wait_job(id, timeout, |j| {
            j["phase"] == "finished" || j["phase"] == "convert_failed"
        })
    }

    pub fn outbox(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.data_dir().join("outbox"))
            .map(|rd| {
                rd.map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "tif"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    pub fn smtp(&self) -> Smtp {
        Smtp::connect(self.port)
    }
}

impl Drop for Faxhub {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A plain SMTP client over a real socket.
pub struct Smtp {
    reader: BufReader<TcpStream>,
    pub greeting: (u16, String),
}

impl Smtp {
    pub fn connect(port: u16) -> Smtp {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut s = Smtp {
            reader: BufReader::new(stream),
            greeting: (0, String::new()),
        };
        s.greeting = s.read_reply();
        s
    }

    /// Reads one (possibly multi-line) reply: the code and the text lines joined by '\n'.
    pub fn read_reply(&mut self) -> (u16, String) {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "connection closed; got so far {lines:?}");
            let code: u16 = line[..3].parse().unwrap();
            let more = line.as_bytes()[3] == b'-';
            lines.push(line[4..].trim_end().to_string());
            if !more {
                return (code, lines.join("\n"));
            }
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).unwrap();
    }

    /// The socket under the client.
    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }

    pub fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes());
        self.read_reply()
    }

    /// Whether the server closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0))
    }

    /// EHLO, MAIL, RCPTs (all must be accepted), DATA: returns the final reply.
    pub fn send_mail(&mut self, from: &str, to: &[&str], message: &[u8]) -> (u16, String) {
        let to: Vec<String> = to.iter().map(|t| format!("<{t}>")).collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        self.transaction(&format!("<{from}>"), &to, message)
    }

    /// The same with the MAIL and RCPT arguments as given (`<a@b> RET=HDRS`, `<n@fax> NOTIFY=…`).
    pub fn transaction(
        &mut self,
        mail_from: &str,
        rcpts: &[&str],
        message: &[u8],
    ) -> (u16, String) {
        assert_eq!(self.cmd("EHLO client.test").0, 250);
        let r = self.cmd(&format!("MAIL FROM:{mail_from}"));
        assert_eq!(r.0, 250, "MAIL {mail_from}: {r:?}");
        for rcpt in rcpts {
            let r = self.cmd(&format!("RCPT TO:{rcpt}"));
            assert_eq!(r.0, 250, "RCPT {rcpt}: {r:?}");
        }
        assert_eq!(self.cmd("DATA").0, 354);
        self.send(message);
        self.send(b"\r\n.\r\n");
        self.read_reply()
    }
}

/// The job id in `250 2.0.0 Ok: queued as ID`.
pub fn queued_id(reply: &(u16, String)) -> String {
    assert_eq!(reply.0, 250, "{reply:?}");
    reply.1.rsplit(' ').next().unwrap().to_string()
}

/// The numbers of a job's recipients, in order (from `queue show --json`).
pub fn numbers(job: &Value) -> Vec<String> {
    job["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_str().unwrap().to_string())
        .collect()
}

/// A text-only message.
pub fn text_message(subject: &str, body: &str) -> Vec<u8> {
    format!("From: Alice <alice@example.com>\r\nTo: 0169293999@fax.localhost\r\nSubject: {subject}\r\n\r\n{body}").into_bytes()
}

/// A message with a text body and one attachment.
pub fn message_with_attachment(
    subject: &str,
    body: &str,
    name: &str,
    ctype: &str,
    content: &[u8],
) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(content);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: Alice <alice@example.com>\r\nTo: Bob <0169293999@fax.localhost>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
         --XYZ\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--XYZ--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

/// A PDF with `pages` pages, made by Ghostscript's pdfwrite from a PostScript program.
pub fn make_pdf(dir: &Path, pages: usize) -> Vec<u8> {
    let ps = dir.join(format!("doc{pages}.ps"));
    let pdf = dir.join(format!("doc{pages}.pdf"));
    let mut program = String::from("%!PS\n/Helvetica findfont 24 scalefont setfont\n");
    for p in 1..=pages {
        program.push_str(&format!("72 700 moveto (Test page {p} of {pages}) show 72 72 moveto 450 600 rlineto stroke showpage\n"));
    }
    std::fs::write(&ps, program).unwrap();
    let status = Command::new("gs")
        .args(["-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite"])
        .arg(format!("-sOutputFile={}", pdf.display()))
        .arg(&ps)
        .status()
        .expect("Ghostscript (gs) must be installed: run `make test`, which installs it");
    assert!(status.success());
    std::fs::read(pdf).unwrap()
}

/// libtiff's own reading of a TIFF: the independent check of what faxhub wrote.
pub fn tiffinfo(path: &Path) -> String {
    let out = Command::new("tiffinfo")
        .arg(path)
        .output()
        .expect("tiffinfo (libtiff-tools) must be installed: run `make test`");
    assert!(
        out.status.success(),
        "tiffinfo {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts every page of a TIFF is fax-shaped (as libtiff reads it) and returns the page count.
pub fn assert_tiff_f(path: &Path) -> usize {
    let info = tiffinfo(path);
    let pages = info.matches("=== TIFF directory").count();
    assert!(pages > 0, "{info}");
    assert_eq!(info.matches("Image Width: 1728 ").count(), pages, "{info}");
    assert_eq!(
        info.matches("Resolution: 204, 196 pixels/inch").count(),
        pages,
        "{info}"
    );
    assert_eq!(
        info.matches("Compression Scheme: CCITT Group 4").count(),
        pages,
        "{info}"
    );
    assert_eq!(
        info.matches("Photometric Interpretation: min-is-white")
            .count(),
        pages,
        "{info}"
    );
    pages
}

/// The page data of a TIFF, page by page (to compare pages across files).
pub fn strips(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let pages = faxhub_queue::tiff::read_pages(&bytes).unwrap();
    faxhub_queue::tiff::first_strips(&bytes, &pages)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

/// Page `index` (from 0) of a TIFF as its own file, cut by libtiff's tiffcp.
pub fn tiff_page(path: &Path, index: usize, out: &Path) {
    let status = Command::new("tiffcp")
        .arg(format!("{},{index}", path.display()))
        .arg(out)
        .status()
        .expect("tiffcp (libtiff-tools) must be installed: run `make test`");
    assert!(status.success(), "tiffcp {} page {index}", path.display());
}

/// The text Debian's Tesseract reads on an image file (English and French models).
pub fn ocr(image: &Path) -> String {
    ocr_as(image, "4")
}

/// `ocr` with Tesseract's page segmentation mode `psm` ("6": one uniform block of text, which
/// keeps a table's rows whole under a large heading).
pub fn ocr_as(image: &Path, psm: &str) -> String {
    let out = Command::new("tesseract")
        .arg(image)
        .arg("stdout")
        .args(["-l", "eng+fra", "--psm", psm])
        .output()
        .expect("tesseract (tesseract-ocr) must be installed: run `make test`");
    assert!(
        out.status.success(),
        "tesseract {}: {}",
        image.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
