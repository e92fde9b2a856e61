#!/usr/bin/env python3
"""bench/cluster: faxhub on PostgreSQL (one node and three) against faxhub on SQLite (one node)
and Postfix, in the same run.

1. Durable ingest (the bench/ingest load): Postfix's smtp-source, 20 sessions, 3,000 messages of
   10 KB to one fax number (500 untimed first), into a private Postfix that holds every message
   after cleanup (bench/ingest's anchor), faxhub on SQLite (the embedded default), faxhub on a
   private PostgreSQL server (fsync and synchronous_commit on, as shipped) with one node, and
   with three nodes (the sessions and messages split over their listeners); the order rotates,
   fresh instances (and database) each run. Targets: PostgreSQL one node >= 0.8x SQLite; three
   nodes not slower than one. Beside each rate: how busy the machine's CPUs were, and for three
   nodes the lock waits PostgreSQL logged (longer than 10 ms): contention shows as waits with
   idle CPUs, a machine too small for three nodes as busy CPUs without waits.
2. Every job finished, one node against three: the same messages split over the nodes'
   listeners at once, and how long until every job is finished (converted, faxed on the file
   line, recorded). The three nodes share this machine's cores.
3. Resume: a node killed with SIGKILL during a call (the loopback line, T.38); seconds from the
   kill until another node dials the number again. Target: <= lease + poll interval.

The nodes share the machine's CPUs: three nodes have no more CPU than one, and each converts
and calls in the background as fast as one alone (three times the work, on the same cores).

Medians of --runs runs. Needs root, Postfix, smtp-source, postgresql and target/release/faxhub
(make bench builds it).
"""
import argparse, importlib.util, json, os, shutil, socket, statistics, subprocess, sys, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "faxhub")
BASE = "/var/tmp/faxhub-tests/cluster-bench"
WARMUP = 500
# bench/ingest's Postfix anchor (a private instance that holds what it accepts)
_spec = importlib.util.spec_from_file_location("ingest", os.path.join(ROOT, "bench", "ingest", "run.py"))
INGEST = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(INGEST)
LEASE_S, POLL_S = 3.0, 0.5


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pg_bin(name):
    versions = sorted(int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit())
    return f"/usr/lib/postgresql/{versions[-1]}/bin/{name}"


class Postgres:
    """A private server under BASE/pg, on a Unix socket there only, settings as shipped."""

    def __init__(self):
        self.dir = f"{BASE}/pg"
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postgres", "postgres")
        as_pg = ["setpriv", "--reuid", "postgres", "--regid", "postgres", "--clear-groups"]
        subprocess.run(as_pg + [pg_bin("initdb"), "-D", f"{self.dir}/data", "-A", "trust",
                                "-U", "faxhub", "-E", "UTF8", "--locale=C"],
                       check=True, stdout=subprocess.DEVNULL)
        self.proc = subprocess.Popen(
            as_pg + ["--pdeathsig", "INT", pg_bin("postgres"), "-D", f"{self.dir}/data",
                     "-k", self.dir, "-c", "listen_addresses=", "-c", "max_connections=200",
                     "-c", "log_lock_waits=on", "-c", "deadlock_timeout=10ms"] + (["-c", "log_min_duration_statement=0", "-c", "log_line_prefix=%p "] if os.environ.get("PGLOG") else []),
            stdout=subprocess.DEVNULL, stderr=open(f"{BASE}/pg.log", "w"))
        start = time.time()
        while subprocess.run([pg_bin("pg_isready"), "-q", "-h", self.dir]).returncode != 0:
            if time.time() - start > 60:
                sys.exit("PostgreSQL did not start")
            time.sleep(0.1)
        self.n = 0

    def database(self):
        self.n += 1
        name = f"bench{self.n}"
        subprocess.run(["psql", "-X", "-q", "-h", self.dir, "-U", "faxhub", "-d", "postgres",
                        "-c", f"CREATE DATABASE {name}"], check=True)
        return f"postgres://faxhub@localhost/{name}?host={self.dir}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Node:
    def __init__(self, name, url=None, lines=None, extra="", warm=True):
        self.dir = f"{BASE}/{name}"
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        self.config = f"{self.dir}/faxhub.toml"
        store = (f'[store]\nurl = "{url}"\n[cluster]\nnode = "{name}"\nlease = "{int(LEASE_S * 1000)}ms"\n'
                 if url else "")
        lines = lines or '[[lines]]\nname = "file"\nkind = "file"\n'
        open(self.config, "w").write(
            f'data_dir = "{self.dir}/var"\n{store}[http]\nlisten = []\n[smtp]\nlisten = ["127.0.0.1:{self.port}"]\n'
            f'[scheduler]\npoll_interval = "{int(POLL_S * 1000)}ms"\n{extra}{lines}')
        self.log_path = f"{self.dir}/faxhub.log"
        self.proc = subprocess.Popen([BIN, "serve", "-c", self.config], stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "w"),
                                     env={**os.environ, "RUST_LOG": "warn,faxhub=info"})
        start = time.time()
        while ("LibreOffice farm" if warm else "faxhub started") not in self.log():
            if self.proc.poll() is not None or time.time() - start > 120:
                sys.exit(f"faxhub {name} did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self):
        return open(self.log_path).read()

    def cli(self, *args):
        out = subprocess.run([BIN, *args, "-c", self.config], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"faxhub {' '.join(args)}: {out.stderr}")
        return out.stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


def blast(ports, messages, sessions=20, size=10240):
    """smtp-source against each of `ports` at once, `sessions` and `messages` split evenly;
    msg/s overall."""
    k = len(ports)
    cmds = [["smtp-source", "-s", str(sessions // k + (i < sessions % k)), "-m",
             str(messages // k), "-l", str(size), "-f", "bench@example.com",
             "-t", "0169293999@fax.localhost", f"127.0.0.1:{p}"] for i, p in enumerate(ports)]
    start = time.perf_counter()
    procs = [subprocess.Popen(c) for c in cmds]
    for p in procs:
        if p.wait() != 0:
            sys.exit("smtp-source failed")
    return (messages // k) * k / (time.perf_counter() - start)


def cpu_times():
    """(busy, total) seconds of every CPU so far, from /proc/stat."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


def lock_waits():
    """Lock waits PostgreSQL has logged so far (log_lock_waits, longer than deadlock_timeout)."""
    return open(f"{BASE}/pg.log", errors="replace").read().count("still waiting for")


def unfinished(node):
    return len(json.loads(node.cli("queue", "--json")))


def until_finished(node, start, timeout=1800):
    while time.perf_counter() - start < timeout:
        if unfinished(node) == 0:
            return time.perf_counter() - start
        time.sleep(0.5)
    return None


INGEST_KINDS = ["postfix", "sqlite", "pg1", "pg3"]


def ingest(pg, runs, messages):
    out = {k: [] for k in INGEST_KINDS}
    for run in range(runs):
        order = INGEST_KINDS[run % 4:] + INGEST_KINDS[:run % 4]
        for kind in order:
            stops = []
            try:
                if kind == "postfix":
                    port, stop = INGEST.start_postfix(f"cluster-{run}")
                    ports, stops = [port], [stop]
                else:
                    url = None if kind == "sqlite" else pg.database()
                    nodes = [Node(f"ingest-{kind}-{run}-{i}", url)
                             for i in range(3 if kind == "pg3" else 1)]
                    ports, stops = [n.port for n in nodes], [n.stop for n in nodes]
                blast(ports, WARMUP)
                cpu, waits = cpu_times(), lock_waits()
                rate = blast(ports, messages)
                busy = (cpu_times()[0] - cpu[0]) / max(1, cpu_times()[1] - cpu[1])
                waits = lock_waits() - waits
            finally:
                for stop in stops:
                    stop()
            out[kind].append((rate, busy, waits))
            extra = f", {waits} lock waits > 10 ms" if kind.startswith("pg") else ""
            print(f"ingest run {run + 1} {kind:8s} {rate:7.0f} msg/s, CPUs {busy:.0%} busy{extra}",
                  flush=True)
        shutil.rmtree(f"{INGEST.BASE}/postfix-bench-cluster-{run}", ignore_errors=True)
    return out


def report_ingest(i, messages):
    med = {k: statistics.median(x[0] for x in i[k]) for k in INGEST_KINDS}
    busy = {k: statistics.median(x[1] for x in i[k]) for k in INGEST_KINDS}
    waits = sum(x[2] for x in i["pg3"])
    print(f"1. durable ingest, {messages} messages (CPUs busy):")
    print(f"   Postfix (hold)          {med['postfix']:7.0f} msg/s ({busy['postfix']:.0%})")
    print(f"   faxhub SQLite           {med['sqlite']:7.0f} msg/s ({busy['sqlite']:.0%}), "
          f"{med['sqlite'] / med['postfix']:.2f}x Postfix")
    print(f"   faxhub PostgreSQL, 1    {med['pg1']:7.0f} msg/s ({busy['pg1']:.0%}), "
          f"{med['pg1'] / med['sqlite']:.2f}x SQLite (target >= 0.8)")
    print(f"   faxhub PostgreSQL, 3    {med['pg3']:7.0f} msg/s ({busy['pg3']:.0%}), "
          f"{med['pg3'] / med['pg1']:.2f}x one node (target >= 1.0); lock waits > 10 ms in all "
          f"three-node runs: {waits}")


def spread(pg, runs, messages):
    out = {"one": [], "three": []}
    for run in range(runs):
        for kind in (["one", "three"] if run % 2 == 0 else ["three", "one"]):
            url = pg.database()
            nodes = [Node(f"spread-{kind}-{run}-{i}", url) for i in range(1 if kind == "one" else 3)]
            try:
                start = time.perf_counter()
                rate = blast([n.port for n in nodes], messages)
                done = until_finished(nodes[0], start)
            finally:
                for n in nodes:
                    n.stop()
            out[kind].append((rate, done))
            print(f"spread run {run + 1} {kind:5s} node(s): intake {rate:7.0f} msg/s, "
                  f"all finished after {done:.1f} s", flush=True)
    return out


LOOPBACK = ('[sip]\nlisten = "127.0.0.1:0"\ntcp = false\n'
            '[[lines]]\nname = "loopback"\nkind = "loopback"\nchannels = 2\n')


def resume(pg, runs):
    out = []
    for run in range(runs):
        url = pg.database()
        a = Node(f"resume-a-{run}", url, LOOPBACK)
        b = None
        try:
            # three pages: a call long enough to kill a during it
            body = "\n".join(f"line {i} of a fax long enough for three pages" for i in range(180))
            subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(a.port), "-f",
                            "alice@example.com", "-t", "0169293999@fax.localhost", "--body", body],
                           check=True, stdout=subprocess.DEVNULL)
            # wait until a is calling, then start b (it cannot take a call that is a's)
            start = time.time()
            while True:
                jobs = json.loads(a.cli("queue", "--json"))
                if jobs and jobs[0]["recipients"][0].get("node") == f"resume-a-{run}":
                    break
                if time.time() - start > 120:
                    sys.exit("node a never called")
                time.sleep(0.05)
            b = Node(f"resume-b-{run}", url, LOOPBACK, warm=False)
            a.proc.kill()
            killed = time.perf_counter()
            while "dialling" not in b.log():
                if time.perf_counter() - killed > 120:
                    sys.exit(f"node b never took the call back:\n{b.log()}")
                time.sleep(0.02)
            took = time.perf_counter() - killed
        finally:
            a.stop()
            if b:
                b.stop()
        out.append(took)
        print(f"resume run {run + 1}: dialled again by the other node {took:.2f} s after kill -9",
              flush=True)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--spread-messages", type=int, default=600)
    p.add_argument("--only", choices=["ingest", "spread", "resume"])
    args = p.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is missing: run `make bench` (it builds the release binary)")
    os.makedirs(BASE, exist_ok=True)
    pg = Postgres()
    try:
        want = lambda part: args.only in (None, part)
        i = ingest(pg, args.runs, args.messages) if want("ingest") else None
        s = spread(pg, args.runs, args.spread_messages) if want("spread") else None
        r = resume(pg, args.runs) if want("resume") else None
    finally:
        pg.stop()
    shutil.rmtree(BASE, ignore_errors=True)
    print(f"\nmedians of {args.runs} runs, the nodes sharing the machine's {os.cpu_count()} CPUs")
    if i:
        report_ingest(i, args.messages)
    if s:
        report_spread(s, args.spread_messages)
    if r:
        print(f"3. resume after kill -9: {statistics.median(r):.2f} s (target <= lease + poll = "
              f"{LEASE_S + POLL_S:.1f} s)")


def report_spread(s, messages):
    one_rate = statistics.median(x[0] for x in s["one"])
    three_rate = statistics.median(x[0] for x in s["three"])
    one_done = statistics.median(x[1] for x in s["one"])
    three_done = statistics.median(x[1] for x in s["three"])
    print(f"2. {messages} messages: intake one node {one_rate:.0f} msg/s, three nodes "
          f"{three_rate:.0f} msg/s (ratio {three_rate / one_rate:.2f}); every job finished after "
          f"{one_done:.1f} s with one node, {three_done:.1f} s with three "
          f"(ratio {one_done / three_done:.2f}, the three on this machine's cores)")


if __name__ == "__main__":
    main()
