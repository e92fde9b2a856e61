//! Who owns a dialled number (DID): the routing table of received faxes.
//!
//! A route names numbers as an exact number (`+33142000000`, or an extension `2001`), a range
//! (`+33142000100-+33142000199`, same length both ends), or a pattern (`+3314200001X`, `X` any
//! digit; `+331420002*`, any continuation). The most specific route wins whatever its place in
//! the file: the one that names the fewest numbers (an exact number, then the narrowest range or
//! `X` pattern), then the open pattern with the most fixed digits; a number no route names goes
//! to the catch-all. A DID is looked up as it was dialled
//! and as the dial plan writes it in E.164, so routes may use either form. Pure.

use crate::dialplan::{DialPlan, pattern_matches, valid_pattern};

/// One `[[inbound.routes]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub numbers: Vec<String>,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Matcher {
    Exact(String),
    /// Both ends have the same number of digits (and the same `+`).
    Range {
        low: String,
        high: String,
    },
    Pattern(String),
}

#[derive(Clone, Debug)]
pub struct DidRoutes {
    matchers: Vec<(Matcher, usize)>,
    routes: Vec<Route>,
    catch_all: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("inbound.routes: {0}")]
pub struct RouteError(String);

/// How specific a match is, most specific first: closed matchers by how many numbers they
/// cover (an exact number 1, a range its size, `X` patterns 10 per `X`), then open patterns
/// (`…*`) by their fixed digits, most first.
type Rank = (bool, u128, usize);

impl DidRoutes {
    pub fn new(routes: Vec<Route>, catch_all: Option<String>) -> Result<DidRoutes, RouteError> {
        let mut matchers = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            if route.to.trim().is_empty() || !route.to.contains('@') {
                return Err(RouteError(format!(
                    "{:?}: `to` must be a mail address",
                    route.to
                )));
            }
            if route.numbers.is_empty() {
                return Err(RouteError(format!(
                    "the route to {} names no number",
                    route.to
                )));
            }
            for n in &route.numbers {
                matchers.push((matcher(n)?, i));
            }
        }
        Ok(DidRoutes {
            matchers,
            routes,
            catch_all: catch_all.filter(|c| !c.trim().is_empty()),
        })
    }

    /// The address that gets faxes dialled to `did`; `dialplan` gives its E.164 form.
    pub fn route(&self, did: &str, dialplan: &DialPlan) -> Option<&str> {
        self.route_listed(did, dialplan).or(self.catch_all())
    }

    /// Where faxes to numbers no route names go.
    pub fn catch_all(&self) -> Option<&str> {
        self.catch_all.as_deref()
    }

    /// The address a route names for `did`, the catch-all left out.
    pub fn route_listed(&self, did: &str, dialplan: &DialPlan) -> Option<&str> {
        let raw: String = did
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        let e164 = dialplan.normalize(did).ok().map(|n| n.as_str().to_string());
        let forms: Vec<&str> = [Some(raw.as_str()), e164.as_deref()]
            .into_iter()
            .flatten()
            .filter(|f| !f.is_empty())
            .collect();
        self.matchers
            .iter()
            .filter_map(|(m, i)| {
                forms
                    .iter()
                    .filter_map(|f| rank(m, f))
                    .min()
                    .map(|r| (r, *i))
            })
            .min()
            .map(|(_, i)| self.routes[i].to.as_str())
    }
}

fn matcher(n: &str) -> Result<Matcher, RouteError> {
    let n = n.trim();
    let is_number = |s: &str| {
        let digits = s.strip_prefix('+').unwrap_or(s);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if let Some((low, high)) = n.split_once('-') {
        let (low, high) = (low.trim(), high.trim());
        if is_number(low)
            && is_number(high)
            && low.len() == high.len()
            && low.starts_with('+') == high.starts_with('+')
            && low <= high
        {
            return Ok(Matcher::Range {
                low: low.into(),
                high: high.into(),
            });
        }
        return Err(RouteError(format!(
            "{n:?}: a range is two numbers of the same length, lowest first"
        )));
    }
    if is_number(n) {
        return Ok(Matcher::Exact(n.into()));
    }
    let as_pattern = if n.starts_with('+') {
        n.to_string()
    } else {
        format!("+{n}")
    };
    if valid_pattern(&as_pattern) {
        return Ok(Matcher::Pattern(n.into()));
    }
    Err(RouteError(format!(
        "{n:?} is not a number, a range (A-B) or a pattern (X for any digit, a final * for any continuation)"
    )))
}

fn rank(m: &Matcher, number: &str) -> Option<Rank> {
    match m {
        Matcher::Exact(n) => (n == number).then_some((false, 1, 0)),
        Matcher::Range { low, high } => {
            let fits = number.len() == low.len()
                && number.starts_with('+') == low.starts_with('+')
                && number >= low.as_str()
                && number <= high.as_str();
            let width = |s: &str| s.trim_start_matches('+').parse::<u128>().unwrap_or(0);
            fits.then(|| (false, width(high) - width(low) + 1, 0))
        }
        Matcher::Pattern(p) => {
            // dial-plan patterns are E.164 (`+…`); extension patterns are matched the same way
            let (p, n) = match (p.starts_with('+'), number.starts_with('+')) {
                (true, true) => (p.clone(), number.to_string()),
                (false, false) => (format!("+{p}"), format!("+{number}")),
                _ => return None,
            };
            pattern_matches(&p, &n).then(|| {
                let wild = p.bytes().filter(|b| matches!(b, b'X' | b'x')).count();
                let fixed = p.bytes().filter(u8::is_ascii_digit).count();
                if p.ends_with('*') {
                    (true, 0, usize::MAX - fixed)
                } else {
                    (false, 10u128.saturating_pow(wild as u32), 0)
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::DialPlanConfig;

    fn plan() -> DialPlan {
        DialPlan::new(DialPlanConfig::default()).unwrap()
    }

    fn route(numbers: &[&str], to: &str) -> Route {
        Route {
            numbers: numbers.iter().map(|s| s.to_string()).collect(),
            to: to.into(),
        }
    }

    #[test]
    fn the_most_specific_route_wins_wherever_it_is() {
        let routes = DidRoutes::new(
            vec![
                route(&["+3314200*"], "hq@example.com"),
                route(&["+33142000100-+33142000199"], "sales@example.com"),
                route(&["+3314200015X"], "sales-team-5@example.com"),
                route(&["+33142000155"], "boss@example.com"),
                route(&["2001"], "extension@example.com"),
            ],
            Some("fax@example.com".into()),
        )
        .unwrap();
        let p = plan();
        let to = |did: &str| routes.route(did, &p).unwrap().to_string();
        assert_eq!(to("+33142000155"), "boss@example.com");
        assert_eq!(to("+33142000154"), "sales-team-5@example.com");
        assert_eq!(to("+33142000123"), "sales@example.com");
        assert_eq!(to("+33142000999"), "hq@example.com");
        assert_eq!(to("2001"), "extension@example.com");
        // the number as dialled nationally is found by its E.164 form
        assert_eq!(to("0142000155"), "boss@example.com");
        assert_eq!(to("+33 1 42 00 01 23"), "sales@example.com");
        // no route: the catch-all
        assert_eq!(to("+33169293999"), "fax@example.com");
        assert_eq!(to(""), "fax@example.com");
        let none = DidRoutes::new(vec![], None).unwrap();
        assert_eq!(none.route("+33169293999", &p), None);
    }

    #[test]
    fn narrower_ranges_and_patterns_beat_wider_ones() {
        let routes = DidRoutes::new(
            vec![
                route(&["+33142000000-+33142000999"], "wide@example.com"),
                route(&["+33142000100-+33142000109"], "narrow@example.com"),
                route(&["+331420001XX"], "two-x@example.com"),
            ],
            None,
        )
        .unwrap();
        let p = plan();
        assert_eq!(routes.route("+33142000105", &p), Some("narrow@example.com"));
        assert_eq!(routes.route("+33142000155", &p), Some("two-x@example.com"));
        assert_eq!(routes.route("+33142000555", &p), Some("wide@example.com"));
    }

    #[test]
    fn bad_routes_are_refused_by_name() {
        for (numbers, to, words) in [
            (vec!["+33142000199-+33142000100"], "a@b", "lowest first"),
            (vec!["+3314200010-+33142000199"], "a@b", "same length"),
            (vec!["+3314200?"], "a@b", "not a number"),
            (vec![], "a@b", "names no number"),
            (vec!["+33142000100"], "nobody", "mail address"),
        ] {
            let err = DidRoutes::new(vec![route(&numbers, to)], None).unwrap_err();
            assert!(err.to_string().contains(words), "{err}");
            assert!(err.to_string().starts_with("inbound.routes: "), "{err}");
        }
    }
}
