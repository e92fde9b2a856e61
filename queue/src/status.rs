//! RFC 3463 enhanced status codes.
//!
//! Every outcome in faxhub carries one `EnhancedStatus`; its class digit alone decides what
//! happens next: 2 delivered, 4 retry (persistent transient), 5 fail (permanent). Subsystems map
//! their own causes (SMTP checks, converter errors, line results) to codes in one table each.

use std::fmt;
use std::str::FromStr;

/// An RFC 3463 `class.subject.detail` code, e.g. `4.4.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedStatus {
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        EnhancedStatus {
            class,
            subject,
            detail,
        }
    }

    /// 2.0.0: delivered.
    pub const OK: EnhancedStatus = EnhancedStatus::new(2, 0, 0);
    /// 4.4.1: no answer from host (busy, no answer).
    pub const BUSY: EnhancedStatus = EnhancedStatus::new(4, 4, 1);
    /// 4.4.2: bad connection (call dropped, training failed).
    pub const BAD_CONNECTION: EnhancedStatus = EnhancedStatus::new(4, 4, 2);
    /// 4.4.7: delivery time expired / attempt interrupted.
    pub const EXPIRED: EnhancedStatus = EnhancedStatus::new(4, 4, 7);
    /// 5.1.3: bad destination mailbox address syntax (malformed number).
    pub const BAD_NUMBER: EnhancedStatus = EnhancedStatus::new(5, 1, 3);
    /// 5.3.4: message too big for system.
    pub const TOO_BIG: EnhancedStatus = EnhancedStatus::new(5, 3, 4);
    /// 5.6.0: other or undefined media error.
    pub const MEDIA: EnhancedStatus = EnhancedStatus::new(5, 6, 0);
    /// 5.6.3: conversion required but not supported.
    pub const CONVERSION_UNSUPPORTED: EnhancedStatus = EnhancedStatus::new(5, 6, 3);
    /// 5.6.5: conversion failed.
    pub const CONVERSION_FAILED: EnhancedStatus = EnhancedStatus::new(5, 6, 5);
    /// 5.7.1: delivery not authorized.
    pub const NOT_AUTHORIZED: EnhancedStatus = EnhancedStatus::new(5, 7, 1);
    /// 5.1.1: bad destination (an unallocated or invalid number).
    pub const NO_SUCH_NUMBER: EnhancedStatus = EnhancedStatus::new(5, 1, 1);
    /// 4.2.2: mailbox full (the far machine is out of paper or memory, or not ready).
    pub const REMOTE_NOT_READY: EnhancedStatus = EnhancedStatus::new(4, 2, 2);
    /// 4.4.5: system congestion (the network has no circuit now).
    pub const CONGESTION: EnhancedStatus = EnhancedStatus::new(4, 4, 5);
    /// 4.4.0: other or undefined network or routing status.
    pub const NETWORK: EnhancedStatus = EnhancedStatus::new(4, 4, 0);
    /// 5.6.1: media not supported (the far machine cannot take these pages).
    pub const MEDIA_UNSUPPORTED: EnhancedStatus = EnhancedStatus::new(5, 6, 1);
    /// 5.0.0: other or undefined permanent status (an operator cancelled the fax).
    pub const CANCELLED: EnhancedStatus = EnhancedStatus::new(5, 0, 0);
    /// 4.3.0: other or undefined mail system status (local trouble, retry).
    pub const SYSTEM_TRANSIENT: EnhancedStatus = EnhancedStatus::new(4, 3, 0);
    /// 4.3.1: mail system full (the spool's disk is full, retry).
    pub const SYSTEM_FULL: EnhancedStatus = EnhancedStatus::new(4, 3, 1);
    /// 4.4.3: directory server failure (the directory cannot say who may fax, retry).
    pub const DIRECTORY_DOWN: EnhancedStatus = EnhancedStatus::new(4, 4, 3);

    pub fn is_success(self) -> bool {
        self.class == 2
    }
    pub fn is_transient(self) -> bool {
        self.class == 4
    }
    pub fn is_permanent(self) -> bool {
        self.class == 5
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an RFC 3463 status code: {0:?}")]
pub struct ParseStatusError(pub String);

impl FromStr for EnhancedStatus {
    type Err = ParseStatusError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseStatusError(s.to_string());
        let mut it = s.split('.');
        let class: u8 = it.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let subject: u16 = it.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let detail: u16 = it.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if it.next().is_some() || !matches!(class, 2 | 4 | 5) || subject > 999 || detail > 999 {
            return Err(bad());
        }
        Ok(EnhancedStatus {
            class,
            subject,
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_round_trip() {
        for (text, ok) in [
            ("2.0.0", true),
            ("4.4.1", true),
            ("5.1.3", true),
            ("5.7.1", true),
            ("3.0.0", false),
            ("5.1", false),
            ("5.1.3.4", false),
            ("x.1.3", false),
            ("", false),
        ] {
            let parsed = text.parse::<EnhancedStatus>();
            assert_eq!(parsed.is_ok(), ok, "{text}");
            if let Ok(code) = parsed {
                assert_eq!(code.to_string(), text);
            }
        }
    }

    #[test]
    fn class_decides() {
        assert!(EnhancedStatus::OK.is_success());
        assert!(EnhancedStatus::BUSY.is_transient());
        assert!(EnhancedStatus::BAD_NUMBER.is_permanent());
        assert!(!EnhancedStatus::BUSY.is_permanent());
    }
}
