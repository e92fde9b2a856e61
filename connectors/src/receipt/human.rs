//! The human part of a report, as text and as HTML (the same facts; the HTML adds the page-1
//! thumbnail): what happened in one sentence, then per recipient the result in plain words,
//! pages confirmed of total, the remote fax ID, speed and ECM, duration, attempts and times.

use super::words::{Words, status_words, words};
use super::{Outcome, Receipt};
use faxhub_queue::dsn::Action;
use std::fmt::Write;

/// The Content-ID of the thumbnail.
pub const THUMBNAIL_CID: &str = "page1@faxhub";

/// Label and value rows: the mail's, then one group per recipient.
struct Facts {
    opening: String,
    job: Vec<(&'static str, String)>,
    recipients: Vec<Vec<(&'static str, String)>>,
    closing: Vec<String>,
}

fn facts(r: &Receipt) -> Facts {
    let w = words(r.language);
    let action = r.action();
    let who: Vec<String> = r.outcomes.iter().map(recipient).collect();
    let opening = (w.opening)(action).replace("{}", &who.join(", "));
    let mut job = vec![
        (
            w.document,
            r.subject
                .clone()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| w.no_subject.into()),
        ),
        (w.submitted, when(&r.arrived)),
        (w.job, r.job_id.clone()),
    ];
    if let Some(code) = &r.billing {
        job.push((w.billing, code.clone()));
    }
    let recipients = r
        .outcomes
        .iter()
        .map(|o| recipient_facts(r, w, o))
        .collect();
    let mut closing = Vec::new();
    let last = (w.closing)(action);
    if !last.is_empty() {
        closing.push(last.to_string());
    }
    if let Some(a) = &r.attachment {
        let format = if a.content_type == "image/tiff" {
            "TIFF"
        } else {
            "PDF"
        };
        closing.push((w.attached)(action == Action::Delivered).replace("{}", format));
    }
    Facts {
        opening,
        job,
        recipients,
        closing,
    }
}

fn recipient_facts(r: &Receipt, w: &Words, o: &Outcome) -> Vec<(&'static str, String)> {
    let mut rows = vec![(w.recipient, recipient(o))];
    let plain = status_words(r.language, o.status);
    let result = if o.reason.trim().is_empty() || o.status.is_success() {
        plain.to_string()
    } else {
        format!("{plain} ({})", o.reason.trim())
    };
    rows.push((w.result, result));
    if o.pages > 0 {
        let pages = w
            .pages_of
            .replacen("{}", &o.pages_sent.to_string(), 1)
            .replacen("{}", &o.pages.to_string(), 1);
        rows.push((w.pages, pages));
    }
    if !o.calls.is_empty() {
        let calls: Vec<String> = o
            .calls
            .iter()
            .map(|(first, last, at)| {
                let pages = match first == last {
                    true => w.one_page.replacen("{}", &first.to_string(), 1),
                    false => w.page_range.replacen("{}", &first.to_string(), 1).replacen(
                        "{}",
                        &last.to_string(),
                        1,
                    ),
                };
                format!("{pages} ({})", when(at))
            })
            .collect();
        rows.push((w.calls, calls.join(", ")));
    }
    if let Some(id) = o.remote_ident.as_ref().filter(|s| !s.trim().is_empty()) {
        rows.push((w.remote_id, id.trim().to_string()));
    }
    if let Some(bps) = o.bit_rate.filter(|b| *b > 0) {
        let ecm = match o.ecm {
            Some(true) => format!(", {}", w.ecm_on),
            Some(false) => format!(", {}", w.ecm_off),
            None => String::new(),
        };
        rows.push((w.speed, format!("{bps} bit/s{ecm}")));
    }
    if let Some(d) = o.duration {
        rows.push((w.duration, duration(d.as_secs())));
    }
    rows.push((w.attempts, o.attempts.to_string()));
    if let Some(t) = &o.last_attempt {
        rows.push((w.last_attempt, when(t)));
    }
    if o.action == Action::Delayed {
        if let Some(t) = &o.next_attempt {
            rows.push((w.next_attempt, when(t)));
        }
        if let Some(t) = &o.retry_until {
            rows.push((w.retry_until, when(t)));
        }
    }
    rows
}

/// "Jane Doe (+33169293999)", or the number alone.
fn recipient(o: &Outcome) -> String {
    match o.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!("{name} ({})", o.number),
        None => o.number.clone(),
    }
}

fn when(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    t.format("%Y-%m-%d %H:%M:%S %:z").to_string()
}

/// "1 min 12 s", "45 s", "1 h 2 min".
fn duration(secs: u64) -> String {
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

pub fn text(r: &Receipt) -> String {
    let f = facts(r);
    let width = f
        .job
        .iter()
        .chain(f.recipients.iter().flatten())
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", f.opening);
    let block = |rows: &[(&str, String)], out: &mut String| {
        for (label, value) in rows {
            let pad = width - label.chars().count() - 1;
            let _ = writeln!(out, "{label}:{:pad$}{value}", "");
        }
        out.push('\n');
    };
    block(&f.job, &mut out);
    for rows in &f.recipients {
        block(rows, &mut out);
    }
    for line in &f.closing {
        let _ = writeln!(out, "{line}");
    }
    out.replace('\n', "\r\n")
}

pub fn html(r: &Receipt) -> String {
    let f = facts(r);
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family: sans-serif\">\n",
    );
    let _ = writeln!(out, "<p>{}</p>", escape(&f.opening));
    let table = |rows: &[(&str, String)], out: &mut String| {
        out.push_str("<table>\n");
        for (label, value) in rows {
            let _ = writeln!(
                out,
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                escape(label),
                escape(value)
            );
        }
        out.push_str("</table>\n");
    };
    table(&f.job, &mut out);
    for rows in &f.recipients {
        out.push_str("<hr>\n");
        table(rows, &mut out);
    }
    if r.thumbnail.is_some() {
        let _ = writeln!(
            out,
            "<p><img src=\"cid:{THUMBNAIL_CID}\" alt=\"page 1\" style=\"border: 1px solid #888\"></p>"
        );
    }
    for line in &f.closing {
        let _ = writeln!(out, "<p>{}</p>", escape(line));
    }
    out.push_str("</body></html>\n");
    out.replace('\n', "\r\n")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
