//! A trunk's upkeep, one task per `sip` line that asks for it: REGISTER with the trunk's
//! registrar (its proxy) when `register = true`, answering its digest challenge, and again
//! before the registration runs out (at 80% of the Expires the registrar granted; a minute after
//! a failure); OPTIONS to the proxy every `keepalive`, which keeps NAT bindings open and tells
//! the log when the trunk stops answering and when it is back. Outside any call: a Call-ID of its
//! own, CSeq counting up across refreshes (RFC 3261 §10.2.4).

use super::call::{Leg, NoAnswer, authorize};
use super::{Agent, USER_AGENT, random_id};
use crate::sip::config::TrunkConfig;
use crate::sip::dialog::{Dialog, Local};
use crate::sip::message::{Message, param};
use crate::state::LineState;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How soon to try again after a failed REGISTER.
const REGISTER_RETRY: Duration = Duration::from_secs(60);

impl Agent {
    /// Starts the upkeep of trunk `line`, if its configuration asks for any.
    /// Starts the upkeep of the trunk of line `state`, if its configuration asks for any; what
    /// it sees goes to `state`.
    pub fn keep_trunk(self: &Arc<Self>, state: Arc<LineState>, trunk: TrunkConfig) {
        if !trunk.register && trunk.keepalive.is_zero() {
            return;
        }
        let agent = self.clone();
        tokio::spawn(async move { upkeep(agent, state, trunk).await });
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn upkeep(agent: Arc<Agent>, state: Arc<LineState>, trunk: TrunkConfig) {
    let line = state.name.clone();
    let proxy = loop {
        match super::net::resolve(&trunk.proxy).await {
            Ok(p) => break p,
            Err(e) => {
                tracing::warn!(%line, proxy = %trunk.proxy, error = %e, "trunk not found; trying again in a minute");
                tokio::time::sleep(REGISTER_RETRY).await;
            }
        }
    };
    let host = super::super::line::proxy_host(&trunk.proxy);
    let domain = trunk.domain.clone().unwrap_or_else(|| host.to_string());
    let user = trunk
        .username
        .clone()
        .or_else(|| trunk.from_user.clone())
        .unwrap_or_else(|| "faxhub".into());
    let ours = agent.local_for(proxy, &user, trunk.transport);
    let aor = format!("sip:{user}@{domain}");
    let local = Local {
        address: format!("<{aor}>"),
        ..ours
    };
    let contact = local
        .contact
        .replacen("sip:faxhub@", &format!("sip:{user}@"), 1);
    let (call_id, tag) = (format!("{}@faxhub", random_id()), random_id());
    let rx = agent.register(&call_id, &[&tag]);
    let dialog = Dialog::outside(&local, &aor, &format!("sip:{domain}"), (&call_id, &tag));
    let mut leg = Leg::new(
        agent.clone(),
        (rx, vec![tag]),
        (proxy, trunk.transport),
        dialog,
    );
    let credentials = trunk.username.clone().zip(trunk.password.clone());
    let now = Instant::now();
    let mut next_register = trunk.register.then_some(now);
    let mut next_ping = (!trunk.keepalive.is_zero()).then_some(now);
    let mut answering = true;
    loop {
        let Some(wake) = [next_register, next_ping].into_iter().flatten().min() else {
            return;
        };
        // answer what comes meanwhile (nothing should, outside a call)
        while let Some(incoming) = leg.next(Some(wake)).await {
            leg.stray(incoming).await;
        }
        let now = Instant::now();
        if next_register.is_some_and(|t| now >= t) {
            let wait = match register(&mut leg, &contact, trunk.register_expires, &credentials)
                .await
            {
                Ok(granted) => {
                    let until = now_ms() + i64::try_from(granted.as_millis()).unwrap_or(i64::MAX);
                    state.trunk_seen(now_ms(), |t| {
                        t.registered = Some(true);
                        t.registered_until_ms = Some(until);
                        t.register_error = None;
                    });
                    tracing::info!(%line, %aor, expires = granted.as_secs(), "registered with the trunk");
                    (granted * 4 / 5).max(Duration::from_secs(10))
                }
                Err(why) => {
                    state.trunk_seen(now_ms(), |t| {
                        t.registered = Some(false);
                        t.registered_until_ms = None;
                        t.register_error = Some(why.clone());
                    });
                    tracing::warn!(%line, %aor, %why, "REGISTER failed; trying again in a minute");
                    REGISTER_RETRY
                }
            };
            next_register = Some(Instant::now() + wait);
        }
        if next_ping.is_some_and(|t| now >= t) {
            let mut options = leg.dialog.request("OPTIONS", b"", &random_id());
            options.add("User-Agent", USER_AGENT);
            let up = leg.transact(options, None).await.is_ok();
            state.trunk_seen(now_ms(), |t| t.answering = Some(up));
            if up != answering {
                if up {
                    tracing::info!(%line, proxy = %proxy, "the trunk answers again");
                } else {
                    tracing::warn!(%line, proxy = %proxy, "the trunk does not answer OPTIONS");
                }
                answering = up;
            }
            next_ping = Some(Instant::now() + trunk.keepalive);
        }
    }
}

/// One registration, with its challenge answered: the time the registrar granted.
async fn register(
    leg: &mut Leg,
    contact: &str,
    expires: Duration,
    credentials: &Option<(String, String)>,
) -> Result<Duration, String> {
    let mut challenge: Option<Message> = None;
    for count in 0..3 {
        let mut request = leg.dialog.request("REGISTER", b"", &random_id());
        request
            .add("Contact", format!("<{contact}>"))
            .add("Expires", expires.as_secs().to_string())
            .add("User-Agent", USER_AGENT);
        if let Some(c) = &challenge {
            let creds = credentials
                .as_ref()
                .ok_or("the registrar asks for credentials; give username and password")?;
            authorize(&mut request, c, creds, count)
                .ok_or("the registrar refused the credentials")?;
        }
        let response = match leg.transact(request, None).await {
            Ok(r) => r,
            Err(NoAnswer::Timeout | NoAnswer::GaveUp) => return Err("no answer".into()),
        };
        match response.code().unwrap_or(500) {
            200..=299 => return Ok(granted(&response, contact).unwrap_or(expires)),
            401 | 407 => challenge = Some(response),
            code => return Err(format!("SIP {code}")),
        }
    }
    Err("the registrar keeps challenging".into())
}

/// The registration time in a 2xx to REGISTER: our Contact's expires, else Expires.
fn granted(ok: &Message, contact: &str) -> Option<Duration> {
    let ours = ok
        .values("Contact")
        .flat_map(|v| v.split(','))
        .find(|c| c.contains(contact))
        .and_then(|c| param(c, "expires"))
        .and_then(|e| e.trim().parse().ok());
    let seconds: u64 = ours.or_else(|| ok.header("Expires")?.trim().parse().ok())?;
    Some(Duration::from_secs(seconds))
}
