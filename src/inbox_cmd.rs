//! `faxhub inbox [--json]`: the faxes received, oldest first, as HylaFAX's `faxstat -r` lists
//! them: when, from whom (caller number and fax ident), to which number, pages, how it went,
//! and the file holding the pages.

use crate::Failure;
use crate::config::Config;
use faxhub_lines::inbox::{Inbox, Received};

pub fn run(config: &Config, json: bool) -> Result<(), Failure> {
    let inbox = Inbox::new(config.inbox_dir());
    let received = inbox
        .list()
        .map_err(|e| Failure::Runtime(format!("{}: {e}", config.inbox_dir().display())))?;
    if json {
        let text =
            serde_json::to_string_pretty(&received).map_err(|e| Failure::Runtime(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    if received.is_empty() {
        println!("No fax received.");
        return Ok(());
    }
    println!(
        "{:<24} {:<20} {:<20} {:<14} {:>5}  {:<8} RESULT",
        "ID", "RECEIVED", "FROM", "TO", "PAGES", "VIA"
    );
    for r in &received {
        println!("{}", line(r));
        if let Some(tiff) = &r.tiff {
            println!("{:<24} {}", "", inbox.dir().join(tiff).display());
        }
    }
    Ok(())
}

fn line(r: &Received) -> String {
    let from = match (&r.caller, r.remote_ident.as_deref().map(str::trim)) {
        (_, Some(ident)) if !ident.is_empty() => ident.to_string(),
        (Some(caller), _) => caller.clone(),
        _ => "unknown".into(),
    };
    format!(
        "{:<24} {:<20} {:<20} {:<14} {:>5}  {:<8} {}",
        r.id,
        r.received_at.replace('T', " ").trim_end_matches('Z'),
        from,
        r.did,
        r.pages,
        r.transport,
        r.result
    )
}
