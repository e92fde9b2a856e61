//! DATA: the message, streamed until CRLF.CRLF, then made durable through the intake.
//!
//! - Only `<CRLF>.<CRLF>` ends the data. A dot line after a bare LF, a dot followed by a bare
//!   LF, or a bare CR before a dot (the SMTP smuggling patterns) makes the message rejected with
//!   `550 5.5.2` once the real end arrives, so that no hidden second message is ever accepted.
//! - Dot-stuffing is undone (RFC 5321 §4.5.2).
//! - Size is enforced while streaming: past `max_message_size` nothing more is kept and the
//!   message is refused with `552 5.3.4` at the end.
//! - A `Received:` trace header is prepended (RFC 5321 §4.4).
//! - `250 2.0.0 Ok: queued as <job id>` only after `Intake::accept` returned, i.e. after the file
//!   is fsynced into the spool and the job row committed; a storage failure is `451 4.3.0`, the
//!   disk full `452 4.3.1`.
//!
//! - The whole message must come within `message_timeout` (each line within `data_timeout`): a
//!   slow sender is cut with `421 4.4.2`, nothing queued.
//!
//! Returns `None` when the connection is lost or times out (the session ends, nothing queued).

use super::io::{LineRead, read_line};
use super::reply::Reply;
use super::session::{Conn, Session};
use faxhub_queue::Origin;
use faxhub_queue::intake::{IntakeError, Submission};
use mail_parser::MessageParser;
use tokio::io::{AsyncRead, AsyncWrite};

pub(super) async fn data<S: AsyncRead + AsyncWrite + Unpin>(
    session: &mut Session,
    conn: &mut Conn<S>,
    arg: &str,
) -> Option<Reply> {
    if !arg.trim().is_empty() {
        return Some(Reply::syntax("DATA takes no parameters"));
    }
    match &session.tx {
        None => return Some(Reply::bad_sequence("need MAIL command")),
        Some(tx) if tx.recipients.is_empty() => {
            return Some(Reply::new(554, "5.5.1", "Error: no valid recipients"));
        }
        Some(_) => {}
    }
    conn.reply(&Reply::new(354, "2.0.0", "End data with <CR><LF>.<CR><LF>"));
    conn.flush().await.ok()?;
    let max = session.shared.config.max_message_size as usize;
    let config = &session.shared.config;
    let deadline = tokio::time::Instant::now() + config.message_timeout;
    let body = match read_body(conn, max, config.data_timeout, deadline).await {
        Read::Body(body) => body,
        Read::Lost => return None,
        Read::TooSlow => {
            tracing::info!(client = %session.peer, "smtp message cut: not finished within message_timeout");
            session.tx = None;
            return Some(Reply::new(
                421,
                "4.4.2",
                "Timeout: the message took too long, closing connection",
            ));
        }
    };
    let tx = session.tx.take().expect("invariant: checked above");
    if body.smuggling {
        tracing::warn!(client = %session.peer, from = %tx.return_path, "smtp message rejected: bare CR/LF before a dot");
        return Some(Reply::new(
            550,
            "5.5.2",
            "Message rejected: bare CR or LF before a dot (SMTP smuggling)",
        ));
    }
    if body.too_big {
        tracing::info!(client = %session.peer, from = %tx.return_path, "smtp message rejected: too big");
        return Some(Reply::new(
            552,
            "5.3.4",
            "Message size exceeds fixed maximum message size",
        ));
    }
    let message = with_trace_header(session, body.bytes);
    let mut submission = Submission {
        origin: Origin::Smtp,
        return_path: tx.return_path,
        from_header: None,
        subject: None,
        env_id: tx.env_id,
        ret: tx.ret,
        recipients: tx.recipients,
        source: None,
        refused: Vec::new(),
    };
    describe(&message, &mut submission);
    let rcpts = submission.recipients.len();
    let from = submission.return_path.clone();
    match session.shared.intake.accept(submission, message).await {
        Ok(id) => {
            tracing::info!(job = %id, from = %from, rcpts, client = %session.peer, "queued");
            Some(Reply::new(250, "2.0.0", format!("Ok: queued as {id}")))
        }
        Err(e @ IntakeError::Full(_)) => {
            tracing::error!(from = %from, error = %e, "smtp message not queued: the disk is full");
            Some(Reply::new(
                452,
                "4.3.1",
                "Insufficient system storage, try again later",
            ))
        }
        Err(e) => {
            tracing::error!(from = %from, error = %e, "smtp message not queued");
            Some(Reply::new(
                451,
                "4.3.0",
                "Temporary failure: the message could not be stored, try again later",
            ))
        }
    }
}

struct Body {
    bytes: Vec<u8>,
    too_big: bool,
    smuggling: bool,
}

/// How reading the message ended.
enum Read {
    Body(Body),
    /// The connection was lost, or a line did not come within `data_timeout`.
    Lost,
    /// The whole message did not come within `message_timeout`.
    TooSlow,
}

async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    max: usize,
    timeout: std::time::Duration,
    deadline: tokio::time::Instant,
) -> Read {
    let mut body = Body {
        bytes: Vec::new(),
        too_big: false,
        smuggling: false,
    };
    let mut at_line_start_crlf = true; // the DATA command line ended with CRLF
    loop {
        let cap = max.saturating_sub(body.bytes.len()) + 3;
        let line_deadline = (tokio::time::Instant::now() + timeout).min(deadline);
        let line =
            match tokio::time::timeout_at(line_deadline, read_line(&mut conn.reader, cap)).await {
                Ok(Ok(LineRead::Line(l))) => l,
                Ok(Ok(LineRead::TooLong)) => {
                    body.too_big = true;
                    body.bytes = Vec::new();
                    at_line_start_crlf = true;
                    continue;
                }
                Err(_) if line_deadline == deadline => return Read::TooSlow,
                _ => return Read::Lost,
            };
        let ends_crlf = line.ends_with(b"\r\n");
        if line == b".\r\n" {
            if at_line_start_crlf {
                return Read::Body(body);
            }
            body.smuggling = true; // <LF>.<CRLF>
        } else if line.starts_with(b".")
            && line.len() >= 2
            && !line.starts_with(b".\r\n")
            && matches!(line[1], b'\r' | b'\n')
        {
            body.smuggling = true; // <CRLF>.<LF> or .<CR>x
        } else if line.windows(2).any(|w| w[0] == b'\r' && w[1] == b'.') {
            body.smuggling = true; // <CR>.<CRLF>
        }
        let content = if at_line_start_crlf && line.starts_with(b".") {
            &line[1..]
        } else {
            &line[..]
        };
        if !body.too_big {
            if body.bytes.len() + content.len() > max {
                body.too_big = true;
                body.bytes = Vec::new();
            } else {
                body.bytes.extend_from_slice(content);
            }
        }
        at_line_start_crlf = ends_crlf;
    }
}

fn with_trace_header(session: &Session, body: Vec<u8>) -> Vec<u8> {
    let protocol = match (session.esmtp, session.tls, session.authenticated.is_some()) {
        (false, _, _) => "SMTP",
        (true, false, false) => "ESMTP",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "ESMTPA",
        (true, true, true) => "ESMTPSA",
    };
    let now = chrono::Utc::now().to_rfc2822();
    let helo = session.helo.as_deref().unwrap_or("unknown");
    let header = format!(
        "Received: from {helo} ([{}])\r\n\tby {} (faxhub) with {protocol};\r\n\t{now}\r\n",
        session.peer.ip(),
        session.shared.hostname
    );
    let mut out = Vec::with_capacity(header.len() + body.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&body);
    out
}

/// Takes From:, Subject: and the recipients' display names from the headers.
pub(crate) fn describe(message: &[u8], submission: &mut Submission) {
    let Some(parsed) = MessageParser::default().parse_headers(message) else {
        return;
    };
    submission.subject = parsed.subject().map(str::to_string);
    submission.from_header =
        parsed
            .from()
            .and_then(|a| a.first())
            .map(|a| match (a.name(), a.address()) {
                (Some(n), Some(addr)) => format!("{n} <{addr}>"),
                (None, Some(addr)) => addr.to_string(),
                (Some(n), None) => n.to_string(),
                (None, None) => String::new(),
            });
    let listed: Vec<(String, String)> = parsed
        .to()
        .into_iter()
        .chain(parsed.cc())
        .flat_map(|a| a.iter())
        .filter_map(|a| Some((a.address()?.to_ascii_lowercase(), a.name()?.to_string())))
        .collect();
    for r in &mut submission.recipients {
        if let Some((_, name)) = listed
            .iter()
            .find(|(addr, _)| *addr == r.address.to_ascii_lowercase())
        {
            r.display_name = Some(name.clone());
        }
    }
}
