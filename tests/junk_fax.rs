//! Junk-fax rules end to end through the real daemon, with a far end the test scripts
//! (`faxhub_lines::sip::far`): a caller a refuse rule names gets SIP 603 before anything is
//! answered (the control: the same INVITE from another number is answered), a fax whose
//! machine ident a quarantine rule names is received but kept from its mailbox, and a
//! supplier's fax is routed by its ident to accounting whatever number it dialled. `faxhub
//! inbox --blocked` lists the refusal and the quarantine, each with why; `faxhub inbox` does
//! not list them.

mod common;
use common::*;
use faxhub_converters::tiff_f::{self, Bitmap, FaxPage};
use faxhub_lines::sip::dialog::{Dialog, Local};
use faxhub_lines::sip::far::Far;
use faxhub_lines::sip::media::SessionEnd;
use faxhub_lines::sip::message::Message;
use faxhub_lines::sip::sdp::T38Params;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

/// An INVITE with a T.38 offer from `caller` to `number`; faxhub's final response (a call it
/// answered is acknowledged and hung up at once).
async fn invite_from(faxhub: SocketAddr, caller: &str, number: &str) -> Message {
    let mut far = Far::new().await;
    let here = far.here();
    let local = Local {
        address: format!("<sip:{caller}@{here}>"),
        ..far.local()
    };
    let offer = far.sdp(vec![T38Params::default().media(far.media_port())]);
    let uri = format!("sip:{number}@{faxhub}");
    let id = format!("junk-{caller}");
    let (mut dialog, invite) = Dialog::invite(&local, &uri, offer.as_bytes(), (&id, "t1", "b1"));
    far.send(&invite, faxhub).await;
    let response = far.final_response("INVITE").await;
    if response.code() == Some(200) {
        dialog.confirm(&response);
        far.send(&dialog.request("ACK", b"", "b1-ack"), faxhub)
            .await;
        far.send(&dialog.request("BYE", b"", "b2"), faxhub).await;
        far.final_response("BYE").await;
    }
    response
}

fn inbox(hub: &Faxhub, blocked: bool) -> Vec<Value> {
    let mut args = vec!["inbox", "--json"];
    if blocked {
        args.push("--blocked");
    }
    let out = hub.cli(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_callers_are_refused_junk_idents_quarantined_and_suppliers_routed_by_ident() {
    let hub = Faxhub::start(
        "",
        "[inbound]\ncatch_all = \"fax@example.com\"\n\
         [[inbound.ident_routes]]\nidents = [\"ACME SUPPLIES*\"]\nto = \"accounting@example.com\"\n\
         [sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n\
         [[sip.inbound.block]]\ncallers = [\"+1900*\"]\naction = \"refuse\"\nreason = \"premium-rate spam\"\n\
         [[sip.inbound.block]]\nidents = [\"*casino*\"]\nreason = \"advertising\"\n",
    );
    let faxhub = SocketAddr::from(([127, 0, 0, 1], hub.sip_port()));

    // the attack: a caller the rule names is declined before anything is answered
    let refused = invite_from(faxhub, "+19005550100", "0142000000").await;
    assert_eq!(
        refused.code(),
        Some(603),
        "{}",
        String::from_utf8_lossy(&refused.render())
    );
    // the control: the same INVITE from another number is answered
    let answered = invite_from(faxhub, "+33169293999", "0142000000").await;
    assert_eq!(
        answered.code(),
        Some(200),
        "{}",
        String::from_utf8_lossy(&answered.render())
    );

    // two faxes: one from a casino's machine, one from the supplier, to the same number
    let page = hub.dir.path().join("page.tif");
    let bitmap = Bitmap {
        width: 1728,
        length: 200,
        pixels: (0..1728 * 200).map(|i| (i / 1728 / 10) % 2 == 0).collect(),
    };
    std::fs::write(
        &page,
        tiff_f::write(&[FaxPage::from_bitmap(&bitmap, 196).unwrap()]),
    )
    .unwrap();
    for ident in ["Best Casino Deals", "ACME Supplies Ltd"] {
        let fax = Far::new()
            .await
            .fax_then_back_to_audio(faxhub, "0142000000", &page, ident)
            .await;
        assert_eq!(
            fax.end,
            SessionEnd::Finished,
            "{ident}: {:?}\n{}",
            fax.progress,
            hub.log()
        );
    }

    // the supplier's fax goes to accounting, not to the number's owner; the casino's to no one
    let maildir = hub.data_dir().join("Maildir");
    let mails = mail::wait_for(&maildir, 1, WAIT, || hub.log());
    assert_eq!(
        mails[0]["headers"]["To"], "accounting@example.com",
        "{:#}",
        mails[0]["headers"]
    );
    std::thread::sleep(Duration::from_secs(7)); // past the mailer's 5-second round
    assert_eq!(
        mail::messages(&maildir).len(),
        1,
        "the quarantined fax was not mailed"
    );

    let blocked = inbox(&hub, true);
    assert_eq!(blocked.len(), 2, "{blocked:#?}");
    let refusal = blocked.iter().find(|r| r["pages"] == 0).unwrap();
    assert_eq!(refusal["caller"], "+19005550100");
    assert_eq!(refusal["result"], "refused (SIP 603 Decline)");
    assert_eq!(
        refusal["blocked"],
        "premium-rate spam: the caller +19005550100 matches +1900* (block rule 1)"
    );
    let quarantined = blocked.iter().find(|r| r["pages"] == 1).unwrap();
    assert_eq!(quarantined["remote_ident"], "Best Casino Deals");
    assert!(
        quarantined["blocked"]
            .as_str()
            .unwrap()
            .starts_with("advertising: the fax ident"),
        "{quarantined:#}"
    );
    assert!(
        quarantined["tiff"].is_string(),
        "kept, pages and all: {quarantined:#}"
    );
    let received = inbox(&hub, false);
    assert!(
        received.iter().all(|r| r.get("blocked").is_none()),
        "{received:#?}"
    );
    assert!(
        received
            .iter()
            .any(|r| r["remote_ident"] == "ACME Supplies Ltd")
    );
    let text = hub.cli(&["inbox"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("2 blocked by junk-fax rules: faxhub inbox --blocked"),
        "{text}"
    );
}
