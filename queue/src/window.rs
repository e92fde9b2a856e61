//! Sending windows: the hours of the day faxes to some numbers may be sent (`[[scheduler.
//! windows]]`: international only 18:00–08:00, when the rates are low and the far office
//! closed) and the hours a line may call (`[[lines]] hours`). Pure: the window, the number and
//! the local minute of the day in; open or not, and how long until it opens, out.
//!
//! A window is `"HH:MM-HH:MM"` in the server's local time; one whose end comes before its start
//! runs over midnight (`"18:00-08:00"`); the start is in it, the end is not. Numbers are E.164
//! patterns (`+44*`, `+3314XXXXXXX`) or `"international"` (any number outside the dial plan's
//! country). The first window whose numbers match a number applies to it; a number none names
//! may be sent at any hour.

use crate::dialplan::{FaxNumber, pattern_matches, valid_pattern};
use serde::{Deserialize, Serialize};

/// Minutes in a day.
pub const DAY_MINUTES: u32 = 24 * 60;

/// Hours of the day, `[from, to)` in minutes since local midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hours {
    pub from: u32,
    pub to: u32,
}

impl Hours {
    /// `"18:00-08:00"`; `None` for anything else (an empty window `"08:00-08:00"` too).
    pub fn parse(text: &str) -> Option<Hours> {
        let (from, to) = text.split_once('-')?;
        let minute = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let digits =
                |s: &str| (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
            (digits(h) && m.len() == 2 && digits(m)).then_some(())?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        let hours = Hours {
            from: minute(from)?,
            to: minute(to)?,
        };
        (hours.from != hours.to).then_some(hours)
    }

    /// Minutes from `minute` (of the local day) until the window opens: 0 if it is open.
    pub fn minutes_until_open(&self, minute: u32) -> u32 {
        let minute = minute % DAY_MINUTES;
        let open = match self.from < self.to {
            true => (self.from..self.to).contains(&minute),
            false => minute >= self.from || minute < self.to,
        };
        match open {
            true => 0,
            false => (self.from + DAY_MINUTES - minute) % DAY_MINUTES,
        }
    }
}

impl std::fmt::Display for Hours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.from), hm(self.to))
    }
}

/// One `[[scheduler.windows]]` entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    pub numbers: Vec<String>,
    pub hours: String,
}

/// The configured windows, checked.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    windows: Vec<(Vec<String>, Hours)>,
    /// The dial plan's country calling code (for `"international"`).
    country_code: String,
}

impl Windows {
    pub fn new(list: &[WindowConfig], country_code: &str) -> Result<Windows, String> {
        let mut windows = Vec::new();
        for (i, w) in list.iter().enumerate() {
            let at = format!("scheduler.windows[{i}]");
            let hours = Hours::parse(&w.hours).ok_or_else(|| {
                format!(
                    "{at}.hours: {:?} is not a window like \"18:00-08:00\"",
                    w.hours
                )
            })?;
            if w.numbers.is_empty() {
                return Err(format!(
                    "{at}.numbers: name \"international\" or patterns like \"+44*\""
                ));
            }
            if let Some(bad) = w
                .numbers
                .iter()
                .find(|p| *p != "international" && !valid_pattern(p))
            {
                return Err(format!(
                    "{at}.numbers: {bad:?} is not \"international\" or a pattern like \"+44*\""
                ));
            }
            windows.push((w.numbers.clone(), hours));
        }
        Ok(Windows {
            windows,
            country_code: country_code.to_string(),
        })
    }

    /// The window for `number`, and the pattern that chose it.
    pub fn for_number(&self, number: &FaxNumber) -> Option<(&str, Hours)> {
        self.windows.iter().find_map(|(numbers, hours)| {
            numbers
                .iter()
                .find(|p| match p.as_str() {
                    "international" => !number.digits().starts_with(&self.country_code),
                    p => pattern_matches(p, number.as_str()),
                })
                .map(|p| (p.as_str(), *hours))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_parse_and_open() {
        let night = Hours::parse("18:00-08:00").unwrap();
        let day = Hours::parse(" 08:30 - 17:45 ").unwrap();
        assert_eq!(night.to_string(), "18:00-08:00");
        assert_eq!(day.to_string(), "08:30-17:45");
        for bad in [
            "",
            "18:00",
            "24:00-08:00",
            "18:60-08:00",
            "08:00-08:00",
            "8-9",
            "a:b-c:d",
            "18:000-08:00",
        ] {
            assert_eq!(Hours::parse(bad), None, "{bad:?}");
        }
        let m = |h: u32, mi: u32| h * 60 + mi;
        // over midnight: the start in, the end out
        assert_eq!(night.minutes_until_open(m(18, 0)), 0);
        assert_eq!(night.minutes_until_open(m(23, 59)), 0);
        assert_eq!(night.minutes_until_open(m(0, 0)), 0);
        assert_eq!(night.minutes_until_open(m(7, 59)), 0);
        assert_eq!(night.minutes_until_open(m(8, 0)), 600);
        assert_eq!(night.minutes_until_open(m(17, 59)), 1);
        // within a day
        assert_eq!(day.minutes_until_open(m(8, 29)), 1);
        assert_eq!(day.minutes_until_open(m(8, 30)), 0);
        assert_eq!(day.minutes_until_open(m(17, 45)), m(14, 45));
        assert_eq!(day.minutes_until_open(m(23, 0)), m(9, 30));
    }

    #[test]
    fn the_first_window_that_names_a_number_applies() {
        let windows = Windows::new(
            &[
                WindowConfig {
                    numbers: vec!["+4420*".into()],
                    hours: "09:00-10:00".into(),
                },
                WindowConfig {
                    numbers: vec!["international".into()],
                    hours: "18:00-08:00".into(),
                },
            ],
            "33",
        )
        .unwrap();
        let n = |s: &str| FaxNumber::from_e164(s).unwrap();
        assert_eq!(windows.for_number(&n("+442079460000")).unwrap().0, "+4420*");
        assert_eq!(
            windows.for_number(&n("+441619460000")).unwrap().0,
            "international"
        );
        assert_eq!(
            windows.for_number(&n("+33169293999")),
            None,
            "at home: any hour"
        );
        for (bad, why) in [
            (
                WindowConfig {
                    numbers: vec!["+44*".into()],
                    hours: "late".into(),
                },
                "hours",
            ),
            (
                WindowConfig {
                    numbers: vec![],
                    hours: "18:00-08:00".into(),
                },
                "numbers",
            ),
            (
                WindowConfig {
                    numbers: vec!["abroad".into()],
                    hours: "18:00-08:00".into(),
                },
                "numbers",
            ),
        ] {
            let e = Windows::new(&[bad], "33").unwrap_err();
            assert!(e.contains(&format!("windows[0].{why}")), "{e}");
        }
    }
}
