//! faxhub's mail side. Now: the SMTP listener that accepts mail for the fax domains. Later: the
//! receipt sender and the other transport agents (Exchange drop directory, GroupWise API gateway,
//! Domino over IMAP, hot folder). Every connector hands messages to `faxhub_queue::intake`, the one
//! durable path, and acknowledges only after it returns.

pub mod smtp;
