//! Wiring of the transport agents beside SMTP (`connectors::agents`): their settings checked
//! before start-up, and one task each, stopped with the others.

use crate::config::Config;
use faxhub_connectors::addressing::Addressing;
use faxhub_connectors::agents::Quarantine;
use faxhub_connectors::agents::exchange::{DropDirectory, Replay};
use faxhub_connectors::agents::groupwise::{API_OUT, ATT_OUT, ApiIn, ApiOut};
use faxhub_connectors::agents::hotfolder::HotFolder;
use faxhub_connectors::agents::imap::MailFile;
use faxhub_queue::intake::Intake;
use faxhub_queue::store::Store;
use std::path::PathBuf;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What can be checked before start-up.
pub fn validate(config: &Config) -> Result<(), String> {
    if let Some(x) = &config.exchange
        && x.drop.as_os_str().is_empty()
    {
        return Err("exchange.drop: the Drop directory is needed".into());
    }
    if let Some(g) = &config.groupwise
        && g.dir.as_os_str().is_empty()
    {
        return Err("groupwise.dir: the API gateway's directory is needed".into());
    }
    if let Some(imap) = &config.imap {
        imap.validate()?;
    }
    use faxhub_queue::Route;
    match config.inbound.via {
        Route::Exchange if replay(config).is_none() => {
            return Err("inbound.via = \"exchange\" needs [exchange] replay".into());
        }
        Route::GroupWise if api_in(config).is_none() => {
            return Err("inbound.via = \"groupwise\" needs [groupwise]".into());
        }
        _ => {}
    }
    for (i, hot) in config.hotfolder.iter().enumerate() {
        if hot.path.as_os_str().is_empty() {
            return Err(format!("hotfolder.{i}: path is needed"));
        }
        if config.hotfolder[..i].iter().any(|h| h.path == hot.path) {
            return Err(format!(
                "hotfolder: the folder {} is given twice",
                hot.path.display()
            ));
        }
    }
    Ok(())
}

/// Starts every configured agent; creates the folders they poll.
/// `policy`: who may fax (`[ldap] fax_group`), applied to every agent's items.
pub fn start(
    config: &Config,
    intake: &Intake,
    policy: Option<std::sync::Arc<faxhub_connectors::directory::FaxPolicy>>,
    addressing: &Addressing,
    host: &str,
    store: &Store,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, String> {
    // each agent on one node at a time, taken over when that node goes
    let exclusive = |role: String, agent: Box<dyn Agent>| {
        tokio::spawn(crate::cluster::exclusive(
            store.clone(),
            role,
            shutdown.clone(),
            move |stop| agent.start(stop),
        ))
    };
    let mut tasks = Vec::new();
    if let Some(x) = &config.exchange {
        if let Some(replay) = &x.replay
            && !replay.is_dir()
        {
            // Exchange's own directory: not made here, so that a wrong path shows
            tracing::warn!(replay = %replay.display(), "the Exchange Replay directory does not exist: receipts wait until it does");
        }
        std::fs::create_dir_all(&x.drop)
            .map_err(|e| format!("exchange drop {}: {e}", x.drop.display()))?;
        let agent = DropDirectory {
            config: x.clone(),
            quarantine: quarantine(config, x.quarantine.as_ref(), "exchange"),
            intake: intake.clone(),
            policy: policy.clone(),
            addressing: addressing.clone(),
            host: host.to_string(),
        };
        tasks.push(exclusive("agent exchange".into(), Box::new(agent)));
    }
    if let Some(g) = &config.groupwise {
        for sub in [API_OUT, ATT_OUT] {
            std::fs::create_dir_all(g.dir.join(sub))
                .map_err(|e| format!("groupwise {}: {e}", g.dir.join(sub).display()))?;
        }
        let agent = ApiOut {
            config: g.clone(),
            quarantine: quarantine(config, g.quarantine.as_ref(), "groupwise"),
            intake: intake.clone(),
            policy: policy.clone(),
            addressing: with_domains(addressing, &g.fax_domains),
            host: host.to_string(),
        };
        tasks.push(exclusive("agent groupwise".into(), Box::new(agent)));
    }
    if let Some(imap) = &config.imap {
        let agent = MailFile {
            config: imap.clone(),
            quarantine: quarantine(config, imap.quarantine.as_ref(), "imap"),
            intake: intake.clone(),
            policy: policy.clone(),
            addressing: with_domains(addressing, &imap.fax_domains),
            host: host.to_string(),
        };
        tasks.push(exclusive("agent imap".into(), Box::new(agent)));
    }
    for hot in &config.hotfolder {
        std::fs::create_dir_all(&hot.path)
            .map_err(|e| format!("hotfolder {}: {e}", hot.path.display()))?;
        let agent = HotFolder {
            config: hot.clone(),
            quarantine: Quarantine::new(hot.quarantine_dir()),
            intake: intake.clone(),
            policy: policy.clone(),
            addressing: addressing.clone(),
            host: host.to_string(),
        };
        let role = format!("agent hotfolder {}", hot.path.display());
        tasks.push(exclusive(role, Box::new(agent)));
    }
    Ok(tasks)
}

/// A transport agent, started anew each time this node takes its role.
trait Agent: Send + Sync + 'static {
    fn start(&self, stop: watch::Receiver<bool>) -> BoxFuture<()>;
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

macro_rules! agent {
    ($($t:ty),*) => {$(
        impl Agent for $t {
            fn start(&self, stop: watch::Receiver<bool>) -> BoxFuture<()> {
                Box::pin(self.clone().run(stop))
            }
        }
    )*};
}

agent!(DropDirectory, ApiOut, MailFile, HotFolder);

/// An agent's quarantine: the configured folder, or `data_dir/quarantine/<agent>`.
fn quarantine(config: &Config, configured: Option<&PathBuf>, agent: &str) -> Quarantine {
    Quarantine::new(
        configured
            .cloned()
            .unwrap_or_else(|| config.quarantine_dir(agent)),
    )
}

/// The addressing with an agent's own fax domains added (a gateway's foreign domain).
fn with_domains(addressing: &Addressing, extra: &[String]) -> Addressing {
    let mut a = addressing.clone();
    a.fax_domains.extend(extra.iter().cloned());
    a
}

/// Exchange's Replay directory, when configured.
pub fn replay(config: &Config) -> Option<Replay> {
    let dir = config.exchange.as_ref()?.replay.clone()?;
    Some(Replay::new(dir))
}

/// GroupWise's API_IN, when the gateway is configured.
pub fn api_in(config: &Config) -> Option<ApiIn> {
    Some(ApiIn::new(config.groupwise.as_ref()?.dir.clone()))
}
