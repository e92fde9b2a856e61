//! When a recipient gets a delivery report (RFC 3461 §4.1 NOTIFY, and the site's policy when a
//! recipient came without NOTIFY).
//!
//! A recipient gets at most one delay report (once it has waited `delay_after` since the mail
//! arrived and at least one attempt failed) and one final report: delivered when it is done,
//! failed when it failed or an operator cancelled it. NOTIFY=NEVER, a report type the recipient
//! did not ask for, or a null return path (RFC 5321 §4.5.5: never report on a report) close the
//! recipient's reporting without a report. Pure: takes `now`, does no I/O.

use crate::dsn::Action;
use crate::job::Notify;
use crate::state::RecipientStatus;
use std::time::Duration;

/// The site's policy (`[receipts]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportPolicy {
    /// What a recipient without NOTIFY gets.
    pub notify: Notify,
    /// How long after arrival an undelivered recipient gets its delay report.
    pub delay_after: Duration,
}

/// What a recipient has had, as stored (`recipients.reported`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reported {
    Nothing,
    /// The delay report.
    Delay,
    /// The final report, or the decision that there is none.
    Final,
}

impl Reported {
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Reported::Nothing => None,
            Reported::Delay => Some("delay"),
            Reported::Final => Some("final"),
        }
    }

    pub fn parse(s: Option<&str>) -> Option<Reported> {
        match s {
            None => Some(Reported::Nothing),
            Some("delay") => Some(Reported::Delay),
            Some("final") => Some(Reported::Final),
            Some(_) => None,
        }
    }
}

/// What the policy needs to know of a recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportInput {
    pub status: RecipientStatus,
    pub notify: Option<Notify>,
    pub reported: Reported,
    /// The mail's envelope sender was `<>`.
    pub null_sender: bool,
    pub received_at_ms: i64,
    /// Attempts that ended (tries + dials).
    pub attempts: u32,
}

/// What to do for a recipient now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing yet.
    Wait,
    /// A report with this action; then the recipient is marked as `Due::marks` says.
    Report(Action),
    /// No report for this outcome: the recipient is marked all the same, so it is not
    /// considered again (a delay that closes this way still leaves the final report to come).
    Close(Why),
}

impl Due {
    /// What the recipient is marked once this is done.
    pub fn marks(self, status: RecipientStatus) -> Option<Reported> {
        match (self, status) {
            (Due::Wait, _) => None,
            (_, RecipientStatus::Deferred | RecipientStatus::Queued) => Some(Reported::Delay),
            _ => Some(Reported::Final),
        }
    }
}

/// Why a recipient's reporting closes without a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    NullSender,
    NotRequested,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::NullSender => "the mail had a null return path",
            Why::NotRequested => "the sender did not ask for this report (NOTIFY)",
        }
    }
}

impl ReportPolicy {
    /// What is due for `r` at `now_ms`.
    pub fn due(&self, r: &ReportInput, now_ms: i64) -> Due {
        if r.reported == Reported::Final {
            return Due::Wait;
        }
        let action = match r.status {
            RecipientStatus::Done => Action::Delivered,
            RecipientStatus::Failed | RecipientStatus::Cancelled => Action::Failed,
            RecipientStatus::Deferred | RecipientStatus::Queued => {
                let waited = now_ms - r.received_at_ms >= self.delay_after.as_millis() as i64;
                if r.reported == Reported::Nothing && r.attempts > 0 && waited {
                    Action::Delayed
                } else {
                    return Due::Wait;
                }
            }
            RecipientStatus::Sending | RecipientStatus::Held => return Due::Wait,
        };
        let why = if r.null_sender {
            Why::NullSender
        } else if !self.wants(r.notify, action) {
            Why::NotRequested
        } else {
            return Due::Report(action);
        };
        Due::Close(why)
    }

    fn wants(&self, notify: Option<Notify>, action: Action) -> bool {
        let n = notify.unwrap_or(self.notify);
        if n.never {
            return false;
        }
        match action {
            Action::Delivered => n.success,
            Action::Failed => n.failure,
            Action::Delayed => n.delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecipientStatus::*;

    const HOUR: i64 = 3_600_000;

    fn policy() -> ReportPolicy {
        ReportPolicy {
            notify: Notify::parse("SUCCESS,FAILURE").unwrap(),
            delay_after: Duration::from_secs(3600),
        }
    }

    fn rcpt(status: RecipientStatus, notify: Option<&str>) -> ReportInput {
        ReportInput {
            status,
            notify: notify.map(|n| Notify::parse(n).unwrap()),
            reported: Reported::Nothing,
            null_sender: false,
            received_at_ms: 0,
            attempts: 1,
        }
    }

    #[test]
    fn site_policy_without_notify_reports_success_and_failure_not_delay() {
        let p = policy();
        assert_eq!(
            p.due(&rcpt(Done, None), HOUR),
            Due::Report(Action::Delivered)
        );
        assert_eq!(
            p.due(&rcpt(Failed, None), HOUR),
            Due::Report(Action::Failed)
        );
        assert_eq!(
            p.due(&rcpt(Cancelled, None), HOUR),
            Due::Report(Action::Failed)
        );
        assert_eq!(
            p.due(&rcpt(Deferred, None), 2 * HOUR),
            Due::Close(Why::NotRequested)
        );
    }

    #[test]
    fn notify_is_honoured() {
        let p = policy();
        assert_eq!(
            p.due(&rcpt(Done, Some("FAILURE")), 0),
            Due::Close(Why::NotRequested)
        );
        assert_eq!(
            p.due(&rcpt(Failed, Some("NEVER")), 0),
            Due::Close(Why::NotRequested)
        );
        assert_eq!(
            p.due(&rcpt(Done, Some("SUCCESS")), 0),
            Due::Report(Action::Delivered)
        );
        let delay = rcpt(Deferred, Some("DELAY,FAILURE"));
        assert_eq!(p.due(&delay, HOUR - 1), Due::Wait);
        assert_eq!(p.due(&delay, HOUR), Due::Report(Action::Delayed));
    }

    #[test]
    fn one_delay_report_and_only_after_a_failed_attempt() {
        let p = policy();
        let mut r = rcpt(Deferred, Some("DELAY,FAILURE"));
        r.attempts = 0;
        assert_eq!(p.due(&r, 5 * HOUR), Due::Wait);
        r.attempts = 2;
        r.reported = Reported::Delay;
        assert_eq!(p.due(&r, 5 * HOUR), Due::Wait);
        r.status = Failed;
        assert_eq!(p.due(&r, 5 * HOUR), Due::Report(Action::Failed));
        r.reported = Reported::Final;
        assert_eq!(p.due(&r, 5 * HOUR), Due::Wait);
        for status in [Sending, Held] {
            assert_eq!(p.due(&rcpt(status, Some("DELAY")), 5 * HOUR), Due::Wait);
        }
    }

    #[test]
    fn a_null_return_path_never_gets_a_report() {
        let p = policy();
        let mut r = rcpt(Failed, Some("FAILURE"));
        r.null_sender = true;
        assert_eq!(p.due(&r, 0), Due::Close(Why::NullSender));
        r.status = Deferred;
        r.notify = Notify::parse("DELAY");
        assert_eq!(p.due(&r, 2 * HOUR), Due::Close(Why::NullSender));
    }

    #[test]
    fn marks_follow_the_state() {
        assert_eq!(
            Due::Report(Action::Delayed).marks(Deferred),
            Some(Reported::Delay)
        );
        assert_eq!(
            Due::Close(Why::NotRequested).marks(Queued),
            Some(Reported::Delay)
        );
        assert_eq!(
            Due::Report(Action::Failed).marks(Failed),
            Some(Reported::Final)
        );
        assert_eq!(Due::Wait.marks(Done), None);
        for s in [None, Some("delay"), Some("final")] {
            assert_eq!(Reported::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(Reported::parse(Some("x")), None);
    }
}
