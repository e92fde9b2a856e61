//! The directory client (`faxhub_connectors::directory`) against a real OpenLDAP (Debian's
//! slapd, started by the test on private ports with a test LDIF): users by mail and sign-in
//! name, sign-in by bind, groups, fax numbers; over LDAPS and StartTLS with the certificate
//! checked; attacks by filter injection and empty passwords; the directory down.

mod common;

use common::postfix::Postfix;
use common::slapd::{BASE, Slapd};
use faxhub_connectors::directory::{Directory, DirectoryError, LdapConfig};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn ldif() -> String {
    format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: uid=alice,ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice Durand\n\
         sn: Durand\nmail: alice@example.com\no: Durand Industries\ntelephoneNumber: +33 1 69 29 39 00\n\
         facsimileTelephoneNumber: +33 1 42 00 01 55\nuserPassword: alice pw\n\n\
         dn: uid=bob,ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob Martin\n\
         sn: Martin\nmail: bob@example.com\nuserPassword: bob pw\n\n\
         dn: cn=fax-users,{BASE}\nobjectClass: groupOfNames\ncn: fax-users\n\
         member: uid=alice,ou=people,{BASE}\n"
    )
}

fn config(url: String, ca: &Path) -> LdapConfig {
    toml::from_str::<LdapConfig>(&format!(
        "url = \"{url}\"\nbase_dn = \"{BASE}\"\nca_file = \"{}\"\ntimeout = \"5s\"\n",
        ca.display()
    ))
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn users_groups_numbers_and_sign_in_over_ldaps_and_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let ((ca, cert, key), _) = Postfix::tls(dir.path());
    let slapd = Slapd::start(dir.path(), &ldif(), &cert, &key);
    let rt = runtime();
    let ldaps =
        Directory::new(config(format!("ldaps://localhost:{}", slapd.tls_port), &ca)).unwrap();
    let starttls = Directory::new(LdapConfig {
        starttls: true,
        ..config(format!("ldap://localhost:{}", slapd.port), &ca)
    })
    .unwrap();
    for directory in [&ldaps, &starttls] {
        let alice = rt
            .block_on(directory.user_by_mail("alice@example.com"))
            .unwrap()
            .expect("alice");
        assert_eq!(alice.dn, format!("uid=alice,ou=people,{BASE}"));
        assert_eq!(alice.name.as_deref(), Some("Alice Durand"));
        assert_eq!(alice.company.as_deref(), Some("Durand Industries"));
        assert_eq!(alice.fax.as_deref(), Some("+33 1 42 00 01 55"));
        assert_eq!(
            rt.block_on(directory.user_by_mail("nobody@example.com")),
            Ok(None)
        );
        // sign-in: the right password, a wrong one, none
        let signed = rt
            .block_on(directory.authenticate("alice", "alice pw"))
            .unwrap();
        assert_eq!(signed.map(|u| u.dn), Some(alice.dn.clone()));
        assert_eq!(
            rt.block_on(directory.authenticate("alice", "bob pw")),
            Ok(None)
        );
        assert_eq!(rt.block_on(directory.authenticate("alice", "")), Ok(None));
        assert_eq!(rt.block_on(directory.authenticate("carol", "x")), Ok(None));
        // groups
        let group = format!("cn=fax-users,{BASE}");
        assert_eq!(
            rt.block_on(directory.is_member(&group, &alice.dn)),
            Ok(true)
        );
        let bob = format!("uid=bob,ou=people,{BASE}");
        assert_eq!(rt.block_on(directory.is_member(&group, &bob)), Ok(false));
        assert_eq!(
            rt.block_on(directory.is_member(&format!("cn=nope,{BASE}"), &bob)),
            Ok(false)
        );
        // who owns which fax number (read by presence: the attribute has no equality rule)
        assert_eq!(
            rt.block_on(directory.fax_numbers()).unwrap(),
            [(
                "+33 1 42 00 01 55".to_string(),
                "alice@example.com".to_string()
            )]
        );
    }
}

/// A value put in a filter cannot widen it: `*` and parentheses are escaped. The control: the
/// same text as a raw filter (ldapsearch) does match both users.
#[test]
fn filter_injection_and_an_unchecked_certificate_get_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ((ca, cert, key), _) = Postfix::tls(dir.path());
    let mut slapd = Slapd::start(dir.path(), &ldif(), &cert, &key);
    let rt = runtime();
    let directory =
        Directory::new(config(format!("ldaps://localhost:{}", slapd.tls_port), &ca)).unwrap();
    let attack = "*)(|(mail=*";
    let raw = Command::new("ldapsearch")
        .args(["-x", "-LLL", "-H"])
        .arg(format!("ldap://127.0.0.1:{}", slapd.port))
        .args(["-b", BASE])
        .arg(format!("(&(objectClass=inetOrgPerson)(uid={attack})))"))
        .arg("dn")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&raw.stdout);
    assert!(
        said.contains("uid=alice") && said.contains("uid=bob"),
        "control: {said}"
    );
    assert_eq!(rt.block_on(directory.user_by_login(attack)), Ok(None));
    assert_eq!(
        rt.block_on(directory.authenticate("*", "alice pw")),
        Ok(None)
    );
    assert_eq!(rt.block_on(directory.user_by_mail("*")), Ok(None));

    // a CA that did not sign the server's certificate: no connection
    let other = tempfile::tempdir().unwrap();
    let ((other_ca, _, _), _) = Postfix::tls(other.path());
    let untrusted = Directory::new(config(
        format!("ldaps://localhost:{}", slapd.tls_port),
        &other_ca,
    ))
    .unwrap();
    assert!(matches!(
        rt.block_on(untrusted.user_by_mail("alice@example.com")),
        Err(DirectoryError::Unavailable(_))
    ));

    // the directory down: a temporary fault, said as such
    slapd.stop();
    let down = rt.block_on(directory.user_by_mail("alice@example.com"));
    assert!(
        matches!(down, Err(DirectoryError::Unavailable(_))),
        "{down:?}"
    );
    slapd.launch();
    assert!(
        rt.block_on(directory.user_by_mail("alice@example.com"))
            .unwrap()
            .is_some()
    );
}

/// A fax to a number a directory user owns is mailed to that user, before the catch-all; and a
/// token bound to that user sees it in /v1/inbox. The control: a number nobody owns goes to the
/// catch-all.
#[test]
fn a_fax_to_a_number_owned_in_the_directory_reaches_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let ((ca, cert, key), _) = Postfix::tls(dir.path());
    let slapd = Slapd::start(dir.path(), &ldif(), &cert, &key);
    let hub = common::Faxhub::start(
        "",
        &format!(
            "[retry]\nschedule = [\"1s\"]\n[scheduler]\npoll_interval = \"200ms\"\n\
             [inbound]\ncatch_all = \"nobody@example.com\"\n\
             [ldap]\nurl = \"ldaps://localhost:{}\"\nbase_dn = \"{BASE}\"\nca_file = \"{}\"\n\
             [sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n\
             [[lines]]\nname = \"loopback\"\nkind = \"loopback\"\nchannels = 2\n",
            slapd.tls_port,
            ca.display()
        ),
    );
    for number in ["0142000155", "0142000177"] {
        let id = common::queued_id(&hub.smtp().send_mail(
            "bob@example.com",
            &[&format!("{number}@fax.localhost")],
            &common::text_message("for the owner", "x"),
        ));
        hub.wait_finished(&id, Duration::from_secs(120));
    }
    let mails = common::mail::wait_for(
        &hub.data_dir().join("Maildir"),
        4,
        Duration::from_secs(120),
        || hub.log(),
    );
    let to_of = |did: &str| -> Vec<String> {
        mails
            .iter()
            .filter(|m| {
                m["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(&format!("Number dialled: {did}"))
            })
            .map(|m| m["headers"]["To"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(to_of("0142000155"), ["alice@example.com"], "{mails:#?}");
    assert_eq!(to_of("0142000177"), ["nobody@example.com"], "{mails:#?}");
    let alice = hub.api_token(&["--scope", "read", "--sender", "alice@example.com"]);
    let (_, inbox) = hub.http_json("/v1/inbox", Some(&alice));
    let dids: Vec<&str> = inbox["faxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["did"].as_str().unwrap())
        .collect();
    assert_eq!(dids, ["0142000155"], "{inbox}");
}

/// `POST /v1/faxes` of a one-number text fax with `token`: the status and the answer.
fn api_fax(hub: &common::Faxhub, token: &str) -> (u16, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-w", "\n%{http_code}"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["-H", "Content-Type: application/json"])
        .args([
            "--data-binary",
            r#"{"to": ["0169293999"], "text": "hello"}"#,
        ])
        .arg(format!("http://127.0.0.1:{}/v1/faxes", hub.http_port))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), serde_json::from_str(body).unwrap())
}

/// With `fax_group`, only its members may fax: others get `550 5.7.1` naming the policy at
/// MAIL, `403` with 5.7.1 from the API, and from a hot folder a job whose numbers failed with
/// 5.7.1 naming it (so the report says why); while the directory cannot say, `451 4.4.3`
/// (the client tries again, nothing lost). The controls: alice, in the group, passes
/// everywhere; bob, refused here, faxes through a hub without the policy (the test above).
#[test]
fn only_members_of_the_fax_group_may_fax_and_a_directory_down_defers() {
    let dir = tempfile::tempdir().unwrap();
    let ((ca, cert, key), _) = Postfix::tls(dir.path());
    let mut slapd = Slapd::start(dir.path(), &ldif(), &cert, &key);
    let folders = ["bob", "alice"].map(|who| {
        let folder = dir.path().join(format!("scans-{who}"));
        std::fs::create_dir_all(&folder).unwrap();
        (who, folder)
    });
    let hot: String = folders
        .iter()
        .map(|(who, folder)| {
            format!(
                "[[hotfolder]]\npath = \"{}\"\nowner = \"{who}@example.com\"\npoll = \"100ms\"\nsettle = \"300ms\"\n",
                folder.display()
            )
        })
        .collect();
    let hub = common::Faxhub::start(
        "",
        &format!(
            "[ldap]\nurl = \"ldaps://localhost:{}\"\nbase_dn = \"{BASE}\"\nca_file = \"{}\"\n\
             fax_group = \"cn=fax-users,{BASE}\"\ntimeout = \"2s\"\n{hot}",
            slapd.tls_port,
            ca.display()
        ),
    );
    // the API: bob's token is refused naming the policy; alice's is taken
    let bob = hub.api_token(&["--scope", "send,read", "--sender", "bob@example.com"]);
    let (status, problem) = api_fax(&hub, &bob);
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["status_code"], "5.7.1");
    assert!(
        problem["detail"].as_str().unwrap().contains("cn=fax-users"),
        "{problem}"
    );
    let alice = hub.api_token(&["--scope", "send,read", "--sender", "alice@example.com"]);
    assert_eq!(api_fax(&hub, &alice).0, 202);
    // the hot folders: bob's scan becomes a job failed 5.7.1 naming the policy; alice's is sent
    let pdf = common::make_pdf(dir.path(), 1);
    for (_, folder) in &folders {
        std::fs::write(folder.join("0169293998_scan.pdf"), &pdf).unwrap();
    }
    let start = std::time::Instant::now();
    let scans = loop {
        let jobs: Vec<serde_json::Value> = hub
            .queue(true)
            .into_iter()
            .filter(|j| j["origin"] == "hotfolder")
            .collect();
        if jobs.len() == 2 {
            break jobs;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{jobs:#?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let of = |sender: &str| scans.iter().find(|j| j["sender"] == sender).unwrap();
    let refused = &of("bob@example.com")["recipients"][0];
    assert_eq!(refused["status"], "failed", "{refused:#}");
    assert_eq!(refused["status_code"], "5.7.1");
    assert!(
        refused["reason"].as_str().unwrap().contains("cn=fax-users"),
        "{refused:#}"
    );
    let taken = &of("alice@example.com")["recipients"][0];
    assert_ne!(taken["status"], "failed", "{taken:#}");

    let mail_from = |sender: &str| {
        let mut s = hub.smtp();
        s.cmd("EHLO client.test");
        s.cmd(&format!("MAIL FROM:<{sender}>"))
    };
    assert_eq!(mail_from("alice@example.com").0, 250);
    let (code, text) = mail_from("bob@example.com");
    assert_eq!(code, 550, "{text}");
    assert!(
        text.starts_with("5.7.1") && text.contains("cn=fax-users"),
        "{text}"
    );
    assert_eq!(
        mail_from("carol@example.com").0,
        550,
        "not in the directory"
    );
    assert_eq!(mail_from("").0, 250, "reports are not asked about");
    let queued = common::queued_id(&hub.smtp().send_mail(
        "alice@example.com",
        &["0169293999@fax.localhost"],
        &common::text_message("allowed", "x"),
    ));
    assert!(!queued.is_empty());

    slapd.stop();
    let (code, text) = mail_from("dave@example.com");
    assert_eq!((code, &text[..5]), (451, "4.4.3"), "{text}");
    assert_eq!(
        mail_from("alice@example.com").0,
        250,
        "alice's answer is kept a while"
    );
    slapd.launch();
    assert_eq!(mail_from("dave@example.com").0, 550);
}

/// With `[ldap]`, a cover page shows the sender as the directory has them: their name (over the
/// one the mail gives), company, phone and fax number, read back from the page sent by
/// Tesseract. The control: bob, whom the directory knows without a company, gets the site's
/// (`[convert.cover] company`).
#[test]
fn a_cover_page_shows_the_directorys_name_company_phone_and_fax() {
    let dir = tempfile::tempdir().unwrap();
    let ((ca, cert, key), _) = Postfix::tls(dir.path());
    let _slapd = Slapd::start(dir.path(), &ldif(), &cert, &key);
    let hub = common::Faxhub::start(
        "",
        &format!(
            "[ldap]\nurl = \"ldaps://localhost:{}\"\nbase_dn = \"{BASE}\"\nca_file = \"{}\"\n\
             [convert.cover]\nenabled = true\ncompany = \"Site Company SA\"\n",
            _slapd.tls_port,
            ca.display()
        ),
    );
    let mut pages = Vec::new();
    for (sender, number) in [("alice", "0169293991"), ("bob", "0169293992")] {
        let message = String::from_utf8(common::text_message("Covered", "Body text."))
            .unwrap()
            .replacen(
                "From: ",
                &format!("From: Somebody <{sender}@example.com>\r\nX-Old-From: "),
                1,
            );
        let id = common::queued_id(&hub.smtp().send_mail(
            &format!("{sender}@example.com"),
            &[&format!("{number}@fax.localhost")],
            message.as_bytes(),
        ));
        let job = hub.wait_finished(&id, Duration::from_secs(120));
        assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
        let sent = hub
            .outbox()
            .into_iter()
            .find(|p| p.to_string_lossy().contains(&number[1..]))
            .unwrap();
        let page = dir.path().join(format!("{sender}-cover.tif"));
        common::tiff_page(&sent, 0, &page);
        pages.push(common::ocr(&page));
    }
    let (alice, bob) = (&pages[0], &pages[1]);
    for want in [
        "Alice Durand",
        "Durand Industries",
        "+33 1 69 29 39 00",
        "+33 1 42 00 01 55",
    ] {
        assert!(
            alice.contains(want),
            "{want} not on alice's cover:\n{alice}"
        );
    }
    assert!(
        !alice.contains("Somebody"),
        "the directory's name wins:\n{alice}"
    );
    assert!(!alice.contains("Site Company"), "{alice}");
    assert!(
        bob.contains("Bob Martin") && bob.contains("Site Company SA"),
        "{bob}"
    );
}
