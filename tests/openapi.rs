//! The OpenAPI document (`share/openapi.json`, served at `/v1/openapi.json`) is valid by
//! openapi-spec-validator, and every answer of the real binary, for every operation it lists
//! (successes and errors), matches it by jsonschema (tests/tools/openapi_check.py).

mod common;

use base64::Engine;
use common::*;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/share/openapi.json");

/// Asks the hub with curl and keeps each answer for the checker.
struct Asker<'a> {
    hub: &'a Faxhub,
    dir: &'a Path,
    answers: RefCell<Vec<Value>>,
}

impl Asker<'_> {
    /// `method` on `path` (operation `template` of the document) with `token` and curl `args`:
    /// the status and the body.
    fn ask(
        &self,
        method: &str,
        path: &str,
        template: &str,
        token: Option<&str>,
        args: &[&str],
    ) -> (u16, Vec<u8>) {
        let body = self.dir.join("body");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "60", "-X", &method.to_uppercase()])
            .arg("-o")
            .arg(&body)
            .args(["-w", "%{http_code} %{content_type}"]);
        if let Some(token) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let out = cmd
            .args(args)
            .arg(format!("http://127.0.0.1:{}{path}", self.hub.http_port))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {path}: {out:?}");
        let said = String::from_utf8(out.stdout).unwrap();
        let (status, content_type) = said.split_once(' ').unwrap();
        let status: u16 = status.parse().unwrap();
        let bytes = std::fs::read(&body).unwrap_or_default();
        let json_body = if content_type.contains("json") {
            serde_json::from_slice(&bytes).unwrap()
        } else if content_type.starts_with("text/") {
            Value::String(String::from_utf8(bytes.clone()).unwrap())
        } else {
            Value::Null
        };
        self.answers.borrow_mut().push(json!({
            "method": method, "path": template, "status": status,
            "content_type": content_type, "body": json_body,
        }));
        (status, bytes)
    }

    fn json(
        &self,
        method: &str,
        path: &str,
        template: &str,
        token: Option<&str>,
        args: &[&str],
    ) -> (u16, Value) {
        let (status, body) = self.ask(method, path, template, token, args);
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// Runs the checker on `answers` (written in `dir`).
fn check(dir: &Path, answers: &[Value]) -> std::process::Output {
    let file = dir.join("answers.jsonl");
    let lines: Vec<String> = answers.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/tools/openapi_check.py"
        ))
        .arg(SPEC)
        .arg(&file)
        .env(
            "PYTHONPATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/pydeps"),
        )
        .output()
        .unwrap()
}

#[test]
fn every_operation_answers_as_the_openapi_document_says() {
    let hub = Faxhub::start(
        "max_message_size = 100000",
        "[retry]\nschedule = [\"1h\"]\nmax_dials = 5\n[scheduler]\npoll_interval = \"200ms\"\n\
         [[lines]]\nname = \"test\"\nkind = \"test\"\n\
         [[lines.script]]\nnumbers = \"+33155000002\"\noutcomes = [\"busy\"]\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let asker = Asker {
        hub: &hub,
        dir: dir.path(),
        answers: RefCell::new(Vec::new()),
    };
    let ask =
        |m: &str, p: &str, t: &str, tok: Option<&str>, a: &[&str]| asker.json(m, p, t, tok, a);
    let admin = hub.api_token(&["--scope", "admin", "--sender", "alice@example.com"]);
    let sends = hub.api_token(&["--scope", "send", "--sender", "alice@example.com"]);
    let reads = hub.api_token(&["--scope", "read", "--sender", "bob@example.com"]);
    let (admin, sends, reads) = (
        Some(admin.as_str()),
        Some(sends.as_str()),
        Some(reads.as_str()),
    );

    // the document itself, served as kept
    let (status, served) = asker.ask("get", "/v1/openapi.json", "/v1/openapi.json", None, &[]);
    assert_eq!(status, 200);
    assert_eq!(served, std::fs::read(SPEC).unwrap());
    assert_eq!(ask("get", "/healthz", "/healthz", None, &[]).0, 200);
    hub.wait_ready();
    assert_eq!(ask("get", "/readyz", "/readyz", None, &[]).0, 200);
    assert_eq!(asker.ask("get", "/metrics", "/metrics", None, &[]).0, 200);

    // sending: JSON (with a key, twice, then another body), multipart, and the errors
    let text = base64::engine::general_purpose::STANDARD.encode("Hello\n");
    let fax = |to: &str| {
        json!({"to": [to], "documents": [{"name": "a.txt", "content": text}]}).to_string()
    };
    let post_json = |body: &str, key: Option<&str>, token| {
        let mut args = vec!["-H", "Content-Type: application/json", "-d", body];
        let header = key.map(|k| format!("Idempotency-Key: {k}"));
        if let Some(h) = &header {
            args.extend(["-H", h.as_str()]);
        }
        ask("post", "/v1/faxes", "/v1/faxes", token, &args)
    };
    let (status, done) = post_json(&fax("0155000001"), Some("k1"), sends);
    assert_eq!(status, 202, "{done}");
    let done_id = done["id"].as_str().unwrap().to_string();
    assert_eq!(post_json(&fax("0155000001"), Some("k1"), sends).0, 200);
    assert_eq!(post_json(&fax("0155000003"), Some("k1"), sends).0, 409);
    let (status, busy) = post_json(&fax("0155000002"), None, admin);
    assert_eq!(status, 202, "{busy}");
    let busy_id = busy["id"].as_str().unwrap().to_string();
    let pdf = dir.path().join("doc.pdf");
    std::fs::write(&pdf, make_pdf(dir.path(), 1)).unwrap();
    let fax_part = format!(
        "fax={};type=application/json",
        json!({"to": ["0155000004"]})
    );
    let file_part = format!("file=@{}", pdf.display());
    let multipart = ["-F", fax_part.as_str(), "-F", file_part.as_str()];
    assert_eq!(
        ask("post", "/v1/faxes", "/v1/faxes", admin, &multipart).0,
        202
    );
    assert_eq!(
        post_json(r#"{"to": ["0155000001"], "cc": []}"#, None, sends).0,
        400
    );
    assert_eq!(post_json(&fax("0155000001"), None, None).0, 401);
    assert_eq!(post_json(&fax("0155000001"), None, reads).0, 403);
    assert_eq!(post_json(&fax("not a number"), None, sends).0, 422);
    let big = dir.path().join("big.json");
    std::fs::write(
        &big,
        json!({"to": ["0155000001"], "text": "x".repeat(200_000)}).to_string(),
    )
    .unwrap();
    assert_eq!(
        post_json(&format!("@{}", big.display()), None, sends).0,
        413
    );
    let plain = ["-H", "Content-Type: text/plain", "-d", "fax this"];
    assert_eq!(ask("post", "/v1/faxes", "/v1/faxes", sends, &plain).0, 415);

    // following: the list, one fax, its pages
    hub.wait_finished(&done_id, WAIT);
    hub.wait_job(&busy_id, WAIT, |j| {
        j["recipients"][0]["status"] == "deferred"
    });
    let (status, page) = ask("get", "/v1/faxes?all=true&limit=2", "/v1/faxes", admin, &[]);
    assert_eq!(
        (status, page["faxes"].as_array().unwrap().len()),
        (200, 2),
        "{page}"
    );
    assert_eq!(
        ask("get", "/v1/faxes?limit=0", "/v1/faxes", admin, &[]).0,
        400
    );
    assert_eq!(ask("get", "/v1/faxes", "/v1/faxes", sends, &[]).0, 403);
    let one = format!("/v1/faxes/{done_id}");
    assert_eq!(ask("get", &one, "/v1/faxes/{id}", admin, &[]).0, 200);
    assert_eq!(
        ask("get", "/v1/faxes/nope", "/v1/faxes/{id}", admin, &[]).0,
        404
    );
    for (file, template) in [
        ("pages.pdf", "/v1/faxes/{id}/pages.pdf"),
        ("thumbnail.png", "/v1/faxes/{id}/thumbnail.png"),
    ] {
        assert_eq!(
            asker
                .ask("get", &format!("{one}/{file}"), template, admin, &[])
                .0,
            200
        );
        assert_eq!(
            asker
                .ask(
                    "get",
                    &format!("/v1/faxes/nope/{file}"),
                    template,
                    admin,
                    &[]
                )
                .0,
            404
        );
    }

    // the actions: on the deferred fax each changes something; on the delivered one nothing
    let act = |action: &str, id: &str| {
        let template = format!("/v1/faxes/{{id}}/{action}");
        ask(
            "post",
            &format!("/v1/faxes/{id}/{action}"),
            &template,
            admin,
            &[],
        )
    };
    for action in ["hold", "release", "retry", "cancel"] {
        let (status, job) = act(action, &busy_id);
        assert_eq!(status, 200, "{action}: {job}");
        let (status, why) = act(action, &done_id);
        assert_eq!(status, 409, "{action}: {why}");
    }
    let bad_number = [
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"number": "abc"}"#,
    ];
    let cancel = format!("/v1/faxes/{busy_id}/cancel");
    assert_eq!(
        ask("post", &cancel, "/v1/faxes/{id}/cancel", admin, &bad_number).0,
        422
    );
    let unknown = [
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"numbers": []}"#,
    ];
    assert_eq!(
        ask("post", &cancel, "/v1/faxes/{id}/cancel", admin, &unknown).0,
        400
    );

    // the inbox: a reception recorded as the SIP agent records one (the pages sent above)
    let inbox = hub.data_dir().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let rid = "20261201093000-0a1b2c3d";
    std::fs::copy(
        hub.data_dir().join(format!("spool/pages/{done_id}.tif")),
        inbox.join(format!("{rid}.tif")),
    )
    .unwrap();
    let record = json!({
        "id": rid, "received_at": "2026-12-01T09:30:00Z", "caller": "0169293999",
        "did": "0142000000", "remote_ident": "+33 1 69 29 39 99", "pages": 1, "bad_rows": 0,
        "bit_rate": 14400, "ecm": true, "transport": "t38", "duration_seconds": 21.5,
        "complete": true, "result": "received", "tiff": format!("{rid}.tif"),
    });
    std::fs::write(inbox.join(format!("{rid}.json")), record.to_string()).unwrap();
    let (status, list) = ask("get", "/v1/inbox", "/v1/inbox", admin, &[]);
    assert_eq!((status, &list["faxes"][0]), (200, &record));
    assert_eq!(
        ask("get", "/v1/inbox?limit=0", "/v1/inbox", admin, &[]).0,
        400
    );
    let record_path = format!("/v1/inbox/{rid}");
    assert_eq!(
        ask("get", &record_path, "/v1/inbox/{id}", admin, &[]).0,
        200
    );
    assert_eq!(
        ask("get", "/v1/inbox/nope", "/v1/inbox/{id}", admin, &[]).0,
        404
    );
    assert_eq!(ask("get", &record_path, "/v1/inbox/{id}", None, &[]).0, 401);
    let (status, pdf) = asker.ask(
        "get",
        &format!("{record_path}.pdf"),
        "/v1/inbox/{id}.pdf",
        admin,
        &[],
    );
    assert_eq!((status, &pdf[..4]), (200, &b"%PDF"[..]));
    assert_eq!(
        asker
            .ask(
                "get",
                "/v1/inbox/nope.pdf",
                "/v1/inbox/{id}.pdf",
                admin,
                &[]
            )
            .0,
        404
    );

    assert_eq!(ask("get", "/v1/lines", "/v1/lines", reads, &[]).0, 200);
    assert_eq!(ask("get", "/v1/lines", "/v1/lines", None, &[]).0, 401);

    // every answer, against the document
    let out = check(dir.path(), &asker.answers.borrow());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains(": 0 problems"), "{said}");
    eprintln!("{said}");
}

/// The checker finds what it should (the control): an answer the document does not describe,
/// a body that does not match, and an operation never asked.
#[test]
fn the_checker_finds_answers_that_do_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = [
        json!({"method": "get", "path": "/healthz", "status": 200, "content_type": "application/json", "body": {"status": "sleepy"}}),
        json!({"method": "get", "path": "/healthz", "status": 418, "content_type": "application/json", "body": {}}),
        json!({"method": "get", "path": "/v1/nothing", "status": 200, "content_type": "application/json", "body": {}}),
    ];
    let out = check(dir.path(), &wrong);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    for expected in [
        "'sleepy' is not one of",
        "status not documented",
        "no such operation",
        "documented but never asked",
    ] {
        assert!(said.contains(expected), "{expected:?} in {said}");
    }
}
