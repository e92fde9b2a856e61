//! The wake-ups between the daemon's services, one named set shared by producers and
//! consumers: each `Notify` is named for the service it wakes, so both ends say the same thing.
//! A wake-up only shortens a wait: every service also looks on its own every so often (work
//! queued by another process, the CLI, is found that way), so a lost one delays, never loses.

use faxhub_queue::intake::Arrivals;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Wakeups {
    /// Work for the scheduler: jobs committed (the intake, for SMTP and the agents), counted so
    /// that the scheduler can tell when mail is arriving.
    pub scheduler: Arc<Arrivals>,
    /// Work for the reporter: an outcome recorded (the scheduler).
    pub reporter: Arc<Notify>,
    /// Work for the postman: mail queued in the outbox (the reporter, the inbound mailer).
    pub postman: Arc<Notify>,
}
