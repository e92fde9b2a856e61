#!/usr/bin/env python3
"""bench/ingest: how fast faxhub accepts mail, against Postfix on the same machine in the same run.

Load: Postfix's smtp-source, 20 sessions, 5,000 messages of 10 KB each, to one fax number.
Anchor: a private Postfix whose mail is put on hold after cleanup (queue file fsynced, nothing
delivered). faxhub runs as shipped: SQLite with synchronous=FULL, every message fsynced into the
spool and its job committed before the 250, with its scheduler, converter and file line running.
Each run uses fresh instances (faxhub's once its LibreOffice farm is warm), warmed up with 500
untimed messages; the runs alternate between
the two; medians are reported. Beside the rates: how long after the first timed message the
pages of every job exist in faxhub's spool (what intake first must not delay for ever).

Usage: bench/ingest/run.py [--messages N] [--sessions N] [--size BYTES] [--runs N]
Needs root (Postfix), smtp-source, and target/release/faxhub (make bench builds it).
"""
import argparse, os, shutil, socket, statistics, subprocess, sys, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "faxhub")
BASE = "/var/tmp/faxhub-tests"
# Messages sent untimed to each fresh instance first, so that start-up effects are not measured.
WARMUP = 500


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, what, timeout=20):
    start = time.time()
    while time.time() - start < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port}")


def allow_config_dir(conf):
    main_cf = "/etc/postfix/main.cf"
    text = open(main_cf).read() if os.path.exists(main_cf) else ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("alternate_config_directories"):
            if conf in line.replace(",", " ").split():
                return
            lines[i] = line + ", " + conf
            break
    else:
        lines.append("alternate_config_directories = " + conf)
    open(main_cf, "w").write("\n".join(lines) + "\n")


def postfix_instance(name, main_extra):
    """A private Postfix under BASE/postfix-<name>, listening on a free port, with `main_extra`
    appended to its main.cf. Returns its directory, port and a function that stops it."""
    d = f"{BASE}/postfix-{name}"
    conf = f"{d}/conf"
    subprocess.run(["postfix", "-c", conf, "stop"], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)
    for sub in ("conf", "queue", "data"):
        os.makedirs(f"{d}/{sub}")
    shutil.chown(f"{d}/data", "postfix", "postfix")
    allow_config_dir(conf)
    port = free_port()
    master = open("/etc/postfix/master.cf.proto").read().splitlines()
    master = [f"127.0.0.1:{port} inet n - n - - smtpd" if l.startswith("smtp      inet") else l for l in master]
    open(f"{conf}/master.cf", "w").write("\n".join(master) + "\n")
    open(f"{conf}/main.cf", "w").write(f"""compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.bench
mydestination =
mynetworks = 127.0.0.0/8
maillog_file = {d}/maillog
maillog_file_prefixes = {BASE}
{main_extra}
""")
    subprocess.run(["script", "-qc", f"postfix -c {conf} start", "/dev/null"], check=True, capture_output=True)
    wait_port(port, "postfix")
    return d, port, lambda: subprocess.run(["postfix", "-c", conf, "stop"], capture_output=True)


def start_postfix(run):
    # every message is put on hold after cleanup: queue file fsynced, nothing delivered
    _, port, stop = postfix_instance(f"bench-{run}", "relay_domains = fax.localhost\n"
                                     "smtpd_client_restrictions = check_client_access static:HOLD")
    return port, stop


def faxhub_instance(name):
    """faxhub from target/release under BASE/faxhub-<name>, on a free port, with the file line
    (the embedded default, loopback, would make real T.38 calls to itself during a run and
    measure spandsp). Returns its directory, port and a function that stops it."""
    d = f"{BASE}/faxhub-{name}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    port = free_port()
    config = f"{d}/faxhub.toml"
    open(config, "w").write(f'data_dir = "{d}/var"\n[http]\nlisten = []\n[smtp]\nlisten = ["127.0.0.1:{port}"]\n'
                            '[[lines]]\nname = "file"\nkind = "file"\n')
    log = open(f"{d}/faxhub.log", "w")
    proc = subprocess.Popen([BIN, "serve", "-c", config], stdout=subprocess.DEVNULL, stderr=log,
                            env={**os.environ, "RUST_LOG": "warn,faxhub::daemon=info"})
    wait_port(port, "faxhub")
    # A daemon just started warms its LibreOffice farm for a few CPU-seconds: the run measures
    # the steady state after it (the mail that comes first is in the untimed warm-up).
    start = time.time()
    while "LibreOffice farm" not in open(f"{d}/faxhub.log").read():
        if time.time() - start > 120:
            sys.exit("faxhub's LibreOffice farm did not warm up in 120 s")
        time.sleep(0.1)

    def stop():
        proc.terminate()
        proc.wait()

    return d, port, stop


def start_faxhub(run):
    _, port, stop = faxhub_instance(f"bench-{run}")
    return port, stop


def blast(port, args):
    cmd = ["smtp-source", "-s", str(args.sessions), "-m", str(args.messages), "-l", str(args.size),
           "-f", "bench@example.com", "-t", "0169293999@fax.localhost", f"127.0.0.1:{port}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return args.messages / (time.perf_counter() - start)


def pages_done(run, jobs, start, timeout=1800):
    """Seconds from `start` until faxhub's spool holds the pages of `jobs` jobs (its converted
    page sets), or None if that takes longer than `timeout`."""
    pages = f"{BASE}/faxhub-bench-{run}/var/spool/pages"
    while time.perf_counter() - start < timeout:
        done = sum(1 for f in os.listdir(pages) if f.endswith(".tif")) if os.path.isdir(pages) else 0
        if done >= jobs:
            return time.perf_counter() - start
        time.sleep(0.5)
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--size", type=int, default=10240)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is missing: run `make bench` (it builds the release binary)")
    results = {"postfix": [], "faxhub": []}
    pages_after = []
    for run in range(args.runs):
        order = ["postfix", "faxhub"] if run % 2 == 0 else ["faxhub", "postfix"]
        for name in order:
            # A fresh directory per run: deleting the last run's files now would load the disk
            # during this run (all are removed at the end).
            port, stop = start_postfix(run) if name == "postfix" else start_faxhub(run)
            converted = ""
            try:
                blast(port, argparse.Namespace(**{**vars(args), "messages": WARMUP}))
                start = time.perf_counter()
                rate = blast(port, args)
                if name == "faxhub":
                    # the intake's rate is the benchmark; how soon every job can be sent is told
                    # beside it (the conversions that ran while mail arrived, and the rest)
                    after = pages_done(run, WARMUP + args.messages, start)
                    converted = (f", pages of every job {after:.0f} s after the first message"
                                 if after is not None else ", pages not all made within 30 min")
                    pages_after.append(after)
            finally:
                stop()
            results[name].append(rate)
            print(f"run {run + 1} {name:8s} {rate:8.0f} msg/s{converted}", flush=True)
    for run in range(args.runs):
        shutil.rmtree(f"{BASE}/postfix-bench-{run}", ignore_errors=True)
        shutil.rmtree(f"{BASE}/faxhub-bench-{run}", ignore_errors=True)
    pf, fh = statistics.median(results["postfix"]), statistics.median(results["faxhub"])
    pairs = [f / p for f, p in zip(results["faxhub"], results["postfix"])]
    print(f"\nmedian of {args.runs} runs, {args.messages} messages of {args.size} bytes, {args.sessions} sessions:")
    print(f"  postfix (hold)  {pf:8.0f} msg/s")
    print(f"  faxhub          {fh:8.0f} msg/s")
    print(f"  ratio faxhub/postfix = {fh / pf:.2f}  (target >= 1.5 while converting, issue 15)")
    print(f"  per-run ratios {', '.join(f'{r:.2f}' for r in pairs)}; median {statistics.median(pairs):.2f}")
    made = [a for a in pages_after if a is not None]
    if made:
        print(f"  faxhub: pages of every job {statistics.median(made):.0f} s after the first message (median)")


if __name__ == "__main__":
    main()
