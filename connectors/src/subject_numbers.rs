//! The numbers in a Subject: a mail to one of the shared addresses of `[smtp]
//! subject_addresses` (`fax@fax.example.com`) names its numbers after `Fax:` in its Subject
//! (`Invoice March Fax: 01 69 29 39 99, +44 20 7946 0000`), as a user of a mail program that
//! cannot address a number writes them. Each number is then checked by the same parser and dial
//! plan as an address (`Addressing::recipient`); the rest of the Subject is the fax's subject.
//!
//! A list is `Fax:` (any case, `Telefax:` too), then numbers separated by `,` or `;`; a number
//! is digits with the separators people write (spaces, `+`, `-`, `.`, `/`, brackets), at least
//! three digits. The list ends where something else begins. Pure, and linear in the Subject.

/// What a Subject says: the numbers as written, and the Subject without them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectNumbers {
    pub numbers: Vec<String>,
    pub rest: String,
}

/// The numbers the Subject lists after `Fax:`; `None` if it has no such list.
pub fn find(subject: &str) -> Option<SubjectNumbers> {
    let lower = subject.to_ascii_lowercase();
    let (start, list_at) = keyword(&lower)?;
    let mut numbers = Vec::new();
    let mut at = list_at;
    loop {
        let item = &subject[at..];
        let run = item
            .find(|c: char| !is_number_char(c))
            .map_or(item, |end| &item[..end]);
        let run = balanced(run);
        let number = run.trim();
        if number.chars().filter(char::is_ascii_digit).count() < 3 {
            break;
        }
        numbers.push(number.to_string());
        at += run.len();
        let after = &subject[at..];
        let next = after.trim_start();
        match next.strip_prefix([',', ';']) {
            Some(more) => at = subject.len() - more.len(),
            None => break,
        }
    }
    if numbers.is_empty() {
        return None;
    }
    let before = subject[..start]
        .trim_end()
        .trim_end_matches(['[', '(', '-', '|']);
    let after = subject[at..]
        .trim_start()
        .trim_start_matches([']', ')', '-', ':', '|', ',', ';']);
    let rest = format!("{before} {after}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Some(SubjectNumbers { numbers, rest })
}

/// Where the `fax:` keyword starts in `lower`, and where its list starts (past the colon).
fn keyword(lower: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(found) = lower[from..].find("fax") {
        let start = from + found;
        let after = &lower[start + 3..];
        let trimmed = after.trim_start();
        if let Some(list) = trimmed.strip_prefix(':') {
            let word_start = lower[..start]
                .char_indices()
                .rev()
                .find(|(_, c)| !c.is_ascii_alphabetic())
                .map_or(0, |(i, c)| i + c.len_utf8());
            let word = &lower[word_start..start];
            if word.is_empty() || word == "tele" {
                return Some((word_start, lower.len() - list.len()));
            }
        }
        from = start + 3;
    }
    None
}

fn is_number_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '.' | '/' | '(' | ')')
}

/// `run` without a closing bracket it did not open (the end of `(Fax: 0169293999)`), and
/// without the separators it ends with.
fn balanced(run: &str) -> &str {
    let mut depth = 0i32;
    for (i, c) in run.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return &run[..i],
            ')' => depth -= 1,
            _ => {}
        }
    }
    run.trim_end_matches([' ', '-', '.', '/', '('])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(subject: &str) -> Option<(Vec<&str>, String)> {
        let found = find(subject)?;
        let numbers = found.numbers.iter().map(|n| {
            subject
                .find(n.as_str())
                .map(|i| &subject[i..i + n.len()])
                .unwrap()
        });
        Some((numbers.collect(), found.rest))
    }

    #[test]
    fn the_list_after_fax_is_read_and_the_rest_is_the_subject() {
        for (subject, want, rest) in [
            ("Fax: 01 69 29 39 99", vec!["01 69 29 39 99"], ""),
            (
                "Invoice March Fax: 01 69 29 39 99, +44 20 7946 0000",
                vec!["01 69 29 39 99", "+44 20 7946 0000"],
                "Invoice March",
            ),
            (
                "fax:0169293999;0169293998 Order 42",
                vec!["0169293999", "0169293998"],
                "Order 42",
            ),
            (
                "[FAX: +33 (0)1 69 29 39 99] Contract",
                vec!["+33 (0)1 69 29 39 99"],
                "Contract",
            ),
            (
                "Contract (Fax: 01.69.29.39.99)",
                vec!["01.69.29.39.99"],
                "Contract",
            ),
            (
                "Telefax : 030/1234567 - Angebot",
                vec!["030/1234567"],
                "Angebot",
            ),
            (
                "RE: Fax: 0169293999, and more",
                vec!["0169293999"],
                "RE: and more",
            ),
        ] {
            let (got, got_rest) = numbers(subject).unwrap_or_else(|| panic!("{subject}"));
            assert_eq!(got, want, "{subject}");
            assert_eq!(got_rest, rest, "{subject}");
        }
    }

    #[test]
    fn no_list_no_numbers() {
        for subject in [
            "",
            "Invoice March",
            "Fax: please call me",
            "Fax: 12",
            "faxes: 0169293999",
            "Telefaxnummer: 0169293999",
            "Fax 0169293999",
            "fax",
            "Fax:",
            "Fax: ,,,;;;",
        ] {
            assert_eq!(find(subject), None, "{subject}");
        }
    }

    #[test]
    fn any_subject_is_read_in_one_pass_without_panicking() {
        let long = format!("Fax: {}", "01 69 29 39 99, ".repeat(10_000));
        assert_eq!(find(&long).unwrap().numbers.len(), 10_000);
        for subject in [
            "Fax: 0169293999 é",
            "Fax:)))123(((",
            "ÉFax: 0169293999",
            "fax:fax:fax:",
        ] {
            let _ = find(subject);
        }
    }
}
