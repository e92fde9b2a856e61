//! The job and recipient state machine.
//!
//! ```text
//! job phase:   received ─► converting ─► converted ─► finished
//!                               └─► convert_failed   (every recipient fails with the reason)
//! recipient:   queued ─► sending ─► done
//!                ▲          ├─► deferred ─(due)─► queued
//!                │          └─► failed            (5.x.x, or tries/time used up)
//!              held / cancelled (by an operator)
//! ```
//! Status lives on the recipient; the job's phase is derived from its conversion state and its
//! recipients, never stored twice. Operator actions are checked here (pure).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientStatus {
    Queued,
    Sending,
    Deferred,
    Done,
    Failed,
    Held,
    Cancelled,
}

impl RecipientStatus {
    pub const ALL: [RecipientStatus; 7] = [
        RecipientStatus::Queued,
        RecipientStatus::Sending,
        RecipientStatus::Deferred,
        RecipientStatus::Done,
        RecipientStatus::Failed,
        RecipientStatus::Held,
        RecipientStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Queued => "queued",
            RecipientStatus::Sending => "sending",
            RecipientStatus::Deferred => "deferred",
            RecipientStatus::Done => "done",
            RecipientStatus::Failed => "failed",
            RecipientStatus::Held => "held",
            RecipientStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RecipientStatus> {
        RecipientStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Done, failed and cancelled recipients never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RecipientStatus::Done | RecipientStatus::Failed | RecipientStatus::Cancelled
        )
    }
}

/// Conversion of the job's content into one page set (stored on the job: it happens once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversionState {
    Pending,
    Converting,
    Converted,
    Failed,
}

impl ConversionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversionState::Pending => "pending",
            ConversionState::Converting => "converting",
            ConversionState::Converted => "converted",
            ConversionState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<ConversionState> {
        [
            ConversionState::Pending,
            ConversionState::Converting,
            ConversionState::Converted,
            ConversionState::Failed,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// The job's phase as users see it, derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobPhase {
    Received,
    Converting,
    Converted,
    ConvertFailed,
    Finished,
}

impl JobPhase {
    pub fn derive(conversion: ConversionState, recipients: &[RecipientStatus]) -> JobPhase {
        match conversion {
            ConversionState::Pending => JobPhase::Received,
            ConversionState::Converting => JobPhase::Converting,
            ConversionState::Failed => JobPhase::ConvertFailed,
            ConversionState::Converted if recipients.iter().all(|r| r.is_final()) => {
                JobPhase::Finished
            }
            ConversionState::Converted => JobPhase::Converted,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobPhase::Received => "received",
            JobPhase::Converting => "converting",
            JobPhase::Converted => "converted",
            JobPhase::ConvertFailed => "convert_failed",
            JobPhase::Finished => "finished",
        }
    }
}

/// What an operator can ask of a recipient (`faxhub queue cancel|hold|release|retry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorAction {
    Cancel,
    Hold,
    Release,
    Retry,
}

impl OperatorAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorAction::Cancel => "cancel",
            OperatorAction::Hold => "hold",
            OperatorAction::Release => "release",
            OperatorAction::Retry => "retry",
        }
    }
}

/// The result of an operator action on one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionEffect {
    /// The recipient moves to this status now.
    Becomes(RecipientStatus),
    /// The recipient is on a call: the action applies when the attempt ends (unless it succeeds).
    AfterAttempt,
    /// Nothing to do, with the reason.
    Refused(&'static str),
}

/// Pure rule for operator actions.
pub fn operator_effect(action: OperatorAction, status: RecipientStatus) -> ActionEffect {
    use ActionEffect::*;
    use RecipientStatus::*;
    match (action, status) {
        (_, Done) => Refused("already sent"),
        (_, Cancelled) if action != OperatorAction::Retry => Refused("already cancelled"),
        (OperatorAction::Cancel, Sending) => AfterAttempt,
        (OperatorAction::Cancel, Queued | Deferred | Held | Failed) => Becomes(Cancelled),
        (OperatorAction::Hold, Queued | Deferred) => Becomes(Held),
        (OperatorAction::Hold, Held) => Refused("already held"),
        (OperatorAction::Hold, Sending) => Refused("on a call now"),
        (OperatorAction::Hold, Failed) => Refused("already failed"),
        (OperatorAction::Release, Held) => Becomes(Queued),
        (OperatorAction::Release, _) => Refused("not held"),
        (OperatorAction::Retry, Deferred | Failed | Cancelled | Queued) => Becomes(Queued),
        (OperatorAction::Retry, Held) => Refused("held: release it instead"),
        (OperatorAction::Retry, Sending) => Refused("on a call now"),
        (OperatorAction::Hold, Cancelled) => Refused("already cancelled"),
        (OperatorAction::Cancel, Cancelled) => Refused("already cancelled"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActionEffect::*;
    use OperatorAction::*;
    use RecipientStatus::*;

    #[test]
    fn phase_is_derived() {
        assert_eq!(
            JobPhase::derive(ConversionState::Pending, &[Queued]),
            JobPhase::Received
        );
        assert_eq!(
            JobPhase::derive(ConversionState::Converting, &[Queued]),
            JobPhase::Converting
        );
        assert_eq!(
            JobPhase::derive(ConversionState::Converted, &[Done, Deferred]),
            JobPhase::Converted
        );
        assert_eq!(
            JobPhase::derive(ConversionState::Converted, &[Done, Failed, Cancelled]),
            JobPhase::Finished
        );
        assert_eq!(
            JobPhase::derive(ConversionState::Failed, &[Failed]),
            JobPhase::ConvertFailed
        );
    }

    #[test]
    fn operator_actions() {
        for (action, status, effect) in [
            (Cancel, Queued, Becomes(Cancelled)),
            (Cancel, Deferred, Becomes(Cancelled)),
            (Cancel, Held, Becomes(Cancelled)),
            (Cancel, Sending, AfterAttempt),
            (Cancel, Done, Refused("already sent")),
            (Hold, Queued, Becomes(Held)),
            (Hold, Deferred, Becomes(Held)),
            (Hold, Sending, Refused("on a call now")),
            (Release, Held, Becomes(Queued)),
            (Release, Queued, Refused("not held")),
            (Retry, Failed, Becomes(Queued)),
            (Retry, Deferred, Becomes(Queued)),
            (Retry, Cancelled, Becomes(Queued)),
            (Retry, Done, Refused("already sent")),
            (Retry, Held, Refused("held: release it instead")),
        ] {
            assert_eq!(
                operator_effect(action, status),
                effect,
                "{action:?} on {status:?}"
            );
        }
    }

    #[test]
    fn status_names_round_trip() {
        for s in RecipientStatus::ALL {
            assert_eq!(RecipientStatus::parse(s.as_str()), Some(s));
        }
    }
}
