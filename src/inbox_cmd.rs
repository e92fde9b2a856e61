//! `faxhub inbox [--json] [--blocked]`: the faxes received, oldest first, as HylaFAX's
//! `faxstat -r` lists them: when, from whom (caller number and fax ident), to which number,
//! pages, how it went, and the file holding the pages. With `--blocked`, the calls refused and
//! the faxes quarantined by junk-fax rules instead, each with why; without it, how many there
//! are.

use crate::Failure;
use crate::config::Config;
use faxhub_lines::inbox::{Inbox, Received};

pub fn run(config: &Config, json: bool, blocked: bool) -> Result<(), Failure> {
    let inbox = Inbox::new(config.inbox_dir());
    let (stopped, received): (Vec<Received>, Vec<Received>) = inbox
        .list()
        .map_err(|e| Failure::Runtime(format!("{}: {e}", config.inbox_dir().display())))?
        .into_iter()
        .partition(|r| r.blocked.is_some());
    let (received, others) = match blocked {
        true => (stopped, 0),
        false => (received, stopped.len()),
    };
    if json {
        let text =
            serde_json::to_string_pretty(&received).map_err(|e| Failure::Runtime(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    let blocked_note = || {
        if others > 0 {
            println!("{others} blocked by junk-fax rules: faxhub inbox --blocked");
        }
    };
    if received.is_empty() {
        match blocked {
            true => println!("Nothing blocked."),
            false => println!("No fax received."),
        }
        blocked_note();
        return Ok(());
    }
    println!(
        "{:<24} {:<20} {:<20} {:<14} {:>5}  {:<8} RESULT",
        "ID", "RECEIVED", "FROM", "TO", "PAGES", "VIA"
    );
    for r in &received {
        println!("{}", line(r));
        if let Some(why) = &r.blocked {
            println!("{:<24} blocked: {why}", "");
        }
        if let Some(tiff) = &r.tiff {
            println!("{:<24} {}", "", inbox.dir().join(tiff).display());
        }
    }
    blocked_note();
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
