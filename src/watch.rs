//! `faxhub queue watch ID` and `faxhub send --wait`: follow a job as it happens, from the job
//! store (so with the daemon running anywhere on this data directory): converting, converted,
//! each number dialled, connected (over T.38 or G.711), the far end's ident, speed and ECM, each
//! page confirmed, then done, deferred (with why and when next) or failed, until the job is
//! finished. On a terminal the pages of a call show as a progress bar; piped, every step is a
//! line of its own. `steps` (what changed between two looks) is pure; `follow` polls and prints.
//! The command fails (exit 1) when a number did not get its fax.

use crate::Failure;
use faxhub_lines::{CallProgress, FaxTransport};
use faxhub_queue::JobId;
use faxhub_queue::state::{JobPhase, RecipientStatus};
use faxhub_queue::store::{JobView, RecipientView, Store};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// How often the store is read.
const POLL: Duration = Duration::from_millis(250);

/// Follows job `id` until it is finished; Ok if every number got its fax.
pub async fn follow(store: &Store, id: &JobId) -> Result<(), Failure> {
    let tty = std::io::stdout().is_terminal();
    let mut previous: Option<JobView> = None;
    let mut bar_shown = false;
    loop {
        let job = store
            .job(id)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))?
            .ok_or_else(|| Failure::Runtime(format!("no job {id}")))?;
        let mut out = std::io::stdout().lock();
        for step in steps(previous.as_ref(), &job) {
            if bar_shown {
                let _ = writeln!(out);
                bar_shown = false;
            }
            let _ = writeln!(out, "{} {step}", chrono::Local::now().format("%H:%M:%S"));
        }
        if tty && let Some(bar) = job.recipients.iter().find_map(progress_bar) {
            let _ = write!(out, "\r{bar}\x1b[K");
            bar_shown = true;
        }
        let _ = out.flush();
        drop(out);
        if matches!(job.phase, JobPhase::Finished | JobPhase::ConvertFailed) {
            if bar_shown {
                println!();
            }
            let missed = job
                .recipients
                .iter()
                .filter(|r| r.status != RecipientStatus::Done)
                .count();
            return match missed {
                0 => Ok(()),
                n => Err(Failure::Runtime(format!(
                    "job {id}: {n} of {} number(s) did not get the fax",
                    job.recipients.len()
                ))),
            };
        }
        previous = Some(job);
        tokio::time::sleep(POLL).await;
    }
}

/// What happened between two looks at a job, in words, one step a line.
pub fn steps(before: Option<&JobView>, now: &JobView) -> Vec<String> {
    let mut out = Vec::new();
    if before.map(|b| b.phase) != Some(now.phase) {
        match now.phase {
            JobPhase::Received => out.push(format!("job {}: queued", now.id)),
            JobPhase::Converting => out.push(format!("job {}: converting to fax pages", now.id)),
            JobPhase::Converted => out.push(format!(
                "job {}: {} page(s)",
                now.id,
                now.pages.unwrap_or(0)
            )),
            JobPhase::ConvertFailed => out.push(format!("job {}: conversion failed", now.id)),
            _ => {}
        }
    }
    for (i, r) in now.recipients.iter().enumerate() {
        let old = before.and_then(|b| b.recipients.get(i));
        out.extend(recipient_steps(old, r));
    }
    out
}

fn progress_of(r: &RecipientView) -> Option<CallProgress> {
    r.progress.clone()
}

fn recipient_steps(before: Option<&RecipientView>, now: &RecipientView) -> Vec<String> {
    let n = &now.number;
    let mut out = Vec::new();
    let new_attempt = before.is_none_or(|b| b.attempts != now.attempts || b.status != now.status);
    let outcome = || {
        format!(
            "{} {}",
            now.status_code.as_deref().unwrap_or(""),
            now.reason.as_deref().unwrap_or("")
        )
    };
    if new_attempt {
        match now.status {
            RecipientStatus::Sending => {
                let line = now.attempt_log.last().map_or("", |a| a.line.as_str());
                out.push(format!(
                    "{n}: dialling (attempt {}, line {line})",
                    now.attempts
                ));
            }
            RecipientStatus::Done => out.push(format!("{n}: done: {}", outcome())),
            RecipientStatus::Failed => out.push(format!("{n}: failed: {}", outcome())),
            RecipientStatus::Deferred => out.push(format!(
                "{n}: deferred: {}; next attempt at {}",
                outcome(),
                now.next_attempt_at.as_deref().unwrap_or("?")
            )),
            RecipientStatus::Held => out.push(format!("{n}: held")),
            RecipientStatus::Cancelled => out.push(format!("{n}: cancelled")),
            RecipientStatus::Queued if before.is_some() => out.push(format!("{n}: queued")),
            RecipientStatus::Queued => {}
        }
    }
    if now.status != RecipientStatus::Sending {
        return out;
    }
    let (Some(p), old) = (progress_of(now), before.and_then(progress_of)) else {
        return out;
    };
    let old = if new_attempt { None } else { old };
    let was = |f: fn(&CallProgress) -> bool| old.as_ref().is_some_and(f);
    let via = p.transport.map_or("?", FaxTransport::words);
    if p.transport.is_some() && old.as_ref().map(|o| &o.transport) != Some(&p.transport) {
        out.push(format!("{n}: connected over {via}"));
    }
    if p.bit_rate > 0 && !was(|o| o.bit_rate > 0) {
        let ident = p
            .remote_ident
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(|i| format!(" to \"{i}\""))
            .unwrap_or_default();
        out.push(format!(
            "{n}: sending{ident} at {} bit/s{}",
            p.bit_rate,
            if p.ecm { ", ECM" } else { "" }
        ));
    }
    let from = old.as_ref().map_or(0, |o| o.pages_confirmed);
    for page in from + 1..=p.pages_confirmed {
        out.push(format!("{n}: page {page} of {} confirmed", p.pages));
    }
    out
}

/// `+33…: [#####.....] 2/4 pages` for a recipient whose fax is going through.
fn progress_bar(r: &RecipientView) -> Option<String> {
    let p = progress_of(r).filter(|_| r.status == RecipientStatus::Sending)?;
    if p.pages == 0 || p.bit_rate == 0 {
        return None;
    }
    let width = 20;
    let filled = (p.pages_confirmed.min(p.pages) as usize * width) / p.pages as usize;
    Some(format!(
        "{}: [{}{}] {}/{} pages",
        r.number,
        "#".repeat(filled),
        ".".repeat(width - filled),
        p.pages_confirmed,
        p.pages
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faxhub_lines::Stage;
    use faxhub_queue::store::AttemptView;

    fn recipient(
        status: RecipientStatus,
        attempts: i64,
        progress: Option<CallProgress>,
    ) -> RecipientView {
        RecipientView {
            status,
            attempts,
            progress,
            attempt_log: vec![AttemptView {
                n: 1,
                line: "loopback".into(),
                started_at: String::new(),
                ended_at: None,
                status_code: None,
                reason: None,
                pages_sent: 0,
                first_page: 1,
                call: None,
            }],
            ..RecipientView::queued("+33142000000", "0142000000@fax.localhost")
        }
    }

    fn job(phase: JobPhase, r: RecipientView) -> JobView {
        JobView {
            id: "01M8EQ4144B7TKAK".into(),
            origin: "smtp".into(),
            sender: "alice@example.com".into(),
            subject: None,
            received_at: String::new(),
            phase,
            pages: Some(3),
            recipients: vec![r],
            size: 1,
            env_id: None,
            ret: None,
            finished_at: None,
            source: None,
            billing: None,
            priority: "normal",
            send_at: None,
            list: None,
        }
    }

    fn sending(pages_confirmed: u32, bit_rate: u32) -> CallProgress {
        CallProgress {
            stage: Some(Stage::Sending),
            transport: Some(FaxTransport::T38),
            remote_ident: Some(" +33 1 42 00 00 00".into()),
            bit_rate,
            ecm: true,
            pages_confirmed,
            pages: 3,
        }
    }

    #[test]
    fn each_step_is_told_once() {
        let queued = job(
            JobPhase::Converting,
            recipient(RecipientStatus::Queued, 0, None),
        );
        assert_eq!(
            steps(None, &queued),
            ["job 01M8EQ4144B7TKAK: converting to fax pages"]
        );
        let dialling = job(
            JobPhase::Converted,
            recipient(RecipientStatus::Sending, 1, None),
        );
        assert_eq!(
            steps(Some(&queued), &dialling),
            [
                "job 01M8EQ4144B7TKAK: 3 page(s)",
                "+33142000000: dialling (attempt 1, line loopback)"
            ]
        );
        let connected = job(
            JobPhase::Converted,
            recipient(RecipientStatus::Sending, 1, Some(sending(0, 0))),
        );
        assert_eq!(
            steps(Some(&dialling), &connected),
            ["+33142000000: connected over T.38"]
        );
        let two = job(
            JobPhase::Converted,
            recipient(RecipientStatus::Sending, 1, Some(sending(2, 14_400))),
        );
        assert_eq!(
            steps(Some(&connected), &two),
            [
                "+33142000000: sending to \"+33 1 42 00 00 00\" at 14400 bit/s, ECM",
                "+33142000000: page 1 of 3 confirmed",
                "+33142000000: page 2 of 3 confirmed"
            ]
        );
        assert!(
            steps(Some(&two), &two).is_empty(),
            "nothing new, nothing said"
        );
        assert_eq!(
            progress_bar(&two.recipients[0]).unwrap(),
            "+33142000000: [#############.......] 2/3 pages"
        );
        let mut done = recipient(RecipientStatus::Done, 1, None);
        done.status_code = Some("2.0.0".into());
        done.reason = Some("3 page(s) sent".into());
        let done = job(JobPhase::Finished, done);
        assert_eq!(
            steps(Some(&two), &done),
            ["+33142000000: done: 2.0.0 3 page(s) sent"]
        );
    }

    #[test]
    fn a_deferral_says_why_and_when() {
        let mut r = recipient(RecipientStatus::Deferred, 1, None);
        r.status_code = Some("4.4.1".into());
        r.reason = Some("the line was busy (SIP 486)".into());
        r.next_attempt_at = Some("2026-11-27T15:10:00Z".into());
        let before = job(
            JobPhase::Converted,
            recipient(RecipientStatus::Sending, 1, None),
        );
        assert_eq!(
            steps(Some(&before), &job(JobPhase::Converted, r)),
            [
                "+33142000000: deferred: 4.4.1 the line was busy (SIP 486); next attempt at 2026-11-27T15:10:00Z"
            ]
        );
    }
}
