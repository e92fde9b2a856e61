//! Page options: paper size, vertical resolution and cover page, from the configuration and,
//! per message, from `X-Fax-Paper: a4|letter|legal`, `X-Fax-Resolution: normal|fine|superfine`
//! and `X-Fax-Cover: yes|no`. A header
//! with a value faxhub does not know is ignored with a note (never a failure). Pure.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Paper {
    #[default]
    A4,
    Letter,
    Legal,
}

impl Paper {
    pub fn parse(s: &str) -> Option<Paper> {
        match s.trim().to_ascii_lowercase().as_str() {
            "a4" => Some(Paper::A4),
            "letter" => Some(Paper::Letter),
            "legal" => Some(Paper::Legal),
            _ => None,
        }
    }
    pub fn gs_name(self) -> &'static str {
        match self {
            Paper::A4 => "a4",
            Paper::Letter => "letter",
            Paper::Legal => "legal",
        }
    }
    /// Page size in PostScript points (1/72 in).
    pub fn points(self) -> (u32, u32) {
        match self {
            Paper::A4 => (595, 842),
            Paper::Letter => (612, 792),
            Paper::Legal => (612, 1008),
        }
    }
}

/// Vertical fax resolution (the horizontal one is always 204 dpi at 1728 pixels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// 3.85 lines/mm, 98 lpi.
    Normal,
    /// 7.7 lines/mm, 196 lpi.
    #[default]
    Fine,
    /// 15.4 lines/mm, 391 lpi.
    Superfine,
}

impl Resolution {
    pub fn parse(s: &str) -> Option<Resolution> {
        match s.trim().to_ascii_lowercase().as_str() {
            "normal" | "standard" => Some(Resolution::Normal),
            "fine" => Some(Resolution::Fine),
            "superfine" => Some(Resolution::Superfine),
            _ => None,
        }
    }
    pub fn y_dpi(self) -> u32 {
        match self {
            Resolution::Normal => 98,
            Resolution::Fine => 196,
            Resolution::Superfine => 391,
        }
    }
}

/// What one message's pages are made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub paper: Paper,
    pub resolution: Resolution,
    /// Whether each recipient gets a cover page.
    pub cover: bool,
}

impl Options {
    /// Applies the message's `X-Fax-*` headers (name, value pairs) over `self`; returns the
    /// notes for values that were ignored.
    pub fn with_headers<'a>(
        mut self,
        headers: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> (Options, Vec<String>) {
        let mut notes = Vec::new();
        for (name, value) in headers {
            let value = value.trim();
            if name.eq_ignore_ascii_case("X-Fax-Paper") {
                match Paper::parse(value) {
                    Some(p) => self.paper = p,
                    None => notes.push(format!(
                        "X-Fax-Paper: {value:?} is not a4, letter or legal; ignored"
                    )),
                }
            } else if name.eq_ignore_ascii_case("X-Fax-Cover") {
                match value.to_ascii_lowercase().as_str() {
                    "yes" | "true" | "on" | "1" => self.cover = true,
                    "no" | "false" | "off" | "0" => self.cover = false,
                    _ => notes.push(format!("X-Fax-Cover: {value:?} is not yes or no; ignored")),
                }
            } else if name.eq_ignore_ascii_case("X-Fax-Resolution") {
                match Resolution::parse(value) {
                    Some(r) => self.resolution = r,
                    None => notes.push(format!(
                        "X-Fax-Resolution: {value:?} is not normal, fine or superfine; ignored"
                    )),
                }
            }
        }
        (self, notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_override_the_defaults_and_bad_values_are_noted() {
        let defaults = Options {
            paper: Paper::A4,
            resolution: Resolution::Fine,
            cover: false,
        };
        for (headers, paper, resolution, notes) in [
            (vec![], Paper::A4, Resolution::Fine, 0),
            (
                vec![("X-Fax-Paper", "Letter"), ("x-fax-resolution", " normal ")],
                Paper::Letter,
                Resolution::Normal,
                0,
            ),
            (
                vec![("X-Fax-Paper", "legal"), ("X-Fax-Resolution", "superfine")],
                Paper::Legal,
                Resolution::Superfine,
                0,
            ),
            (
                vec![("X-Fax-Paper", "A3"), ("X-Fax-Resolution", "ultra")],
                Paper::A4,
                Resolution::Fine,
                2,
            ),
            (vec![("Subject", "legal")], Paper::A4, Resolution::Fine, 0),
            (
                vec![("X-Fax-Cover", "maybe")],
                Paper::A4,
                Resolution::Fine,
                1,
            ),
        ] {
            let (got, n) = defaults.with_headers(headers.clone().into_iter());
            assert_eq!(
                (got.paper, got.resolution, n.len()),
                (paper, resolution, notes),
                "{headers:?}"
            );
        }
        let cover = |v: &str, default: bool| {
            Options {
                cover: default,
                ..defaults
            }
            .with_headers([("x-fax-cover", v)].into_iter())
            .0
            .cover
        };
        assert!(cover("Yes", false) && !cover("no", true) && cover("maybe", true));
    }
}
