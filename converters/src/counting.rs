//! What conversions count in the metrics (`faxhub::metrics` describes them): each message
//! converted, by the kind of its documents and its result (`ok` or `ConvertError::reason`),
//! and how long it took.

use crate::ConvertError;
use crate::mime::{Document, Kind};
use std::time::Instant;

/// The kind of a message's documents for the metrics: theirs if all are of one kind, else
/// `mixed` (a text body is rendered as PostScript, and counts as such).
pub(crate) fn kind_of(docs: &[Document]) -> &'static str {
    let mut kinds = docs.iter().map(|d| match d.kind() {
        Kind::PostScript => "postscript",
        Kind::Pdf => "pdf",
        Kind::Image => "image",
        Kind::Office => "office",
        Kind::Html => "html",
    });
    let first = kinds.next().unwrap_or("none");
    match kinds.all(|k| k == first) {
        true => first,
        false => "mixed",
    }
}

/// Counts a failed conversion (its kind, its reason and how long it took) and gives it back.
pub(crate) fn counted(kind: &'static str, started: Instant, e: ConvertError) -> ConvertError {
    metrics::counter!("faxhub_conversions_total", "kind" => kind, "result" => e.reason())
        .increment(1);
    metrics::histogram!("faxhub_conversion_duration_seconds", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
    e
}

/// A message converted, counted.
pub(crate) fn converted(kind: &'static str, started: Instant) {
    metrics::counter!("faxhub_conversions_total", "kind" => kind, "result" => "ok").increment(1);
    metrics::histogram!("faxhub_conversion_duration_seconds", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_of_its_documents_kind_or_mixed() {
        let doc = |kind| Document::new("d".into(), kind, Vec::new());
        assert_eq!(kind_of(&[]), "none");
        assert_eq!(kind_of(&[doc(Kind::Pdf), doc(Kind::Pdf)]), "pdf");
        assert_eq!(kind_of(&[doc(Kind::PostScript)]), "postscript");
        assert_eq!(kind_of(&[doc(Kind::Pdf), doc(Kind::Image)]), "mixed");
    }
}
