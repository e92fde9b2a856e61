//! The postman in-process: a real store and spool, a clock the test moves by hand, and a relay
//! written here (a few lines of SMTP) that counts its connections and the mail it took, and
//! answers the first RCPTs with 451 when told to. Mail goes in batches of `BATCH` per
//! connection; mail a relay refused for now goes again after its wait, once.

use super::*;
use crate::testing::Base;
use faxhub_connectors::relay::{Relay, RelayConfig, RelayTls, SmtpRelay};
use faxhub_queue::store::{MailKind, NewMail};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Default)]
struct Seen {
    connections: usize,
    /// Messages taken, with the recipient of each.
    taken: Vec<String>,
    /// RCPTs still to answer with 451.
    refusals: usize,
}

/// The relay: its port and what it saw.
async fn relay(refusals: usize) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen {
        refusals,
        ..Seen::default()
    }));
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            shared.lock().unwrap().connections += 1;
            let seen = shared.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 relay ESMTP\r\n").await;
                let mut rcpt = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 relay\r\n",
                        "RCPT" => {
                            let mut s = seen.lock().unwrap();
                            if s.refusals > 0 {
                                s.refusals -= 1;
                                b"451 4.3.0 try again later\r\n"
                            } else {
                                rcpt = line.clone();
                                b"250 ok\r\n"
                            }
                        }
                        "DATA" => {
                            let _ = write.write_all(b"354 go on\r\n").await;
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                            }
                            seen.lock().unwrap().taken.push(rcpt.clone());
                            b"250 taken\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, seen)
}

struct Harness {
    base: Base,
    stop: watch::Sender<bool>,
    postman: Option<Postman>,
    stopped: watch::Receiver<bool>,
}

impl std::ops::Deref for Harness {
    type Target = Base;
    fn deref(&self) -> &Base {
        &self.base
    }
}

/// The store, spool and postman, not running yet (`run`).
async fn start(port: u16) -> Harness {
    let base = Base::new().await;
    let relay = SmtpRelay::new(&RelayConfig {
        host: "127.0.0.1".into(),
        port,
        tls: RelayTls::None,
        ..RelayConfig::default()
    })
    .unwrap();
    let postman = Postman {
        store: base.store.clone(),
        spool: base.spool.clone(),
        outlets: Outlets {
            relay: Relay::Smtp(Box::new(relay)),
            exchange: None,
            groupwise: None,
        },
        config: ReceiptsConfig::default(),
        retention: Duration::from_secs(86_400),
        wakeups: base.wakeups.clone(),
        clock: base.clock.clone(),
    };
    let (stop, stopped) = watch::channel(false);
    Harness {
        base,
        stop,
        postman: Some(postman),
        stopped,
    }
}

impl Harness {
    fn run(&mut self) {
        let postman = self.postman.take().expect("runs once");
        tokio::spawn(postman.run(self.stopped.clone()));
    }

    /// `n` mails queued at once, the postman told.
    async fn queue(&self, n: usize) {
        for i in 0..n {
            let id = format!("m{i:03}");
            let path = Spool::mail_rel(&id);
            let text = format!(
                "From: faxhub\r\nTo: u{i}@example.com\r\nSubject: {i}\r\n\r\nreport {i}\r\n"
            );
            self.spool.write_durable(&path, text.as_bytes()).unwrap();
            let mail = NewMail {
                id,
                kind: MailKind::Delivered,
                job_id: None,
                mail_from: String::new(),
                rcpt_to: format!("u{i}@example.com"),
                path,
                created_at_ms: self.clock.now_ms(),
                route: Route::Relay,
            };
            assert!(self.store.queue_mail(&mail).await.unwrap());
        }
        self.wakeups.postman.notify_one();
    }

    /// Waits (a minute at most) until `seen` says so, moving the clock to the next mail due.
    async fn until(&self, seen: &Mutex<Seen>, what: &str, done: impl Fn(&Seen) -> bool) {
        let started = std::time::Instant::now();
        while !done(&seen.lock().unwrap()) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: not in a minute"
            );
            if let Some(due) = self.store.next_mail_due().await.unwrap()
                && due > self.clock.now_ms()
            {
                // the postman sleeps until then on tokio's clock: it is told the time has come
                self.clock.advance_to(due);
                self.wakeups.postman.notify_one();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn mail_goes_in_batches_one_connection_each() {
    let (port, seen) = relay(0).await;
    let mut h = start(port).await;
    h.queue(120).await;
    h.run();
    h.until(&seen, "120 mails taken", |s| s.taken.len() == 120)
        .await;
    let (connections, mut taken) = {
        let s = seen.lock().unwrap();
        (s.connections, s.taken.clone())
    };
    assert_eq!(connections, 3, "50 + 50 + 20");
    taken.sort();
    taken.dedup();
    assert_eq!(taken.len(), 120, "each once");
    assert!(
        h.store.mail_due(i64::MAX, 10).await.unwrap().is_empty(),
        "all recorded sent"
    );
    h.stop.send(true).unwrap();
}

#[tokio::test]
async fn mail_a_relay_refused_for_now_goes_again_after_its_wait_once() {
    let (port, seen) = relay(2).await;
    let mut h = start(port).await;
    h.queue(2).await;
    h.run();
    // both refused at first: deferred, not lost and not failed
    h.until(&seen, "a first connection", |s| s.connections >= 1)
        .await;
    let before = h.clock.now_ms();
    h.until(&seen, "both taken on a later round", |s| s.taken.len() == 2)
        .await;
    assert!(
        h.clock.now_ms() - before >= ReceiptsConfig::default().retry_after.as_millis() as i64,
        "not before the relay's wait"
    );
    assert!(h.store.mail_due(i64::MAX, 10).await.unwrap().is_empty());
    // and nothing goes a second time
    h.clock.advance(Duration::from_secs(86_400));
    h.wakeups.postman.notify_one();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().taken.len(), 2);
    h.stop.send(true).unwrap();
}
