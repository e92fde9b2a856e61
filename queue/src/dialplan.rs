//! Fax numbers and the dial plan.
//!
//! A number as a user wrote it (`0169293999`, `+33 1 69 29 39 99`, `(01) 69-29-39-99`,
//! `0033169293999`) is normalised to E.164 (`+33169293999`) with the site's country code and
//! prefixes, then checked against the `deny` and `allow` patterns. Deny wins; a non-empty allow
//! list admits only what it matches. Without a `deny` list the site gets the emergency and
//! premium-rate patterns of its country (`default_denies`). Pure: no I/O.
//!
//! Patterns are E.164 with `X` for any one digit and a trailing `*` for any continuation:
//! `+3389*`, `+33116XXX`, `+33112`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest E.164 number, in digits (ITU-T E.164 §6).
const E164_MAX_DIGITS: usize = 15;
/// Shortest number we will try to dial at all (emergency short codes are 2-3 digits long).
const MIN_DIGITS: usize = 2;

/// A fax number in E.164 form, always `+` and digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FaxNumber(String);

impl FaxNumber {
    /// Takes an already normalised E.164 string (`+` and 2..=15 digits).
    pub fn from_e164(s: &str) -> Option<FaxNumber> {
        let digits = s.strip_prefix('+')?;
        let ok = (MIN_DIGITS..=E164_MAX_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        ok.then(|| FaxNumber(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The digits after the `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for FaxNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for FaxNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        FaxNumber::from_e164(&s).ok_or_else(|| format!("not an E.164 number: {s:?}"))
    }
}

impl From<FaxNumber> for String {
    fn from(n: FaxNumber) -> String {
        n.0
    }
}

/// The `[dialplan]` section of the configuration.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DialPlanConfig {
    /// The site's country calling code, without `+` (33 for France, 1 for NANP).
    pub country_code: String,
    /// Dialled before a national number (`0` in most of Europe, `1` in NANP).
    pub national_prefix: String,
    /// Dialled before an international number (`00`, `011` in NANP).
    pub international_prefix: String,
    /// Dialled first to get an outside line from the PBX (often `0` or `9`); empty for none.
    pub outside_line_prefix: String,
    /// If not empty, only numbers matching one of these may be dialled.
    pub allow: Vec<String>,
    /// Numbers matching one of these are refused. `None` means the country's defaults.
    pub deny: Option<Vec<String>>,
    /// Refuse toll fraud's usual destinations abroad (`INTERNATIONAL_DENIES`), whatever `deny`.
    pub toll_fraud: bool,
    /// Numbers outside the site's own country may be dialled.
    pub international: bool,
    /// If not empty, only these country calling codes (digits, e.g. `"33"`, `"41"`) may be
    /// dialled; the site's own always may.
    pub countries: Vec<String>,
}

impl Default for DialPlanConfig {
    fn default() -> Self {
        DialPlanConfig {
            country_code: "33".into(),
            national_prefix: "0".into(),
            international_prefix: "00".into(),
            outside_line_prefix: String::new(),
            allow: Vec::new(),
            deny: None,
            toll_fraud: true,
            international: true,
            countries: Vec::new(),
        }
    }
}

/// One allow or deny rule: its pattern and why it is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub pattern: String,
    pub label: Option<&'static str>,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.label {
            Some(label) => write!(f, "\"{}\" ({label})", self.pattern),
            None => write!(f, "\"{}\"", self.pattern),
        }
    }
}

/// Why a number can't be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialPlanError {
    #[error("{input:?} is not a fax number: {why}")]
    Malformed { input: String, why: &'static str },
    #[error("{number} is denied by dial plan rule {rule}")]
    Denied { number: FaxNumber, rule: Rule },
    #[error("{number} is not in the dial plan's allow list")]
    NotAllowed { number: FaxNumber },
    #[error("{number} is abroad, and this fax server dials only numbers in its own country")]
    NotNational { number: FaxNumber },
    #[error("{number} is in a country this fax server does not dial")]
    CountryNotAllowed { number: FaxNumber },
}

/// A validated dial plan.
#[derive(Clone, Debug)]
pub struct DialPlan {
    config: DialPlanConfig,
    allow: Vec<Rule>,
    deny: Vec<Rule>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DialPlanConfigError {
    #[error("dialplan.{key}: {value:?} must be digits only")]
    NotDigits { key: &'static str, value: String },
    #[error(
        "dialplan: bad pattern {0:?} (use + then digits, X for any digit, optional trailing *)"
    )]
    BadPattern(String),
}

impl DialPlan {
    pub fn new(config: DialPlanConfig) -> Result<DialPlan, DialPlanConfigError> {
        for (key, value) in [
            ("country_code", &config.country_code),
            ("national_prefix", &config.national_prefix),
            ("international_prefix", &config.international_prefix),
            ("outside_line_prefix", &config.outside_line_prefix),
        ] {
            if !value.bytes().all(|b| b.is_ascii_digit())
                || (key == "country_code" && value.is_empty())
            {
                return Err(DialPlanConfigError::NotDigits {
                    key,
                    value: value.clone(),
                });
            }
        }
        let check = |p: &String| {
            if valid_pattern(p) {
                Ok(Rule {
                    pattern: p.clone(),
                    label: None,
                })
            } else {
                Err(DialPlanConfigError::BadPattern(p.clone()))
            }
        };
        let allow = config
            .allow
            .iter()
            .map(check)
            .collect::<Result<Vec<_>, _>>()?;
        let mut deny = match &config.deny {
            Some(list) => list.iter().map(check).collect::<Result<Vec<_>, _>>()?,
            None => default_denies(&config.country_code),
        };
        if config.toll_fraud {
            deny.extend(international_denies(&config.country_code));
        }
        if let Some(bad) = config
            .countries
            .iter()
            .find(|c| c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(DialPlanConfigError::NotDigits {
                key: "countries",
                value: bad.clone(),
            });
        }
        Ok(DialPlan {
            config,
            allow,
            deny,
        })
    }

    pub fn config(&self) -> &DialPlanConfig {
        &self.config
    }

    /// The deny rules in force (the configured ones or the country's defaults).
    pub fn deny_rules(&self) -> &[Rule] {
        &self.deny
    }

    /// Normalises what a user wrote to E.164, without checking allow/deny.
    pub fn normalize(&self, input: &str) -> Result<FaxNumber, DialPlanError> {
        let malformed = |why| DialPlanError::Malformed {
            input: input.to_string(),
            why,
        };
        let trimmed = input.trim();
        // "+44 (0)20 …": the "(0)" is the national prefix written for domestic callers.
        let without_trunk = trimmed.replacen("(0)", "", usize::from(trimmed.starts_with('+')));
        let mut international = false;
        let mut digits = String::with_capacity(without_trunk.len());
        for (i, c) in without_trunk.chars().enumerate() {
            match c {
                '+' if i == 0 => international = true,
                '0'..='9' => digits.push(c),
                ' ' | '.' | '-' | '(' | ')' | '/' | '\t' => {}
                _ => {
                    return Err(malformed(
                        "only digits, a leading +, spaces, dots, dashes and brackets may appear",
                    ));
                }
            }
        }
        if digits.is_empty() {
            return Err(malformed("it has no digits"));
        }
        let cfg = &self.config;
        let e164 = if international {
            digits
        } else if !cfg.international_prefix.is_empty()
            && digits.starts_with(&cfg.international_prefix)
        {
            digits[cfg.international_prefix.len()..].to_string()
        } else if !cfg.national_prefix.is_empty() && digits.starts_with(&cfg.national_prefix) {
            format!(
                "{}{}",
                cfg.country_code,
                &digits[cfg.national_prefix.len()..]
            )
        } else {
            format!("{}{}", cfg.country_code, digits)
        };
        if e164.starts_with('0') {
            return Err(malformed(
                "an international number cannot start with 0 after the country prefix",
            ));
        }
        if e164.len() > E164_MAX_DIGITS {
            return Err(malformed(
                "it is longer than the 15 digits an international number may have",
            ));
        }
        if e164.len() < MIN_DIGITS + cfg.country_code.len().min(1) {
            return Err(malformed("it is too short"));
        }
        FaxNumber::from_e164(&format!("+{e164}"))
            .ok_or_else(|| malformed("it is not a valid E.164 number"))
    }

    /// Checks a normalised number against the deny and allow rules, then the countries.
    pub fn check(&self, number: &FaxNumber) -> Result<(), DialPlanError> {
        if let Some(rule) = self
            .deny
            .iter()
            .find(|r| pattern_matches(&r.pattern, number.as_str()))
        {
            return Err(DialPlanError::Denied {
                number: number.clone(),
                rule: rule.clone(),
            });
        }
        if !self.allow.is_empty()
            && !self
                .allow
                .iter()
                .any(|r| pattern_matches(&r.pattern, number.as_str()))
        {
            return Err(DialPlanError::NotAllowed {
                number: number.clone(),
            });
        }
        let cfg = &self.config;
        let national = number.digits().starts_with(cfg.country_code.as_str());
        if !national && !cfg.international {
            return Err(DialPlanError::NotNational {
                number: number.clone(),
            });
        }
        if !national
            && !cfg.countries.is_empty()
            && !cfg
                .countries
                .iter()
                .any(|c| number.digits().starts_with(c.as_str()))
        {
            return Err(DialPlanError::CountryNotAllowed {
                number: number.clone(),
            });
        }
        Ok(())
    }

    /// Normalises and checks in one step.
    pub fn parse(&self, input: &str) -> Result<FaxNumber, DialPlanError> {
        let number = self.normalize(input)?;
        self.check(&number)?;
        Ok(number)
    }

    /// What a line dials to reach `number` from this site: the outside-line prefix, then the
    /// national form for numbers in our country or the international form for the others.
    pub fn dial_string(&self, number: &FaxNumber) -> String {
        let cfg = &self.config;
        let digits = number.digits();
        let body = match digits.strip_prefix(cfg.country_code.as_str()) {
            Some(national) => format!("{}{}", cfg.national_prefix, national),
            None => format!("{}{}", cfg.international_prefix, digits),
        };
        format!("{}{}", cfg.outside_line_prefix, body)
    }
}

/// Whether `p` is a number pattern: `+` and digits, `X` for any digit, an optional trailing `*`.
pub fn valid_pattern(p: &str) -> bool {
    let Some(rest) = p.strip_prefix('+') else {
        return false;
    };
    let body = rest.strip_suffix('*').unwrap_or(rest);
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'X' || b == b'x')
}

/// Matches an E.164 number against a pattern (`X` any digit, trailing `*` any continuation).
pub fn pattern_matches(pattern: &str, number: &str) -> bool {
    let (body, open) = match pattern.strip_suffix('*') {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    if number.len() < body.len() || (!open && number.len() != body.len()) {
        return false;
    }
    body.bytes()
        .zip(number.bytes())
        .all(|(p, n)| p == n || (matches!(p, b'X' | b'x') && n.is_ascii_digit()))
}

/// Emergency and premium-rate patterns per country calling code: faxing them is never wanted.
const DEFAULT_DENIES: &[(&str, &[(&str, &str)])] = &[
    (
        "33",
        &[
            ("+33112", "emergency"),
            ("+3315", "emergency"),
            ("+3317", "emergency"),
            ("+3318", "emergency"),
            ("+33114", "emergency"),
            ("+33115", "emergency"),
            ("+33119", "emergency"),
            ("+33116XXX", "helpline"),
            ("+33118*", "directory enquiries"),
            ("+333XXX", "short premium number"),
            ("+3381*", "surcharged rate"),
            ("+3382*", "surcharged rate"),
            ("+3389*", "premium rate"),
        ],
    ),
    (
        "1",
        &[
            ("+1911", "emergency"),
            ("+1933", "emergency test"),
            ("+1900*", "premium rate"),
            ("+1976*", "premium rate"),
        ],
    ),
    (
        "44",
        &[
            ("+44999", "emergency"),
            ("+44112", "emergency"),
            ("+449*", "premium rate"),
            ("+44118*", "directory enquiries"),
        ],
    ),
    (
        "49",
        &[
            ("+49110", "emergency"),
            ("+49112", "emergency"),
            ("+49900*", "premium rate"),
            ("+49137*", "mass calling"),
            ("+49118*", "directory enquiries"),
        ],
    ),
];

/// Toll fraud's usual destinations, refused by default from every site (`toll_fraud`): the
/// codes ITU-T E.164 assigns to satellite systems, international networks, shared-cost,
/// premium-rate and personal-numbering services, and the premium and revenue-sharing ranges of
/// common countries dialled from abroad. A site's own country is left to its domestic table.
pub const INTERNATIONAL_DENIES: &[(&str, &str)] = &[
    ("+870*", "Inmarsat satellite"),
    ("+881*", "satellite (Global Mobile Satellite System)"),
    ("+882*", "international networks"),
    ("+883*", "international networks"),
    ("+808*", "international shared cost"),
    ("+878*", "universal personal telecommunications"),
    ("+979*", "international premium rate"),
    ("+991*", "international telecommunications trial"),
    ("+888*", "disaster relief telecommunications"),
    ("+1900*", "premium rate (NANP)"),
    ("+1976*", "premium rate (NANP)"),
    ("+449*", "premium rate (United Kingdom)"),
    ("+4487*", "revenue sharing (United Kingdom)"),
    ("+4470*", "personal numbering (United Kingdom)"),
    ("+3381*", "surcharged rate (France)"),
    ("+3382*", "surcharged rate (France)"),
    ("+3389*", "premium rate (France)"),
    ("+49900*", "premium rate (Germany)"),
    ("+49137*", "mass calling (Germany)"),
    ("+39899*", "premium rate (Italy)"),
    ("+39892*", "premium rate (Italy)"),
    ("+34803*", "premium rate (Spain)"),
    ("+34806*", "premium rate (Spain)"),
    ("+34807*", "premium rate (Spain)"),
    ("+34905*", "mass calling (Spain)"),
    ("+3290*", "premium rate (Belgium)"),
    ("+3270*", "premium rate (Belgium)"),
    ("+31900*", "premium rate (Netherlands)"),
    ("+31906*", "premium rate (Netherlands)"),
    ("+31909*", "premium rate (Netherlands)"),
    ("+41900*", "premium rate (Switzerland)"),
    ("+41901*", "premium rate (Switzerland)"),
    ("+41906*", "premium rate (Switzerland)"),
    ("+43900*", "premium rate (Austria)"),
    ("+43930*", "premium rate (Austria)"),
    ("+43939*", "premium rate (Austria)"),
    ("+61190*", "premium rate (Australia)"),
];

/// `INTERNATIONAL_DENIES` but for the site's own country.
pub fn international_denies(country_code: &str) -> Vec<Rule> {
    INTERNATIONAL_DENIES
        .iter()
        .filter(|(p, _)| !p[1..].starts_with(country_code))
        .map(|(p, l)| Rule {
            pattern: p.to_string(),
            label: Some(l),
        })
        .collect()
}

/// The deny rules a site gets when its config names none.
pub fn default_denies(country_code: &str) -> Vec<Rule> {
    let rule = |pattern: String, label| Rule {
        pattern,
        label: Some(label),
    };
    match DEFAULT_DENIES.iter().find(|(cc, _)| *cc == country_code) {
        Some((_, rules)) => rules.iter().map(|(p, l)| rule(p.to_string(), *l)).collect(),
        None => vec![rule(format!("+{country_code}112"), "emergency")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn france() -> DialPlan {
        DialPlan::new(DialPlanConfig::default()).unwrap()
    }

    #[test]
    fn normalises_the_forms_users_write() {
        let plan = france();
        for (input, expected) in [
            ("0169293999", "+33169293999"),
            ("+33 1 69 29 39 99", "+33169293999"),
            ("01.69.29.39.99", "+33169293999"),
            ("(01) 69-29-39-99", "+33169293999"),
            ("0033169293999", "+33169293999"),
            ("+33 (0)1 69 29 39 99", "+33169293999"),
            ("+44 (0)20 7946 0018", "+442079460018"),
            ("169293999", "+33169293999"),
            ("004930123456", "+4930123456"),
            ("+1-202-555-1212", "+12025551212"),
        ] {
            assert_eq!(
                plan.normalize(input).map(|n| n.to_string()),
                Ok(expected.to_string()),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        let plan = france();
        for input in [
            "",
            "abc",
            "01692939x9",
            "+",
            "++33169293999",
            "+0169293999",
            "01234567890123456789",
            "+33 1 69#29",
        ] {
            assert!(
                matches!(plan.normalize(input), Err(DialPlanError::Malformed { .. })),
                "{input:?}"
            );
        }
    }

    #[test]
    fn nanp_prefixes() {
        let plan = DialPlan::new(DialPlanConfig {
            country_code: "1".into(),
            national_prefix: "1".into(),
            international_prefix: "011".into(),
            outside_line_prefix: "9".into(),
            ..DialPlanConfig::default()
        })
        .unwrap();
        assert_eq!(
            plan.normalize("1 (202) 555-1212").unwrap().as_str(),
            "+12025551212"
        );
        assert_eq!(
            plan.normalize("2025551212").unwrap().as_str(),
            "+12025551212"
        );
        assert_eq!(
            plan.normalize("011 33 1 69 29 39 99").unwrap().as_str(),
            "+33169293999"
        );
        let n = plan.normalize("+33169293999").unwrap();
        assert_eq!(plan.dial_string(&n), "901133169293999");
        assert_eq!(
            plan.dial_string(&plan.normalize("2025551212").unwrap()),
            "912025551212"
        );
        assert!(matches!(
            plan.parse("1-900-555-1212"),
            Err(DialPlanError::Denied { .. })
        ));
        assert!(matches!(
            plan.parse("911"),
            Err(DialPlanError::Denied { .. })
        ));
    }

    #[test]
    fn default_denies_for_france() {
        let plan = france();
        for (input, denied) in [
            ("112", true),
            ("15", true),
            ("17", true),
            ("18", true),
            ("116000", true),
            ("0899123456", true),
            ("3615", true),
            ("118712", true),
            ("0169293999", false),
            ("0612345678", false),
            ("+4930123456", false),
        ] {
            let result = plan.parse(input);
            assert_eq!(
                matches!(result, Err(DialPlanError::Denied { .. })),
                denied,
                "{input}: {result:?}"
            );
        }
        let err = plan.parse("0899123456").unwrap_err().to_string();
        assert!(err.contains("\"+3389*\" (premium rate)"), "{err}");
    }

    #[test]
    fn allow_list_admits_only_what_it_matches() {
        let plan = DialPlan::new(DialPlanConfig {
            allow: vec!["+331*".into(), "+3361234567X".into()],
            deny: Some(vec!["+33155*".into()]),
            ..DialPlanConfig::default()
        })
        .unwrap();
        assert!(plan.parse("0169293999").is_ok());
        assert!(plan.parse("0612345678").is_ok());
        assert!(matches!(
            plan.parse("0155000000"),
            Err(DialPlanError::Denied { .. })
        ));
        assert!(matches!(
            plan.parse("0612345"),
            Err(DialPlanError::NotAllowed { .. })
        ));
        assert!(matches!(
            plan.parse("0299999999"),
            Err(DialPlanError::NotAllowed { .. })
        ));
        // an explicit deny list replaces the country's defaults (the toll-fraud rules stay)
        assert!(plan.deny_rules().iter().all(|r| r.pattern != "+33112"));
        assert_eq!(plan.deny_rules()[0].pattern, "+33155*");
        assert!(plan.deny_rules().iter().any(|r| r.pattern == "+881*"));
    }

    #[test]
    fn bad_config_is_named() {
        let bad = DialPlan::new(DialPlanConfig {
            country_code: "+33".into(),
            ..DialPlanConfig::default()
        });
        assert_eq!(
            bad.unwrap_err().to_string(),
            "dialplan.country_code: \"+33\" must be digits only"
        );
        let bad = DialPlan::new(DialPlanConfig {
            deny: Some(vec!["0899*".into()]),
            ..DialPlanConfig::default()
        });
        assert!(matches!(bad, Err(DialPlanConfigError::BadPattern(_))));
    }

    #[test]
    fn patterns() {
        for (p, n, m) in [
            ("+3389*", "+33891234567", true),
            ("+3389*", "+3389", true),
            ("+3389*", "+3388", false),
            ("+33116XXX", "+33116000", true),
            ("+33116XXX", "+331160000", false),
            ("+3315", "+3315", true),
            ("+3315", "+33155", false),
        ] {
            assert_eq!(pattern_matches(p, n), m, "{p} {n}");
        }
    }

    #[test]
    fn toll_fraud_destinations_abroad_are_refused_whatever_the_deny_list() {
        let own_list = DialPlan::new(DialPlanConfig {
            deny: Some(vec!["+33112".into()]),
            ..DialPlanConfig::default()
        })
        .unwrap();
        for plan in [france(), own_list] {
            for (input, label) in [
                ("+1 900 555 0100", "premium rate (NANP)"),
                ("+44 909 879 0000", "premium rate (United Kingdom)"),
                ("+881 6 1234 5678", "satellite"),
                ("+882 16 0000 1234", "international networks"),
                ("+979 1234 5678", "international premium rate"),
                ("004990012345678", "premium rate (Germany)"),
            ] {
                match plan.parse(input) {
                    Err(DialPlanError::Denied { rule, .. }) => {
                        assert!(rule.label.unwrap().contains(label), "{input}: {rule}")
                    }
                    other => panic!("{input}: {other:?}"),
                }
            }
            // ordinary numbers abroad still go
            assert!(plan.parse("+44 20 7946 0018").is_ok());
            assert!(plan.parse("+1 202 555 1212").is_ok());
        }
        // the control: with the rules off, the same numbers are dialled
        let off = DialPlan::new(DialPlanConfig {
            toll_fraud: false,
            ..DialPlanConfig::default()
        })
        .unwrap();
        for input in ["+1 900 555 0100", "+44 909 879 0000", "+881 6 1234 5678"] {
            assert!(off.parse(input).is_ok(), "{input}");
        }
        // a British site keeps its own (domestic) table for +44
        let uk = DialPlan::new(DialPlanConfig {
            country_code: "44".into(),
            ..DialPlanConfig::default()
        })
        .unwrap();
        assert!(uk.deny_rules().iter().all(|r| r.pattern != "+4470*"));
        assert!(uk.parse("+33 899 123456").is_err());
    }

    #[test]
    fn national_only_and_a_country_list() {
        let national = DialPlan::new(DialPlanConfig {
            international: false,
            ..DialPlanConfig::default()
        })
        .unwrap();
        assert!(national.parse("0169293999").is_ok());
        assert!(matches!(
            national.parse("+4930123456"),
            Err(DialPlanError::NotNational { .. })
        ));
        let listed = DialPlan::new(DialPlanConfig {
            countries: vec!["41".into(), "32".into()],
            ..DialPlanConfig::default()
        })
        .unwrap();
        assert!(listed.parse("0169293999").is_ok());
        assert!(listed.parse("+41 22 123 45 67").is_ok());
        let err = listed.parse("+4930123456").unwrap_err();
        assert!(
            matches!(err, DialPlanError::CountryNotAllowed { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("country"), "{err}");
        assert!(
            DialPlan::new(DialPlanConfig {
                countries: vec!["+41".into()],
                ..DialPlanConfig::default()
            })
            .is_err()
        );
    }
}
