//! Conversion failures and their one table of RFC 3463 codes. The `Display` text is what the
//! user reads in the queue listing and, later, in the receipt: it names the part and says why.
//!
//! The first digit says whose fault it is. 5: the document's own (damaged, protected, of a
//! kind faxhub cannot convert, too long, too slow to render within the time-outs): trying again
//! cannot help, the fax fails. 4: the server's trouble (a tool missing or killed by a signal, the
//! sandbox not working, a file that could not be read or written, the disk full, a panic caught
//! in a worker): the conversion is deferred and tried again (`is_temporary`).

use crate::exec::ExecError;
use faxhub_queue::EnhancedStatus;
use std::process::ExitStatus;
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
    /// `part` is the file with which the fax went past the limit (`pages` counts all the
    /// fax's pages up to it, where they were counted).
    #[error("{part}: with it the fax has {pages} pages, more than the {max} a fax may have here")]
    TooManyPages { part: String, pages: u32, max: u32 },
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
    #[error("{tool} stopped unexpectedly ({how})")]
    Crashed { tool: String, how: String },
    #[error("the fax server's document sandbox does not work: {0}")]
    Sandbox(String),
    #[error("the converted pages are not valid fax pages: {0}")]
    NotClassF(String),
    #[error("the fax server could not read or write its work files: {0}")]
    Io(String),
    #[error("the fax server's disk is full; it will try again ({0})")]
    StorageFull(String),
}

impl From<std::io::Error> for ConvertError {
    fn from(e: std::io::Error) -> ConvertError {
        match faxhub_queue::spool::is_full(&e) {
            true => ConvertError::StorageFull(e.to_string()),
            false => ConvertError::Io(e.to_string()),
        }
    }
}

impl From<ExecError> for ConvertError {
    fn from(e: ExecError) -> ConvertError {
        match e {
            ExecError::NotFound { tool } => ConvertError::ToolMissing { tool },
            // blamed on the document until the caller finds the part (`for_part`)
            ExecError::Timeout { tool, after } => ConvertError::Timeout {
                part: "the document".into(),
                tool,
                after,
            },
            // it could not be started (out of processes, descriptors or memory): not the
            // document's fault
            ExecError::Io { tool, source } => ConvertError::Crashed {
                tool,
                how: format!("it could not be started: {source}"),
            },
        }
    }
}

impl From<tokio::task::JoinError> for ConvertError {
    /// A worker thread that panicked (a decoder's bug) or was cancelled.
    fn from(e: tokio::task::JoinError) -> ConvertError {
        ConvertError::Crashed {
            tool: "faxhub's converter".into(),
            how: match e.is_panic() {
                true => "a panic, caught".into(),
                false => "cancelled".into(),
            },
        }
    }
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
            ConvertError::ToolMissing { .. }
            | ConvertError::Crashed { .. }
            | ConvertError::Sandbox(_)
            | ConvertError::Io(_) => EnhancedStatus::SYSTEM_TRANSIENT,
            ConvertError::StorageFull(_) => EnhancedStatus::SYSTEM_FULL,
        }
    }

    /// The failure in one word, for the metrics' labels.
    pub fn reason(&self) -> &'static str {
        match self {
            ConvertError::Unreadable => "unreadable",
            ConvertError::Empty => "empty",
            ConvertError::Unsupported { .. } => "unsupported",
            ConvertError::Damaged { .. } => "damaged",
            ConvertError::Encrypted { .. } => "encrypted",
            ConvertError::TooManyPages { .. } => "too_many_pages",
            ConvertError::Timeout { .. } => "timeout",
            ConvertError::ToolFailed { .. } => "tool_failed",
            ConvertError::ToolMissing { .. } => "tool_missing",
            ConvertError::Crashed { .. } => "crashed",
            ConvertError::Sandbox(_) => "sandbox",
            ConvertError::NotClassF(_) => "not_class_f",
            ConvertError::Io(_) => "io",
            ConvertError::StorageFull(_) => "storage_full",
        }
    }

    /// The same failure, or `StorageFull` if it came while the disk of `workdir` was (about)
    /// full: a tool that could not write its output says so in its own words.
    pub fn unless_full(self, workdir: &std::path::Path) -> ConvertError {
        match self.is_temporary() || !faxhub_queue::spool::low_on_space(workdir) {
            true => self,
            false => ConvertError::StorageFull(self.to_string()),
        }
    }

    /// Whether it is the server's trouble, not the document's: the conversion is tried again.
    pub fn is_temporary(&self) -> bool {
        !self.status().is_permanent()
    }

    /// `tool` ended with `status` without doing its work: killed by a signal is a crash (the
    /// kernel's OOM killer, a bug), except the CPU ceiling the sandbox set, which the document
    /// reached (SIGXCPU); an exit code is the tool's refusal of the document (`detail`). Under
    /// bubblewrap a signal comes as the exit code 128 + its number.
    pub fn exited(tool: &str, status: ExitStatus, detail: String) -> ConvertError {
        use std::os::unix::process::ExitStatusExt;
        let signal = status.signal().or_else(|| {
            status
                .code()
                .filter(|c| (129..160).contains(c))
                .map(|c| c - 128)
        });
        match signal {
            Some(sig) if sig != libc::SIGXCPU => ConvertError::Crashed {
                tool: tool.into(),
                how: format!("killed by signal {sig}"),
            },
            _ => ConvertError::ToolFailed {
                tool: tool.into(),
                detail,
            },
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
                    part: part(),
                    pages: 201,
                    max: 200,
                },
                "5.3.4",
            ),
            // the server's trouble: deferred
            (ConvertError::ToolMissing { tool: "gs".into() }, "4.3.0"),
            (ConvertError::Io("EIO".into()), "4.3.0"),
            (ConvertError::Sandbox("no user namespaces".into()), "4.3.0"),
            (
                ConvertError::Crashed {
                    tool: "gs".into(),
                    how: "killed by signal 9".into(),
                },
                "4.3.0",
            ),
            (ConvertError::StorageFull("ENOSPC".into()), "4.3.1"),
        ] {
            assert_eq!(err.status().to_string(), code, "{err}");
            assert_eq!(err.is_temporary(), code.starts_with('4'), "{err}");
        }
        let full = ConvertError::from(std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(matches!(full, ConvertError::StorageFull(_)), "{full:?}");
        let io = ConvertError::from(std::io::Error::from_raw_os_error(libc::EIO));
        assert!(matches!(io, ConvertError::Io(_)), "{io:?}");
    }

    #[test]
    fn a_tool_killed_by_a_signal_crashed_unless_the_document_spent_its_cpu() {
        use std::os::unix::process::ExitStatusExt;
        let detail = || "Error: /syntaxerror".to_string();
        let exited = |raw| ConvertError::exited("gs", ExitStatus::from_raw(raw), detail());
        // a plain exit code: the document was refused
        assert!(matches!(exited(1 << 8), ConvertError::ToolFailed { .. }));
        // killed directly (sandbox off), or through bubblewrap (128 + signal)
        for raw in [libc::SIGKILL, libc::SIGSEGV, (128 + libc::SIGKILL) << 8] {
            let e = exited(raw);
            assert!(e.is_temporary(), "{raw}: {e:?}");
            assert!(e.to_string().contains("killed by signal"), "{e}");
        }
        // the CPU ceiling: the document's doing
        for raw in [libc::SIGXCPU, (128 + libc::SIGXCPU) << 8] {
            assert!(!exited(raw).is_temporary(), "{raw}");
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
