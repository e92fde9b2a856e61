//! `faxhub send --to NUMBER… [--from ADDR] [--subject S] FILE…`: builds a MIME message with the
//! files attached and queues it through the same durable intake as SMTP (works with or without a
//! running daemon, which picks the job up within its poll interval). Bad numbers and unreadable
//! files are refused before anything is queued, with a one-line message and exit code 2. With
//! `--wait` it then follows the job until it is finished (`watch`). `--to-list FILE` is a
//! broadcast as a mail to the broadcast address makes one: the spreadsheet's rows are the
//! numbers (its bad rows failed by name, one report at the end), low priority by default.

use crate::Failure;
use crate::cli::SendArgs;
use crate::config::{Checked, Config};
use faxhub_connectors::compose::Draft;
use faxhub_queue::Origin;
use faxhub_queue::intake::{Intake, Submission};
use faxhub_queue::store::NewRecipient;
use std::sync::Arc;

pub async fn run(config: &Config, checked: &Checked, args: SendArgs) -> Result<(), Failure> {
    let mut recipients: Vec<NewRecipient> = Vec::new();
    let domain = config.smtp.fax_domains.first().cloned().unwrap_or_default();
    for to in &args.to {
        let number = checked
            .dialplan
            .parse(to)
            .map_err(|e| Failure::Usage(e.to_string()))?;
        if recipients.iter().all(|r| r.number != number) {
            recipients.push(NewRecipient {
                number: number.clone(),
                address: format!("{}@{domain}", number),
                display_name: None,
                subaddress: None,
                notify: None,
                orcpt: None,
                list_row: None,
                company: None,
            });
        }
    }
    // a broadcast: the numbers of a spreadsheet, its bad rows refused by name
    let mut refused = Vec::new();
    let mut list_part = None;
    if let Some(path) = &args.to_list {
        let bytes = crate::read_input(path, config.smtp.max_message_size)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "list".into());
        let rows =
            faxhub_connectors::broadcast::read(&name, &bytes, config.smtp.max_broadcast as usize)
                .map_err(|e| Failure::Usage(e.to_string()))?;
        let addressing = faxhub_connectors::addressing::Addressing {
            fax_domains: config.smtp.fax_domains.clone(),
            imcea_domains: Vec::new(),
            dialplan: checked.dialplan.clone(),
        };
        let resolved =
            faxhub_connectors::broadcast::resolve(&addressing, &rows, &domain, (None, None));
        refused = resolved
            .merge_into(&mut recipients, &name)
            .map_err(Failure::Usage)?;
        list_part = Some(name);
    }
    let mut files = Vec::new();
    for path in &args.files {
        let bytes = crate::read_input(path, config.smtp.max_message_size)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "document".into());
        files.push((name, bytes));
    }
    let host = crate::daemon::hostname(config);
    let from = args.from.clone().unwrap_or_else(|| {
        format!(
            "{}@{host}",
            std::env::var("USER").unwrap_or_else(|_| "root".into())
        )
    });
    let subject = args
        .subject
        .clone()
        .unwrap_or_else(|| Draft::subject_of(&files));
    let message = Draft {
        from: from.clone(),
        to: recipients.iter().map(|r| r.address.clone()).collect(),
        subject: subject.clone(),
        host,
        files,
        ..Draft::default()
    }
    .build();

    let now = chrono::Utc::now().timestamp_millis();
    let send_at_ms = match &args.at {
        Some(at) => faxhub_queue::schedule::send_at(at, now)
            .map_err(|e| Failure::Usage(e.to_string().replace("X-Fax-Send-At", "--at")))?,
        None => None,
    };
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Failure::Runtime(format!("{}: {e}", config.data_dir.display())))?;
    let (store, spool) = crate::daemon::open_queue(config).await?;
    let intake = Intake::start(spool, store.clone(), Arc::default(), config.limits.clone())
        .with_billing(&config.billing);
    let submission = Submission {
        origin: Origin::Cli,
        return_path: from.clone(),
        from_header: Some(from),
        subject: Some(subject),
        env_id: None,
        ret: None,
        recipients,
        source: None,
        refused,
        request_hash: None,
        billing: args
            .billing
            .as_deref()
            .and_then(faxhub_queue::intake::billing_code),
        priority: match (args.priority, &list_part) {
            (Some(p), _) => p.into(),
            (None, Some(_)) => faxhub_queue::schedule::Priority::Low,
            (None, None) => faxhub_queue::schedule::Priority::Normal,
        },
        send_at_ms,
        list_part,
    };
    let id = intake
        .accept(submission, message)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    println!("{id}");
    if args.wait {
        return crate::watch::follow(&store, &id).await;
    }
    Ok(())
}
