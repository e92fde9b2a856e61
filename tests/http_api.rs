//! End to end: the HTTP API of the real binary, asked by curl. Tokens made by `faxhub token`,
//! their scopes and their senders decide what a caller sees; every error is a problem document.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// An answer: status, content type, body as JSON.
struct Answer {
    status: u16,
    content_type: String,
    www_authenticate: bool,
    location: String,
    body: Value,
}

/// `curl` GET of `path` on the hub's HTTP port, with `token` as bearer if given.
fn get(hub: &Faxhub, path: &str, token: Option<&str>) -> Answer {
    curl(hub, path, token, &[])
}

/// `curl` of `path` with `args` (a method, a body), with `token` as bearer if given.
fn curl(hub: &Faxhub, path: &str, token: Option<&str>, args: &[&str]) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "60", "-D", "-"]);
    if let Some(token) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = cmd
        .args(args)
        .arg(format!("http://127.0.0.1:{}{path}", hub.http_port))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl {path}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // a 100 Continue comes before the answer to an upload
    let text = text
        .strip_prefix("HTTP/1.1 100 Continue\r\n\r\n")
        .unwrap_or(&text);
    let (head, body) = text.split_once("\r\n\r\n").expect("headers, then a body");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    Answer {
        status,
        content_type: header("content-type"),
        www_authenticate: !header("www-authenticate").is_empty(),
        location: header("location"),
        body: serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body:?}")),
    }
}

fn ids(answer: &Answer) -> Vec<String> {
    let mut ids: Vec<String> = answer.body["faxes"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", answer.body))
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn problem(answer: &Answer, status: u16, detail: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["status"], status);
    assert!(
        answer.body["detail"].as_str().unwrap().contains(detail),
        "{} should say {detail:?}",
        answer.body
    );
}

#[test]
fn tokens_scopes_and_senders_decide_what_a_caller_sees() {
    let hub = Faxhub::start("", "");
    let from_a = queued_id(&hub.smtp().send_mail(
        "a@example.com",
        &["0169293999@fax.localhost"],
        &text_message("a's", "x"),
    ));
    let from_b = queued_id(&hub.smtp().send_mail(
        "b@example.com",
        &["0169293998@fax.localhost"],
        &text_message("b's", "x"),
    ));
    hub.wait_finished(&from_a, WAIT);
    hub.wait_finished(&from_b, WAIT);

    let health = get(&hub, "/healthz", None);
    assert_eq!(
        (health.status, &health.body["status"]),
        (200, &"alive".into())
    );
    hub.wait_ready();
    let ready = get(&hub, "/readyz", None);
    assert_eq!(
        (ready.status, &ready.body["status"]),
        (200, &"ready".into())
    );

    let a_reads = hub.api_token(&["--scope", "read", "--sender", "a@example.com"]);
    let sends = hub.api_token(&["--scope", "send"]);
    let admin = hub.api_token(&["--scope", "admin", "--name", "ops"]);
    let revoked = hub.api_token(&["--scope", "read"]);

    // no token, a malformed one, a made-up one of the right shape: 401 with a challenge
    let none = get(&hub, "/v1/faxes", None);
    problem(&none, 401, "API token is needed");
    assert!(none.www_authenticate);
    problem(&get(&hub, "/v1/faxes", Some("letmein")), 401, "not valid");
    let (id, _) = a_reads
        .strip_prefix("fxh_")
        .unwrap()
        .split_once('_')
        .unwrap();
    let forged = format!("fxh_{id}_{}", "A".repeat(43));
    problem(&get(&hub, "/v1/faxes", Some(&forged)), 401, "not valid");
    // a revoked token worked until it was revoked, and not once `token revoke` returned,
    // though the server keeps the token it read a moment before (for a second)
    assert_eq!(get(&hub, "/v1/faxes", Some(&revoked)).status, 200);
    let revoked_id = revoked.split('_').nth(1).unwrap();
    assert!(hub.cli(&["token", "revoke", revoked_id]).status.success());
    problem(&get(&hub, "/v1/faxes", Some(&revoked)), 401, "not valid");
    // out of scope
    problem(&get(&hub, "/v1/faxes", Some(&sends)), 403, "needs read");

    // the lines: the file line, idle (its call is over)
    problem(&get(&hub, "/v1/lines", None), 401, "API token is needed");
    let lines = get(&hub, "/v1/lines", Some(&a_reads));
    assert_eq!(lines.status, 200, "{}", lines.body);
    assert_eq!(
        lines.body,
        serde_json::json!({"lines": [
            {"name": "file", "kind": "file", "channels": 1, "channels_in_use": 0}
        ]})
    );

    // a sees its own job, as `queue show --json` shows it; b's is as absent as a made-up one
    // (the control: the admin token sees b's, so the 404 is the binding, not a missing job)
    let own = get(&hub, &format!("/v1/faxes/{from_a}"), Some(&a_reads));
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body, hub.show(&from_a), "the CLI's JSON");
    assert_eq!(own.body["recipients"][0]["number"], "+33169293999");
    let others = get(&hub, &format!("/v1/faxes/{from_b}"), Some(&a_reads));
    problem(&others, 404, &format!("no fax {from_b}"));
    problem(
        &get(&hub, "/v1/faxes/20991231-nope", Some(&a_reads)),
        404,
        "no fax",
    );
    assert_eq!(
        get(&hub, &format!("/v1/faxes/{from_b}"), Some(&admin)).status,
        200
    );
    assert_eq!(
        ids(&get(&hub, "/v1/faxes?all=true", Some(&a_reads))),
        std::slice::from_ref(&from_a)
    );
    let mut both = vec![from_a.clone(), from_b.clone()];
    both.sort();
    assert_eq!(ids(&get(&hub, "/v1/faxes?all=true", Some(&admin))), both);
    assert!(
        ids(&get(&hub, "/v1/faxes", Some(&admin))).is_empty(),
        "both finished"
    );
    // a page at a time, in the order they came
    let first = get(&hub, "/v1/faxes?all=true&limit=1", Some(&admin));
    assert_eq!(ids(&first), std::slice::from_ref(&from_a));
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = get(
        &hub,
        &format!("/v1/faxes?all=true&limit=1&cursor={cursor}"),
        Some(&admin),
    );
    assert_eq!(ids(&second), std::slice::from_ref(&from_b));
    let last = second.body["next_cursor"].as_str().unwrap().to_string();
    let past = get(
        &hub,
        &format!("/v1/faxes?all=true&limit=1&cursor={last}"),
        Some(&admin),
    );
    assert!(
        ids(&past).is_empty() && past.body["next_cursor"].is_null(),
        "{}",
        past.body
    );
    let done = get(
        &hub,
        "/v1/faxes?all=true&status=done&since=2000-01-01T00:00:00Z",
        Some(&a_reads),
    );
    assert_eq!(
        ids(&done),
        std::slice::from_ref(&from_a),
        "a's own, delivered, since 2000"
    );
    assert!(ids(&get(&hub, "/v1/faxes?all=true&status=failed", Some(&admin))).is_empty());
    for (query, detail) in [
        ("status=lost", "status \"lost\""),
        ("since=yesterday", "since \"yesterday\""),
        ("limit=0", "limit 0"),
        ("limit=100000", "limit 100000"),
        ("cursor=..%2F..", "cursor"),
    ] {
        problem(
            &get(&hub, &format!("/v1/faxes?{query}"), Some(&admin)),
            400,
            detail,
        );
    }

    // bad input: an unknown query field is named; an unknown path is a problem too
    problem(
        &get(&hub, "/v1/faxes?everything=1", Some(&admin)),
        400,
        "everything",
    );
    problem(
        &get(&hub, "/v1/nothing", Some(&admin)),
        404,
        "no such resource",
    );

    // the list shows ids, scopes and senders, never a secret or its hash
    let list = hub.cli(&["token", "list", "--json"]);
    let text = String::from_utf8(list.stdout).unwrap();
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 4);
    for secret in [&a_reads, &sends, &admin, &revoked] {
        // the secret (base64url: it may hold `_` itself) is what follows the id
        let secret = secret.splitn(3, '_').nth(2).unwrap();
        assert_eq!(secret.len(), 43);
        assert!(!text.contains(secret));
    }
    assert!(!text.contains("hash"), "{text}");
}

#[test]
fn token_commands_refuse_bad_input_in_one_line() {
    let hub = Faxhub::start("", "");
    for (args, needle) in [
        (
            &["token", "create", "--scope", "write"][..],
            "unknown scope \"write\"",
        ),
        (&["token", "create", "--scope", ""][..], "no scope given"),
        (
            &[
                "token",
                "create",
                "--scope",
                "read",
                "--sender",
                "not an address",
            ][..],
            "is not a mail address",
        ),
        (
            &["token", "revoke", "0123456789ab"][..],
            "no token 0123456789ab",
        ),
    ] {
        let out = hub.cli(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

const LOOPBACK: &str = "[sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n\
                        [[lines]]\nname = \"loopback\"\nkind = \"loopback\"\nchannels = 2\n";

/// `POST /v1/faxes` as multipart: the `fax` part, then `files`.
fn post_multipart(hub: &Faxhub, token: &str, fax: &str, files: &[&std::path::Path]) -> Answer {
    let fax = format!("fax={fax};type=application/json");
    let files: Vec<String> = files
        .iter()
        .map(|f| format!("file=@{}", f.display()))
        .collect();
    let mut args = vec!["-F", &fax];
    for f in &files {
        args.extend(["-F", f.as_str()]);
    }
    curl(hub, "/v1/faxes", Some(token), &args)
}

fn post_json(hub: &Faxhub, token: &str, body: &str) -> Answer {
    curl(
        hub,
        "/v1/faxes",
        Some(token),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ],
    )
}

/// Follows a job over the API until it is finished.
fn until_finished(hub: &Faxhub, id: &str, token: &str) -> Value {
    let start = std::time::Instant::now();
    loop {
        let job = get(hub, &format!("/v1/faxes/{id}"), Some(token));
        assert_eq!(job.status, 200, "{}", job.body);
        if job.body["phase"] == "finished" {
            return job.body;
        }
        assert!(
            start.elapsed() < WAIT,
            "job {id} did not finish: {}\n{}",
            job.body,
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_pdf_posted_with_a_token_is_faxed_and_followed_to_done() {
    let hub = Faxhub::start("", LOOPBACK);
    let sends = hub.api_token(&["--scope", "send,read", "--sender", "a@example.com"]);
    let pdf = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/pdf/pypdf/box.pdf"
    ));
    let made = post_multipart(
        &hub,
        &sends,
        r#"{"to": ["01 69 29 39 99"], "subject": "box"}"#,
        &[pdf],
    );
    assert_eq!(made.status, 202, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_string();
    assert_eq!(made.location, format!("/v1/faxes/{id}"));
    assert_eq!(made.body["origin"], "api");
    assert_eq!(made.body["sender"], "a@example.com", "the token's sender");
    let done = until_finished(&hub, &id, &sends);
    let rcpt = &done["recipients"][0];
    assert_eq!(
        (&rcpt["number"], &rcpt["status"]),
        (&"+33169293999".into(), &"done".into()),
        "{done}"
    );
    assert!(rcpt["pages_sent"].as_i64().unwrap() >= 1, "{done}");
    assert_eq!(
        rcpt["pages_sent"], done["pages"],
        "every page confirmed: {done}"
    );
    // the pages as sent, and page 1 small; another sender's token cannot fetch them
    let dir = tempfile::tempdir().unwrap();
    for (name, magic, kind) in [
        ("pages.pdf", &b"%PDF-"[..], "application/pdf"),
        ("thumbnail.png", &b"\x89PNG"[..], "image/png"),
    ] {
        let (status, content_type, bytes) =
            download(&hub, &format!("/v1/faxes/{id}/{name}"), &sends, dir.path());
        assert_eq!((status, content_type.as_str()), (200, kind), "{name}");
        assert!(bytes.starts_with(magic), "{name}");
    }
    let b = hub.api_token(&["--scope", "read", "--sender", "b@example.com"]);
    let (status, _, _) = download(&hub, &format!("/v1/faxes/{id}/pages.pdf"), &b, dir.path());
    assert_eq!(status, 404, "b cannot fetch a's pages");
    let (status, _, _) = download(
        &hub,
        &format!("/v1/faxes/{id}/secret.txt"),
        &sends,
        dir.path(),
    );
    assert_eq!(status, 404);

    // JSON with a base64 document, to a fax address as well as a number (one recipient each,
    // the same number once)
    let body = format!(
        r#"{{"to": ["+33169293998", "0169293998@fax.localhost", "0169293997@fax.localhost"], "documents": [{{"name": "note.txt", "content": "{}"}}]}}"#,
        base64_of(b"A note faxed over the API.\n")
    );
    let made = post_json(&hub, &sends, &body);
    assert_eq!(made.status, 202, "{}", made.body);
    let numbers: Vec<&str> = made.body["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["+33169293998", "+33169293997"]);
    until_finished(&hub, made.body["id"].as_str().unwrap(), &sends);
}

/// `curl` GET of a file: status, content type, bytes.
fn download(
    hub: &Faxhub,
    path: &str,
    token: &str,
    dir: &std::path::Path,
) -> (u16, String, Vec<u8>) {
    let out_file = dir.join("download");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-o"])
        .arg(&out_file)
        .args(["-w", "%{http_code} %{content_type}", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("http://127.0.0.1:{}{path}", hub.http_port))
        .output()
        .expect("curl runs");
    let written = String::from_utf8(out.stdout).unwrap();
    let (status, content_type) = written.split_once(' ').unwrap();
    (
        status.parse().unwrap(),
        content_type.to_string(),
        std::fs::read(&out_file).unwrap_or_default(),
    )
}

fn base64_of(bytes: &[u8]) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bad_submissions_get_problem_documents_and_queue_nothing() {
    let hub = Faxhub::start("max_message_size = \"200KB\"\n", "");
    let bound = hub.api_token(&["--scope", "send", "--sender", "a@example.com"]);
    let unbound = hub.api_token(&["--scope", "send"]);
    let reads = hub.api_token(&["--scope", "read"]);
    let text = r#""text": "x""#;
    for (what, answer, status, detail, code) in [
        (
            "an emergency number",
            post_json(&hub, &bound, &format!(r#"{{"to": ["112"], {text}}}"#)),
            422,
            "emergency",
            Some("5.7.1"),
        ),
        (
            "not a number",
            post_json(&hub, &bound, &format!(r#"{{"to": ["abc"], {text}}}"#)),
            422,
            "not a fax number",
            Some("5.1.3"),
        ),
        (
            "an address outside the fax domains",
            post_json(
                &hub,
                &bound,
                &format!(r#"{{"to": ["bob@example.org"], {text}}}"#),
            ),
            422,
            "not a fax address",
            Some("5.7.1"),
        ),
        (
            "an unknown field",
            post_json(
                &hub,
                &bound,
                &format!(r#"{{"to": ["0169293999"], "colour": true, {text}}}"#),
            ),
            400,
            "unknown field `colour`",
            None,
        ),
        (
            "nothing to fax",
            post_json(&hub, &bound, r#"{"to": ["0169293999"]}"#),
            400,
            "nothing to fax",
            None,
        ),
        (
            "no number",
            post_json(&hub, &bound, &format!(r#"{{"to": [], {text}}}"#)),
            400,
            "no number",
            None,
        ),
        (
            "not base64",
            post_json(
                &hub,
                &bound,
                r#"{"to": ["0169293999"], "documents": [{"name": "a.pdf", "content": "%%%"}]}"#,
            ),
            400,
            "documents[0] (a.pdf): not base64",
            None,
        ),
        (
            "a bound token sending as another",
            post_json(
                &hub,
                &bound,
                &format!(r#"{{"to": ["0169293999"], "sender": "b@example.com", {text}}}"#),
            ),
            403,
            "sends as a@example.com only",
            Some("5.7.1"),
        ),
        (
            "an unbound token with a foreign sender",
            post_json(
                &hub,
                &unbound,
                &format!(r#"{{"to": ["0169293999"], "sender": "eve@evil.test", {text}}}"#),
            ),
            403,
            "not at one of the site's domains",
            Some("5.7.1"),
        ),
        (
            "an unbound token without a sender",
            post_json(
                &hub,
                &unbound,
                &format!(r#"{{"to": ["0169293999"], {text}}}"#),
            ),
            400,
            "sender is needed",
            None,
        ),
        (
            "a read-only token",
            post_json(
                &hub,
                &reads,
                &format!(r#"{{"to": ["0169293999"], {text}}}"#),
            ),
            403,
            "needs send",
            None,
        ),
        (
            "a form without its fax part",
            curl(
                &hub,
                "/v1/faxes",
                Some(&bound),
                &["-F", "file=@/etc/hostname"],
            ),
            400,
            "no fax part",
            None,
        ),
        (
            "a part that is no file",
            curl(
                &hub,
                "/v1/faxes",
                Some(&bound),
                &["-F", r#"fax={"to":["0169293999"]}"#, "-F", "note=hello"],
            ),
            400,
            "part \"note\"",
            None,
        ),
        (
            "another content type",
            curl(
                &hub,
                "/v1/faxes",
                Some(&bound),
                &[
                    "-H",
                    "Content-Type: text/plain",
                    "--data-binary",
                    "fax 0169293999",
                ],
            ),
            415,
            "multipart/form-data",
            None,
        ),
    ] {
        problem(&answer, status, detail);
        assert_eq!(
            answer.body["status_code"].as_str(),
            code,
            "{what}: {}",
            answer.body
        );
    }
    // over max_message_size: 413, as multipart and as JSON
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.pdf");
    std::fs::write(&big, vec![b'%'; 300_000]).unwrap();
    let answer = post_multipart(&hub, &bound, r#"{"to": ["0169293999"]}"#, &[&big]);
    problem(&answer, 413, "at most 200000 bytes");
    assert_eq!(answer.body["status_code"], "5.3.4");
    let json = dir.path().join("big.json");
    let body = format!(
        r#"{{"to": ["0169293999"], "text": "{}"}}"#,
        "x".repeat(300_000)
    );
    std::fs::write(&json, body).unwrap();
    let from_file = format!("@{}", json.display());
    problem(
        &post_json(&hub, &bound, &from_file),
        413,
        "at most 200000 bytes",
    );
    assert!(
        hub.queue(true).is_empty(),
        "nothing queued: {:?}",
        hub.queue(true)
    );
    // the controls: the same tokens with what they may send are accepted
    let ok = post_json(
        &hub,
        &unbound,
        &format!(r#"{{"to": ["0169293999"], "sender": "b@example.com", {text}}}"#),
    );
    assert_eq!(ok.status, 202, "{}", ok.body);
    let ok = post_json(
        &hub,
        &bound,
        &format!(r#"{{"to": ["0169293999"], {text}}}"#),
    );
    assert_eq!(ok.status, 202, "{}", ok.body);
    assert!(
        ok.body["subject"].is_null(),
        "a text alone has no subject: {}",
        ok.body
    );
    assert_eq!(hub.queue(true).len(), 2);
}

fn statuses(job: &Value) -> Vec<String> {
    job["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_senders_token_holds_releases_and_cancels_its_own_faxes_only() {
    // numbers always busy, retried only after an hour: they stay deferred
    let rest = "[retry]\nschedule = [\"1h\"]\n[scheduler]\npoll_interval = \"200ms\"\n\
                [[lines]]\nname = \"test\"\nkind = \"test\"\n[[lines.script]]\nnumbers = \"+33155*\"\noutcomes = [\"busy\"]\n";
    let hub = Faxhub::start("", rest);
    let a = hub.api_token(&["--scope", "send,read", "--sender", "a@example.com"]);
    let b = hub.api_token(&["--scope", "send,read", "--sender", "b@example.com"]);
    let reads = hub.api_token(&["--scope", "read"]);
    let admin = hub.api_token(&["--scope", "admin"]);
    let made = post_json(
        &hub,
        &a,
        r#"{"to": ["0155000001", "0155000002"], "text": "x"}"#,
    );
    assert_eq!(made.status, 202, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_string();
    hub.wait_job(&id, WAIT, |j| statuses(j) == ["deferred", "deferred"]);
    let act = |token: &str, action: &str, body: &str| {
        curl(
            &hub,
            &format!("/v1/faxes/{id}/{action}"),
            Some(token),
            &[
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ],
        )
    };

    let held = act(&a, "hold", "");
    assert_eq!(held.status, 200, "{}", held.body);
    assert_eq!(statuses(&held.body), ["held", "held"]);
    problem(&act(&a, "hold", ""), 409, "nothing to do");
    let one = act(&a, "release", r#"{"number": "01 55 00 00 02"}"#);
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(statuses(&one.body)[0], "held");
    assert_ne!(statuses(&one.body)[1], "held");
    // b's token cannot tell a's fax from none; the control: the admin's can act on it
    problem(&act(&b, "cancel", ""), 404, &format!("no fax {id}"));
    assert_eq!(statuses(&hub.show(&id))[0], "held", "b changed nothing");
    problem(&act(&reads, "cancel", ""), 403, "needs send");
    problem(&act(&a, "explode", ""), 404, "no action \"explode\"");
    problem(
        &act(&a, "cancel", r#"{"number": "abc"}"#),
        422,
        "number \"abc\"",
    );
    problem(
        &act(&a, "cancel", r#"{"number": "0155000009"}"#),
        404,
        "has no number +33155000009",
    );
    problem(
        &act(&a, "cancel", r#"{"numbers": []}"#),
        400,
        "unknown field `numbers`",
    );
    let cancelled = act(&admin, "cancel", "");
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(statuses(&cancelled.body), ["cancelled", "cancelled"]);
    let retried = act(&a, "retry", r#"{"number": "+33155000001"}"#);
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(statuses(&retried.body)[1], "cancelled");
    assert_ne!(statuses(&retried.body)[0], "cancelled");
}

#[test]
fn the_same_idempotency_key_and_request_make_one_fax_even_racing() {
    let hub = Faxhub::start("", "[scheduler]\npoll_interval = \"200ms\"\n");
    let a = hub.api_token(&["--scope", "send,read", "--sender", "a@example.com"]);
    let other = hub.api_token(&["--scope", "send,read", "--sender", "a@example.com"]);
    let body = r#"{"to": ["0169293999"], "text": "once"}"#;
    let keyed = |token: &str, key: &str, body: &str| {
        curl(
            &hub,
            "/v1/faxes",
            Some(token),
            &[
                "-H",
                &format!("Idempotency-Key: {key}"),
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ],
        )
    };
    let first = keyed(&a, "order-1", body);
    assert_eq!(first.status, 202, "{}", first.body);
    let again = keyed(&a, "order-1", body);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["id"], first.body["id"], "the same job");
    problem(
        &keyed(&a, "order-1", r#"{"to": ["0169293999"], "text": "twice"}"#),
        409,
        "used for another request",
    );
    // keys are a token's own: another token's same key is another fax
    let others = keyed(&other, "order-1", body);
    assert_eq!(others.status, 202, "{}", others.body);
    assert_ne!(others.body["id"], first.body["id"]);
    problem(&keyed(&a, "two words", body), 400, "Idempotency-Key");

    // multipart: the same parts under another boundary are the same request
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("a.txt");
    std::fs::write(&doc, "a document\n").unwrap();
    let form = |key: &str| {
        curl(
            &hub,
            "/v1/faxes",
            Some(&a),
            &[
                "-H",
                &format!("Idempotency-Key: {key}"),
                "-F",
                r#"fax={"to":["0169293998"]};type=application/json"#,
                "-F",
                &format!("file=@{}", doc.display()),
            ],
        )
    };
    let m1 = form("form-1");
    let m2 = form("form-1");
    assert_eq!(
        (m1.status, m2.status),
        (202, 200),
        "{} {}",
        m1.body,
        m2.body
    );
    assert_eq!(m1.body["id"], m2.body["id"]);

    // twelve clients at once with one key: one fax, every answer naming it
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..12)
            .map(|_| s.spawn(|| keyed(&a, "race-1", r#"{"to": ["0169293997"], "text": "race"}"#)))
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let made: Vec<&Answer> = answers.iter().filter(|x| x.status == 202).collect();
    assert_eq!(
        made.len(),
        1,
        "one made it: {:?}",
        answers.iter().map(|x| x.status).collect::<Vec<_>>()
    );
    for answer in &answers {
        assert!([200, 202].contains(&answer.status), "{}", answer.body);
        assert_eq!(answer.body["id"], made[0].body["id"]);
    }
    // the control: without a key, the same request twice is two faxes
    let plain1 = post_json(&hub, &a, body);
    let plain2 = post_json(&hub, &a, body);
    assert_ne!(plain1.body["id"], plain2.body["id"]);
    assert_eq!(
        hub.queue(true).len(),
        6,
        "order-1 twice, form-1, race-1, two without a key"
    );
}

/// What the server sent on `stream` before closing it (EOF or reset) within `within`; `None`
/// if it did not close it.
fn closed_within(stream: &mut std::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
    use std::io::Read;
    stream.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(got),
            Err(_) => return None,
        }
    }
}

#[test]
fn idle_and_slow_clients_cannot_hold_the_server() {
    use std::io::Write;
    let rest = "[http]\nmax_connections = 2\nheader_timeout = \"1s\"\nrequest_timeout = \"2s\"\n";
    let hub = Faxhub::start("", rest);
    let a = hub.api_token(&["--scope", "send,read", "--sender", "a@example.com"]);
    let connect = || std::net::TcpStream::connect(("127.0.0.1", hub.http_port)).unwrap();
    // two clients that send half a request and wait take every connection: a third is closed
    // at once (the attack works up to the limit)...
    let mut idle: Vec<_> = (0..2)
        .map(|_| {
            let mut s = connect();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = connect();
    let _ = third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let answered = closed_within(&mut third, Duration::from_secs(30));
    assert_eq!(
        answered,
        Some(vec![]),
        "a third connection is closed unanswered"
    );
    // ...but only for header_timeout: the server cuts them, and answers again
    for s in &mut idle {
        assert!(
            closed_within(s, Duration::from_secs(30)).is_some(),
            "an idle client is cut off"
        );
    }
    assert_eq!(get(&hub, "/healthz", None).status, 200);
    // a body that trickles ends with 408 after request_timeout, not never
    let mut slow = connect();
    let head = format!(
        "POST /v1/faxes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"to\": "
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = String::new();
    {
        use std::io::Read;
        let mut buf = [0u8; 1024];
        let n = slow.read(&mut buf).unwrap_or(0);
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(hub.queue(true).is_empty());
}

/// Off loopback the API speaks TLS only, with SMTP's certificate when `[http.tls]` gives none:
/// curl checking that certificate gets answers; plain HTTP to the same port gets none (the
/// control: the loopback listener of the same hub answers plain HTTP).
#[test]
fn the_api_off_loopback_is_tls_only() {
    let plain = free_port();
    let hub = Faxhub::start(
        "",
        &format!("[http]\nlisten = [\"0.0.0.0:{{http_port}}\", \"127.0.0.1:{plain}\"]\n"),
    );
    let cert = hub.data_dir().join("tls/cert.pem");
    assert!(cert.exists(), "the self-signed certificate SMTP made");
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "30",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let tls = curl(&[
        "--cacert",
        cert.to_str().unwrap(),
        "--resolve",
        &format!("localhost:{}:127.0.0.1", hub.http_port),
        &format!("https://localhost:{}/healthz", hub.http_port),
    ]);
    assert_eq!(String::from_utf8_lossy(&tls.stdout), "200", "{tls:?}");
    let clear = curl(&[&format!("http://127.0.0.1:{}/healthz", hub.http_port)]);
    assert!(
        !clear.status.success() && String::from_utf8_lossy(&clear.stdout) == "000",
        "plain HTTP off loopback must get no answer: {clear:?}"
    );
    let control = curl(&[&format!("http://127.0.0.1:{plain}/healthz")]);
    assert_eq!(
        String::from_utf8_lossy(&control.stdout),
        "200",
        "{control:?}"
    );
    // the web client's cookies are Secure over TLS; on the loopback listener (plain HTTP, where
    // a browser would not keep a Secure cookie) they are not; both HttpOnly and SameSite=Strict
    let headers = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-D", "-", "-o", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_lowercase()
    };
    let over_tls = headers(&[
        "--cacert",
        cert.to_str().unwrap(),
        "--resolve",
        &format!("localhost:{}:127.0.0.1", hub.http_port),
        &format!("https://localhost:{}/signin", hub.http_port),
    ]);
    let cookie = |h: &str| {
        h.lines()
            .find(|l| l.starts_with("set-cookie: faxhub_signin="))
            .unwrap_or_else(|| panic!("{h}"))
            .to_string()
    };
    let secure = cookie(&over_tls);
    assert!(
        secure.contains("; secure")
            && secure.contains("httponly")
            && secure.contains("samesite=strict"),
        "{secure}"
    );
    let plain_page = headers(&[&format!("http://127.0.0.1:{plain}/signin")]);
    let loopback = cookie(&plain_page);
    assert!(
        !loopback.contains("secure") && loopback.contains("httponly"),
        "{loopback}"
    );
    for want in [
        "content-security-policy: default-src 'none'; script-src 'self'",
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "cache-control: private, no-store",
    ] {
        assert!(plain_page.contains(want), "{want}: {plain_page}");
    }
}

/// What a mail says with `X-Fax-*` header fields and display names, a request says with
/// fields: the cover page with the names, the paper, the resolution, the reports wanted. Text
/// that would make a header field of its own is refused (the control: the same text without
/// its line break is taken).
#[test]
fn a_request_chooses_cover_paper_resolution_names_and_reports() {
    let hub = Faxhub::start("", "");
    let sends = hub.api_token(&["--scope", "send,read", "--sender", "a@example.com"]);
    let body = serde_json::json!({
        "to": [{"number": "0169293999", "name": "Bob Martin"}, "0169293998"],
        "from_name": "Alice Durand",
        "cover": true,
        "paper": "letter",
        "resolution": "normal",
        "notify": ["success", "failure"],
        "text": "The order, as agreed.",
    });
    let made = post_json(&hub, &sends, &body.to_string());
    assert_eq!(made.status, 202, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_string();
    assert_eq!(made.body["recipients"][0]["display_name"], "Bob Martin");
    assert_eq!(made.body["recipients"][0]["notify"], "SUCCESS,FAILURE");
    assert_eq!(made.body["recipients"][1]["display_name"], Value::Null);
    let job = until_finished(&hub, &id, &sends);
    assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
    // each recipient's own page set: its cover, then the text page, on letter at 98 lpi
    assert_eq!(job["recipients"][0]["pages"], 2, "{job:#}");
    let pages = hub.data_dir().join(format!("spool/pages/{id}-0.tif"));
    let info = tiffinfo(&pages);
    assert!(
        info.contains("Image Width: 1728 Image Length: 10"),
        "letter at normal: {info}"
    );
    assert!(info.contains("Resolution: 204, 98"), "{info}");

    // a line break in a subject, a name or a recipient's name is refused, naming the field
    for (field, bad) in [
        (
            "subject",
            serde_json::json!({"to": ["0169293999"], "text": "x", "subject": "Hi\r\nBcc: x@example.net"}),
        ),
        (
            "from_name",
            serde_json::json!({"to": ["0169293999"], "text": "x", "from_name": "A\nB"}),
        ),
        (
            "to: name",
            serde_json::json!({"to": [{"number": "0169293999", "name": "B\r\nX: y"}], "text": "x"}),
        ),
        (
            "notify",
            serde_json::json!({"to": ["0169293999"], "text": "x", "notify": ["never", "success"]}),
        ),
        (
            "paper",
            serde_json::json!({"to": ["0169293999"], "text": "x", "paper": "a3"}),
        ),
    ] {
        let answer = post_json(&hub, &sends, &bad.to_string());
        problem(&answer, 400, field);
    }
    let fine =
        serde_json::json!({"to": ["0169293999"], "text": "x", "subject": "Hi Bcc: x@example.net"});
    assert_eq!(post_json(&hub, &sends, &fine.to_string()).status, 202);
}

/// The API's billing code, priority and send time go on the job as the mail headers' do; a
/// send time that is not one, or too far ahead, is a 422 problem with 5.6.0.
#[test]
fn a_request_holds_prioritises_and_bills() {
    let hub = Faxhub::start("", "");
    let sends = hub.api_token(&["--scope", "send,read", "--sender", "a@example.com"]);
    let at = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    let body = serde_json::json!({
        "to": ["0169293999"], "text": "Later.", "billing": "PRJ-9", "priority": "high",
        "send_at": at,
    });
    let made = post_json(&hub, &sends, &body.to_string());
    assert_eq!(made.status, 202, "{}", made.body);
    assert_eq!(made.body["billing"], "PRJ-9", "{}", made.body);
    assert_eq!(made.body["priority"], "high", "{}", made.body);
    assert!(made.body["send_at"].is_string(), "{}", made.body);
    assert_eq!(
        made.body["recipients"][0]["status"], "deferred",
        "{}",
        made.body
    );
    for when in ["soon", "2099-01-01T00:00:00Z"] {
        let body = serde_json::json!({"to": ["0169293999"], "text": "x", "send_at": when});
        let refused = post_json(&hub, &sends, &body.to_string());
        assert_eq!(refused.status, 422, "{when}: {}", refused.body);
        assert_eq!(refused.body["status_code"], "5.6.0", "{}", refused.body);
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap()
                .starts_with("send_at: "),
            "{}",
            refused.body
        );
    }
    let odd = serde_json::json!({"to": ["0169293999"], "text": "x", "priority": "urgent"});
    assert_eq!(post_json(&hub, &sends, &odd.to_string()).status, 400);
}

/// A broadcast through the API: the list as a multipart part named `list`, or in base64 in
/// JSON; its rows are the numbers (a bad one failed naming its row), low priority by default;
/// a list with no usable row is a 422 problem with 5.6.0, nothing queued.
#[test]
fn a_broadcast_list_is_posted_as_a_part_or_in_json() {
    let hub = Faxhub::start("", "");
    let token = hub.api_token(&["--scope", "send,read", "--sender", "a@example.com"]);
    let list = |rows: &[(&str, &str)]| {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "Fax").unwrap();
        sheet.write_string(0, 1, "Name").unwrap();
        for (i, (number, name)) in rows.iter().enumerate() {
            sheet.write_string(i as u32 + 1, 0, *number).unwrap();
            sheet.write_string(i as u32 + 1, 1, *name).unwrap();
        }
        book.save_to_buffer().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.xlsx");
    std::fs::write(&file, list(&[("01 69 29 42 01", "Ann"), ("n/a", "Bob")])).unwrap();
    let made = curl(
        &hub,
        "/v1/faxes",
        Some(&token),
        &[
            "-F",
            r#"fax={"to": [], "text": "New prices."};type=application/json"#,
            "-F",
            &format!("list=@{}", file.display()),
        ],
    );
    assert_eq!(made.status, 202, "{}", made.body);
    assert_eq!(made.body["priority"], "low");
    assert_eq!(made.body["list"], "clients.xlsx");
    let r = made.body["recipients"].as_array().unwrap();
    assert_eq!(
        (r[0]["number"].as_str(), r[0]["display_name"].as_str()),
        (Some("+33169294201"), Some("Ann"))
    );
    assert_eq!(
        (r[1]["status"].as_str(), r[1]["list_row"].as_i64()),
        (Some("failed"), Some(3))
    );
    let id = made.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        until_finished(&hub, &id, &token)["recipients"][0]["status"],
        "done"
    );

    // in JSON, base64; and a list with nothing to fax
    let body = format!(
        r#"{{"to": [], "text": "x", "list": {{"name": "l.xlsx", "content": "{}"}}}}"#,
        base64_of(&list(&[("", "Nobody")]))
    );
    let refused = post_json(&hub, &token, &body);
    problem(
        &refused,
        422,
        "l.xlsx: no row has a number faxhub can dial (row 2: no fax number)",
    );
    assert_eq!(refused.body["status_code"], "5.6.0", "{}", refused.body);
    let body = format!(
        r#"{{"to": [], "text": "x", "list": {{"name": "l.xlsx", "content": "{}"}}, "priority": "high"}}"#,
        base64_of(&list(&[("01 69 29 42 02", "Cy")]))
    );
    let made = post_json(&hub, &token, &body);
    assert_eq!(
        (made.status, made.body["priority"].as_str()),
        (202, Some("high")),
        "{}",
        made.body
    );
}
