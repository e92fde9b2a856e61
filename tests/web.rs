//! The web client in a real browser (Debian's chromium, headless, over WebDriver) against the
//! real daemon, with directory users in a private slapd and local users with argon2 hashes
//! made by `faxhub passwd`: sign-in, sending with the preview of the pages, the status followed
//! live to delivered over the loopback line, the received fax in its owner's inbox, an
//! administrator holding and releasing a job; and the attacks: another user's fax by its URL,
//! forms without the CSRF token, password guessing, a file that cannot be faxed, the directory
//! stopped. Screenshots are kept in `target/web-screenshots/`.

mod common;

use common::browser::Browser;
use common::postfix::Postfix;
use common::slapd::{BASE, Slapd};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);
const SHORT: Duration = Duration::from_secs(20);

fn ldif() -> String {
    format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: uid=alice,ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice Durand\n\
         sn: Durand\nmail: alice@example.com\no: Durand Industries\n\
         facsimileTelephoneNumber: +33 1 42 00 01 55\nuserPassword: alice pw\n\n\
         dn: uid=bob,ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob Martin\n\
         sn: Martin\nmail: bob@example.com\nuserPassword: bob pw\n\n\
         dn: uid=carol,ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: carol\ncn: Carol Admin\n\
         sn: Admin\nmail: carol@example.com\nuserPassword: carol pw\n\n\
         dn: cn=fax-admins,{BASE}\nobjectClass: groupOfNames\ncn: fax-admins\n\
         member: uid=carol,ou=people,{BASE}\n"
    )
}

fn ldap_section(slapd: &Slapd, ca: &Path) -> String {
    format!(
        "[ldap]\nurl = \"ldaps://localhost:{}\"\nbase_dn = \"{BASE}\"\nca_file = \"{}\"\ntimeout = \"3s\"\n\
         [web]\nadmin_group = \"cn=fax-admins,{BASE}\"\n",
        slapd.tls_port,
        ca.display()
    )
}

/// `curl` on the hub's HTTP port with the session cookie `session`: the status and the body.
fn curl(hub: &common::Faxhub, session: &str, args: &[&str], path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-w", "\n%{http_code}"])
        .args(["-b", &format!("faxhub_session={session}")])
        .args(args)
        .arg(format!("http://127.0.0.1:{}{path}", hub.http_port))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

/// The CSRF token in a page's forms.
fn csrf_of(page: &str) -> String {
    let at = page.split("name=\"csrf\" value=\"").nth(1).expect("a form");
    at[..64].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_user_sends_with_a_preview_follows_it_live_and_finds_it_in_the_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let ((ca, cert, key), _) = Postfix::tls(dir.path());
    let slapd = Slapd::start(dir.path(), &ldif(), &cert, &key);
    let hub = common::Faxhub::start(
        "",
        &format!(
            "[retry]\nschedule = [\"1s\"]\n[scheduler]\npoll_interval = \"200ms\"\n\
             [inbound]\ncatch_all = \"nobody@example.com\"\n{}\
             [sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n\
             [[lines]]\nname = \"loopback\"\nkind = \"loopback\"\nchannels = 2\n",
            ldap_section(&slapd, &ca)
        ),
    );
    hub.wait_ready();
    let pdf = dir.path().join("two-pages.pdf");
    std::fs::write(&pdf, common::make_pdf(dir.path(), 2)).unwrap();
    let b = Browser::start(&format!("http://127.0.0.1:{}", hub.http_port), "send").await;

    // a page asked for before sign-in comes back after it
    b.goto("/send").await;
    assert_eq!(b.path().await, "/signin?next=/send");
    b.fill("input[name=login]", "alice").await;
    b.fill("input[name=password]", "alice pw").await;
    b.screenshot("signin").await;
    b.submit("form.signin button").await;
    b.wait_for("form#send", SHORT).await;
    assert_eq!(b.path().await, "/send");

    // numbers checked as they are typed, by the dial plan
    b.fill("#to", "01 42 00 01 55\nnot a number").await;
    let ok = b.text_of("#numbers li.ok", SHORT).await;
    assert!(ok.contains("+33142000155"), "{ok}");
    let bad = b.text_of("#numbers li.bad", SHORT).await;
    assert!(bad.starts_with("not a number: "), "{bad}");
    b.fill("#to", "Alice Durand <01 42 00 01 55>").await;
    b.wait_for("form#send", SHORT).await;
    b.fill("input[name=subject]", "Quarterly figures").await;
    b.wait_for("#files", SHORT)
        .await
        .send_keys(&pdf.display().to_string())
        .await
        .unwrap();

    // the preview: the pages faxhub will send, drawn from its TIFF-F
    b.click("#preview-button").await;
    b.wait_for("#preview img.page:nth-of-type(2)", LONG).await;
    assert_eq!(b.count("#preview img.page").await, 2);
    let shown = b.text_of("#preview .meta", SHORT).await;
    assert_eq!(shown, "2 page(s)");
    b.screenshot("preview").await;

    // sent: the job's page follows the status to delivered without being reloaded
    b.submit("#send-button").await;
    b.wait_for("section#job", LONG).await;
    let job_path = b.path().await;
    let id = job_path.strip_prefix("/faxes/").unwrap().to_string();
    b.client
        .execute("window.notReloaded = true;", vec![])
        .await
        .unwrap();
    b.wait_for(
        "tr[data-number='+33142000155'] .badge[data-status=done]",
        LONG,
    )
    .await;
    let still = b
        .client
        .execute("return window.notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(still, serde_json::json!(true), "the page was reloaded");
    assert_eq!(
        b.text_of("tr[data-number='+33142000155'] .sent", SHORT)
            .await,
        "2"
    );
    // page 1 and the PDF appear once converted, without a reload either
    b.wait_for("#pages-view img.thumb", SHORT).await;
    b.screenshot("delivered").await;
    // on a phone's screen the pages fit its width: nothing to scroll sideways
    b.client.set_window_size(390, 844).await.unwrap();
    b.screenshot("phone").await;
    b.assert_fits("the job's page").await;
    b.goto("/send").await;
    b.assert_fits("the send page").await;
    b.goto(&job_path).await;
    b.client.set_window_size(1200, 1000).await.unwrap();
    let job = hub.show(&id);
    assert_eq!(job["sender"], "alice@example.com");
    assert_eq!(job["subject"], "Quarterly figures");
    assert_eq!(job["recipients"][0]["display_name"], "Alice Durand");
    // the report, as mailed, from the job's page
    let start = std::time::Instant::now();
    let report = loop {
        b.goto(&job_path).await;
        if b.count("ul.reports a").await > 0 {
            break b
                .wait_for("ul.reports a", SHORT)
                .await
                .attr("href")
                .await
                .unwrap()
                .unwrap();
        }
        assert!(start.elapsed() < LONG, "no report on the job's page");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // the fax came back over the loopback line to alice's number: her inbox has it, unread
    let start = std::time::Instant::now();
    loop {
        b.goto("/inbox").await;
        if b.count("table.inbox tr.unread").await > 0 {
            break;
        }
        assert!(start.elapsed() < LONG, "the received fax never showed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    b.screenshot("inbox").await;
    b.submit("table.inbox tr.unread a").await;
    b.wait_for("div.pages img.page", LONG).await;
    assert_eq!(b.count("div.pages img.page").await, 2);
    let received_path = b.path().await;
    b.screenshot("received").await;
    // forwarded by mail: the fax's PDF reaches the address given
    b.fill("form.forward input[name=to]", "boss@example.com")
        .await;
    b.submit("form.forward button").await;
    b.wait_for("div.pages img.page", LONG).await;
    let maildir = hub.data_dir().join("Maildir");
    let start = std::time::Instant::now();
    let forwarded = loop {
        let found = common::mail::messages(&maildir)
            .iter()
            .map(|m| common::mail::read(m))
            .find(|m| {
                m["headers"]["To"]
                    .as_str()
                    .is_some_and(|t| t.contains("boss@example.com"))
            });
        if let Some(m) = found {
            break m;
        }
        assert!(start.elapsed() < LONG, "never forwarded: {}", hub.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let text = forwarded.to_string();
    assert!(text.contains("application/pdf"), "{text}");
    b.goto("/inbox").await;
    assert_eq!(
        b.count("table.inbox tr.unread").await,
        0,
        "read once opened"
    );

    // bob: neither alice's fax nor her reception, in the browser or by the URL
    let alice_session = b.cookie("faxhub_session").await.unwrap();
    // another user in the same browser; alice's session stays open
    b.client.delete_all_cookies().await.unwrap();
    b.sign_in("bob", "bob pw").await;
    b.wait_for("main h1", SHORT).await;
    b.goto(&job_path).await;
    assert_eq!(b.text_of("main h1", SHORT).await, "Not Found");
    b.screenshot("not-yours").await;
    b.goto("/inbox").await;
    assert_eq!(b.count("table.inbox tbody tr").await, 0);
    let bob_session = b.cookie("faxhub_session").await.unwrap();
    for path in [
        job_path.clone(),
        report.clone(),
        format!("{job_path}/events"),
        format!("{job_path}/file/pages.pdf"),
        received_path.clone(),
        format!("{received_path}/fax.pdf"),
    ] {
        assert_eq!(curl(&hub, &bob_session, &[], &path).0, 404, "bob: {path}");
        // control: the owner gets it
        assert_eq!(
            curl(&hub, &alice_session, &[], &path).0,
            200,
            "alice: {path}"
        );
    }
    // bob signs out: his cookie is worth nothing from then on
    assert_eq!(curl(&hub, &bob_session, &[], "/faxes").0, 200);
    b.submit("form.signout button").await;
    b.wait_for("form.signin", SHORT).await;
    let (status, _) = curl(&hub, &bob_session, &[], "/faxes");
    assert_eq!(status, 303, "a signed-out session is sent to sign in");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_holds_and_releases_and_the_attacks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ((ca, cert, key), _) = Postfix::tls(dir.path());
    let mut slapd = Slapd::start(dir.path(), &ldif(), &cert, &key);
    let hashed = Command::new(common::BIN)
        .arg("passwd")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"local secret\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(hashed.status.success(), "{hashed:?}");
    let hash = String::from_utf8(hashed.stdout).unwrap().trim().to_string();
    let hub = common::Faxhub::start(
        "",
        &format!(
            "[retry]\nschedule = [\"1h\"]\n[scheduler]\npoll_interval = \"200ms\"\n{}\
             max_failures = 3\n\
             [[web.users]]\nlogin = \"frontdesk\"\npassword = \"{hash}\"\nmail = \"frontdesk@example.com\"\n\
             [[lines]]\nname = \"test\"\nkind = \"test\"\n[[lines.script]]\nnumbers = \"+33155*\"\noutcomes = [\"busy\"]\n",
            ldap_section(&slapd, &ca)
        ),
    );
    hub.wait_ready();
    let b = Browser::start(&format!("http://127.0.0.1:{}", hub.http_port), "admin").await;

    // a local user (argon2) sends to a busy number: the job waits, deferred
    b.sign_in("frontdesk", "local secret").await;
    b.wait_for("table.jobs, main p", SHORT).await;
    assert_eq!(
        b.path().await,
        "/faxes",
        "{}",
        b.client.source().await.unwrap()
    );
    b.goto("/send").await;
    b.fill("#to", "01 55 00 00 01").await;
    b.fill("textarea[name=text]", "Please call back.").await;
    let hostile = "<img src=x onerror=\"document.title='pwned'\">Call back";
    b.fill("input[name=subject]", hostile).await;
    b.submit("#send-button").await;
    b.wait_for("tr .badge[data-status=deferred]", LONG).await;
    // what a user typed is shown as text, never made markup (the CSP would stop the script
    // anyway: the page must not depend on it)
    assert_eq!(b.text_of("main h1", SHORT).await, hostile);
    assert_eq!(b.count("main h1 img").await, 0);
    b.goto("/faxes").await;
    assert_eq!(b.count("table.jobs img").await, 0);
    assert!(b.text_of("table.jobs", SHORT).await.contains(hostile));
    assert_ne!(b.client.title().await.unwrap(), "pwned");
    b.goto(&format!(
        "/faxes/{}",
        hub.queue(true)[0]["id"].as_str().unwrap()
    ))
    .await;
    let id = b.path().await.strip_prefix("/faxes/").unwrap().to_string();
    // a sender has no hold: not offered, and refused when posted anyway
    assert_eq!(b.count("form.actions button[value=hold]").await, 0);
    let frontdesk = b.cookie("faxhub_session").await.unwrap();

    // a file that cannot be faxed is named before anything is queued
    let junk = dir.path().join("scan.pdf");
    std::fs::write(&junk, b"%PDF-1.4\nnot really a PDF\n").unwrap();
    b.goto("/send").await;
    b.fill("#to", "01 55 00 00 02").await;
    b.wait_for("#files", SHORT)
        .await
        .send_keys(&junk.display().to_string())
        .await
        .unwrap();
    b.click("#preview-button").await;
    let said = b.text_of("#preview p.error", LONG).await;
    assert!(said.contains("scan.pdf"), "{said}");
    b.submit("#send-button").await;
    let said = b.text_of("main p.error", LONG).await;
    assert!(said.contains("scan.pdf"), "{said}");
    b.screenshot("cannot-be-faxed").await;
    assert_eq!(hub.queue(true).len(), 1, "nothing queued for it");
    let page = b.client.source().await.unwrap();
    let frontdesk_csrf = csrf_of(&page);
    // another user in the same browser; frontdesk's session stays open
    b.client.delete_all_cookies().await.unwrap();

    // carol, in the directory's admin group, holds and releases frontdesk's job
    b.sign_in("carol", "carol pw").await;
    b.wait_for("main h1", SHORT).await;
    b.goto("/admin").await;
    b.wait_for(&format!("tr[data-job='{id}']"), SHORT).await;
    b.screenshot("queue").await;
    b.submit(&format!("tr[data-job='{id}'] button[value=hold]"))
        .await;
    b.wait_for(
        &format!("tr[data-job='{id}'] .badge[data-status=held]"),
        SHORT,
    )
    .await;
    assert_eq!(hub.show(&id)["recipients"][0]["status"], "held");
    b.submit(&format!("tr[data-job='{id}'] button[value=release]"))
        .await;
    b.wait_for(
        &format!("tr[data-job='{id}'] .badge:not([data-status=held])"),
        SHORT,
    )
    .await;
    assert_ne!(hub.show(&id)["recipients"][0]["status"], "held");
    b.goto("/admin/lines").await;
    assert!(b.text_of("table.lines", SHORT).await.contains("test"));
    b.screenshot("lines").await;
    let carol = b.cookie("faxhub_session").await.unwrap();

    // CSRF: the same action posted without the session's token, or with another session's
    let (status, body) = curl(
        &hub,
        &carol,
        &["-d", "action=hold&back=admin"],
        &format!("/faxes/{id}/act"),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");
    let (status, _) = curl(
        &hub,
        &carol,
        &["-d", &format!("action=hold&csrf={frontdesk_csrf}")],
        &format!("/faxes/{id}/act"),
    );
    assert_eq!(status, 403, "another session's token");
    // control: carol's own token works
    let (_, page) = curl(&hub, &carol, &[], "/admin");
    let carol_csrf = csrf_of(&page);
    let (status, _) = curl(
        &hub,
        &carol,
        &["-d", &format!("action=hold&csrf={carol_csrf}")],
        &format!("/faxes/{id}/act"),
    );
    assert_eq!(status, 303);
    assert_eq!(hub.show(&id)["recipients"][0]["status"], "held");
    // a sender posting hold with a right token: refused
    let (status, _) = curl(
        &hub,
        &frontdesk,
        &["-d", &format!("action=release&csrf={frontdesk_csrf}")],
        &format!("/faxes/{id}/act"),
    );
    assert_eq!(status, 403);
    // a document larger than axum's 2 MB default but within smtp.max_message_size is taken
    // (and refused here for what it is, named)
    let big = dir.path().join("big.pdf");
    let mut junk = b"%PDF-1.4\n".to_vec();
    junk.resize(3 << 20, b'x');
    std::fs::write(&big, junk).unwrap();
    let (status, body) = curl(
        &hub,
        &frontdesk,
        &[
            "-F",
            &format!("csrf={frontdesk_csrf}"),
            "-F",
            "to=0155000003",
            "-F",
            &format!("files=@{}", big.display()),
        ],
        "/send/preview",
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("big.pdf"), "{body}");
    // a name of 100,000 characters is a wrong one, like any other
    let (status, body) = curl(
        &hub,
        "none",
        &[
            "-H",
            "Cookie: faxhub_signin=0123",
            "--data-binary",
            &format!("login={}&password=x&nonce=0123", "a".repeat(100_000)),
        ],
        "/signin",
    );
    assert_eq!(status, 401, "{}", &body[..body.len().min(300)]);

    // an administrator's page is nothing to a sender
    assert_eq!(curl(&hub, &frontdesk, &[], "/admin").0, 404);
    b.submit("form.signout button").await;
    b.wait_for("form.signin", SHORT).await;

    // a sign-in posted from elsewhere (no nonce cookie, or another one): refused, the password
    // not even checked
    let (status, body) = curl(
        &hub,
        "none",
        &["-d", "login=frontdesk&password=local+secret&nonce=0123"],
        "/signin",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");

    // password guessing: refused after max_failures, even with the right password
    for _ in 0..3 {
        b.sign_in("bob", "guess").await;
        assert!(
            b.text_of("p.error", SHORT)
                .await
                .contains("wrong name or password")
        );
    }
    b.sign_in("bob", "bob pw").await;
    let said = b.text_of("p.error", SHORT).await;
    assert!(said.contains("too many failed sign-ins"), "{said}");
    b.screenshot("rate-limited").await;

    // the directory stopped: a directory user is told, clearly; a local user still signs in
    slapd.stop();
    b.sign_in("alice", "alice pw").await;
    let said = b.text_of("p.error", LONG).await;
    assert!(said.contains("directory cannot be reached"), "{said}");
    b.screenshot("directory-down").await;
    b.sign_in("frontdesk", "local secret").await;
    b.wait_for("table.jobs", SHORT).await;
    b.close().await;
}
