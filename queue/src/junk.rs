//! Junk-fax rules for received faxes (`[[sip.inbound.block]]`): which calls are refused
//! before they are answered (SIP 603 Decline), which faxes are received but quarantined (kept
//! in the inbox, never mailed, listed by `faxhub inbox --blocked`). Pure: the rules, the
//! caller's number and the sending machine's ident in; the rule that applies, and why, out.
//!
//! A rule matches a call by its caller number (`callers`: digits as the number arrives in
//! From, an optional `+`, `X` any digit, a trailing `*` any continuation), by the absence of
//! one (`anonymous`: no number, or one without a digit, as "anonymous", "unknown" or
//! "restricted" arrive), or by the sending machine's ident (`idents`: compared without spaces
//! and case, `*` any run of characters). The ident (TSI) is only known once the fax is under
//! way: a rule that names idents can only quarantine, and a `refuse` rule may not name them.
//! The first rule that matches, in the file's order, applies.
//!
//! Both numbers and idents come from the caller and may be forged: these rules keep junk out,
//! they are no authentication. Matching is bounded by the rule and the ident (at most
//! `MAX_PATTERN` and 20 characters: the glob is a quadratic walk over them at most).

use serde::{Deserialize, Serialize};

/// The longest ident pattern.
pub const MAX_PATTERN: usize = 40;

/// What a matching rule does.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// SIP 603 Decline before the call is answered.
    Refuse,
    /// Received, kept in the inbox, not mailed.
    #[default]
    Quarantine,
}

/// One `[[sip.inbound.block]]` entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BlockRule {
    pub callers: Vec<String>,
    pub idents: Vec<String>,
    pub anonymous: bool,
    pub action: Action,
    /// Why, in words (shown by `faxhub inbox --blocked`).
    pub reason: Option<String>,
}

/// A rule that applied: which one, and why, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub rule: usize,
    pub action: Action,
    pub why: String,
}

impl BlockRule {
    /// Problems with this rule (`at` names it), none if it is fit to use.
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.callers.is_empty() && self.idents.is_empty() && !self.anonymous {
            out.push(format!(
                "{at}: name callers, idents or anonymous = true (a rule that matches nothing)"
            ));
        }
        for p in &self.callers {
            if !caller_pattern(p) {
                out.push(format!(
                    "{at}.callers: {p:?} is not a number pattern like \"+1900*\" or \"0899XXXXXX\""
                ));
            }
        }
        for p in &self.idents {
            if !valid_ident_pattern(p) {
                out.push(format!(
                    "{at}.idents: {p:?} must be 1 to {MAX_PATTERN} printable ASCII characters"
                ));
            }
        }
        if self.action == Action::Refuse && !self.idents.is_empty() {
            out.push(format!(
                "{at}: a refuse rule cannot name idents (the ident is only known once the fax \
                 is under way); make it action = \"quarantine\""
            ));
        }
        out
    }

    /// What of the call this rule matches, in words; `None` if nothing.
    fn matches(&self, caller: Option<&str>, ident: Option<&str>) -> Option<String> {
        let caller = caller.map(str::trim).filter(|c| !c.is_empty());
        let anonymous = caller.is_none_or(|c| !c.bytes().any(|b| b.is_ascii_digit()));
        if self.anonymous && anonymous {
            return Some("the caller gave no number".into());
        }
        if let Some(c) = caller.filter(|_| !anonymous)
            && let Some(p) = self.callers.iter().find(|p| caller_matches(p, c))
        {
            return Some(format!("the caller {c} matches {p}"));
        }
        let ident = ident.map(str::trim).filter(|i| !i.is_empty())?;
        let p = self.idents.iter().find(|p| ident_matches(p, ident))?;
        Some(format!("the fax ident {ident:?} matches {p:?}"))
    }

    fn blocked(&self, rule: usize, why: String) -> Blocked {
        let why = match &self.reason {
            Some(reason) => format!("{reason}: {why} (block rule {})", rule + 1),
            None => format!("{why} (block rule {})", rule + 1),
        };
        Blocked {
            rule,
            action: self.action,
            why,
        }
    }
}

/// The refuse rule a call from `caller` meets before it is answered, if any.
pub fn refused(rules: &[BlockRule], caller: Option<&str>) -> Option<Blocked> {
    rules.iter().enumerate().find_map(|(i, r)| {
        (r.action == Action::Refuse)
            .then(|| r.matches(caller, None))
            .flatten()
            .map(|why| r.blocked(i, why))
    })
}

/// The quarantine rule a received fax meets, by its caller or its ident, if any.
pub fn quarantined(
    rules: &[BlockRule],
    caller: Option<&str>,
    ident: Option<&str>,
) -> Option<Blocked> {
    rules.iter().enumerate().find_map(|(i, r)| {
        (r.action == Action::Quarantine)
            .then(|| r.matches(caller, ident))
            .flatten()
            .map(|why| r.blocked(i, why))
    })
}

/// An ident pattern fit to use: 1 to `MAX_PATTERN` printable ASCII characters.
pub fn valid_ident_pattern(p: &str) -> bool {
    !p.trim().is_empty()
        && p.len() <= MAX_PATTERN
        && p.chars().all(|c| c.is_ascii() && !c.is_ascii_control())
}

fn caller_pattern(p: &str) -> bool {
    let body = p.strip_prefix('+').unwrap_or(p);
    let body = body.strip_suffix('*').unwrap_or(body);
    !body.is_empty()
        && body.len() <= 20
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'X' || b == b'x')
}

/// `p` against the caller's number as it arrived (its `+` must match too).
fn caller_matches(p: &str, caller: &str) -> bool {
    crate::dialplan::pattern_matches(p, caller)
}

/// An ident pattern (`*` any run) against an ident, spaces and case ignored.
pub fn ident_matches(pattern: &str, ident: &str) -> bool {
    let fold = |s: &str| -> Vec<u8> {
        s.bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|b| b.to_ascii_uppercase())
            .collect()
    };
    let (p, t) = (fold(pattern), fold(ident));
    if p.len() > MAX_PATTERN * 2 || t.len() > 64 {
        return false; // never from a checked rule and a T.30 ident
    }
    glob(&p, &t)
}

/// `*` matches any run; iterative with one backtrack point (linear in practice, quadratic at
/// worst on these bounded inputs).
fn glob(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(callers: &[&str], idents: &[&str], anonymous: bool, action: Action) -> BlockRule {
        BlockRule {
            callers: callers.iter().map(|s| s.to_string()).collect(),
            idents: idents.iter().map(|s| s.to_string()).collect(),
            anonymous,
            action,
            reason: None,
        }
    }

    #[test]
    fn ident_patterns_ignore_spaces_and_case() {
        for (p, t, want) in [
            ("*CASINO*", "Best Casino Deals", true),
            ("PROMO*", "promo 2026", true),
            ("PROMO*", "no promo", false),
            ("+1 900*", "+1900 555 0100", true),
            ("ACME", "ACME SUPPLIES", false),
            ("*", "", true),
            ("A*B*C", "AXXBYYC", true),
            ("A*B*C", "AXXBYY", false),
        ] {
            assert_eq!(ident_matches(p, t), want, "{p:?} ~ {t:?}");
        }
        // a hostile ident past what T.30 carries is not walked
        assert!(!ident_matches("*A*A*A*A*B", &"A".repeat(10_000)));
    }

    #[test]
    fn the_first_rule_that_matches_applies() {
        let rules = [
            BlockRule {
                reason: Some("premium-rate spam".into()),
                ..rule(&["+1900*", "0899XXXXXX"], &[], false, Action::Refuse)
            },
            rule(&[], &[], true, Action::Refuse),
            rule(&["+44*"], &["*CASINO*"], false, Action::Quarantine),
        ];
        let refused = |c| super::refused(&rules, c).map(|b| (b.rule, b.why));
        assert_eq!(
            refused(Some("+19005550100")),
            Some((
                0,
                "premium-rate spam: the caller +19005550100 matches +1900* (block rule 1)".into()
            ))
        );
        assert_eq!(refused(Some("0899123456")).map(|r| r.0), Some(0));
        assert_eq!(refused(Some("08991234567")), None, "one digit too many");
        for anonymous in [None, Some(""), Some("anonymous"), Some("Restricted")] {
            assert_eq!(refused(anonymous).map(|r| r.0), Some(1), "{anonymous:?}");
        }
        assert_eq!(
            refused(Some("+442079460000")),
            None,
            "quarantine rules never refuse"
        );
        assert_eq!(refused(Some("0169293999")), None);
        let q = |c, i| super::quarantined(&rules, c, i).map(|b| b.rule);
        assert_eq!(q(Some("+442079460000"), None), Some(2));
        assert_eq!(q(Some("0169293999"), Some("Casino Royale")), Some(2));
        assert_eq!(q(Some("0169293999"), Some("ACME")), None);
        assert_eq!(q(Some("0169293999"), None), None);
    }

    #[test]
    fn rules_are_checked() {
        assert!(
            rule(&["+1900*"], &[], false, Action::Refuse)
                .problems("b")
                .is_empty()
        );
        let all = [
            rule(&[], &[], false, Action::Quarantine),
            rule(&["1900 555"], &[], false, Action::Quarantine),
            rule(&["*"], &[], false, Action::Quarantine),
            rule(&[], &["é"], false, Action::Quarantine),
            rule(&[], &[&"X".repeat(41)], false, Action::Quarantine),
            rule(&[], &["PROMO*"], false, Action::Refuse),
        ];
        for r in &all {
            assert_eq!(r.problems("b").len(), 1, "{r:?}: {:?}", r.problems("b"));
        }
    }
}
