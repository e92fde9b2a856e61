//! MAIL FROM: the return path and its parameters (SIZE, BODY, SMTPUTF8, RFC 3461 RET and ENVID,
//! AUTH). Only trusted clients and authenticated users may start a transaction.

use super::address::{decode_xtext, parse_path_and_params};
use super::reply::Reply;
use super::session::{Session, Transaction};
use faxhub_queue::Ret;

/// RFC 3461 §4.4: ENVID is at most 100 characters.
const ENVID_MAX: usize = 100;

pub(super) fn mail(session: &mut Session, arg: &str) -> Reply {
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
    let (path, params) = match parse_path_and_params(rest) {
        Ok(parsed) => parsed,
        Err(why) => return Reply::new(553, "5.1.7", format!("Bad sender address syntax: {why}")),
    };
    let mut tx = Transaction {
        return_path: path.raw,
        env_id: None,
        ret: None,
        recipients: Vec::new(),
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
            ("SMTPUTF8", None) => {}
            ("AUTH", Some(_)) => {}
            ("RET", Some(v)) => match Ret::parse(v) {
                Some(ret) => tx.ret = Some(ret),
                None => return Reply::syntax("RET must be FULL or HDRS"),
            },
            ("ENVID", Some(v)) => match decode_xtext(v) {
                Some(id) if v.len() <= ENVID_MAX => tx.env_id = Some(id),
                _ => return Reply::syntax("bad ENVID value"),
            },
            _ => return Reply::new(555, "5.5.4", format!("Unsupported parameter {key}")),
        }
    }
    session.tx = Some(tx);
    Reply::new(250, "2.1.0", "Ok")
}

/// Matches `FROM:` / `TO:` case-insensitively, allowing a space before the path.
pub(super) fn strip_keyword<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let head = arg.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| &arg[keyword.len()..])
}
