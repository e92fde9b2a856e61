//! This node among others on one store (`[store] url` on PostgreSQL; on SQLite the same code
//! runs for the one node). `Membership` beats every third of the lease: it says the node is
//! alive, renews the leases on the work it holds, takes back the work of nodes whose leases
//! expired, and notices a drain asked with `faxhub drain`. On PostgreSQL it also listens for the
//! other nodes' NOTIFY (a job committed, a mail queued, an outcome recorded) and wakes the
//! service concerned at once; the services' own polls remain the fallback. A node whose last
//! renewal is older than its lease starts no new call (`Renewal`): another node may be taking
//! its work back.

use crate::Failure;
use crate::config::Config;
use crate::wakeups::Wakeups;
use faxhub_queue::clock::Clock;
use faxhub_queue::logging::limited;
use faxhub_queue::store::{NodeView, Notifications, Store, Target};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// When this node last renewed its leases.
#[derive(Debug)]
pub struct Renewal {
    last: Mutex<Option<Instant>>,
    lease: Option<Duration>,
}

impl Renewal {
    /// For a node renewing leases of `lease`.
    pub fn new(lease: Duration) -> Renewal {
        Renewal {
            last: Mutex::new(None),
            lease: Some(lease),
        }
    }

    /// For tests of one node that never beats: always holds.
    pub fn unbounded() -> Renewal {
        Renewal {
            last: Mutex::new(None),
            lease: None,
        }
    }

    fn renewed(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Whether this node's claims still hold (its last renewal is within the lease).
    pub fn holds(&self) -> bool {
        let Some(lease) = self.lease else { return true };
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < lease)
    }
}

pub struct Membership {
    pub store: Store,
    pub target: Target,
    pub version: &'static str,
    pub started_at_ms: i64,
    pub lease: Duration,
    /// The scheduler's poll interval: how often expired claims are looked for.
    pub poll: Duration,
    pub renewal: Arc<Renewal>,
    pub wakeups: Wakeups,
    /// Told when this node is asked to drain.
    pub drain: Arc<Notify>,
    pub clock: Clock,
}

impl Membership {
    /// The first beat, before the node takes any work: registers it.
    pub async fn join(&self) -> Result<(), Failure> {
        self.store
            .heartbeat(self.version, self.started_at_ms)
            .await
            .map_err(|e| Failure::Runtime(format!("joining the cluster: {e}")))?;
        self.renewal.renewed();
        Ok(())
    }

    /// Beats until `stop`, then says the node stopped (releasing what it still holds).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if let Target::Postgres { url, .. } = &self.target {
            let node = self.store.node().to_string();
            tokio::spawn(listen(
                url.clone(),
                node,
                self.wakeups.clone(),
                stop.clone(),
            ));
        }
        // beat every third of the lease; look for expired claims at the scheduler's pace, so
        // that a dead node's call is dialled again at most a lease and a poll after it died
        let beat_every = self.lease / 3;
        let look_every = self.poll.min(beat_every);
        let mut next_beat = tokio::time::Instant::now();
        let mut draining = false;
        loop {
            if tokio::time::Instant::now() >= next_beat {
                next_beat += beat_every;
                self.beat(&mut draining).await;
            }
            if self.store.clustered() {
                self.reclaim().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(look_every) => {}
                _ = stop.changed() => break,
            }
        }
        if let Err(e) = self.store.node_stopped().await {
            tracing::warn!(error = %e, "cluster: could not release this node's claims; they expire with their lease");
        }
    }

    /// Says the node is alive, renewing its leases; notices a drain asked for.
    async fn beat(&self, draining: &mut bool) {
        match self.store.heartbeat(self.version, self.started_at_ms).await {
            Ok(asked) => {
                self.renewal.renewed();
                if asked && !*draining {
                    *draining = true;
                    tracing::info!(node = %self.store.node(), "asked to drain");
                    self.drain.notify_one();
                }
            }
            Err(e) => limited(
                "cluster-heartbeat",
                || tracing::error!(error = %e, "cluster: the heartbeat failed (logged once a minute); no new call starts while the lease cannot be renewed"),
            ),
        }
    }

    /// Takes back the work of nodes whose claims expired, and wakes who has work from it.
    async fn reclaim(&self) {
        match self.store.reclaim_expired(self.clock.now_ms()).await {
            Ok(r) if r.calls.is_empty() && r.conversions == 0 => {}
            Ok(r) => {
                for (job, number, node) in &r.calls {
                    tracing::warn!(%job, rcpt = %number, %node, "a call of a node that stopped renewing its claim: recorded as interrupted, due again");
                }
                if r.conversions > 0 {
                    tracing::warn!(
                        conversions = r.conversions,
                        "conversions of a node that stopped renewing its claims: pending again"
                    );
                }
                self.wakeups.scheduler.notify_one();
                self.wakeups.reporter.notify_one();
            }
            Err(e) => limited(
                "cluster-reclaim",
                || tracing::error!(error = %e, "cluster: could not look for expired claims (logged once a minute)"),
            ),
        }
    }
}

/// Wakes this node's services when another node NOTIFYs work, until `stop`; listens again
/// after the connection breaks.
async fn listen(url: String, node: String, wakeups: Wakeups, mut stop: watch::Receiver<bool>) {
    loop {
        let mut notifications = match Notifications::listen(&url).await {
            Ok(n) => n,
            Err(e) => {
                limited(
                    "cluster-listen",
                    || tracing::warn!(error = %e, "cluster: cannot listen for the other nodes (logged once a minute); polling meanwhile"),
                );
                if continue_after(&mut stop).await {
                    return;
                }
                continue;
            }
        };
        loop {
            tokio::select! {
                n = notifications.next() => match n {
                    Ok(Some(what)) => wake(&wakeups, &node, &what),
                    // the connection broke: whatever was said meanwhile, look now
                    Ok(None) => wake(&wakeups, &node, "all"),
                    Err(_) => break,
                },
                _ = stop.changed() => return,
            }
        }
    }
}

/// How often a node that does not play a role asks for it, and one that does checks it still
/// holds it.
const ROLE_CHECK: Duration = Duration::from_secs(2);

/// Runs `work` (an agent) while this node holds role `role`, until `stop`: a node that cannot
/// take the role waits and asks again; one that loses it (its connection to the database
/// broke) stops the work and asks again. So a drop directory or a mailbox is read by one node
/// at a time, and by another when that node goes.
pub async fn exclusive<W, F>(store: Store, role: String, mut stop: watch::Receiver<bool>, work: W)
where
    W: Fn(watch::Receiver<bool>) -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let mut held = loop {
            if *stop.borrow() {
                return;
            }
            match store.try_role(&role).await {
                Ok(Some(held)) => break held,
                Ok(None) => {}
                Err(e) => limited(
                    "cluster-role",
                    || tracing::warn!(%role, error = %e, "cluster: cannot ask for a role (logged once a minute)"),
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(ROLE_CHECK) => {}
                _ = stop.changed() => return,
            }
        };
        if store.clustered() {
            tracing::info!(%role, node = %store.node(), "this node takes the role");
        }
        let (halt, halted) = watch::channel(false);
        let mut running = tokio::spawn(work(halted));
        loop {
            tokio::select! {
                _ = &mut running => break,
                _ = stop.changed() => {
                    let _ = halt.send(true);
                    let _ = running.await;
                    return;
                }
                _ = tokio::time::sleep(ROLE_CHECK) => {
                    if !held.held().await {
                        tracing::warn!(%role, "cluster: this node lost the role (its database connection broke); stopping it");
                        let _ = halt.send(true);
                        let _ = (&mut running).await;
                        break;
                    }
                }
            }
        }
    }
}

/// Waits a second before trying again; true if told to stop meanwhile.
async fn continue_after(stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

fn wake(wakeups: &Wakeups, node: &str, what: &str) {
    // jobs accepted by another node count as arriving here too: while mail floods the
    // cluster, every node puts intake first and the nodes receiving it share one conversion
    // budget (`scheduler::pace`); this node's own are counted by its intake
    if let Some((jobs, by)) = what.strip_prefix("work ").and_then(|w| w.split_once(' ')) {
        match jobs.parse() {
            Ok(jobs) if by != node => wakeups.scheduler.committed_by(jobs, by),
            _ => {}
        }
        return;
    }
    match what {
        "work" => wakeups.scheduler.notify_one(),
        "outcome" => wakeups.reporter.notify_one(),
        "mail" => wakeups.postman.notify_one(),
        _ => {
            wakeups.scheduler.notify_one();
            wakeups.reporter.notify_one();
            wakeups.postman.notify_one();
        }
    }
}

/// `faxhub drain [NODE]`: asks a node (this one by default) to finish its calls and stop.
pub async fn drain(config: &Config, node: Option<String>) -> Result<(), Failure> {
    let store = crate::daemon::open_store(config).await?;
    let node = node.unwrap_or_else(|| config.cluster.node_name());
    if store
        .drain(&node)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?
    {
        println!(
            "node {node} asked to drain: it takes no new work, finishes its calls (at most {}) and stops",
            faxhub_queue::units::format_duration(config.cluster.drain_grace)
        );
        Ok(())
    } else {
        Err(Failure::Runtime(format!("no node {node} in the cluster")))
    }
}

/// `faxhub cluster status`: every node, its version, last heartbeat and what it holds.
pub async fn status(config: &Config, json: bool) -> Result<(), Failure> {
    let store = crate::daemon::open_store(config).await?;
    let nodes = store
        .nodes()
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&nodes).map_err(|e| Failure::Runtime(e.to_string()))?
        );
        return Ok(());
    }
    let lease_ms = config.cluster.lease.as_millis() as i64;
    println!(
        "{:<20} {:<10} {:<12} {:>12} {:>6} {:>12} {:>6}",
        "NODE", "VERSION", "STATE", "HEARTBEAT", "CALLS", "CONVERSIONS", "MAILS"
    );
    for n in &nodes {
        println!(
            "{:<20} {:<10} {:<12} {:>11}s {:>6} {:>12} {:>6}",
            n.name,
            n.version,
            state(n, lease_ms),
            n.heartbeat_age_ms / 1000,
            n.calls,
            n.conversions,
            n.mails
        );
    }
    println!("-- {} node(s)", nodes.len());
    Ok(())
}

/// What a node is doing, as the listing says it.
fn state(node: &NodeView, lease_ms: i64) -> &'static str {
    if node.stopped_at_ms.is_some() {
        "stopped"
    } else if node.heartbeat_age_ms > lease_ms {
        "silent"
    } else if node.draining {
        "draining"
    } else {
        "up"
    }
}
