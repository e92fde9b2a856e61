//! `faxhub queue`: list jobs (like mailq / faxstat), show one, and act on one (cancel, hold,
//! release, retry). Reads and writes the job store directly, so it works with or without the
//! daemon; the daemon's scheduler sees changes on its next look (`scheduler.poll_interval`).
//! The JSON field names are a contract kept stable.

use crate::Failure;
use crate::cli::{QueueAction, QueueArgs};
use crate::config::{Checked, Config};
use faxhub_queue::JobId;
use faxhub_queue::job::now_ms;
use faxhub_queue::state::{ActionEffect, OperatorAction};
use faxhub_queue::store::{JobView, Store, Target};

pub async fn run(config: &Config, checked: &Checked, args: QueueArgs) -> Result<(), Failure> {
    let target = config.store_target().map_err(Failure::Runtime)?;
    if matches!(&target, Target::File(path) if !path.exists()) {
        // Nothing was ever queued here; don't create a database just to say so.
        return match args.action {
            None => {
                println!("{}", if args.json { "[]" } else { "Queue is empty" });
                Ok(())
            }
            Some(QueueAction::Counters) => {
                if args.json {
                    println!("{{}}");
                }
                Ok(())
            }
            Some(
                QueueAction::Show { id }
                | QueueAction::Watch { id }
                | QueueAction::Cancel { id, .. }
                | QueueAction::Hold { id, .. },
            )
            | Some(QueueAction::Release { id, .. } | QueueAction::Retry { id, .. }) => {
                Err(Failure::Runtime(format!("no job {id}")))
            }
        };
    }
    let store = crate::daemon::open_store(config).await?;
    match args.action {
        None => list(&store, args.json, args.all).await,
        Some(QueueAction::Counters) => counters(&store, args.json).await,
        Some(QueueAction::Show { id }) => show(&store, &parse_id(&id)?, args.json).await,
        Some(QueueAction::Watch { id }) => crate::watch::follow(&store, &parse_id(&id)?).await,
        Some(QueueAction::Cancel { id, number }) => {
            act(&store, checked, &id, number, OperatorAction::Cancel).await
        }
        Some(QueueAction::Hold { id, number }) => {
            act(&store, checked, &id, number, OperatorAction::Hold).await
        }
        Some(QueueAction::Release { id, number }) => {
            act(&store, checked, &id, number, OperatorAction::Release).await
        }
        Some(QueueAction::Retry { id, number }) => {
            act(&store, checked, &id, number, OperatorAction::Retry).await
        }
    }
}

/// Prints the store's counters: `name value` lines, or one JSON object.
async fn counters(store: &Store, json: bool) -> Result<(), Failure> {
    let counters = store
        .counters()
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    if json {
        let map: serde_json::Map<String, serde_json::Value> = counters
            .into_iter()
            .map(|(name, value)| (name, value.into()))
            .collect();
        println!("{}", serde_json::Value::Object(map));
    } else {
        for (name, value) in counters {
            println!("{name} {value}");
        }
    }
    Ok(())
}

fn parse_id(id: &str) -> Result<JobId, Failure> {
    JobId::parse(id).ok_or_else(|| Failure::Usage(format!("{id:?} is not a job id")))
}

fn json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Runtime(e.to_string()))?;
    println!("{text}");
    Ok(())
}

async fn list(store: &Store, as_json: bool, all: bool) -> Result<(), Failure> {
    let jobs = store
        .jobs(all)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    if as_json {
        return json(&jobs);
    }
    if jobs.is_empty() {
        println!("Queue is empty");
        return Ok(());
    }
    println!(
        "{:<16}  {:<24}  {:<9}  {:<14}  {:>5}  SENDER / SUBJECT",
        "JOB", "RECEIVED", "ORIGIN", "PHASE", "PAGES"
    );
    for job in &jobs {
        println!(
            "{:<16}  {:<24}  {:<9}  {:<14}  {:>5}  {} / {}",
            job.id,
            job.received_at,
            job.origin,
            job.phase.as_str(),
            job.pages
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            if job.sender.is_empty() {
                "<>"
            } else {
                &job.sender
            },
            match &job.billing {
                Some(code) => format!("{} [{code}]", job.subject.as_deref().unwrap_or("")),
                None => job.subject.clone().unwrap_or_default(),
            }
        );
        for r in &job.recipients {
            println!(
                "    {:<16}  {:<9}  {}",
                // an address refused at intake has no number
                if r.number.is_empty() {
                    &r.address
                } else {
                    &r.number
                },
                r.status.as_str(),
                recipient_detail(r)
            );
        }
    }
    let rcpts: usize = jobs.iter().map(|j| j.recipients.len()).sum();
    println!("-- {} job(s), {} recipient(s)", jobs.len(), rcpts);
    Ok(())
}

fn recipient_detail(r: &faxhub_queue::store::RecipientView) -> String {
    let mut parts = Vec::new();
    if let Some(node) = &r.node {
        parts.push(format!(
            "on node {node}, line {}",
            r.line.as_deref().unwrap_or("-")
        ));
    }
    if r.attempts > 0 {
        parts.push(format!("attempts {}", r.attempts));
    }
    if r.pages_sent > 0 {
        parts.push(format!("pages {}", r.pages_sent));
    }
    if let Some(code) = &r.status_code {
        parts.push(format!("{code} {}", r.reason.as_deref().unwrap_or("")));
    }
    if let Some(next) = &r.next_attempt_at {
        parts.push(format!("next {next}"));
    }
    parts.join(", ")
}

async fn show(store: &Store, id: &JobId, as_json: bool) -> Result<(), Failure> {
    let job = store
        .job(id)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?
        .ok_or_else(|| Failure::Runtime(format!("no job {id}")))?;
    if as_json {
        return json(&job);
    }
    print_job(&job);
    Ok(())
}

fn print_job(job: &JobView) {
    println!("job:         {}", job.id);
    println!("origin:      {}", job.origin);
    if let Some(source) = &job.source {
        println!("source:      {source}");
    }
    println!(
        "sender:      {}",
        if job.sender.is_empty() {
            "<>"
        } else {
            &job.sender
        }
    );
    println!("subject:     {}", job.subject.as_deref().unwrap_or(""));
    if let Some(code) = &job.billing {
        println!("billing:     {code}");
    }
    println!("received:    {}", job.received_at);
    println!("phase:       {}", job.phase.as_str());
    println!(
        "pages:       {}",
        job.pages
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into())
    );
    println!("size:        {} bytes", job.size);
    if let Some(finished) = &job.finished_at {
        println!("finished:    {finished}");
    }
    for r in &job.recipients {
        println!();
        println!("  number:    {} ({})", r.number, r.address);
        if let Some(name) = &r.display_name {
            println!("  name:      {name}");
        }
        println!("  status:    {}", r.status.as_str());
        println!("  detail:    {}", recipient_detail(r));
        for a in &r.attempt_log {
            println!(
                "  attempt {}: {} → {} on {}: {} {} (pages {})",
                a.n,
                a.started_at,
                a.ended_at.as_deref().unwrap_or("…"),
                a.line,
                a.status_code.as_deref().unwrap_or("-"),
                a.reason.as_deref().unwrap_or(""),
                a.pages_sent
            );
        }
    }
}

async fn act(
    store: &Store,
    checked: &Checked,
    id: &str,
    number: Option<String>,
    action: OperatorAction,
) -> Result<(), Failure> {
    let id = parse_id(id)?;
    let number = match number {
        Some(n) => Some(
            checked
                .dialplan
                .normalize(&n)
                .map_err(|e| Failure::Usage(e.to_string()))?,
        ),
        None => None,
    };
    let reports = store
        .operator_action(&id, number.as_ref(), action, now_ms())
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?
        .ok_or_else(|| Failure::Runtime(format!("no job {id}")))?;
    if reports.is_empty() {
        return Err(Failure::Runtime(format!(
            "job {id} has no recipient {}",
            number.map(|n| n.to_string()).unwrap_or_default()
        )));
    }
    let mut changed = 0;
    for r in &reports {
        match r.effect {
            ActionEffect::Becomes(status) => {
                changed += 1;
                tracing::info!(job = %id, rcpt = %r.number, to = status.as_str(), action = action.as_str(), "operator action");
                println!("{id} {}: {}", r.number, status.as_str());
            }
            ActionEffect::AfterAttempt => {
                changed += 1;
                println!(
                    "{id} {}: on a call now; cancelled unless this call succeeds",
                    r.number
                );
            }
            ActionEffect::Refused(why) => println!("{id} {}: unchanged ({why})", r.number),
        }
    }
    if changed == 0 {
        return Err(Failure::Runtime(format!(
            "{} {id}: nothing to do",
            action.as_str()
        )));
    }
    Ok(())
}
