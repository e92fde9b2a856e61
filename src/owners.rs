//! Who gets a received fax: the first `[[inbound.ident_routes]]` that matches the sending
//! machine's ident (a supplier's faxes to accounting, whatever number they dial), else the owner
//! of the number dialled.
//!
//! Who owns a fax number dialled to us (the DID): the `[inbound] routes` that name it, else the
//! directory's user whose fax number it is (`[ldap] fax_attribute`), else the catch-all. Used by
//! the mailer of received faxes and by `GET /v1/inbox` (a token bound to a sender sees what its
//! numbers received).
//!
//! The directory's numbers are read together (they cannot be searched by equality) and kept
//! `cache_ttl`; each is read through the dial plan, so `+33 1 42 00 01 55`, `01 42 00 01 55` and
//! `0033142000155` are one number. While the directory cannot be reached, the numbers read last
//! are used; with none read yet, the answer is a temporary fault (the fax waits in the inbox
//! and is mailed later: nothing is lost).

use faxhub_connectors::directory::{Directory, DirectoryError};
use faxhub_queue::dialplan::DialPlan;
use faxhub_queue::did::DidRoutes;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Clone)]
pub struct Owners {
    /// `[[inbound.ident_routes]]`: faxes from these machines (by TSI) go to one address,
    /// whatever number they dialled.
    ident_routes: Arc<[crate::inbound::IdentRoute]>,
    routes: DidRoutes,
    dialplan: DialPlan,
    directory: Option<Arc<DirectoryNumbers>>,
}

/// The directory's fax numbers (E.164 -> mail address), as read last.
struct DirectoryNumbers {
    directory: Directory,
    read: Mutex<Option<Read>>,
}

struct Read {
    numbers: HashMap<String, String>,
    /// When to read them again.
    until: Instant,
}

/// After a failed read, how long the numbers read before are used before the next try.
const RETRY: std::time::Duration = std::time::Duration::from_secs(30);

impl Owners {
    pub fn new(routes: DidRoutes, dialplan: DialPlan, directory: Option<Directory>) -> Owners {
        Owners {
            ident_routes: Arc::new([]),
            routes,
            dialplan,
            directory: directory.map(|directory| {
                Arc::new(DirectoryNumbers {
                    directory,
                    read: Mutex::new(None),
                })
            }),
        }
    }

    /// Routes faxes by the sending machine's ident as well (`[[inbound.ident_routes]]`).
    pub fn with_ident_routes(mut self, routes: &[crate::inbound::IdentRoute]) -> Owners {
        self.ident_routes = routes.into();
        self
    }

    /// The address that gets a fax received from `remote_ident` at `did`: the first ident
    /// route that matches its ident, else the owner of `did`.
    pub async fn owner_of(
        &self,
        did: &str,
        remote_ident: Option<&str>,
    ) -> Result<Option<String>, DirectoryError> {
        if let Some(ident) = remote_ident
            && let Some(route) = self.ident_routes.iter().find(|r| {
                r.idents
                    .iter()
                    .any(|p| faxhub_queue::junk::ident_matches(p, ident))
            })
        {
            return Ok(Some(route.to.clone()));
        }
        self.owner(did).await
    }

    /// The address that gets faxes dialled to `did`, if any.
    pub async fn owner(&self, did: &str) -> Result<Option<String>, DirectoryError> {
        if let Some(to) = self.routes.route_listed(did, &self.dialplan) {
            return Ok(Some(to.to_string()));
        }
        if let Some(numbers) = &self.directory
            && let Ok(number) = self.dialplan.normalize(did)
            && let Some(to) = numbers.owner(number.as_str(), &self.dialplan).await?
        {
            return Ok(Some(to));
        }
        Ok(self.routes.catch_all().map(str::to_string))
    }
}

impl DirectoryNumbers {
    async fn owner(
        &self,
        e164: &str,
        dialplan: &DialPlan,
    ) -> Result<Option<String>, DirectoryError> {
        let mut read = self.read.lock().await;
        let now = Instant::now();
        if read.as_ref().is_none_or(|r| now >= r.until) {
            match self.directory.fax_numbers().await {
                Ok(pairs) => {
                    let mut numbers = HashMap::new();
                    for (number, mail) in pairs {
                        match dialplan.normalize(&number) {
                            Ok(n) => {
                                numbers.entry(n.as_str().to_string()).or_insert(mail);
                            }
                            Err(e) => {
                                tracing::debug!(%number, %mail, error = %e, "ldap: a fax number the dial plan cannot read")
                            }
                        }
                    }
                    let until = now + self.directory.config().cache_ttl;
                    *read = Some(Read { numbers, until });
                }
                Err(e) => match read.as_mut() {
                    Some(before) => {
                        before.until = now + RETRY.min(self.directory.config().cache_ttl);
                        faxhub_queue::logging::limited(
                            "ldap-numbers",
                            || tracing::warn!(error = %e, "ldap: the directory cannot be read; the fax numbers read before are used (logged once a minute)"),
                        );
                    }
                    None => return Err(e),
                },
            }
        }
        Ok(read.as_ref().and_then(|r| r.numbers.get(e164).cloned()))
    }
}
