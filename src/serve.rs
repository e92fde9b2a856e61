//! `faxhub serve`: wires the parts together and runs until SIGTERM or SIGINT.
//!
//! Order matters for durability: open the store and spool, recover from any crash, and only then
//! bind the SMTP listeners. On a signal the listeners stop accepting, sessions end with 421, the
//! scheduler waits for calls in progress, and the process exits 0.

use crate::Failure;
use crate::config::{Checked, Config};
use crate::inbound::Mailer;
use crate::postman::Postman;
use crate::receipts::Reporter;
use crate::scheduler::Scheduler;
use faxhub_connectors::addressing::Addressing;
use faxhub_connectors::relay::{Outlets, Relay};
use faxhub_connectors::smtp::{self, Shared, tls};
use faxhub_converters::Converter;
use faxhub_lines::Line;
use faxhub_lines::inbox::Inbox;
use faxhub_lines::sip::agent::Agent;
use faxhub_queue::intake::Intake;
use faxhub_queue::spool::Spool;
use faxhub_queue::store::Store;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

/// Runs the daemon; `warnings` (`Config::warnings`) are logged once.
pub async fn serve(config: Config, checked: Checked, warnings: Vec<String>) -> Result<(), Failure> {
    crate::logging::init(&config.log);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let mut signals = StopSignals::install()?;
    let runtime = |what: &str, e: &dyn std::fmt::Display| Failure::Runtime(format!("{what}: {e}"));
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| runtime(&format!("creating {}", config.data_dir.display()), &e))?;
    let (store, spool) = open_queue(&config).await?;
    crate::recovery::recover(&store, &spool)
        .await
        .map_err(|e| Failure::Runtime(format!("recovery: {e}")))?;

    let hostname = hostname(&config);
    let acceptor = tls::acceptor(&config.smtp.tls, &config.data_dir, &hostname)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let mut listeners = Vec::new();
    for addr in &checked.listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| runtime(&format!("cannot listen on {addr}"), &e))?;
        listeners.push(listener);
    }

    let wake = Arc::new(Notify::new());
    let intake = Intake::start(
        spool.clone(),
        store.clone(),
        wake.clone(),
        config.limits.clone(),
    );
    let inbox = Inbox::new(config.inbox_dir());
    let agent = match config.sip_agent() {
        Some(sip) => Some(
            Agent::start(sip, inbox.clone())
                .await
                .map_err(|e| Failure::Runtime(e.to_string()))?,
        ),
        None => None,
    };
    let lines = config
        .lines
        .iter()
        .map(|l| Line::new(l, config.outbox_dir(), agent.as_ref()).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let workers = config.convert.worker_count();
    let converter = Arc::new(Converter::new(config.convert.clone()).with_scratch(spool.tmp_dir()));
    // No conversion runs outside the sandbox unless the administrator turned it off.
    let db = config.db_path();
    match converter.check_sandbox(&[db.as_path()]).await {
        Ok(how) => tracing::info!(sandbox = %how, "converters sandboxed"),
        Err(e) => {
            return Err(Failure::Runtime(format!(
                "{e}; install bubblewrap, or write [convert.sandbox] mode = \"off\" to convert \
                 documents unsandboxed"
            )));
        }
    }
    if config.convert.sandbox.mode == faxhub_converters::SandboxMode::Off {
        tracing::warn!(
            "converters run unsandboxed ([convert.sandbox] mode = \"off\"): a document can make them read this server's files and reach the network"
        );
    }
    // LibreOffice takes seconds to start: warm the farm now, in the background.
    let warming = converter.clone();
    tokio::spawn(async move {
        match warming.warm_up().await {
            Ok(()) => tracing::info!("LibreOffice farm warm"),
            Err(e) => {
                tracing::warn!(error = %e, "LibreOffice farm not started: Office documents will fail until it can start")
            }
        }
    });
    let recorded = Arc::new(Notify::new());
    let postman_wake = Arc::new(Notify::new());
    let policy = config.receipts.policy().map_err(Failure::Usage)?;
    let reporter = Reporter {
        store: store.clone(),
        spool: spool.clone(),
        config: config.receipts.clone(),
        policy,
        hostname: hostname.clone(),
        from: config
            .receipts
            .from
            .clone()
            .unwrap_or_else(|| format!("MAILER-DAEMON@{hostname}")),
        retry_window: config.retry.give_up_after,
        local: checked.local.clone(),
        wake: recorded.clone(),
        postman: postman_wake.clone(),
    };
    let mailer = Mailer {
        store: store.clone(),
        spool: spool.clone(),
        inbox,
        routes: config.inbound.routes().map_err(Failure::Usage)?,
        language: config.inbound.language.unwrap_or(config.receipts.language),
        config: config.inbound.clone(),
        dialplan: checked.dialplan.clone(),
        hostname: hostname.clone(),
        postman: postman_wake.clone(),
    };
    let relay = Relay::new(config.relay.as_ref(), config.maildir()).map_err(Failure::Usage)?;
    let postman = Postman {
        store: store.clone(),
        spool: spool.clone(),
        outlets: Outlets {
            relay,
            exchange: crate::agents::replay(&config),
            groupwise: crate::agents::api_in(&config),
        },
        config: config.receipts.clone(),
        retention: config.scheduler.retention,
        wake: postman_wake,
    };
    let scheduler = Scheduler {
        store: store.clone(),
        spool: spool.clone(),
        converter,
        convert_workers: workers,
        lines,
        channels: config.lines.iter().map(|l| l.channels as usize).collect(),
        dialplan: checked.dialplan.clone(),
        limits: config.limits.clone(),
        policy: config.retry.clone(),
        config: config.scheduler.clone(),
        wake,
        recorded,
    };
    let addressing = Addressing {
        fax_domains: config.smtp.fax_domains.clone(),
        imcea_domains: config.smtp.imcea_domains.clone(),
        dialplan: checked.dialplan.clone(),
    };
    let shared = Arc::new(Shared {
        config: config.smtp.clone(),
        hostname: hostname.clone(),
        trusted: checked.trusted,
        local: checked.local.clone(),
        addressing: addressing.clone(),
        intake: intake.clone(),
        tls: acceptor,
        clients: Default::default(),
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let scheduler_task = tokio::spawn(scheduler.run(stop_rx.clone()));
    let reporter_task = tokio::spawn(reporter.run(stop_rx.clone()));
    let postman_task = tokio::spawn(postman.run(stop_rx.clone()));
    let mailer_task = tokio::spawn(mailer.run(stop_rx.clone()));
    let agent_tasks = crate::agents::start(&config, &intake, &addressing, &hostname, &stop_rx)
        .map_err(Failure::Runtime)?;
    let smtp_task = tokio::spawn(smtp::serve(shared, listeners, stop_rx));
    tracing::info!(
        listen = ?config.smtp.listen,
        fax_domains = ?config.smtp.fax_domains,
        data_dir = %config.data_dir.display(),
        lines = config.lines.len(),
        hostname = %hostname,
        "faxhub started"
    );
    signals.wait().await;
    tracing::info!("faxhub stopping");
    let _ = stop_tx.send(true);
    let _ = smtp_task.await;
    let _ = scheduler_task.await;
    let _ = reporter_task.await;
    let _ = postman_task.await;
    let _ = mailer_task.await;
    for task in agent_tasks {
        let _ = task.await;
    }
    tracing::info!("faxhub stopped");
    Ok(())
}

/// Opens the spool and the job store under data_dir (shared by serve, send and queue).
pub async fn open_queue(config: &Config) -> Result<(Store, Spool), Failure> {
    let spool = Spool::open(&config.spool_dir())
        .map_err(|e| Failure::Runtime(format!("spool {}: {e}", config.spool_dir().display())))?;
    let store = Store::open(&config.db_path())
        .await
        .map_err(|e| Failure::Runtime(format!("{}: {e}", config.db_path().display())))?;
    Ok((store, spool))
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

pub fn hostname(config: &Config) -> String {
    config.smtp.hostname.clone().unwrap_or_else(system_hostname)
}

/// SIGTERM and SIGINT, caught from the moment they are installed (before any listener exists,
/// so that a stop request is never lost to the default action).
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<StopSignals, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        let err = |e: std::io::Error| Failure::Runtime(format!("cannot catch signals: {e}"));
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).map_err(err)?,
            int: signal(SignalKind::interrupt()).map_err(err)?,
        })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
