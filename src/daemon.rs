//! The daemon (`faxhub serve`): `Daemon::build` makes every service once from the configuration,
//! `Daemon::run` runs them until told to stop (by SIGTERM or SIGINT for `serve`; by anything a
//! test likes in-process). The services wake each other through one named set (`Wakeups`).
//!
//! Order matters for durability: open the store and spool, recover from any crash, and only then
//! bind the SMTP listeners. On stop the listeners stop accepting, sessions end with 421, the
//! scheduler waits for calls in progress, and every task ends.

use crate::Failure;
use crate::cluster::{Membership, Renewal};
use crate::config::{Checked, Config};
use crate::inbound::Mailer;
use crate::postman::Postman;
use crate::receipts::Reporter;
use crate::scheduler::Scheduler;
use crate::wakeups::Wakeups;
use faxhub_connectors::addressing::Addressing;
use faxhub_connectors::relay::{Outlets, Relay};
use faxhub_connectors::smtp::{self, Shared, tls};
use faxhub_converters::Converter;
use faxhub_lines::Line;
use faxhub_lines::inbox::Inbox;
use faxhub_lines::sip::agent::Agent;
use faxhub_queue::clock::Clock;
use faxhub_queue::intake::Intake;
use faxhub_queue::spool::Spool;
use faxhub_queue::store::Store;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

/// Runs the daemon until SIGTERM or SIGINT; `warnings` (`Config::warnings`) are logged once.
pub async fn serve(config: Config, checked: Checked, warnings: Vec<String>) -> Result<(), Failure> {
    crate::logging::init(&config.log);
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    // caught from now on: a stop asked for while starting is not lost
    let mut signals = StopSignals::install()?;
    let daemon = Daemon::build(config, checked, warnings).await?;
    daemon.run(async move { signals.wait().await }).await
}

/// Every service of a running faxhub, made once from the configuration.
pub struct Daemon {
    config: Config,
    hostname: String,
    listeners: Vec<TcpListener>,
    /// The HTTP API's (`[http] listen`).
    http_listeners: Vec<(
        TcpListener,
        Option<faxhub_connectors::smtp::tls::TlsAcceptor>,
    )>,
    intake: Intake,
    addressing: Addressing,
    shared: Arc<Shared>,
    scheduler: Scheduler,
    reporter: Reporter,
    mailer: Mailer,
    postman: Postman,
    converter: Arc<Converter>,
    /// This node among the others on the store (one on SQLite).
    membership: Membership,
    /// Told when this node is asked to drain (`faxhub drain`).
    drain: Arc<Notify>,
    /// The SIP user agent, kept for as long as the daemon runs: it answers calls even when no
    /// line calls through it (its TCP listener holds only a weak reference).
    agent: Option<Arc<Agent>>,
    /// What each line is doing, for the HTTP API and the metrics.
    line_states: Vec<Arc<faxhub_lines::state::LineState>>,
    /// Who owns each number dialled to us.
    owners: crate::owners::Owners,
    /// The web client's state.
    web: Arc<crate::web::Web>,
}

impl Daemon {
    /// Opens the store and the spool, recovers from a crash, binds the SMTP listeners, starts
    /// the SIP agent and checks the converters' sandbox, then makes every service. Nothing is
    /// accepted before recovery is done.
    /// `warnings`: what the configuration check said (the web client's administrators see it).
    pub async fn build(
        config: Config,
        checked: Checked,
        warnings: Vec<String>,
    ) -> Result<Daemon, Failure> {
        let runtime =
            |what: &str, e: &dyn std::fmt::Display| Failure::Runtime(format!("{what}: {e}"));
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| runtime(&format!("creating {}", config.data_dir.display()), &e))?;
        let (store, spool) = open_queue(&config).await?;
        let store = store.with_node(&config.cluster.node_name(), config.cluster.lease);
        // every change from now on writes the events the webhooks want
        store.subscribe(crate::webhooks::subscriptions(&config.webhooks));
        crate::recovery::recover(&store, &spool)
            .await
            .map_err(|e| Failure::Runtime(format!("recovery: {e}")))?;
        let wakeups = Wakeups::default();
        let renewal = Arc::new(Renewal::new(config.cluster.lease));
        let drain = Arc::new(Notify::new());
        let membership = Membership {
            store: store.clone(),
            target: config.store_target().map_err(Failure::Usage)?,
            version: env!("CARGO_PKG_VERSION"),
            started_at_ms: faxhub_queue::job::now_ms(),
            lease: config.cluster.lease,
            poll: config.scheduler.poll_interval,
            renewal: renewal.clone(),
            wakeups: wakeups.clone(),
            drain: drain.clone(),
            clock: Clock::System,
        };
        membership.join().await?;

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
        // the HTTP API off loopback is TLS only: [http.tls], or SMTP's certificate
        let http_tls = match checked.http.iter().any(crate::http::HttpConfig::tls_on) {
            false => None,
            true => Some(match &config.http.tls {
                Some(own) => tls::acceptor(own, &config.data_dir, &hostname)
                    .map_err(|e| Failure::Usage(e.to_string().replace("smtp.tls", "http.tls")))?,
                None => acceptor.clone(),
            }),
        };
        let mut http_listeners = Vec::new();
        for addr in &checked.http {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| runtime(&format!("cannot listen on {addr} (http)"), &e))?;
            let tls = http_tls
                .clone()
                .filter(|_| crate::http::HttpConfig::tls_on(addr));
            http_listeners.push((listener, tls));
        }

        let intake = Intake::start(
            spool.clone(),
            store.clone(),
            wakeups.scheduler.clone(),
            config.limits.clone(),
        )
        .with_billing(&config.billing);
        let inbox = Inbox::new(config.inbox_dir());
        let agent = match config.sip_agent() {
            Some(sip) => Some(
                Agent::start(sip, inbox.clone())
                    .await
                    .map_err(|e| Failure::Runtime(e.to_string()))?,
            ),
            None => None,
        };
        // before anything counts: the counters of this process start here
        crate::metrics::install();
        let lines = config
            .lines
            .iter()
            .map(|l| Line::new(l, config.outbox_dir(), agent.as_ref()).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::Usage(e.to_string()))?;
        let line_states = lines.iter().map(|l| l.state().clone()).collect();
        let converter =
            Arc::new(Converter::new(config.convert.clone()).with_scratch(spool.tmp_dir()));
        check_sandbox(&converter, &config).await?;
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
            wakeups: wakeups.clone(),
            clock: Clock::System,
        };
        let directory = match &config.ldap {
            Some(ldap) => Some(
                faxhub_connectors::directory::Directory::new(ldap.clone())
                    .map_err(|e| Failure::Usage(e.to_string()))?,
            ),
            None => None,
        };
        let owners = crate::owners::Owners::new(
            config.inbound.routes().map_err(Failure::Usage)?,
            checked.dialplan.clone(),
            directory.clone(),
        )
        .with_ident_routes(&config.inbound.ident_routes);
        let mailer = Mailer {
            store: store.clone(),
            spool: spool.clone(),
            inbox,
            owners: owners.clone(),
            language: config.inbound.language.unwrap_or(config.receipts.language),
            config: config.inbound.clone(),
            dialplan: checked.dialplan.clone(),
            hostname: hostname.clone(),
            wakeups: wakeups.clone(),
            clock: Clock::System,
        };
        // cover pages show what the directory and [[senders]] say of their senders
        let identities: Arc<[faxhub_queue::identity::SenderIdentity]> =
            config.senders.clone().into();
        let job_converter: Arc<dyn crate::scheduler::convert::Convert> =
            Arc::new(crate::scheduler::convert::JobConverter {
                converter: converter.clone(),
                directory: directory
                    .clone()
                    .map(faxhub_connectors::directory::Senders::new),
                identities: identities.clone(),
            });
        let web = Arc::new(crate::web::Web::new(
            config.web.clone(),
            directory,
            converter.clone(),
            warnings,
            Some(mailer.clone()),
            config.convert.worker_count(),
        ));
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
            wakeups: wakeups.clone(),
            clock: Clock::System,
        };
        let scheduler = Scheduler {
            store: store.clone(),
            spool: spool.clone(),
            converter: job_converter,
            convert_workers: config.convert.worker_count(),
            lines,
            channels: config.lines.iter().map(|l| l.channels as usize).collect(),
            dialplan: checked.dialplan.clone(),
            limits: config.limits.clone(),
            policy: config.retry.clone(),
            config: config.scheduler.clone(),
            wakeups,
            clock: Clock::System,
            renewal,
            drain_grace: config.cluster.drain_grace,
            identities,
            windows: faxhub_queue::window::Windows::new(
                &config.scheduler.windows,
                &config.dialplan.country_code,
            )
            .map_err(Failure::Usage)?,
            line_hours: config
                .lines
                .iter()
                .map(|l| {
                    l.hours
                        .as_deref()
                        .and_then(faxhub_queue::window::Hours::parse)
                })
                .collect(),
        };
        let addressing = Addressing {
            fax_domains: config.smtp.fax_domains.clone(),
            imcea_domains: config.smtp.imcea_domains.clone(),
            dialplan: checked.dialplan.clone(),
        };
        let fax_policy = match &config.ldap {
            Some(ldap) => faxhub_connectors::directory::FaxPolicy::new(ldap)
                .map_err(|e| Failure::Usage(e.to_string()))?
                .map(Arc::new),
            None => None,
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
            fax_policy,
        });
        Ok(Daemon {
            config,
            hostname,
            listeners,
            http_listeners,
            intake,
            addressing,
            shared,
            scheduler,
            reporter,
            mailer,
            postman,
            converter,
            membership,
            drain,
            agent,
            line_states,
            owners,
            web,
        })
    }

    /// Runs every service until `shutdown` completes; then the listeners stop accepting,
    /// sessions end with 421, the scheduler waits for calls in progress, and every task ends.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), Failure> {
        // LibreOffice takes seconds to start: warm the farm now, in the background.
        let converter = self.converter;
        let (warmed, converters) = watch::channel(crate::http::Warmth::Warming);
        tokio::spawn(async move {
            match converter.warm_up().await {
                Ok(()) => {
                    tracing::info!("LibreOffice farm warm");
                    let _ = warmed.send(crate::http::Warmth::Warm);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "LibreOffice farm not started: Office documents wait until it can start");
                    let _ = warmed.send(crate::http::Warmth::Failed(e.to_string()));
                }
            }
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let store = self.scheduler.store.clone();
        let wakeups = self.scheduler.wakeups.clone();
        let spool = self.scheduler.spool.clone();
        let mut tasks = vec![
            tokio::spawn(self.scheduler.run(stop_rx.clone())),
            tokio::spawn(crate::cluster::exclusive(
                store.clone(),
                "receipts".into(),
                stop_rx.clone(),
                move |stop| self.reporter.clone().run(stop),
            )),
            tokio::spawn(self.postman.run(stop_rx.clone())),
            tokio::spawn(self.mailer.run(stop_rx.clone())),
            tokio::spawn(crate::webhooks::run(
                store.clone(),
                self.config.webhooks.clone(),
                Clock::System,
                stop_rx.clone(),
            )),
        ];
        tasks.extend(
            crate::agents::start(
                &self.config,
                &self.intake,
                self.shared.fax_policy.clone(),
                &self.addressing,
                &self.hostname,
                &store,
                &stop_rx,
            )
            .map_err(Failure::Runtime)?,
        );
        let local = self.shared.local.clone();
        let fax_policy = self.shared.fax_policy.clone();
        let (closed_tx, closed_rx) = watch::channel(false);
        let smtp_task = tokio::spawn(smtp::serve(
            self.shared,
            self.listeners,
            stop_rx.clone(),
            closed_rx,
        ));
        let http_task = tokio::spawn(crate::http::serve(
            crate::http::Api {
                store: store.clone(),
                spool,
                intake: self.intake.clone(),
                addressing: self.addressing.clone(),
                local,
                hostname: self.hostname.clone(),
                max_size: usize::try_from(self.config.smtp.max_message_size).unwrap_or(usize::MAX),
                max_recipients: self.config.smtp.max_recipients as usize,
                max_broadcast: self.config.smtp.max_broadcast as usize,
                wakeups,
                lines: self.line_states,
                inbox: Inbox::new(self.config.inbox_dir()),
                tokens: Default::default(),
                converters,
                owners: self.owners,
                web: self.web,
                fax_policy,
            },
            self.config.http.clone(),
            self.http_listeners,
            stop_rx.clone(),
        ));
        let (left_tx, left_rx) = watch::channel(false);
        let membership = tokio::spawn(self.membership.run(left_rx));
        tracing::info!(
            listen = ?self.config.smtp.listen,
            http = ?self.config.http.listen,
            fax_domains = ?self.config.smtp.fax_domains,
            data_dir = %self.config.data_dir.display(),
            lines = self.config.lines.len(),
            hostname = %self.hostname,
            "faxhub started"
        );
        tokio::select! {
            _ = shutdown => {}
            _ = self.drain.notified() => {}
        }
        // Drain: new SMTP connections get 421 4.3.2 (the client tries another node), sessions
        // end, no new work is claimed, calls in progress finish (within drain_grace); then
        // this node's claims are released and the listeners close.
        tracing::info!("faxhub stopping");
        let _ = stop_tx.send(true);
        for task in tasks {
            let _ = task.await;
        }
        let _ = http_task.await;
        let _ = left_tx.send(true);
        let _ = membership.await;
        let _ = closed_tx.send(true);
        let _ = smtp_task.await;
        drop(self.agent);
        tracing::info!("faxhub stopped");
        Ok(())
    }
}

/// No conversion runs outside the sandbox unless the administrator turned it off.
async fn check_sandbox(converter: &Converter, config: &Config) -> Result<(), Failure> {
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
    Ok(())
}

/// Opens the spool and the job store under data_dir (shared by serve, send and queue).
pub async fn open_queue(config: &Config) -> Result<(Store, Spool), Failure> {
    let spool = Spool::open(&config.spool_dir())
        .map_err(|e| Failure::Runtime(format!("spool {}: {e}", config.spool_dir().display())))?;
    let store = open_store(config).await?;
    if store.clustered() {
        // several nodes: every spool file also in the store, this spool a cache of it
        let store = store.with_blobs(spool.root());
        let spool = spool.in_store(store.clone());
        return Ok((store, spool));
    }
    Ok((store, spool))
}

/// Opens the job store `[store]` names (a SQLite file under data_dir by default).
pub async fn open_store(config: &Config) -> Result<Store, Failure> {
    let target = config.store_target().map_err(Failure::Runtime)?;
    Store::connect(&target)
        .await
        .map_err(|e| Failure::Runtime(format!("{target}: {e}")))
}

pub fn system_hostname() -> String {
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
