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
    body: Value,
}

/// `curl` GET of `path` on the hub's HTTP port, with `token` as bearer if given.
fn get(hub: &Faxhub, path: &str, token: Option<&str>) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "30", "-D", "-"]);
    if let Some(token) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{}{path}", hub.http_port))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl {path}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
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
        body: serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body:?}")),
    }
}

fn token(hub: &Faxhub, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let out = hub.cli(&all);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn ids(answer: &Answer) -> Vec<String> {
    let mut ids: Vec<String> = answer
        .body
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
    let ready = get(&hub, "/readyz", None);
    assert_eq!(
        (ready.status, &ready.body["status"]),
        (200, &"ready".into())
    );

    let a_reads = token(&hub, &["--scope", "read", "--sender", "a@example.com"]);
    let sends = token(&hub, &["--scope", "send"]);
    let admin = token(&hub, &["--scope", "admin", "--name", "ops"]);
    let revoked = token(&hub, &["--scope", "read"]);

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
    // a revoked token worked until it was revoked
    assert_eq!(get(&hub, "/v1/faxes", Some(&revoked)).status, 200);
    let revoked_id = revoked.split('_').nth(1).unwrap();
    assert!(hub.cli(&["token", "revoke", revoked_id]).status.success());
    problem(&get(&hub, "/v1/faxes", Some(&revoked)), 401, "not valid");
    // out of scope
    problem(&get(&hub, "/v1/faxes", Some(&sends)), 403, "needs read");

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
