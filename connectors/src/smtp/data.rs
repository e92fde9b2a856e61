//! DATA: the message, streamed until CRLF.CRLF, then made durable through the intake.
//!
//! - Only `<CRLF>.<CRLF>` ends the data. A dot line after a bare LF, a dot followed by a bare
//!   LF, or a bare CR before a dot (the SMTP smuggling patterns) makes the message rejected with
//!   `550 5.5.2` once the real end arrives, so that no hidden second message is ever accepted.
//! - Dot-stuffing is undone (RFC 5321 §4.5.2).
//! - The message goes to a file in the spool as it arrives (`Intake::stage`): a connection holds
//!   a buffer and the first `HEAD` bytes (for the headers), never the message; a line longer
//!   than `CHUNK` is read in pieces. A spool file that cannot be written (the disk full) is
//!   refused for now at the end, after the data was read.
//! - Size is enforced while streaming: past `max_message_size` nothing more is kept and the
//!   message is refused with `552 5.3.4` at the end.
//! - A `Received:` trace header is prepended (RFC 5321 §4.4).
//! - A mail to a shared address of `[smtp] subject_addresses` gets its numbers from its Subject
//!   now (`subject`), or is refused with the number that is wrong.
//! - `250 2.0.0 Ok: queued as <job id>` only after `Intake::accept` returned, i.e. after the file
//!   is fsynced into the spool and the job row committed; a storage failure is `451 4.3.0`, the
//!   disk full `452 4.3.1`.
//!
//! - The whole message must come within `message_timeout` (each line within `data_timeout`): a
//!   slow sender is cut with `421 4.4.2`, nothing queued.
//!
//! Returns `None` when the connection is lost or times out (the session ends, nothing queued).

use super::io::{Chunk, read_chunk};
use super::reply::Reply;
use super::session::{Conn, Session};
use faxhub_queue::Origin;
use faxhub_queue::intake::{IntakeError, Staged, Submission};
use faxhub_queue::schedule::{Priority, SendAtError};
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
        Some(tx)
            if tx.recipients.is_empty()
                && tx.subject_address.is_none()
                && tx.broadcast_address.is_none() =>
        {
            return Some(Reply::new(554, "5.5.1", "Error: no valid recipients"));
        }
        Some(_) => {}
    }
    conn.reply(&Reply::new(354, "2.0.0", "End data with <CR><LF>.<CR><LF>"));
    conn.flush().await.ok()?;
    let intake = session.shared.intake.clone();
    // the message goes to a spool file as it comes; if none can be made (the disk full), it is
    // read to its end all the same (the session stays in step) and refused for now
    let mut sink = Sink {
        staged: intake.stage().await,
        head: Vec::new(),
        size: 0,
        max: session.shared.config.max_message_size as usize,
        too_big: false,
        smuggling: false,
    };
    sink.take(trace_header(session).as_bytes()).await;
    let config = &session.shared.config;
    let deadline = tokio::time::Instant::now() + config.message_timeout;
    match read_body(conn, &mut sink, config.data_timeout, deadline).await {
        Read::Done => {}
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
    }
    let mut tx = session.tx.take().expect("invariant: checked above");
    if sink.smuggling {
        tracing::warn!(client = %session.peer, from = %tx.return_path, "smtp message rejected: bare CR/LF before a dot");
        return Some(Reply::new(
            550,
            "5.5.2",
            "Message rejected: bare CR or LF before a dot (SMTP smuggling)",
        ));
    }
    if sink.too_big {
        tracing::info!(client = %session.peer, from = %tx.return_path, "smtp message rejected: too big");
        return Some(Reply::new(
            552,
            "5.3.4",
            "Message size exceeds fixed maximum message size",
        ));
    }
    // a mail to a shared address: its numbers, and the fax's subject, from its Subject
    let mut subject = None;
    if let Some(via) = tx.subject_address.take() {
        let shared = session.shared.clone();
        match super::subject::recipients(&shared, session.peer, &mut tx, &via, &sink.head).await {
            Ok(rest) => subject = rest,
            Err(reply) => return Some(reply),
        }
    }
    // a mail to a broadcast address: its numbers from the attached list
    let mut listed = None;
    if let Some(via) = tx.broadcast_address.take() {
        let shared = session.shared.clone();
        let message = match sink.staged.as_mut() {
            Ok(staged) => staged.contents().await,
            Err(_) => Ok(Vec::new()), // the staging failed: refused below as any message
        };
        match message {
            Ok(message) if !message.is_empty() => {
                match super::broadcast::recipients(&shared, session.peer, &mut tx, &via, &message)
                    .await
                {
                    Ok(l) => listed = Some(l),
                    Err(reply) => return Some(reply),
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(client = %session.peer, error = %e, "smtp broadcast: the staged message could not be read");
                return Some(Reply::new(
                    451,
                    "4.3.0",
                    "Temporary failure: the message could not be stored, try again later",
                ));
            }
        }
    }
    let tx_hold = tx.hold_until;
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
        request_hash: None,
        billing: None,
        priority: Default::default(),
        send_at_ms: None,
        list_part: None,
    };
    describe(&sink.head, &mut submission);
    match send_at(&sink.head, chrono::Utc::now().timestamp_millis()) {
        // the envelope's FUTURERELEASE (RFC 4865) before the header
        Ok(at) => submission.send_at_ms = tx_hold.or(at),
        Err(e) => {
            tracing::info!(client = %session.peer, from = %submission.return_path, error = %e, "smtp message refused: its send time");
            return Some(Reply::new(550, "5.6.0", e.to_string()));
        }
    }
    if let Some(rest) = subject {
        submission.subject = Some(rest).filter(|s| !s.is_empty());
    }
    if let Some(listed) = listed {
        submission.list_part = Some(listed.list_part);
        submission.refused = listed.refused;
        // a broadcast goes after single faxes unless it asks otherwise
        if !asks_priority(&sink.head) {
            submission.priority = Priority::Low;
        }
    }
    let rcpts = submission.recipients.len();
    let from = submission.return_path.clone();
    let accepted = match sink.staged {
        Ok(staged) => intake.accept_staged(submission, staged).await,
        Err(e) => Err(e),
    };
    match accepted {
        Ok(id) => {
            tracing::info!(job = %id, from = %from, rcpts, client = %session.peer, "queued");
            metrics::counter!("faxhub_smtp_messages_received_total").increment(1);
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

/// The headers `describe` reads are taken from the first bytes of the message, at most these.
const HEAD: usize = 64 << 10;
/// Message data is read a line at a time, a longer line in chunks of this many bytes.
const CHUNK: usize = 64 << 10;

/// Where the message goes while it is read: its staged spool file (or why there is none), the
/// first `HEAD` bytes for `describe`, and what was found on the way.
struct Sink {
    staged: Result<Staged, IntakeError>,
    head: Vec<u8>,
    size: usize,
    max: usize,
    too_big: bool,
    smuggling: bool,
}

impl Sink {
    /// Keeps `bytes` of the message, unless it is already refused.
    async fn take(&mut self, bytes: &[u8]) {
        if self.too_big || self.smuggling {
            return;
        }
        if self.size + bytes.len() > self.max {
            self.too_big = true;
            return;
        }
        self.size += bytes.len();
        if self.head.len() < HEAD {
            let room = HEAD - self.head.len();
            self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        if let Ok(staged) = &mut self.staged
            && let Err(e) = staged.write(bytes).await
        {
            // what could not be written is refused for now, once read to its end
            let full = faxhub_queue::spool::is_full(&e);
            self.staged = Err(match full {
                true => IntakeError::Full(e.to_string()),
                false => IntakeError::Spool(e),
            });
        }
    }
}

/// How reading the message ended.
enum Read {
    /// At `<CRLF>.<CRLF>` (what was read is in the sink, or it says why not).
    Done,
    /// The connection was lost, or a line did not come within `data_timeout`.
    Lost,
    /// The whole message did not come within `message_timeout`.
    TooSlow,
}

async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    sink: &mut Sink,
    timeout: std::time::Duration,
    deadline: tokio::time::Instant,
) -> Read {
    // where the previous chunk left off: at a line start after CRLF (the DATA command ended
    // with one), after a bare LF, in the middle of a line, or after a CR in the middle of one
    let mut line_start = true;
    let mut after_crlf = true;
    let mut after_cr = false;
    loop {
        let line_deadline = (tokio::time::Instant::now() + timeout).min(deadline);
        let (chunk, whole) =
            match tokio::time::timeout_at(line_deadline, read_chunk(&mut conn.reader, CHUNK)).await
            {
                Ok(Ok(Chunk::Line(l))) => (l, true),
                Ok(Ok(Chunk::Part(p))) => (p, false),
                Err(_) if line_deadline == deadline => return Read::TooSlow,
                _ => return Read::Lost,
            };
        if line_start && chunk == b".\r\n" {
            if after_crlf {
                return Read::Done;
            }
            sink.smuggling = true; // <LF>.<CRLF>
        } else if line_start
            && chunk.starts_with(b".")
            && chunk.len() >= 2
            && matches!(chunk[1], b'\r' | b'\n')
        {
            sink.smuggling = true; // <CRLF>.<LF> or .<CR>x
        } else if chunk.windows(2).any(|w| w == b"\r.") || (after_cr && chunk.starts_with(b".")) {
            sink.smuggling = true; // <CR>.<CRLF>, also split between two chunks
        }
        let content = match line_start && after_crlf && chunk.starts_with(b".") {
            true => &chunk[1..],
            false => &chunk[..],
        };
        sink.take(content).await;
        line_start = whole;
        after_crlf = whole && chunk.ends_with(b"\r\n");
        after_cr = !whole && chunk.ends_with(b"\r");
    }
}

/// The `Received:` trace header faxhub puts first (RFC 5321 §4.4).
fn trace_header(session: &Session) -> String {
    let protocol = match (session.esmtp, session.tls, session.authenticated.is_some()) {
        (false, _, _) => "SMTP",
        (true, false, false) => "ESMTP",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "ESMTPA",
        (true, true, true) => "ESMTPSA",
    };
    let now = chrono::Utc::now().to_rfc2822();
    let helo = session.helo.as_deref().unwrap_or("unknown");
    format!(
        "Received: from {helo} ([{}])\r\n\tby {} (faxhub) with {protocol};\r\n\t{now}\r\n",
        session.peer.ip(),
        session.shared.hostname
    )
}

/// Whether the message's headers name a priority (`X-Fax-Priority`, `Importance`,
/// `X-Priority`).
fn asks_priority(message: &[u8]) -> bool {
    MessageParser::default()
        .parse_headers(message)
        .is_some_and(|m| {
            m.headers().iter().any(|h| {
                ["X-Fax-Priority", "Importance", "X-Priority"]
                    .iter()
                    .any(|n| h.name().eq_ignore_ascii_case(n))
            })
        })
}

/// When the message asks to be held (`X-Fax-Send-At`): the time, `None` to send it now.
pub(crate) fn send_at(message: &[u8], now_ms: i64) -> Result<Option<i64>, SendAtError> {
    let Some(parsed) = MessageParser::default().parse_headers(message) else {
        return Ok(None);
    };
    match parsed.header("X-Fax-Send-At").and_then(|v| v.as_text()) {
        Some(text) => faxhub_queue::schedule::send_at(text, now_ms),
        None => Ok(None),
    }
}

/// Takes From:, Subject:, the billing code (`X-Fax-Billing:`), the priority (`X-Fax-Priority`,
/// `Importance`, `X-Priority`) and the recipients' display names from the headers.
pub(crate) fn describe(message: &[u8], submission: &mut Submission) {
    let Some(parsed) = MessageParser::default().parse_headers(message) else {
        return;
    };
    submission.subject = parsed.subject().map(str::to_string);
    submission.billing = parsed
        .header("X-Fax-Billing")
        .and_then(|v| v.as_text())
        .and_then(faxhub_queue::intake::billing_code);
    submission.priority = Priority::of_headers(|name| {
        parsed
            .headers()
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case(name))
            .and_then(|h| h.value().as_text())
    });
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
