//! End to end: `/metrics` of the real binary, checked by Debian's `promtool` and scraped by a
//! Debian `prometheus` the test starts on a private port and directory. After faxes delivered,
//! busy, refused and unconvertible, Prometheus' query API returns the counts they made.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(90);

fn hub_config() -> String {
    "[retry]\nschedule = [\"1s\"]\nmax_dials = 2\nmax_tries = 2\ngive_up_after = \"1h\"\n\
     [scheduler]\npoll_interval = \"200ms\"\n\
     [[lines]]\nname = \"test\"\nkind = \"test\"\nchannels = 2\n\
     [[lines.script]]\nnumbers = \"+33155000002\"\noutcomes = [\"busy\"]\n\
     [[lines.script]]\nnumbers = \"+33155000005\"\noutcomes = [\"unallocated\"]\n"
        .to_string()
}

fn scrape(hub: &Faxhub) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "60"])
        .arg(format!("http://127.0.0.1:{}/metrics", hub.http_port))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "GET /metrics: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A Prometheus of the test's own, scraping the hub every second; killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target_port: u16) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: faxhub\n    static_configs:\n      \
                 - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("Debian's prometheus is installed (scripts/install-deps.sh)");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// The value of each series of `query` now, by the value of label `by`.
    fn query(&self, query: &str, by: &str) -> Vec<(String, f64)> {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-G", "--data-urlencode"])
            .arg(format!("query={query}"))
            .arg(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .output()
            .expect("curl runs");
        let Ok(answer) = serde_json::from_slice::<Value>(&out.stdout) else {
            return Vec::new(); // not up yet
        };
        let mut series: Vec<(String, f64)> = answer["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let label = s["metric"][by].as_str().unwrap_or_default().to_string();
                let value = s["value"][1].as_str().unwrap().parse().unwrap();
                (label, value)
            })
            .collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        series
    }

    /// Waits until `query` gives `want` (series by label `by`), or says what it gave last.
    fn wait_for(&self, query: &str, by: &str, want: &[(&str, f64)]) {
        let want: Vec<(String, f64)> = want.iter().map(|(l, v)| (l.to_string(), *v)).collect();
        let start = Instant::now();
        loop {
            let got = self.query(query, by);
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "Prometheus never gave {want:?} for {query}; last {got:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_the_counts_of_faxes_delivered_busy_refused_and_unconvertible() {
    let hub = Faxhub::start("", &hub_config());
    let send = |to: &str, message: &[u8]| {
        queued_id(&hub.smtp().send_mail("alice@example.com", &[to], message))
    };
    let delivered = send("0155000004@fax.localhost", &text_message("ok", "one page"));
    let busy = send("0155000002@fax.localhost", &text_message("busy", "x"));
    let unallocated = send("0155000005@fax.localhost", &text_message("nobody", "x"));
    let damaged = send(
        "0155000006@fax.localhost",
        &message_with_attachment(
            "damaged",
            "x",
            "report.pdf",
            "application/pdf",
            b"%PDF-1.4\nnot a pdf at all\n",
        ),
    );
    // a recipient that is no number: refused at RCPT with 5.1.3
    let mut smtp = hub.smtp();
    smtp.cmd("EHLO client.test");
    smtp.cmd("MAIL FROM:<alice@example.com>");
    let (code, text) = smtp.cmd("RCPT TO:<not-a-number@fax.localhost>");
    assert!(code == 553 || code == 501, "{code} {text}");
    assert!(text.starts_with("5.1.3"), "{text}");
    for id in [&delivered, &busy, &unallocated, &damaged] {
        hub.wait_finished(id, WAIT);
    }

    let text = scrape(&hub);
    // Prometheus' own linter finds nothing to say
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus) is installed");
    std::io::Write::write_all(lint.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success() && lint.stdout.is_empty() && lint.stderr.is_empty(),
        "promtool check metrics: {lint:?}\n{text}"
    );
    // no number and no address in any label
    for secret in ["155000", "+33", "@", "alice"] {
        assert!(!text.contains(secret), "{secret:?} in the metrics:\n{text}");
    }
    assert!(text.contains("faxhub_build_info{version=\""), "{text}");

    let prometheus = Prometheus::start(hub.http_port);
    prometheus.wait_for("up{job=\"faxhub\"}", "job", &[("faxhub", 1.0)]);
    prometheus.wait_for(
        "sum by (status) (faxhub_calls_total{direction=\"outbound\",line=\"test\"})",
        "status",
        &[("2.0.0", 1.0), ("4.4.1", 2.0), ("5.1.1", 1.0)],
    );
    prometheus.wait_for("faxhub_pages_sent_total", "line", &[("test", 1.0)]);
    prometheus.wait_for(
        "faxhub_recipients{status=~\"done|failed|queued\"}",
        "status",
        &[("done", 1.0), ("failed", 3.0), ("queued", 0.0)],
    );
    prometheus.wait_for(
        "sum by (result) (faxhub_conversions_total)",
        "result",
        &[("damaged", 1.0), ("ok", 3.0)],
    );
    prometheus.wait_for(
        "faxhub_smtp_messages_received_total",
        "job",
        &[("faxhub", 4.0)],
    );
    prometheus.wait_for(
        "faxhub_smtp_rejections_total{code=\"5.1.3\"}",
        "code",
        &[("5.1.3", 1.0)],
    );
    prometheus.wait_for("faxhub_line_channels", "line", &[("test", 2.0)]);
    prometheus.wait_for(
        "faxhub_call_duration_seconds_count{direction=\"outbound\"}",
        "line",
        &[("test", 4.0)],
    );
    prometheus.wait_for("faxhub_queue_oldest_age_seconds", "job", &[("faxhub", 0.0)]);
}

/// The alert rules the README gives are valid and do what they say: `promtool test rules`
/// feeds them series and checks each alert fires on what it watches, and not before.
#[test]
fn the_alert_rules_check_and_pass_their_unit_tests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("share/prometheus");
    for args in [
        ["check", "rules", "faxhub.rules.yml"],
        ["test", "rules", "faxhub.rules.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool (Debian's prometheus) is installed");
        assert!(out.status.success(), "promtool {args:?}: {out:?}");
    }
}
