//! Wiring of the transport agents beside SMTP (`connectors::agents`): their settings checked
//! before start-up, and one task each, stopped with the others.

use crate::config::Config;
use faxhub_connectors::addressing::Addressing;
use faxhub_connectors::agents::hotfolder::HotFolder;
use faxhub_queue::intake::Intake;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What can be checked before start-up.
pub fn validate(config: &Config) -> Result<(), String> {
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
pub fn start(
    config: &Config,
    intake: &Intake,
    addressing: &Addressing,
    host: &str,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let mut tasks = Vec::new();
    for hot in &config.hotfolder {
        std::fs::create_dir_all(&hot.path)
            .map_err(|e| format!("hotfolder {}: {e}", hot.path.display()))?;
        let agent = HotFolder {
            config: hot.clone(),
            intake: intake.clone(),
            addressing: addressing.clone(),
            host: host.to_string(),
        };
        tasks.push(tokio::spawn(agent.run(shutdown.clone())));
    }
    Ok(tasks)
}
