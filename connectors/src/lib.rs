//! faxhub's mail side: the SMTP listener that accepts mail for the fax domains, the delivery
//! reports (`receipt`) and received faxes (`fax_mail`) faxhub writes, and the relay that takes
//! faxhub's own mail out (`relay`: SMTP with STARTTLS and AUTH, or a Maildir). Later: the other
//! transport agents (Exchange drop directory, GroupWise API gateway, Domino over IMAP, hot
//! folder). Every connector hands messages to `faxhub_queue::intake`, the one durable path, and
//! acknowledges only after it returns.

pub mod addressing;
pub mod agents;
pub mod broadcast;
pub mod compose;
pub mod directory;
pub mod fax_mail;
pub mod receipt;
pub mod relay;
pub mod smtp;
pub mod subject_numbers;

#[cfg(test)]
mod fuzz;
