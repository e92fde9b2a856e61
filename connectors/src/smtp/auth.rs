//! AUTH PLAIN and LOGIN (RFC 4954, RFC 4616), only inside TLS, against `[smtp.auth] users`.
//! A failed attempt counts as an error reply, so guessing ends with the session.

use super::io::{LineRead, read_line};
use super::reply::Reply;
use super::session::{Conn, Session};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncRead, AsyncWrite};

const AUTH_LINE_CAP: usize = 2048;

pub(super) async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
    session: &mut Session,
    conn: &mut Conn<S>,
    arg: &str,
) -> Reply {
    if session.helo.is_none() || !session.esmtp {
        return Reply::bad_sequence("send EHLO first");
    }
    if session.authenticated.is_some() {
        return Reply::bad_sequence("already authenticated");
    }
    if session.tx.is_some() {
        return Reply::bad_sequence("AUTH not allowed during a mail transaction");
    }
    if !session.tls {
        return Reply::encryption_required();
    }
    if session.shared.config.auth.users.is_empty() {
        return Reply::new(502, "5.5.1", "Error: authentication not enabled");
    }
    let mut words = arg.split_ascii_whitespace();
    let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
    let initial = words.next();
    let credentials = match mechanism.as_str() {
        "PLAIN" => {
            let response = match initial {
                Some(r) => r.to_string(),
                None => match challenge(conn, "").await {
                    Ok(r) => r,
                    Err(reply) => return reply,
                },
            };
            decode_plain(&response)
        }
        "LOGIN" => {
            let user = match initial {
                Some(r) => Ok(r.to_string()),
                None => challenge(conn, "VXNlcm5hbWU6").await,
            };
            let user = match user {
                Ok(u) => u,
                Err(reply) => return reply,
            };
            let password = match challenge(conn, "UGFzc3dvcmQ6").await {
                Ok(p) => p,
                Err(reply) => return reply,
            };
            decode(&user).zip(decode(&password))
        }
        _ => return Reply::new(504, "5.5.4", "Unrecognized authentication type"),
    };
    let Some((user, password)) = credentials else {
        return Reply::new(501, "5.5.2", "Cannot decode the response");
    };
    let ok = session
        .shared
        .config
        .auth
        .users
        .get(&user)
        .is_some_and(|expected| constant_time_eq(expected.as_bytes(), password.as_bytes()));
    if ok {
        tracing::info!(client = %session.peer, user = %user, "smtp authenticated");
        session.authenticated = Some(user);
        Reply::new(235, "2.7.0", "Authentication successful")
    } else {
        metrics::counter!("faxhub_smtp_auth_failures_total").increment(1);
        let (client, user) = (session.peer, user.clone());
        faxhub_queue::logging::limited(
            "smtp-auth-failed",
            || tracing::warn!(%client, %user, "smtp authentication failed (logged once a minute)"),
        );
        Reply::new(535, "5.7.8", "Authentication credentials invalid")
    }
}

/// Sends a 334 challenge and reads the client's line; `*` cancels.
async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    text: &str,
) -> Result<String, Reply> {
    conn.out
        .extend_from_slice(format!("334 {text}\r\n").as_bytes());
    conn.flush()
        .await
        .map_err(|_| Reply::new(421, "4.4.2", "Connection lost"))?;
    match read_line(&mut conn.reader, AUTH_LINE_CAP).await {
        Ok(LineRead::Line(l)) => {
            let line = String::from_utf8_lossy(&l)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            if line == "*" {
                Err(Reply::new(501, "5.0.0", "Authentication cancelled"))
            } else {
                Ok(line)
            }
        }
        Ok(LineRead::TooLong) => Err(Reply::line_too_long()),
        _ => Err(Reply::new(421, "4.4.2", "Connection lost")),
    }
}

fn decode(b64: &str) -> Option<String> {
    String::from_utf8(B64.decode(b64.trim()).ok()?).ok()
}

/// RFC 4616: `authzid NUL authcid NUL passwd`.
fn decode_plain(b64: &str) -> Option<(String, String)> {
    let text = decode(b64)?;
    let mut parts = text.split('\0');
    let _authzid = parts.next()?;
    let user = parts.next()?.to_string();
    let password = parts.next()?.to_string();
    parts.next().is_none().then_some((user, password))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decoding() {
        let b64 = B64.encode("\0alice\0s3cret");
        assert_eq!(decode_plain(&b64), Some(("alice".into(), "s3cret".into())));
        assert_eq!(decode_plain(&B64.encode("alice")), None);
        assert_eq!(decode_plain("!!!"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
