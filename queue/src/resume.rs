//! Resuming a fax after a dropped call, as HylaFAX does: when a call ends with k of a
//! recipient's n pages confirmed, the next call sends pages k+1..n only, behind a continuation
//! page that says so. Pure: the attempt's numbers in, where the recipient stands out, and the
//! continuation page's words.
//!
//! Pages are counted in the recipient's own page set (its cover page included). A call that
//! resumed began with the continuation page: the far end's first confirmation is that page,
//! not one of the fax's. At least one page is always sent again (a call that confirmed every
//! page yet failed at the very end sends the last one again), and a fax is never resumed past
//! its end.

/// Where a recipient stands after one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// The fax's pages the far end has confirmed so far, over every call.
    pub confirmed: u32,
    /// Where the next call begins: pages already confirmed it skips (0: the whole fax).
    pub resume_from: u32,
}

/// After a call that began at page `first_page` (1, or k+1 behind a continuation page) of a
/// `total`-page fax and confirmed `call_confirmed` pages (the continuation page counted), with
/// `before` pages confirmed by earlier calls: where the recipient stands. `delivered`: the fax
/// went through; `resume`: a later call may resume (on by default, off for some numbers).
pub fn after_call(
    before: u32,
    first_page: u32,
    total: u32,
    call_confirmed: u32,
    delivered: bool,
    resume: bool,
) -> Standing {
    if delivered {
        return Standing {
            confirmed: total,
            resume_from: 0,
        };
    }
    let continuation = first_page > 1;
    let of_the_fax = call_confirmed.saturating_sub(u32::from(continuation));
    let confirmed = (first_page.max(1) - 1 + of_the_fax).max(before).min(total);
    Standing {
        confirmed,
        resume_from: match resume {
            true => confirmed.min(total.saturating_sub(1)),
            false => 0,
        },
    }
}

/// What the continuation page says.
pub struct Continuation<'a> {
    /// Pages already confirmed (the call resumes at `done + 1`).
    pub done: u32,
    pub total: u32,
    pub from: &'a str,
    pub subject: &'a str,
    /// When the fax was first sent, as it should read.
    pub sent: &'a str,
}

impl Continuation<'_> {
    /// The page's text, one line each (the sender's words cut to a line).
    pub fn text(&self) -> String {
        let line = |s: &str| -> String {
            let one: String = s.chars().filter(|c| !c.is_control()).take(80).collect();
            one.trim().to_string()
        };
        format!(
            "CONTINUED FAX\n\nPages {} to {} of {}\n\nFrom: {}\nSubject: {}\nFirst sent: {}\n\n\
             The call that carried pages 1 to {} was interrupted; this fax goes on from page {}.\n",
            self.done + 1,
            self.total,
            self.total,
            line(self.from),
            line(self.subject),
            line(self.sent),
            self.done,
            self.done + 1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_a_recipient_stands_after_a_call() {
        let s = |first: u32, total, confirmed, delivered, resume| {
            let before = first.saturating_sub(1);
            let s = after_call(before, first, total, confirmed, delivered, resume);
            (s.confirmed, s.resume_from)
        };
        // the first call cut after page 2 of 5: the next begins at page 3
        assert_eq!(s(1, 5, 2, false, true), (2, 2));
        // the second call (continuation page, pages 3..5) cut after the continuation page and
        // page 3: 3 confirmed, the next begins at page 4
        assert_eq!(s(3, 5, 2, false, true), (3, 3));
        // cut on the continuation page itself: nothing more of the fax
        assert_eq!(s(3, 5, 1, false, true), (2, 2));
        assert_eq!(s(3, 5, 0, false, true), (2, 2));
        // delivered: every page, nothing to resume
        assert_eq!(s(3, 5, 4, true, true), (5, 0));
        // every page confirmed but the call failed at its end: the last page again
        assert_eq!(s(1, 5, 5, false, true), (5, 4));
        // a far end that confirms more than was sent is not believed
        assert_eq!(s(3, 5, 99, false, true), (5, 4));
        // resume off for this number: the whole fax each time
        assert_eq!(s(1, 5, 2, false, false), (2, 0));
        // nothing confirmed, a degenerate first page
        assert_eq!(s(0, 5, 0, false, true), (0, 0));
        assert_eq!(s(1, 0, 0, false, true), (0, 0));
        // the whole fax sent again (no continuation could be made) and cut earlier than
        // before: what earlier calls confirmed still stands
        assert_eq!(
            after_call(3, 1, 5, 1, false, true),
            Standing {
                confirmed: 3,
                resume_from: 3
            }
        );
    }

    #[test]
    fn the_continuation_page_says_what_follows_in_the_senders_words_cut_to_a_line() {
        let text = Continuation {
            done: 2,
            total: 5,
            from: "Alice <alice@example.com>",
            subject: &format!("Quote\r\nBcc: x {}", "y".repeat(200)),
            sent: "2026-12-01 10:40",
        }
        .text();
        assert!(text.contains("Pages 3 to 5 of 5"), "{text}");
        assert!(text.contains("From: Alice <alice@example.com>\n"), "{text}");
        assert!(text.contains("Subject: QuoteBcc: x y"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        assert!(text.contains("pages 1 to 2 was interrupted"), "{text}");
    }
}
