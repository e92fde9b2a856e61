//! Several faxhub nodes on one PostgreSQL database (a server the tests start themselves on a
//! private socket), against the real binary: they share one queue (a job accepted by any node
//! is faxed once, by whichever node claims it, and reported once), a node killed in the middle
//! of a call loses nothing (another takes the call back after its lease), and the store going
//! away answers 451 4.3.0 and one-line CLI errors, then everything resumes.

mod common;

use common::postfix::Postfix;
use common::*;
use faxhub_queue::pg_test::{self, PgServer};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(180);

/// A node named `name` of the cluster on `url` (leases of 2 s: a dead node's work comes back
/// quickly); `rest` adds lines and the like (the file line by default).
fn node(url: &str, name: &str, rest: &str) -> Faxhub {
    Faxhub::start_with(
        &format!(
            "[store]\nurl = \"{url}\"\nconnections = 4\n\
             [cluster]\nnode = \"{name}\"\nlease = \"2s\"\ndrain_grace = \"60s\"\n"
        ),
        "",
        &format!(
            "[retry]\nschedule = [\"1s\"]\nmax_dials = 3\nmax_tries = 3\ngive_up_after = \"1h\"\n\
             [scheduler]\npoll_interval = \"500ms\"\n[convert]\noffice_instances = 1\n{rest}"
        ),
    )
}

/// Sends a one-page text fax to `number` through `hub`; the job id.
fn send(hub: &Faxhub, number: &str, subject: &str) -> String {
    let mut smtp = hub.smtp();
    let reply = smtp.send_mail(
        "alice@example.com",
        &[&format!("{number}@fax.localhost")],
        &text_message(subject, "a page"),
    );
    assert_eq!(reply.0, 250, "{reply:?}");
    queued_id(&reply)
}

/// The files of `dir` (none if it does not exist).
fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The logs of `nodes`, one after the other.
fn logs(nodes: &[Faxhub]) -> String {
    nodes
        .iter()
        .map(|n| n.log())
        .collect::<Vec<_>>()
        .join("\n----\n")
}

/// Waits until every job of `ids` is finished, as `hub` sees the queue; the jobs.
fn all_finished(hub: &Faxhub, ids: &[String], why: impl Fn() -> String) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let jobs: Vec<Value> = ids.iter().map(|id| hub.show(id)).collect();
        if jobs.iter().all(|j| j["phase"] == "finished") {
            return jobs;
        }
        assert!(
            start.elapsed() < WAIT,
            "jobs never finished: {jobs:#?}\n{}",
            why()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn three_nodes_share_one_queue_and_each_fax_is_sent_and_reported_once() {
    let url = pg_test::database();
    let nodes: Vec<Faxhub> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| node(&url, n, ""))
        .collect();
    let ids: Vec<String> = (0..12)
        .map(|i| {
            send(
                &nodes[i % 3],
                &format!("01692939{i:02}"),
                &format!("fax {i}"),
            )
        })
        .collect();
    let why = || logs(&nodes);
    // any node sees the whole queue
    let jobs = all_finished(&nodes[2], &ids, why);
    for job in &jobs {
        assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
        assert_eq!(job["recipients"][0]["attempts"], 1, "{job:#}");
    }
    // each fax went out once, from whichever node called it
    let sent: Vec<String> = nodes
        .iter()
        .flat_map(|n| files(&n.data_dir().join("outbox")))
        .filter(|f| f.ends_with(".tif"))
        .collect();
    assert_eq!(sent.len(), 12, "{sent:?}");
    for id in &ids {
        assert_eq!(
            sent.iter().filter(|f| f.starts_with(id.as_str())).count(),
            1,
            "{id}: {sent:?}"
        );
    }
    // and each receipt once, by whichever node's postman took it
    let start = Instant::now();
    let receipts = loop {
        let r: Vec<String> = nodes
            .iter()
            .flat_map(|n| files(&n.data_dir().join("Maildir/new")))
            .collect();
        if r.len() >= 12 || start.elapsed() > WAIT {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(1));
    let again: usize = nodes
        .iter()
        .map(|n| files(&n.data_dir().join("Maildir/new")).len())
        .sum();
    assert_eq!((receipts.len(), again), (12, 12), "{}", why());
    // the cluster as any node's CLI sees it
    let out = nodes[0].cli(&["cluster", "status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["n1", "n2", "n3"]);
}

#[test]
fn a_node_killed_during_a_call_loses_nothing_another_takes_the_call_back() {
    let url = pg_test::database();
    let mut a = node(&url, "a", LOOPBACK);
    let id = send(&a, "0169293999", "killed mid-call");
    // the call is a's (it claimed the job first: b is not there yet)
    a.wait_job(&id, WAIT, |j| {
        j["recipients"][0]["status"] == "sending" && j["recipients"][0]["node"] == "a"
    });
    a.kill9();
    let b = node(&url, "b", LOOPBACK);
    let job = all_finished(&b, std::slice::from_ref(&id), || b.log());
    let r = &job[0]["recipients"][0];
    assert_eq!(r["status"], "done", "{job:#?}");
    let attempts = r["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{r:#}");
    assert_eq!(attempts[0]["status_code"], "4.4.7", "{r:#}");
    assert!(
        attempts[0]["reason"].as_str().unwrap().contains("node a"),
        "{r:#}"
    );
    assert_eq!(attempts[1]["status_code"], "2.0.0", "{r:#}");
    assert!(
        b.log()
            .contains("a call of a node that stopped renewing its claim")
    );
    // the loopback line faxed it to b's own number: the fax b received is mailed once, by
    // whichever node's postman took the mail (its catch-all mailbox, into that node's Maildir)
    let received = |hub: &Faxhub| {
        let dir = hub.data_dir().join("Maildir/new");
        files(&dir)
            .iter()
            .filter(|f| {
                let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                text.lines()
                    .any(|l| l.starts_with("To:") && l.contains("fax@localhost"))
            })
            .count()
    };
    let start = Instant::now();
    while received(&a) + received(&b) == 0 {
        assert!(
            start.elapsed() < WAIT,
            "the received fax was never mailed: {}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(received(&a) + received(&b), 1, "mailed once");
}

const LOOPBACK: &str = "[sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n\
                        [[lines]]\nname = \"loopback\"\nkind = \"loopback\"\nchannels = 2\n\
                        [lines.fax]\nident = \"FAXHUB CLUSTER\"\n";

/// `faxhub drain a`: a turns new SMTP clients away with 421 4.3.2 (Postfix, which has both
/// nodes as its next hops, delivers to b instead), finishes the call it is making, releases
/// its claims and exits; the cluster sees it stopped.
#[test]
fn a_drained_node_sends_mail_to_the_others_finishes_its_call_and_stops() {
    let url = pg_test::database();
    let mut a = node(&url, "a", LOOPBACK);
    let during = send(&a, "0169293999", "a call during the drain");
    a.wait_job(&during, WAIT, |j| {
        j["recipients"][0]["status"] == "sending" && j["recipients"][0]["node"] == "a"
    });
    let b = node(&url, "b", "");
    let postfix = Postfix::start(
        "cluster-drain",
        &format!(
            "relay_domains = fax.localhost\nrelayhost = [127.0.0.1]:{}, [127.0.0.1]:{}",
            a.port, b.port
        ),
    );
    let out = b.cli(&["drain", "a"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a new client of a is sent away (within a heartbeat)
    let start = Instant::now();
    loop {
        let mut greeting = String::new();
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", a.port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let _ =
                std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut greeting);
        }
        if greeting.starts_with("421 4.3.2") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a still greets: {greeting:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // mail for the fax domain reaches b through Postfix
    let reply = Smtp::connect(postfix.port).send_mail(
        "alice@example.com",
        &["0169293998@fax.localhost"],
        &text_message("through postfix while a drains", "a page"),
    );
    assert_eq!(reply.0, 250, "{reply:?}");
    let start = Instant::now();
    let after = loop {
        let jobs = b.queue(true);
        if let Some(job) = jobs
            .iter()
            .find(|j| j["subject"] == "through postfix while a drains")
        {
            break job["id"].as_str().unwrap().to_string();
        }
        assert!(
            start.elapsed() < WAIT,
            "Postfix never delivered: {}",
            postfix.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        postfix.log().contains(&format!(":{}", b.port)),
        "{}",
        postfix.log()
    );
    // a's call ended well, and a stopped
    assert_eq!(a.wait_exit(WAIT), Some(0));
    let jobs = all_finished(&b, &[during.clone(), after], || b.log());
    assert_eq!(jobs[0]["recipients"][0]["status"], "done", "{:#}", jobs[0]);
    assert_eq!(jobs[0]["recipients"][0]["attempts"], 1, "{:#}", jobs[0]);
    assert_eq!(jobs[1]["recipients"][0]["status"], "done", "{:#}", jobs[1]);
    let out = b.cli(&["cluster", "status"]);
    let status = String::from_utf8_lossy(&out.stdout);
    let a_line = status
        .lines()
        .find(|l| l.starts_with("a "))
        .unwrap_or_default();
    assert!(a_line.contains("stopped"), "{status}");
    postfix.stop();
}

#[test]
fn without_its_database_smtp_defers_with_451_and_the_cli_says_so_then_all_resumes() {
    let mut server = PgServer::start("down");
    let url = server.database();
    let hub = node(&url, "solo", "");
    let first = send(&hub, "0169293999", "before");
    all_finished(&hub, std::slice::from_ref(&first), || hub.log());
    server.stop();
    let mut smtp = hub.smtp();
    smtp.cmd("EHLO client.test");
    smtp.cmd("MAIL FROM:<alice@example.com>");
    // deferred at RCPT (the sender's usage cannot be read), or, while RCPT's copy of it is
    // fresh, at the end of DATA (the job cannot be committed)
    let mut reply = smtp.cmd("RCPT TO:<0169293998@fax.localhost>");
    if reply.0 == 250 {
        assert_eq!(smtp.cmd("DATA").0, 354);
        smtp.send(&text_message("while the database is down", "a page"));
        smtp.send(b"\r\n.\r\n");
        reply = smtp.read_reply();
    }
    assert_eq!(reply.0, 451, "{reply:?}");
    assert!(reply.1.starts_with("4.3.0"), "{reply:?}");
    let out = hub.cli(&["queue"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("job store"), "{err}");
    // a node started meanwhile says why it cannot, in one line, without the password
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("faxhub.toml");
    let with_password = url.replace("faxhub@", "faxhub:s3cret@");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[store]\nurl = \"{with_password}\"\n[smtp]\nlisten = [\"127.0.0.1:{}\"]\n\
             [http]\nlisten = []\n[[lines]]\nname = \"file\"\nkind = \"file\"\n",
            dir.path().join("var").display(),
            free_port()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("faxhub: postgres://faxhub:…@localhost/"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    server.restart();
    let second = send(&hub, "0169293998", "after");
    all_finished(&hub, std::slice::from_ref(&second), || hub.log());
}

/// A node frozen (SIGSTOP) during a call: its lease runs out, b takes the call back and faxes it;
/// when a wakes up, what its call came to is not recorded over b's.
#[test]
fn a_frozen_nodes_call_is_taken_back_and_its_late_outcome_ignored() {
    let url = pg_test::database();
    let a = node(&url, "a", LOOPBACK);
    let id = send(&a, "0169293999", "frozen mid-call");
    a.wait_job(&id, WAIT, |j| {
        j["recipients"][0]["status"] == "sending" && j["recipients"][0]["node"] == "a"
    });
    // SAFETY: kill(2) on the daemon this test started
    unsafe { libc::kill(a.pid() as i32, libc::SIGSTOP) };
    let b = node(&url, "b", LOOPBACK);
    let job = all_finished(&b, std::slice::from_ref(&id), || b.log());
    unsafe { libc::kill(a.pid() as i32, libc::SIGCONT) };
    let attempts = job[0]["recipients"][0]["attempt_log"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(attempts.len(), 2, "{job:#?}");
    assert_eq!(attempts[1]["status_code"], "2.0.0", "{job:#?}");
    // a, awake, finds its call taken back and records nothing
    let start = Instant::now();
    while !a.log().contains("not recorded") && !a.log().contains("no new call") {
        assert!(start.elapsed() < WAIT, "{}", a.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    let again = b.show(&id);
    assert_eq!(again["recipients"][0]["status"], "done", "{again:#}");
    assert_eq!(
        again["recipients"][0]["attempt_log"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{again:#}"
    );
}

/// Both nodes restarted in turn (SIGTERM, start again) while mail keeps coming, the client
/// going to the other node when one is away, as an MTA with two next hops does: every message
/// that got its 250 is faxed once.
#[test]
fn a_rolling_restart_loses_no_mail() {
    let url = pg_test::database();
    let mut nodes = [node(&url, "a", ""), node(&url, "b", "")];
    let ports = [nodes[0].port, nodes[1].port];
    let sender = std::thread::spawn(move || {
        let mut ids = Vec::new();
        for i in 0..40 {
            let message = text_message(&format!("rolling {i}"), "a page");
            let to = format!("01692939{i:02}@fax.localhost");
            for attempt in 0..200 {
                match try_send(ports[(i + attempt) % 2], &to, &message) {
                    Some(id) => {
                        ids.push(id);
                        break;
                    }
                    None => std::thread::sleep(Duration::from_millis(50)),
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        ids
    });
    for hub in nodes.iter_mut() {
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(hub.stop(), Some(0));
        hub.launch();
    }
    let ids = sender.join().unwrap();
    assert_eq!(
        ids.len(),
        40,
        "every message got its 250 from one node or the other"
    );
    let why = || logs(&nodes);
    let jobs = all_finished(&nodes[0], &ids, why);
    for job in &jobs {
        assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
    }
    let sent: usize = nodes
        .iter()
        .map(|n| {
            files(&n.data_dir().join("outbox"))
                .iter()
                .filter(|f| f.ends_with(".tif"))
                .count()
        })
        .sum();
    assert_eq!(sent, 40);
}

/// A hot folder on a share both nodes see: one node reads it at a time (each scan faxed once);
/// when that node is killed, the other takes the folder over and faxes what comes next.
#[test]
fn a_shared_hot_folder_is_read_by_one_node_at_a_time_and_taken_over() {
    let url = pg_test::database();
    let share = tempfile::tempdir().unwrap();
    let scans = share.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    let folder = format!(
        "[[hotfolder]]\npath = \"{}\"\nowner = \"scans@example.com\"\npoll = \"100ms\"\nsettle = \"300ms\"\n",
        scans.display()
    );
    let mut nodes = [node(&url, "a", &folder), node(&url, "b", &folder)];
    let pdf = std::fs::read("tests/corpus/pdf/pypdf/crazyones.pdf").unwrap();
    let drop = |name: &str| {
        let tmp = scans.join(format!(".{name}.part"));
        std::fs::write(&tmp, &pdf).unwrap();
        std::fs::rename(tmp, scans.join(name)).unwrap();
    };
    let scan_jobs = |hub: &Faxhub| -> Vec<Value> {
        hub.queue(true)
            .into_iter()
            .filter(|j| j["origin"] == "hotfolder")
            .collect()
    };
    let wait_scans = |hub: &Faxhub, n: usize| {
        let start = Instant::now();
        loop {
            let jobs = scan_jobs(hub);
            if jobs.len() >= n && jobs.iter().all(|j| j["phase"] == "finished") {
                return jobs;
            }
            assert!(start.elapsed() < WAIT, "{jobs:#?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    for i in 0..4 {
        drop(&format!("01692939{i:02}_scan.pdf"));
    }
    let jobs = wait_scans(&nodes[1], 4);
    assert_eq!(jobs.len(), 4, "each scan once: {jobs:#?}");
    // the node that took the folder goes
    let holder = nodes
        .iter()
        .position(|n| n.log().contains("this node takes the role"))
        .expect("a node took the hot folder");
    assert!(
        !nodes[1 - holder].log().contains("this node takes the role"),
        "both nodes read the folder"
    );
    nodes[holder].kill9();
    let other = &nodes[1 - holder];
    for i in 4..6 {
        drop(&format!("01692939{i:02}_scan.pdf"));
    }
    let jobs = wait_scans(other, 6);
    assert_eq!(jobs.len(), 6, "{jobs:#?}");
    assert!(other.log().contains("this node takes the role"));
}

/// One SMTP transaction as an MTA makes it; the job id of a 250, `None` for anything else (a
/// refused or closed connection, a 4xx): the MTA tries again, elsewhere.
fn try_send(port: u16, to: &str, message: &[u8]) -> Option<String> {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut writer = stream.try_clone().ok()?;
    let mut reader = BufReader::new(stream);
    let mut reply = || -> Option<(u16, String)> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? < 4 {
                return None;
            }
            text.push_str(&line[4..]);
            if line.as_bytes()[3] == b' ' {
                return Some((line[..3].parse().ok()?, text));
            }
        }
    };
    let ok = |r: Option<(u16, String)>, code: u16| r.filter(|(c, _)| *c == code);
    ok(reply(), 220)?;
    let mut command = |line: String, code: u16| -> Option<(u16, String)> {
        writer.write_all(line.as_bytes()).ok()?;
        ok(reply(), code)
    };
    command("EHLO client.test\r\n".into(), 250)?;
    command("MAIL FROM:<alice@example.com>\r\n".into(), 250)?;
    command(format!("RCPT TO:<{to}>\r\n"), 250)?;
    command("DATA\r\n".into(), 354)?;
    let mut body = message.to_vec();
    body.extend_from_slice(b"\r\n.\r\n");
    let done = command(String::from_utf8(body).ok()?, 250)?;
    let _ = command("QUIT\r\n".into(), 221);
    Some(queued_id(&done))
}
