//! The command line, modelled on Postfix and HylaFAX: `serve`, `queue` (mailq/faxstat),
//! `send` (sendfax), `inbox` (faxstat -r), `check-config` (postfix check), `drain` and
//! `cluster status` (several nodes on one store), `token` (the HTTP API's).

use crate::Failure;
use crate::config::Config;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "faxhub", version, about = "E-mail to fax gateway")]
pub struct Cli {
    /// Configuration file (default: the embedded defaults, data under ./var)
    #[arg(short, long, global = true, env = "FAXHUB_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway: SMTP listener, converters, scheduler, lines
    Serve,
    /// List the queue, or act on a job
    Queue(QueueArgs),
    /// Queue a fax from files, through the same durable path as SMTP
    Send(SendArgs),
    /// Convert files to fax pages as faxhub would send them (TIFF-F and PDF), to try documents
    Convert {
        /// Directory for the results (default: the current one)
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Files to convert
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the faxes received (data_dir/inbox/)
    Inbox {
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// The calls refused and the faxes quarantined by junk-fax rules
        /// (`[[sip.inbound.block]]`), and why, instead of the faxes received
        #[arg(long)]
        blocked: bool,
    },
    /// Ask a node (this one by default) to drain: no new work, calls in progress finish, then
    /// it stops (SMTP clients are sent to the other nodes with 421 4.3.2)
    Drain {
        /// The node's name (`[cluster] node`, or its host name)
        node: Option<String>,
    },
    /// The nodes sharing the store: version, last heartbeat, the calls, conversions and mail
    /// each holds
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// The HTTP API's tokens: create (printed once), list, revoke
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// What the lines were used for in a month: calls, faxes, failures, pages and minutes per
    /// sender, billing code or line
    Usage {
        /// The month, as 2026-11 (in the server's local time)
        #[arg(long)]
        month: String,
        /// Group by
        #[arg(long, value_enum, default_value = "sender")]
        by: crate::usage_cmd::By,
        /// Print CSV
        #[arg(long, conflicts_with = "xlsx")]
        csv: bool,
        /// Write an Excel workbook to this file
        #[arg(long)]
        xlsx: Option<PathBuf>,
    },
    /// What faxhub remembers of each number called (where its next call starts, what last
    /// worked and failed); pin or forget one
    Destinations {
        #[command(subcommand)]
        action: Option<crate::destinations_cmd::Action>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Hash a web client password (read from standard input) for `[[web.users]] password`
    Passwd,
    /// Check a configuration file and exit
    CheckConfig {
        /// The file to check (default: --config)
        file: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct QueueArgs {
    /// Print JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Include finished jobs (done, failed, cancelled)
    #[arg(long)]
    pub all: bool,
    #[command(subcommand)]
    pub action: Option<QueueAction>,
}

#[derive(Subcommand, Debug)]
pub enum QueueAction {
    /// Show one job, finished or not, with its attempts
    Show { id: String },
    /// Cancel a job, or one of its numbers
    Cancel { id: String, number: Option<String> },
    /// Hold a job, or one of its numbers, until released
    Hold { id: String, number: Option<String> },
    /// Release a held job or number
    Release { id: String, number: Option<String> },
    /// Send again now: deferred, failed or cancelled numbers are queued with fresh counters
    Retry { id: String, number: Option<String> },
    /// Follow a job as it happens (dialling, connected, pages confirmed) until it is finished;
    /// exit 1 if a number did not get the fax
    Watch { id: String },
    /// Events counted since the store was made (e.g. sender_destination_spikes)
    Counters,
}

#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Make a token and print it (only this once)
    Create {
        /// What it may do: send, read, admin (comma-separated)
        #[arg(long)]
        scope: String,
        /// The sender it acts for: it sends as, and sees the faxes of, this address only
        #[arg(long)]
        sender: Option<String>,
        /// A name to tell it by in `token list`
        #[arg(long)]
        name: Option<String>,
    },
    /// Every token: id, scopes, sender, name, revoked or not (never the secret)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id: it stops working at once, on every node
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
pub enum ClusterAction {
    /// Every node, its state (up, draining, silent, stopped) and what it holds
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct SendArgs {
    /// Fax number (repeat for several)
    #[arg(long = "to", required_unless_present = "to_list")]
    pub to: Vec<String>,
    /// A broadcast: a spreadsheet (.xlsx, .xls, .ods) listing the numbers in a column headed
    /// Fax, Number or Numéro (Name and Company columns go on the covers); bad rows fail naming
    /// their row, and one report comes at the end
    #[arg(long = "to-list")]
    pub to_list: Option<PathBuf>,
    /// Sender address (receipts go there); default: $USER@hostname
    #[arg(long)]
    pub from: Option<String>,
    /// Subject
    #[arg(long)]
    pub subject: Option<String>,
    /// Files to fax (PDF or text)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Follow the job until it is finished, as `queue watch` does (exit 1 if a number did not
    /// get the fax)
    #[arg(long)]
    pub wait: bool,
    /// Hold the fax until then (2026-12-01T18:00:00+01:00, at most 31 days ahead)
    #[arg(long)]
    pub at: Option<String>,
    /// Its place in the queue (default: normal, a broadcast low)
    #[arg(long, value_enum)]
    pub priority: Option<PriorityArg>,
    /// A billing code, for `faxhub usage --by billing`
    #[arg(long)]
    pub billing: Option<String>,
}

/// `--priority`: `high` goes before `normal`, which goes before `low`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum PriorityArg {
    High,
    Normal,
    Low,
}

impl From<PriorityArg> for faxhub_queue::schedule::Priority {
    fn from(p: PriorityArg) -> Self {
        match p {
            PriorityArg::High => Self::High,
            PriorityArg::Normal => Self::Normal,
            PriorityArg::Low => Self::Low,
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let path = cli.config;
    let load = |path: Option<PathBuf>| -> Result<(Config, crate::config::Checked), Failure> {
        let config = Config::load(path.as_deref())?;
        let checked = config.validate()?;
        Ok((config, checked))
    };
    match cli.command {
        Command::CheckConfig { file } => {
            let path = file.or(path);
            let (config, _) = load(path.clone())?;
            match &path {
                Some(p) => println!("{}: configuration is valid", p.display()),
                None => println!("embedded default configuration is valid"),
            }
            for warning in config.warnings(path.as_deref()) {
                println!("warning: {warning}");
            }
            crate::convert_cmd::check_sandbox(&config, path.as_deref()).await
        }
        Command::Passwd => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::Usage(format!("reading the password: {e}")))?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(Failure::Usage("an empty password: none made".into()));
            }
            let hash = crate::web::users::hash(password).map_err(Failure::Runtime)?;
            println!("{hash}");
            Ok(())
        }
        Command::Serve => {
            let (config, checked) = load(path.clone())?;
            let warnings = config.warnings(path.as_deref());
            crate::daemon::serve(config, checked, warnings).await
        }
        Command::Queue(args) => {
            let (config, checked) = load(path)?;
            crate::queue_cmd::run(&config, &checked, args).await
        }
        Command::Send(args) => {
            let (config, checked) = load(path)?;
            crate::send::run(&config, &checked, args).await
        }
        Command::Usage {
            month,
            by,
            csv,
            xlsx,
        } => {
            let (config, _) = load(path)?;
            crate::usage_cmd::run(&config, &month, by, csv, xlsx.as_deref()).await
        }
        Command::Destinations { action, json } => {
            let (config, checked) = load(path)?;
            crate::destinations_cmd::run(&config, &checked, action, json).await
        }
        Command::Inbox { json, blocked } => {
            let (config, _) = load(path)?;
            crate::inbox_cmd::run(&config, json, blocked)
        }
        Command::Convert { out, files } => {
            let (config, _) = load(path)?;
            crate::convert_cmd::run(&config, &out, &files).await
        }
        Command::Drain { node } => {
            let (config, _) = load(path)?;
            crate::cluster::drain(&config, node).await
        }
        Command::Token { action } => {
            let (config, _) = load(path)?;
            crate::token_cmd::run(&config, action).await
        }
        Command::Cluster {
            action: ClusterAction::Status { json },
        } => {
            let (config, _) = load(path)?;
            crate::cluster::status(&config, json).await
        }
    }
}
