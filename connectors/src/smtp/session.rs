//! One SMTP session: its state and its command loop.
//!
//! Replies are buffered and flushed whenever no more input is waiting, which is RFC 2920
//! PIPELINING from the server's side. STARTTLS hands the raw stream back to `run`, which wraps
//! it in TLS and continues with a fresh state (RFC 3207: anything pipelined after STARTTLS is
//! discarded, the client must say EHLO again). Each error reply counts against `max_errors`.

use super::io::{LineRead, read_line};
use super::reply::{Reply, render};
use super::{Shared, auth, data, ehlo, mail, rcpt};
use faxhub_queue::Ret;
use faxhub_queue::limits::Usage;
use faxhub_queue::store::NewRecipient;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Longest command line accepted (RFC 5321 allows 512; extensions make them longer).
const COMMAND_LINE_CAP: usize = 4096;
/// How long a client has to finish the TLS handshake, at most (and no longer than it has for a
/// command): a client that says STARTTLS and then nothing TLS-like holds no connection longer.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(super) struct Session {
    pub shared: Arc<Shared>,
    pub peer: SocketAddr,
    pub trusted: bool,
    pub tls: bool,
    pub helo: Option<String>,
    pub esmtp: bool,
    pub authenticated: Option<String>,
    pub errors: u32,
    pub tx: Option<Transaction>,
    /// Whether the command line now being answered is valid UTF-8.
    pub line_utf8: bool,
    /// Commands answered so far (the first has its own time-out).
    pub commands: u64,
}

/// The envelope being built between MAIL and the end of DATA.
pub(super) struct Transaction {
    pub return_path: String,
    pub env_id: Option<String>,
    pub ret: Option<Ret>,
    /// RFC 6531: the client said SMTPUTF8, so addresses may be UTF-8.
    pub smtputf8: bool,
    pub recipients: Vec<NewRecipient>,
    /// The shared address (`[smtp] subject_addresses`) the mail was sent to, if any: its
    /// numbers are in its Subject, read at the end of DATA.
    pub subject_address: Option<SubjectAddress>,
    /// The broadcast address (`[smtp] broadcast_addresses`) the mail was sent to, if any: its
    /// numbers come from the attached list.
    pub broadcast_address: Option<SubjectAddress>,
    /// RFC 4865 FUTURERELEASE: the time (ms) MAIL's HOLDFOR or HOLDUNTIL asked it be held until.
    pub hold_until: Option<i64>,
    /// What the sender used in the last day, read at the first RCPT (`[limits]`).
    pub usage: Option<Usage>,
}

/// A shared address a mail was sent to, with its RCPT's DSN parameters (RFC 3461), which
/// each number of the Subject gets.
pub(super) struct SubjectAddress {
    pub address: String,
    pub notify: Option<faxhub_queue::Notify>,
    pub orcpt: Option<String>,
}

/// The reader half (buffered) plus the pending replies.
pub(super) struct Conn<S> {
    pub reader: BufReader<S>,
    pub out: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn reply(&mut self, reply: &Reply) {
        if reply.is_error() {
            metrics::counter!("faxhub_smtp_rejections_total", "code" => reply.status).increment(1);
        }
        render(
            &mut self.out,
            reply.code,
            &[format!("{} {}", reply.status, reply.text)],
        );
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            let stream = self.reader.get_mut();
            stream.write_all(&out).await?;
            stream.flush().await?;
        }
        Ok(())
    }

    /// Flushes only when the client is waiting for us (no pipelined input left).
    async fn flush_if_idle(&mut self) -> std::io::Result<()> {
        if self.reader.buffer().is_empty() {
            self.flush().await
        } else {
            Ok(())
        }
    }
}

enum End<S> {
    Closed,
    StartTls(S),
}

pub(super) async fn run(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let trusted = shared.trusted.iter().any(|net| net.contains(&peer.ip()));
    let mut session = Session {
        shared: shared.clone(),
        peer,
        trusted,
        tls: false,
        helo: None,
        esmtp: false,
        authenticated: None,
        errors: 0,
        tx: None,
        line_utf8: true,
        commands: 0,
    };
    tracing::debug!(client = %peer, trusted, "smtp connect");
    let greeting = Reply::new(220, "2.0.0", format!("{} ESMTP faxhub", shared.hostname));
    match serve(&mut session, stream, Some(greeting), shutdown.clone()).await {
        End::Closed => {}
        End::StartTls(stream) => {
            let within = TLS_HANDSHAKE_TIMEOUT.min(shared.config.command_timeout);
            match tokio::time::timeout(within, shared.tls.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    session.tls = true;
                    session.helo = None;
                    session.tx = None;
                    serve(&mut session, tls_stream, None, shutdown).await;
                }
                Ok(Err(e)) => faxhub_queue::logging::limited(
                    "smtp-tls-failed",
                    || tracing::info!(client = %peer, error = %e, "smtp TLS handshake failed (logged once a minute)"),
                ),
                Err(_) => faxhub_queue::logging::limited(
                    "smtp-tls-timeout",
                    || tracing::info!(client = %peer, "smtp TLS handshake timed out (logged once a minute)"),
                ),
            }
        }
    }
    tracing::debug!(client = %peer, "smtp disconnect");
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    session: &mut Session,
    stream: S,
    greeting: Option<Reply>,
    mut shutdown: watch::Receiver<bool>,
) -> End<S> {
    let mut conn = Conn {
        reader: BufReader::new(stream),
        out: Vec::new(),
    };
    if let Some(g) = greeting {
        conn.reply(&g);
    }
    loop {
        if conn.flush_if_idle().await.is_err() {
            return End::Closed;
        }
        let timeout = if session.commands == 0 {
            session.shared.config.first_command_timeout
        } else {
            session.shared.config.command_timeout
        };
        let read = tokio::select! {
            r = tokio::time::timeout(timeout, read_line(&mut conn.reader, COMMAND_LINE_CAP)) => r,
            _ = shutdown.changed() => {
                conn.reply(&Reply::shutting_down());
                let _ = conn.flush().await;
                return End::Closed;
            }
        };
        let line = match read {
            Err(_) => {
                conn.reply(&Reply::timeout());
                let _ = conn.flush().await;
                return End::Closed;
            }
            Ok(Err(_)) | Ok(Ok(LineRead::Eof)) => return End::Closed,
            Ok(Ok(LineRead::TooLong)) => {
                if count_error(session, &mut conn, &Reply::line_too_long()) {
                    let _ = conn.flush().await;
                    return End::Closed;
                }
                continue;
            }
            Ok(Ok(LineRead::Line(l))) => l,
        };
        session.commands += 1;
        session.line_utf8 = std::str::from_utf8(&line).is_ok();
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a),
            None => (text.to_ascii_uppercase(), ""),
        };
        let reply = match verb.as_str() {
            "EHLO" | "HELO" => match ehlo::ehlo(session, arg, verb == "EHLO") {
                Ok(lines) => {
                    render(&mut conn.out, 250, &lines);
                    None
                }
                Err(r) => Some(r),
            },
            "STARTTLS" => {
                if session.tls {
                    Some(Reply::bad_sequence("TLS already active"))
                } else if !arg.is_empty() {
                    Some(Reply::syntax("STARTTLS takes no parameters"))
                } else {
                    conn.reply(&Reply::new(220, "2.0.0", "Ready to start TLS"));
                    if conn.flush().await.is_err() {
                        return End::Closed;
                    }
                    // Whatever the client pipelined after STARTTLS is dropped with the buffer.
                    return End::StartTls(conn.reader.into_inner());
                }
            }
            "AUTH" => Some(auth::auth(session, &mut conn, arg).await),
            "MAIL" => Some(mail::mail(session, arg).await),
            "RCPT" => Some(rcpt::rcpt(session, arg).await),
            "DATA" => match data::data(session, &mut conn, arg).await {
                Some(reply) => Some(reply),
                None => return End::Closed,
            },
            "RSET" => {
                session.tx = None;
                Some(Reply::ok())
            }
            "NOOP" => Some(Reply::ok()),
            "QUIT" => {
                conn.reply(&Reply::new(221, "2.0.0", "Bye"));
                let _ = conn.flush().await;
                return End::Closed;
            }
            "VRFY" => Some(Reply::new(
                252,
                "2.5.0",
                "Cannot VRFY user, but will accept message and attempt delivery",
            )),
            "EXPN" | "BDAT" | "ETRN" | "TURN" => {
                Some(Reply::new(502, "5.5.1", "Error: command not implemented"))
            }
            "HELP" => Some(Reply::new(
                214,
                "2.0.0",
                "faxhub: send to NUMBER@fax-domain; see the README",
            )),
            _ => Some(Reply::unknown_command()),
        };
        if let Some(reply) = reply
            && count_error(session, &mut conn, &reply)
        {
            let _ = conn.flush().await;
            return End::Closed;
        }
    }
}

/// Queues a reply; returns true if the session must end (too many errors).
fn count_error<S: AsyncRead + AsyncWrite + Unpin>(
    session: &mut Session,
    conn: &mut Conn<S>,
    reply: &Reply,
) -> bool {
    conn.reply(reply);
    if reply.code == 421 {
        return true;
    }
    // recipients past the limit are sent in another transaction (RFC 5321 §4.5.3.1.10): no fault
    let too_many_recipients = reply.code == 452 && reply.status == "4.5.3";
    if reply.is_error() && !too_many_recipients {
        session.errors += 1;
        if session.errors >= session.shared.config.max_errors {
            tracing::info!(client = %session.peer, errors = session.errors, "smtp session closed: too many errors");
            conn.reply(&Reply::too_many_errors());
            return true;
        }
    }
    false
}
