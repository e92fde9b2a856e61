//! Conversion failures and their one table of RFC 3463 codes. The `Display` text is what the
//! user reads in the queue listing and, later, in the receipt: it names the part and says why.

use faxhub_queue::EnhancedStatus;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error("the message could not be read as e-mail")]
    Unreadable,
    #[error("the message has nothing to fax: no text and no attachment")]
    Empty,
    #[error("{part}: files of this type ({mime}) can't be faxed yet")]
    Unsupported { part: String, mime: String },
    #[error("{part}: the file is damaged and could not be opened ({detail})")]
    Damaged { part: String, detail: String },
    #[error("{part}: the file is protected by a password")]
    Encrypted { part: String },
    #[error("the document has {pages} pages, more than the {max} a fax may have here")]
    TooManyPages { pages: u32, max: u32 },
    #[error("{part}: {tool} took longer than {after:?} to convert it")]
    Timeout {
        part: String,
        tool: String,
        after: Duration,
    },
    #[error("{tool} could not convert the document: {detail}")]
    ToolFailed { tool: String, detail: String },
    #[error("{tool} is not installed on the fax server")]
    ToolMissing { tool: String },
    #[error("the fax server's document sandbox does not work: {0}")]
    Sandbox(String),
    #[error("the converted pages are not valid fax pages: {0}")]
    NotClassF(String),
    #[error("the fax server could not read or write its work files: {0}")]
    Io(String),
}

impl ConvertError {
    /// The one table from conversion failure to RFC 3463 code.
    pub fn status(&self) -> EnhancedStatus {
        match self {
            ConvertError::Unreadable | ConvertError::Empty => EnhancedStatus::MEDIA,
            ConvertError::Unsupported { .. } => EnhancedStatus::CONVERSION_UNSUPPORTED,
            ConvertError::Damaged { .. }
            | ConvertError::Encrypted { .. }
            | ConvertError::Timeout { .. }
            | ConvertError::ToolFailed { .. }
            | ConvertError::NotClassF(_) => EnhancedStatus::CONVERSION_FAILED,
            ConvertError::TooManyPages { .. } => EnhancedStatus::TOO_BIG,
            ConvertError::ToolMissing { .. } | ConvertError::Sandbox(_) | ConvertError::Io(_) => {
                EnhancedStatus::new(5, 3, 0)
            }
        }
    }

    /// The same failure, blamed on a named part (when one part alone reproduces it).
    pub(crate) fn for_part(self, part: &str) -> ConvertError {
        match self {
            ConvertError::ToolFailed { detail, .. } if detail.contains("assword") => {
                ConvertError::Encrypted {
                    part: part.to_string(),
                }
            }
            ConvertError::ToolFailed { detail, .. } => ConvertError::Damaged {
                part: part.to_string(),
                detail,
            },
            ConvertError::Timeout { tool, after, .. } => ConvertError::Timeout {
                part: part.to_string(),
                tool,
                after,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let part = || "report.pdf".to_string();
        for (err, code) in [
            (ConvertError::Empty, "5.6.0"),
            (
                ConvertError::Unsupported {
                    part: part(),
                    mime: "application/msword".into(),
                },
                "5.6.3",
            ),
            (
                ConvertError::Damaged {
                    part: part(),
                    detail: "x".into(),
                },
                "5.6.5",
            ),
            (
                ConvertError::TooManyPages {
                    pages: 201,
                    max: 200,
                },
                "5.3.4",
            ),
            (ConvertError::ToolMissing { tool: "gs".into() }, "5.3.0"),
        ] {
            assert_eq!(err.status().to_string(), code, "{err}");
        }
    }

    #[test]
    fn blame_names_the_part() {
        let failed = ConvertError::ToolFailed {
            tool: "gs".into(),
            detail: "Error: /syntaxerror".into(),
        };
        assert_eq!(
            failed.for_part("scan.pdf").to_string(),
            "scan.pdf: the file is damaged and could not be opened (Error: /syntaxerror)"
        );
        let locked = ConvertError::ToolFailed {
            tool: "gs".into(),
            detail: "This file requires a password for access.".into(),
        };
        assert_eq!(
            locked.for_part("secret.pdf").to_string(),
            "secret.pdf: the file is protected by a password"
        );
    }
}
