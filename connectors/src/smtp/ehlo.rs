//! EHLO and HELO: greet, reset the transaction, and list the extensions. AUTH is offered only
//! inside TLS (PLAIN and LOGIN send the password in the clear otherwise), STARTTLS only outside.

use super::reply::Reply;
use super::session::Session;

pub(super) fn ehlo(session: &mut Session, arg: &str, extended: bool) -> Result<Vec<String>, Reply> {
    let name = arg.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(Reply::syntax(if extended {
            "EHLO hostname"
        } else {
            "HELO hostname"
        }));
    }
    session.helo = Some(name.to_string());
    session.esmtp = extended;
    session.tx = None;
    let host = &session.shared.hostname;
    if !extended {
        return Ok(vec![host.clone()]);
    }
    let mut lines = vec![
        host.clone(),
        "PIPELINING".to_string(),
        format!("SIZE {}", session.shared.config.max_message_size),
        "8BITMIME".to_string(),
        "SMTPUTF8".to_string(),
        "ENHANCEDSTATUSCODES".to_string(),
        "DSN".to_string(),
        future_release(chrono::Utc::now()),
    ];
    if session.tls {
        if !session.shared.config.auth.users.is_empty() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
    } else {
        lines.push("STARTTLS".to_string());
    }
    Ok(lines)
}

/// RFC 4865's keyword: how far ahead a message may be held, in seconds and as the latest time.
fn future_release(now: chrono::DateTime<chrono::Utc>) -> String {
    let interval = faxhub_queue::schedule::MAX_AHEAD_DAYS * 86_400;
    let latest = now + chrono::Duration::seconds(interval);
    format!(
        "FUTURERELEASE {interval} {}",
        latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}
