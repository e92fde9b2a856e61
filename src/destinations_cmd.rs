//! `faxhub destinations`: what destination memory knows (per number: where its next call starts,
//! what last worked, what last failed), and an operator's say over it: `pin NUMBER` fixes where
//! calls to a number start (`--g711`, `--speed`, `--ecm off`; calls then never change it),
//! `forget NUMBER` lets the line's options apply again. Numbers are read through the dial plan,
//! as in a mail address.

use crate::Failure;
use crate::config::{Checked, Config};
use clap::Subcommand;
use faxhub_queue::memory::{Destination, Profile, SPEEDS};

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Fix where calls to NUMBER start; calls no longer change it
    Pin {
        number: String,
        /// G.711 audio only (no T.38)
        #[arg(long)]
        g711: bool,
        /// The fastest modem speed: 14400, 9600 or 4800
        #[arg(long)]
        speed: Option<u32>,
        /// Error correction: on or off
        #[arg(long, value_parser = ["on", "off"])]
        ecm: Option<String>,
    },
    /// Forget NUMBER: its calls start from the line's options again
    Forget { number: String },
}

pub async fn run(
    config: &Config,
    checked: &Checked,
    action: Option<Action>,
    json: bool,
) -> Result<(), Failure> {
    let store = crate::daemon::open_store(config).await?;
    let failed = |e: faxhub_queue::store::StoreError| Failure::Runtime(format!("the store: {e}"));
    let number = |written: &str| -> Result<String, Failure> {
        checked
            .dialplan
            .normalize(written)
            .map(|n| n.as_str().to_string())
            .map_err(|e| Failure::Usage(format!("{written:?}: {e}")))
    };
    let now = chrono::Utc::now().timestamp_millis();
    match action {
        Some(Action::Pin {
            number: written,
            g711,
            speed,
            ecm,
        }) => {
            if let Some(s) = speed.filter(|s| !SPEEDS.contains(s)) {
                return Err(Failure::Usage(format!("--speed {s}: 14400, 9600 or 4800")));
            }
            let number = number(&written)?;
            let before = store.destination(&number).await.map_err(failed)?;
            let pinned = Destination {
                number: number.clone(),
                profile: Profile {
                    t38: g711.then_some(false),
                    max_speed: speed,
                    ecm: ecm.map(|e| e == "on"),
                },
                pinned: true,
                ..before.unwrap_or_default()
            };
            store.remember(&pinned, now).await.map_err(failed)?;
            println!("{number}: pinned, {}", pinned.profile.describe());
            Ok(())
        }
        Some(Action::Forget { number: written }) => {
            let number = number(&written)?;
            match store.forget_destination(&number).await.map_err(failed)? {
                true => println!("{number}: forgotten"),
                false => println!("{number}: nothing was known"),
            }
            Ok(())
        }
        None => {
            let all = store.destinations().await.map_err(failed)?;
            if json {
                let text = serde_json::to_string_pretty(&all)
                    .map_err(|e| Failure::Runtime(e.to_string()))?;
                println!("{text}");
                return Ok(());
            }
            if all.is_empty() {
                println!("No destination known yet.");
                return Ok(());
            }
            println!(
                "{:<18} {:<34} LAST WORKED / LAST FAILED",
                "NUMBER", "NEXT CALL"
            );
            for d in &all {
                let next = match d.pinned {
                    true => format!("{} (pinned)", d.profile.describe()),
                    false => d.profile.describe(),
                };
                let worked = d.last_ok.as_deref().unwrap_or("-");
                let failed = d.last_failure.as_deref().unwrap_or("-");
                println!("{:<18} {:<34} {worked} / {failed}", d.number, next);
            }
            Ok(())
        }
    }
}
