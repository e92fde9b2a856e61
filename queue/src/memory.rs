//! Destination memory: per number, what last worked (T.38 or G.711, the speed, ECM) and what
//! last failed, so that the next call starts where the last one succeeded and a call that
//! failed in training or with page errors is retried one step down (T.38 → G.711, 14.4k →
//! 9.6k → 4.8k, ECM off), as a fax operator would. Pure: the memory, what the call was allowed
//! and what it did in; the memory after it out.
//!
//! A profile only ever restricts the line's own options (`[lines.fax]`): it can turn T.38 or
//! ECM off and lower the speed, never the reverse. An operator can pin a profile (then calls
//! never change it) or forget a number (then the line's options apply again).

use serde::{Deserialize, Serialize};

/// The modem speeds a profile steps through, fastest first.
pub const SPEEDS: [u32; 3] = [14_400, 9_600, 4_800];

/// What a call to a number may use, beyond the line's own limits.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Profile {
    /// `Some(false)`: G.711 audio only (no T.38 offer or re-INVITE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t38: Option<bool>,
    /// The fastest modem speed, bit/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_speed: Option<u32>,
    /// `Some(false)`: error correction off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecm: Option<bool>,
}

impl Profile {
    pub fn is_open(&self) -> bool {
        *self == Profile::default()
    }

    /// In words: "G.711, at most 9600 bit/s, ECM off"; "as the line says" when open.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.t38 {
            Some(false) => parts.push("G.711".to_string()),
            Some(true) => parts.push("T.38".to_string()),
            None => {}
        }
        if let Some(s) = self.max_speed {
            parts.push(format!("at most {s} bit/s"));
        }
        match self.ecm {
            Some(false) => parts.push("ECM off".to_string()),
            Some(true) => parts.push("ECM on".to_string()),
            None => {}
        }
        match parts.is_empty() {
            true => "as the line says".into(),
            false => parts.join(", "),
        }
    }

    /// One step down from `self`, for `trouble`: training troubles leave T.38 first, then slow
    /// down; page errors slow down first, then turn ECM off. `None` when nothing is left.
    pub fn step_down(&self, trouble: Trouble, used_t38: bool) -> Option<Profile> {
        let slower = SPEEDS
            .iter()
            .copied()
            .find(|s| *s < self.max_speed.unwrap_or(SPEEDS[0]))
            .map(|s| Profile {
                max_speed: Some(s),
                ..*self
            });
        let audio = (used_t38 && self.t38 != Some(false)).then_some(Profile {
            t38: Some(false),
            ..*self
        });
        let no_ecm = (self.ecm != Some(false)).then_some(Profile {
            ecm: Some(false),
            ..*self
        });
        match trouble {
            Trouble::Training => audio.or(slower),
            Trouble::PageErrors => slower.or(no_ecm).or(audio),
        }
    }
}

/// A failure a step down may cure.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Trouble {
    /// The modems could not train (or kept failing the training check).
    Training,
    /// Pages arrived damaged: error correction failed, pages refused.
    PageErrors,
}

/// What one call did, as far as the memory cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    pub delivered: bool,
    /// Connected over T.38 (else G.711), if it connected at all.
    pub t38: Option<bool>,
    /// The speed the pages went at (0 if none).
    pub bit_rate: u32,
    pub ecm: bool,
    pub trouble: Option<Trouble>,
    /// Whether the call was allowed T.38 (the line offers it and the profile did not forbid it).
    pub t38_allowed: bool,
}

/// What is known of one number.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Destination {
    pub number: String,
    /// Where the next call starts.
    pub profile: Profile,
    /// Set by an operator: calls do not change `profile`.
    pub pinned: bool,
    /// What the last fax that went through used, in words, and when (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ok: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ok_at: Option<i64>,
    /// The last failure a step down answered, in words, and when (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<i64>,
}

/// The memory of `before` (a number never called: `Destination::default()` with its number)
/// after `call` at `now_ms`; `None` when the call taught nothing (a dial that never connected,
/// a failure no step cures).
pub fn after_call(before: &Destination, call: &Call, now_ms: i64) -> Option<Destination> {
    let mut after = before.clone();
    if call.delivered {
        let t38 = call.t38?;
        let speed = SPEEDS.iter().copied().find(|s| *s <= call.bit_rate.max(1));
        after.last_ok = Some(format!(
            "{} at {} bit/s{}",
            if t38 { "T.38" } else { "G.711" },
            call.bit_rate,
            if call.ecm { " with ECM" } else { "" }
        ));
        after.last_ok_at = Some(now_ms);
        if !before.pinned {
            after.profile = Profile {
                // T.38 allowed but the call went over audio: the far end refused it
                t38: (call.t38_allowed && !t38)
                    .then_some(false)
                    .or(before.profile.t38),
                max_speed: speed
                    .filter(|s| *s < SPEEDS[0])
                    .or(before.profile.max_speed),
                ecm: before.profile.ecm,
            };
        }
        return Some(after);
    }
    let trouble = call.trouble?;
    after.last_failure = Some(match trouble {
        Trouble::Training => "the modems could not train".into(),
        Trouble::PageErrors => "pages arrived damaged".into(),
    });
    after.last_failure_at = Some(now_ms);
    if !before.pinned {
        let mut profile = before.profile;
        // T.38 allowed but the call went over audio: the far end refused it
        if call.t38_allowed && call.t38 == Some(false) {
            profile.t38 = Some(false);
        }
        after.profile = profile
            .step_down(trouble, call.t38.unwrap_or(call.t38_allowed))
            .unwrap_or(profile);
    }
    Some(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(delivered: bool, t38: Option<bool>, bit_rate: u32, trouble: Option<Trouble>) -> Call {
        Call {
            delivered,
            t38,
            bit_rate,
            ecm: true,
            trouble,
            t38_allowed: true,
        }
    }

    fn fresh() -> Destination {
        Destination {
            number: "+33142000000".into(),
            ..Default::default()
        }
    }

    #[test]
    fn training_failures_step_down_t38_then_speed_then_stop() {
        let mut d = fresh();
        let mut profiles = Vec::new();
        for _ in 0..5 {
            d = after_call(
                &d,
                &call(
                    false,
                    Some(d.profile.t38 != Some(false)),
                    0,
                    Some(Trouble::Training),
                ),
                7,
            )
            .unwrap();
            profiles.push(d.profile.describe());
        }
        assert_eq!(
            profiles,
            [
                "G.711",
                "G.711, at most 9600 bit/s",
                "G.711, at most 4800 bit/s",
                "G.711, at most 4800 bit/s",
                "G.711, at most 4800 bit/s"
            ]
        );
        assert_eq!(
            d.last_failure.as_deref(),
            Some("the modems could not train")
        );
    }

    #[test]
    fn a_far_end_that_refuses_t38_and_fails_at_14400_gets_g711_at_9600_next() {
        // the call fell back to audio within itself, then could not train at 14.4k
        let d = after_call(
            &fresh(),
            &call(false, Some(false), 14_400, Some(Trouble::Training)),
            7,
        )
        .unwrap();
        assert_eq!(d.profile.describe(), "G.711, at most 9600 bit/s");
    }

    #[test]
    fn page_errors_slow_down_then_turn_ecm_off_then_leave_t38() {
        let mut d = fresh();
        let mut profiles = Vec::new();
        for _ in 0..4 {
            d = after_call(
                &d,
                &call(false, Some(true), 14_400, Some(Trouble::PageErrors)),
                7,
            )
            .unwrap();
            profiles.push(d.profile.describe());
        }
        assert_eq!(
            profiles,
            [
                "at most 9600 bit/s",
                "at most 4800 bit/s",
                "at most 4800 bit/s, ECM off",
                "G.711, at most 4800 bit/s, ECM off"
            ]
        );
    }

    #[test]
    fn what_worked_is_where_the_next_call_starts() {
        // T.38 allowed, the far end took audio at 9600: G.711 at 9600 next time
        let d = after_call(&fresh(), &call(true, Some(false), 9_600, None), 5).unwrap();
        assert_eq!(d.profile.describe(), "G.711, at most 9600 bit/s");
        assert_eq!(d.last_ok.as_deref(), Some("G.711 at 9600 bit/s with ECM"));
        // T.38 at full speed: nothing to restrict
        let d = after_call(&fresh(), &call(true, Some(true), 14_400, None), 5).unwrap();
        assert!(d.profile.is_open(), "{d:?}");
        // a dial that never connected teaches nothing; nor does a failure no step cures
        assert_eq!(after_call(&fresh(), &call(false, None, 0, None), 5), None);
        assert_eq!(after_call(&fresh(), &call(true, None, 0, None), 5), None);
        // pinned: calls are remembered, the profile stays
        let pinned = Destination {
            profile: Profile {
                t38: Some(true),
                ..Default::default()
            },
            pinned: true,
            ..fresh()
        };
        let d = after_call(
            &pinned,
            &call(false, Some(true), 0, Some(Trouble::Training)),
            5,
        )
        .unwrap();
        assert_eq!(d.profile, pinned.profile);
        assert!(d.last_failure.is_some());
    }
}
