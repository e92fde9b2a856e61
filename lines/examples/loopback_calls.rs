//! Simultaneous calls (bench/lines): one SIP user agent on 127.0.0.1 calls itself N times at
//! once, each call sending the same TIFF-F, over T.38 (`t38`) or G.711 (`g711`); both ends of
//! every call run in this process, on a runtime with one worker per core. Prints one JSON line:
//! calls made, faxes completed, wall time, the median call time, and the CPU time used (both
//! ends of every call).
//!
//!     cargo run --release -p faxhub-lines --example loopback_calls -- N t38|g711 pages.tif

use faxhub_lines::inbox::Inbox;
use faxhub_lines::sip::agent::{Agent, Dial, Transport};
use faxhub_lines::sip::config::{FaxOptions, SipConfig, T38Mode};
use faxhub_lines::sip::outcome::CallEnd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// User and system CPU time of this process so far (/proc/self/stat, in clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(mode), Some(tiff)) = (
        args.get(1).and_then(|n| n.parse::<u32>().ok()),
        args.get(2),
        args.get(3),
    ) else {
        eprintln!("usage: loopback_calls N t38|g711 pages.tif");
        std::process::exit(2);
    };
    let tiff = PathBuf::from(tiff);
    let pages = faxhub_queue::tiff::read_pages(&std::fs::read(&tiff).unwrap())
        .unwrap()
        .len() as u32;
    let dir = tempfile::tempdir().unwrap();
    let mut config = SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        media_ports: "20000-29998".into(),
        ..SipConfig::default()
    };
    config.inbound.channels = n;
    config.inbound.fax.t38 = T38Mode::Theirs;
    let agent = Agent::start(config, Inbox::new(dir.path().join("inbox")))
        .await
        .unwrap();
    let fax = FaxOptions {
        t38: if mode == "t38" {
            T38Mode::Ours
        } else {
            T38Mode::Off
        },
        ..FaxOptions::default()
    };
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let agent = agent.clone();
            let dial = Dial {
                number: format!("01420{i:05}"),
                proxy: agent.local_addr(),
                transport: Transport::Udp,
                domain: "127.0.0.1".into(),
                from_user: "bench".into(),
                credentials: None,
                fax: fax.clone(),
                tiff: tiff.clone(),
                pages,
                ring_timeout: Duration::from_secs(30),
                max_duration: Duration::from_secs(600),
                progress: None,
            };
            tokio::spawn(async move {
                let t = Instant::now();
                let report = agent.call(&dial).await;
                (report, t.elapsed())
            })
        })
        .collect();
    let mut ok = 0;
    let mut times = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for call in calls {
        let (report, took) = call.await.unwrap();
        match report.end {
            CallEnd::Fax {
                t30: 0,
                confirmed,
                total,
            } if confirmed == total => {
                ok += 1;
                times.push(took.as_secs_f64());
            }
            other => failures.push(format!("{other:?}")),
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
    failures.sort();
    failures.dedup();
    println!(
        "{{\"mode\": \"{mode}\", \"calls\": {n}, \"ok\": {ok}, \"pages\": {pages}, \"wall_s\": {wall:.1}, \"median_call_s\": {median:.1}, \"cpu_s\": {cpu:.1}, \"failures\": {failures:?}}}"
    );
}
