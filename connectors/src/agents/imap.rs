//! Domino's gateway mail file over IMAP (filled in next).
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    pub host: String,
}
