//! Telling the other nodes there is something for them (PostgreSQL's NOTIFY on `CHANNEL`):
//! "work N NODE" (N jobs accepted by NODE), "work" (a job to convert or call), "outcome"
//! (something to report), "mail" (for the postman).
//!
//! After the commit, in statements of their own: NOTIFY inside a transaction would hold
//! PostgreSQL's one notification lock through that transaction's commit, and every node's
//! commits would take turns. In the background, so that no caller (the intake's 250s) waits,
//! and coalesced: the first tidings go at once, those that come within `SPACING` after go
//! together at its end (a flood's hundreds of commits a second cost the database and every
//! other node a few notifications, not one each). A notice lost to a crash only delays: every
//! node also polls. Only PostgreSQL has nodes to tell.

use super::{Backend, Store, cluster};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// After telling, tidings wait this long to be told together.
const SPACING: Duration = Duration::from_millis(25);

/// What there is to tell.
#[derive(Clone, Copy, Debug)]
pub(super) enum Tiding {
    /// Jobs this node accepted.
    Jobs(u64),
    Work,
    Outcome,
    Mail,
}

/// Tidings not yet told, and whether a task is telling.
#[derive(Default)]
pub(super) struct Tidings {
    jobs: u64,
    work: bool,
    outcome: bool,
    mail: bool,
    telling: bool,
}

impl Tidings {
    fn add(&mut self, tiding: Tiding) {
        match tiding {
            Tiding::Jobs(n) => self.jobs += n,
            Tiding::Work => self.work = true,
            Tiding::Outcome => self.outcome = true,
            Tiding::Mail => self.mail = true,
        }
    }

    /// The payloads to send for what is held (which is then cleared).
    fn take(&mut self, node: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.jobs > 0 {
            // wakes the scheduler as "work" does
            out.push(format!("work {} {node}", self.jobs));
        } else if self.work {
            out.push("work".into());
        }
        if self.outcome {
            out.push("outcome".into());
        }
        if self.mail {
            out.push("mail".into());
        }
        (self.jobs, self.work, self.outcome, self.mail) = (0, false, false, false);
        out
    }
}

impl Store {
    /// Tells the other nodes `tiding`, soon (see the module's contract).
    pub(super) async fn tell(&self, tiding: Tiding) {
        if self.backend != Backend::Postgres {
            return;
        }
        {
            let mut held = self.tidings.lock().expect("tidings lock");
            held.add(tiding);
            if held.telling {
                return;
            }
            held.telling = true;
        }
        let (writer, node, tidings) =
            (self.writer.clone(), self.node.clone(), self.tidings.clone());
        tokio::spawn(tell_while_any(writer, node, tidings));
    }
}

/// Sends what is held, then again after `SPACING` while more came meanwhile.
async fn tell_while_any(writer: sqlx::AnyPool, node: Arc<str>, tidings: Arc<Mutex<Tidings>>) {
    loop {
        let payloads = {
            let mut held = tidings.lock().expect("tidings lock");
            let payloads = held.take(&node);
            if payloads.is_empty() {
                held.telling = false;
                return;
            }
            payloads
        };
        for payload in payloads {
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(cluster::CHANNEL)
                .bind(&payload)
                .execute(&writer)
                .await
            {
                tracing::debug!(error = %e, "could not tell the other nodes; they will find it polling");
            }
        }
        tokio::time::sleep(SPACING).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidings_held_together_make_one_payload_each() {
        let mut held = Tidings::default();
        assert!(held.take("a").is_empty());
        for t in [
            Tiding::Jobs(3),
            Tiding::Work,
            Tiding::Jobs(2),
            Tiding::Mail,
            Tiding::Mail,
        ] {
            held.add(t);
        }
        assert_eq!(held.take("a"), ["work 5 a", "mail"]);
        assert!(held.take("a").is_empty(), "cleared");
        held.add(Tiding::Outcome);
        held.add(Tiding::Work);
        assert_eq!(held.take("a"), ["work", "outcome"]);
    }
}
