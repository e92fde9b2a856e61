//! Received faxes to mailboxes: `[inbound]` (the DID routing table) and the mailer that, told by
//! the inbox of each reception (and every few seconds, for what arrived while it was down),
//! turns each recorded fax into a mail to the owner of the number dialled (the PDF, or the TIFF
//! as received) and queues it in the outbox under the fax's id, once: a fax already in the
//! outbox is never mailed again. A fax with no pages (a failed call) is only logged, unless
//! `mail_failed`; a number no route names and no catch-all is logged and stays in the inbox.

use crate::wakeups::Wakeups;
use faxhub_connectors::fax_mail::FaxMail;
use faxhub_connectors::receipt::Language;
use faxhub_lines::inbox::{Inbox, Received};
use faxhub_queue::clock::Clock;
use faxhub_queue::dialplan::DialPlan;
use faxhub_queue::did::{DidRoutes, Route};
use faxhub_queue::job::Route as MailRoute;
use faxhub_queue::spool::Spool;
use faxhub_queue::store::events::{Event, EventType};
use faxhub_queue::store::{MailKind, NewMail, Store};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::watch;

/// How often the inbox is looked at without being told.
const POLL: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Where a fax to a number no route names goes.
    pub catch_all: Option<String>,
    /// "pdf" or "tiff" (the pages as received).
    pub attach: InboundAttach,
    /// The mails' language (default: `receipts.language`).
    pub language: Option<Language>,
    /// The From: of the mails (default `fax@<smtp.hostname>`).
    pub from: Option<String>,
    pub from_name: String,
    /// Also mail receptions that brought no page (a caller who hung up).
    pub mail_failed: bool,
    /// How the mails leave: "relay" (the SMTP relay, or the Maildir), "exchange" (the Replay
    /// directory of `[exchange]`) or "groupwise" (`API_IN` of `[groupwise]`).
    pub via: MailRoute,
    pub routes: Vec<RouteConfig>,
    /// Routes by the sending machine's ident (TSI), before the numbers' routes.
    pub ident_routes: Vec<IdentRoute>,
}

/// One `[[inbound.ident_routes]]` entry: faxes whose sender's ident matches one of `idents`
/// (spaces and case ignored, `*` any run) go to `to`, whatever number they dialled. The
/// ident is the sender's say-so: route convenience, not a proof of who sent it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentRoute {
    pub idents: Vec<String>,
    pub to: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub numbers: Vec<String>,
    pub to: String,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InboundAttach {
    #[default]
    Pdf,
    Tiff,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            catch_all: Some("fax@localhost".into()),
            attach: InboundAttach::Pdf,
            language: None,
            from: None,
            from_name: "Fax".into(),
            mail_failed: false,
            via: MailRoute::Relay,
            routes: Vec::new(),
            ident_routes: Vec::new(),
        }
    }
}

impl InboundConfig {
    /// Problems with `ident_routes`, none if they are fit to use.
    pub fn ident_route_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, r) in self.ident_routes.iter().enumerate() {
            let at = format!("inbound.ident_routes[{i}]");
            if r.idents.is_empty()
                || !r
                    .idents
                    .iter()
                    .all(|p| faxhub_queue::junk::valid_ident_pattern(p))
            {
                out.push(format!(
                    "{at}.idents: name 1 to 40 printable ASCII characters each (\"ACME SUPPLIES*\")"
                ));
            }
            if faxhub_queue::senders::mailbox(&r.to).is_none() {
                out.push(format!("{at}.to: {:?} is not a mail address", r.to));
            }
        }
        out
    }

    pub fn routes(&self) -> Result<DidRoutes, String> {
        DidRoutes::new(
            self.routes
                .iter()
                .map(|r| Route {
                    numbers: r.numbers.clone(),
                    to: r.to.clone(),
                })
                .collect(),
            self.catch_all.clone(),
        )
        .map_err(|e| e.to_string())
    }
}

#[derive(Clone)]
pub struct Mailer {
    pub store: Store,
    pub spool: Spool,
    pub inbox: Inbox,
    pub config: InboundConfig,
    /// Who owns each number: the routes, the directory, the catch-all.
    pub owners: crate::owners::Owners,
    pub dialplan: DialPlan,
    pub language: Language,
    pub hostname: String,
    /// Told when a received fax is queued as mail (`postman`).
    pub wakeups: Wakeups,
    /// Where `now` comes from.
    pub clock: Clock,
}

impl Mailer {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let arrivals = self.inbox.arrivals();
        // faxes already mailed (or decided about) in this run or an earlier one
        let mut done: HashSet<String> = match self.store.mail_ids(MailKind::Fax).await {
            Ok(ids) => ids.into_iter().collect(),
            Err(e) => {
                tracing::error!(error = %e, "inbound: cannot read the outbox; received faxes are not mailed");
                return;
            }
        };
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.inbox.ids() {
                Ok(ids) => {
                    for id in ids {
                        let mail_id = format!("fax-{id}");
                        if done.contains(&mail_id) {
                            continue;
                        }
                        match self.mail(&id, &mail_id).await {
                            Ok(()) => {
                                done.insert(mail_id);
                            }
                            Err(e) => {
                                tracing::error!(fax = %id, error = %e, "a received fax could not be mailed; trying again later")
                            }
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "inbound: cannot list the inbox"),
            }
            tokio::select! {
                _ = arrivals.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Mails reception `id` (or decides not to, and remembers that by its outbox row).
    async fn mail(&self, id: &str, mail_id: &str) -> Result<(), String> {
        let received = self.inbox.read(id).map_err(|e| e.to_string())?;
        // the directory unreachable and never read: the fax waits, mailed on a later round
        let owner = self
            .owners
            .owner_of(&received.did, received.remote_ident.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        // told once whatever the tries: the event's id is the reception's
        let event = Event {
            kind: EventType::Received,
            id: format!("msg_received_{id}"),
            data: serde_json::json!({
                "id": received.id, "received_at": received.received_at, "caller": received.caller,
                "did": received.did, "to": owner, "remote_ident": received.remote_ident,
                "pages": received.pages, "complete": received.complete, "result": received.result,
                "transport": received.transport, "blocked": received.blocked,
            }),
        };
        self.store
            .add_event(&event, self.clock.now_ms())
            .await
            .map_err(|e| e.to_string())?;
        if let Some(why) = &received.blocked {
            tracing::info!(fax = %id, did = %received.did, caller = ?received.caller, why = %why, "blocked by a junk-fax rule: not mailed (faxhub inbox --blocked)");
            return Ok(());
        }
        let Some(to) = owner.as_deref() else {
            tracing::warn!(fax = %id, did = %received.did, "no mailbox for the number dialled (no route, no catch_all): the fax stays in the inbox");
            return Ok(());
        };
        if received.tiff.is_none() && !self.config.mail_failed {
            tracing::info!(fax = %id, did = %received.did, result = %received.result, "reception brought no page: not mailed");
            return Ok(());
        }
        if self.queue_fax_mail(&received, to, mail_id).await? {
            tracing::info!(fax = %id, did = %received.did, to = %to, pages = received.pages, "received fax queued for its mailbox");
        }
        Ok(())
    }

    /// Forwards reception `id` by mail to `to` (a user's choice in the web client), under a
    /// fresh mail id.
    pub async fn forward(&self, id: &str, to: &str) -> Result<(), String> {
        let received = self.inbox.read(id).map_err(|e| e.to_string())?;
        let mail_id = format!("fwd-{id}-{}", crate::http::token::random_hex(6));
        self.queue_fax_mail(&received, to, &mail_id).await?;
        Ok(())
    }

    /// Queues the mail of `received` to `to` in the outbox under `mail_id`: false if one with
    /// that id was there already.
    async fn queue_fax_mail(
        &self,
        received: &Received,
        to: &str,
        mail_id: &str,
    ) -> Result<bool, String> {
        let id = &received.id;
        let to = to.to_string();
        let tiff = received.tiff.as_ref().map(|t| self.inbox.dir().join(t));
        let attach = self.config.attach;
        let attachment = match tiff {
            Some(path) => {
                let name = id.clone();
                tokio::task::spawn_blocking(move || attachment(&path, &name, attach))
                    .await
                    .map_err(|e| e.to_string())??
            }
            None => None,
        };
        let mail = self.fax_mail(received, &to, attachment);
        let subject = mail.subject();
        let message = mail.build();
        let rel = Spool::mail_rel(mail_id);
        self.spool
            .write_durable_async(&rel, message)
            .await
            .map_err(|e| format!("writing {rel}: {e}"))?;
        let queued = self
            .store
            .queue_mail(&NewMail {
                id: mail_id.to_string(),
                kind: MailKind::Fax,
                job_id: None,
                mail_from: String::new(),
                rcpt_to: to.clone(),
                path: rel,
                created_at_ms: self.clock.now_ms(),
                route: self.config.via,
            })
            .await
            .map_err(|e| e.to_string())?;
        if queued {
            tracing::debug!(fax = %id, to = %to, subject = %subject, "a received fax's mail queued");
            self.wakeups.postman.notify_one();
        }
        Ok(queued)
    }

    fn fax_mail(
        &self,
        r: &Received,
        to: &str,
        attachment: Option<(String, String, Vec<u8>)>,
    ) -> FaxMail {
        let received_at = chrono::DateTime::parse_from_rfc3339(&r.received_at)
            .map(|t| t.with_timezone(&chrono::Local).fixed_offset())
            .unwrap_or_else(|_| chrono::Local::now().fixed_offset());
        FaxMail {
            language: self.language,
            hostname: self.hostname.clone(),
            from: (
                self.config.from_name.clone(),
                self.config
                    .from
                    .clone()
                    .unwrap_or_else(|| format!("fax@{}", self.hostname)),
            ),
            to: to.to_string(),
            id: r.id.clone(),
            received_at,
            caller: r.caller.clone(),
            did: r.did.clone(),
            remote_ident: r.remote_ident.clone(),
            pages: r.pages,
            duration_seconds: r.duration_seconds,
            bit_rate: r.bit_rate,
            ecm: r.ecm,
            transport: r.transport.clone(),
            bad_rows: r.bad_rows,
            complete: r.complete,
            result: r.result.clone(),
            attachment,
        }
    }
}

/// The pages as the mail carries them: a PDF made from the TIFF, or the TIFF itself (also when
/// it cannot be made a PDF: the fax is never held back).
fn attachment(
    tiff: &std::path::Path,
    id: &str,
    attach: InboundAttach,
) -> Result<Option<(String, String, Vec<u8>)>, String> {
    let bytes = std::fs::read(tiff).map_err(|e| format!("reading {}: {e}", tiff.display()))?;
    let as_tiff = |bytes| Some((format!("fax-{id}.tif"), "image/tiff".to_string(), bytes));
    if attach == InboundAttach::Tiff {
        return Ok(as_tiff(bytes));
    }
    match faxhub_converters::received::pdf(&bytes) {
        Ok(pdf) => Ok(Some((
            format!("fax-{id}.pdf"),
            "application/pdf".into(),
            pdf,
        ))),
        Err(e) => {
            tracing::warn!(fax = %id, error = %e, "the received fax cannot be made a PDF: it is mailed as TIFF");
            Ok(as_tiff(bytes))
        }
    }
}
