//! MAIL FROM: the return path and its parameters (SIZE, BODY, SMTPUTF8, RFC 3461 RET and ENVID,
//! AUTH). An address with a control character (a bare CR or LF) or a line not in UTF-8 gets
//! `501 5.1.7`; a UTF-8 address without SMTPUTF8 `553 5.6.7` (RFC 6531). Only trusted clients and authenticated users may start a transaction, and only for a
//! sender of the site: an authenticated login the addresses `[smtp.auth] senders` gives it (else
//! those of `local_domains`), a trusted client those of `local_domains`. Any other sender gets
//! `553 5.7.1`: receipts carry the fax's pages, and they go to the sender. The null sender is
//! accepted (it gets no receipt).

use super::address::{decode_xtext, parse_path_and_params};
use super::reply::Reply;
use super::session::{Session, Transaction};
use faxhub_queue::Ret;
use faxhub_queue::senders;

/// RFC 3461 §4.4: ENVID is at most 100 characters.
const ENVID_MAX: usize = 100;

pub(super) async fn mail(session: &mut Session, arg: &str) -> Reply {
    if session.helo.is_none() {
        return Reply::bad_sequence("send HELO/EHLO first");
    }
    if session.tx.is_some() {
        return Reply::bad_sequence("nested MAIL command");
    }
    if !session.trusted && session.authenticated.is_none() {
        tracing::info!(client = %session.peer, "smtp MAIL refused: not trusted and not authenticated");
        return Reply::auth_required();
    }
    let Some(rest) = strip_keyword(arg, "FROM:") else {
        return Reply::syntax("MAIL FROM:<address>");
    };
    if !session.line_utf8 {
        return Reply::new(501, "5.1.7", "Bad sender address: not UTF-8");
    }
    let (path, params) = match parse_path_and_params(rest) {
        Ok(parsed) => parsed,
        Err(why) => return Reply::new(553, "5.1.7", format!("Bad sender address syntax: {why}")),
    };
    if let Some(bad) = address_fault(&path.raw) {
        return Reply::new(501, "5.1.7", format!("Bad sender address: {bad}"));
    }
    if let Some(refusal) = foreign_sender(session, &path.raw) {
        tracing::info!(client = %session.peer, sender = %path.raw, user = ?session.authenticated, "smtp MAIL refused: {refusal}");
        return Reply::new(553, "5.7.1", format!("Sender address rejected: {refusal}"));
    }
    if let Some(refused) = fax_policy(session, &path.raw).await {
        return refused;
    }
    let mut tx = Transaction {
        return_path: path.raw,
        env_id: None,
        ret: None,
        smtputf8: false,
        recipients: Vec::new(),
        subject_address: None,
        broadcast_address: None,
        hold_until: None,
        usage: None,
    };
    for (key, value) in params {
        match (key.as_str(), value.as_deref()) {
            ("SIZE", Some(v)) => match v.parse::<u64>() {
                Ok(n) if n > session.shared.config.max_message_size => {
                    return Reply::new(
                        552,
                        "5.3.4",
                        "Message size exceeds fixed maximum message size",
                    );
                }
                Ok(_) => {}
                Err(_) => return Reply::syntax("bad SIZE value"),
            },
            ("BODY", Some(v))
                if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") => {}
            ("SMTPUTF8", None) => tx.smtputf8 = true,
            ("AUTH", Some(_)) => {}
            ("RET", Some(v)) => match Ret::parse(v) {
                Some(ret) => tx.ret = Some(ret),
                None => return Reply::syntax("RET must be FULL or HDRS"),
            },
            ("ENVID", Some(v)) => match decode_xtext(v) {
                Some(id) if v.len() <= ENVID_MAX => tx.env_id = Some(id),
                _ => return Reply::syntax("bad ENVID value"),
            },
            ("HOLDFOR" | "HOLDUNTIL", Some(v)) => match hold(&key, v, tx.hold_until) {
                Ok(at) => tx.hold_until = at,
                Err(reply) => return reply,
            },
            _ => return Reply::new(555, "5.5.4", format!("Unsupported parameter {key}")),
        }
    }
    if !tx.smtputf8 && !tx.return_path.is_ascii() {
        return Reply::new(553, "5.6.7", "Non-ASCII sender address without SMTPUTF8");
    }
    session.tx = Some(tx);
    Reply::new(250, "2.1.0", "Ok")
}

/// RFC 4865 FUTURERELEASE: `HOLDFOR=<seconds>` or `HOLDUNTIL=<RFC 3339 time>` as the time (ms)
/// to hold the message until (`None`: now); past the advertised limit, twice, or not a number
/// or a time: `501 5.5.4`.
fn hold(key: &str, value: &str, before: Option<i64>) -> Result<Option<i64>, Reply> {
    use faxhub_queue::schedule::{MAX_AHEAD_DAYS, send_at};
    let bad = |why: String| Reply::new(501, "5.5.4", format!("{key}: {why}"));
    if before.is_some() {
        return Err(bad("HOLDFOR and HOLDUNTIL given twice".into()));
    }
    let now = chrono::Utc::now().timestamp_millis();
    let at = match key {
        "HOLDFOR" => {
            let seconds: i64 = value
                .parse()
                .map_err(|_| bad(format!("{value:?} is not a number of seconds")))?;
            if !(0..=MAX_AHEAD_DAYS * 86_400).contains(&seconds) {
                return Err(bad(format!("at most {} seconds", MAX_AHEAD_DAYS * 86_400)));
            }
            Some(now + seconds * 1_000).filter(|_| seconds > 0)
        }
        _ => send_at(value, now).map_err(|e| bad(e.to_string().replace("X-Fax-Send-At: ", "")))?,
    };
    Ok(at)
}

/// The directory's word on `sender` when only a group may fax: `550 5.7.1` naming the policy
/// for a sender outside it, `451 4.4.3` while the directory cannot say (the client tries again;
/// nothing is lost). The null sender (reports) is not asked.
async fn fax_policy(session: &Session, sender: &str) -> Option<Reply> {
    let policy = session.shared.fax_policy.as_ref()?;
    if sender.is_empty() {
        return None;
    }
    match policy.may_fax(sender).await {
        Ok(true) => None,
        Ok(false) => {
            tracing::info!(client = %session.peer, %sender, group = policy.group(), "smtp MAIL refused: not in the fax group");
            Some(Reply::new(550, "5.7.1", policy.refusal()))
        }
        Err(e) => {
            faxhub_queue::logging::limited(
                "smtp-directory",
                || tracing::warn!(error = %e, "smtp: the directory cannot say who may fax; MAIL deferred with 451 4.4.3 (logged once a minute)"),
            );
            // EnhancedStatus::DIRECTORY_DOWN
            Some(Reply::new(
                451,
                "4.4.3",
                "The directory cannot be reached; try again later",
            ))
        }
    }
}

/// What makes an envelope address unusable whatever the client says: a control character (a
/// bare CR or LF that would reappear raw in a receipt's header, a NUL).
pub(super) fn address_fault(address: &str) -> Option<&'static str> {
    address
        .chars()
        .any(char::is_control)
        .then_some("a control character (bare CR or LF?) in it")
}

/// Why `sender` may not be used by this client, if it may not.
fn foreign_sender(session: &Session, sender: &str) -> Option<String> {
    if sender.is_empty() {
        return None;
    }
    let owned = session
        .authenticated
        .as_ref()
        .and_then(|login| Some((login, session.shared.config.auth.senders.get(login)?)));
    match owned {
        Some((_, owned)) if senders::owns(owned, sender) => None,
        Some((login, _)) => Some(format!("<{sender}> is not an address of the login {login}")),
        None if session.shared.local.contains(sender) => None,
        None => Some(format!(
            "<{sender}> is not an address of this site (local_domains)"
        )),
    }
}

/// Matches `FROM:` / `TO:` case-insensitively, allowing a space before the path.
pub(super) fn strip_keyword<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let head = arg.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| &arg[keyword.len()..])
}
