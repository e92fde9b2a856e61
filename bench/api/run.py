#!/usr/bin/env python3
"""bench/api: the HTTP API against SMTP, and the cost of a /metrics scrape (issue 17).

1. Submissions per second over the API against SMTP, in the same run, of the same one-page PDF
   to one number: 20 clients each (threads, one keep-alive connection each), N faxes in all.
   API: POST /v1/faxes, multipart (a `fax` JSON part and the PDF), with a send token. SMTP: the
   same PDF attached to a mail, one SMTP transaction per fax on persistent sessions (Python's
   smtplib). Both through the same intake: committed before 202 or 250. Fresh faxhub instances
   (SQLite, the file line), runs alternating, medians; reported as the ratio API/SMTP.
2. A /metrics scrape with 100,000 jobs in the store (written with sqlite3 into the store of a
   stopped faxhub: 90% delivered, 5% failed, 3% held, 2% deferred a year ahead, so that nothing
   is due), against /healthz on the same server as the anchor: 200 scrapes each, alternating;
   medians in ms and their ratio.

Usage: bench/api/run.py [--faxes N] [--clients N] [--runs N] [--jobs N] [--only submissions|metrics]
Needs target/release/faxhub (make bench builds it) and Ghostscript (the PDF).
"""
import argparse, http.client, json, os, shutil, smtplib, socket, sqlite3, statistics, subprocess
import sys, threading, time, uuid
from email.message import EmailMessage

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "faxhub")
BASE = "/var/tmp/faxhub-tests"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, check, timeout=60):
    start = time.time()
    while time.time() - start < timeout:
        if check():
            return
        time.sleep(0.05)
    sys.exit(f"{what}: not within {timeout} s")


class Hub:
    """faxhub from target/release under BASE/api-<name>, with the file line."""

    def __init__(self, name):
        self.dir = f"{BASE}/api-{name}"
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.smtp, self.http = free_port(), free_port()
        self.config = f"{self.dir}/faxhub.toml"
        open(self.config, "w").write(
            f'data_dir = "{self.dir}/var"\n[smtp]\nlisten = ["127.0.0.1:{self.smtp}"]\n'
            f'max_connections = 64\n[http]\nlisten = ["127.0.0.1:{self.http}"]\n'
            '[[lines]]\nname = "file"\nkind = "file"\n')
        self.proc = None

    def start(self, farm=True):
        log = open(f"{self.dir}/faxhub.log", "w")
        self.proc = subprocess.Popen([BIN, "serve", "-c", self.config], stdout=subprocess.DEVNULL,
                                     stderr=log, env={**os.environ, "RUST_LOG": "warn,faxhub::daemon=info"})
        wait_for("faxhub started", lambda: "faxhub started" in open(f"{self.dir}/faxhub.log").read())
        if farm:
            # the run measures the steady state after the LibreOffice farm's warm-up
            wait_for("LibreOffice farm", lambda: "LibreOffice farm" in open(f"{self.dir}/faxhub.log").read(), 120)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()

    def token(self):
        out = subprocess.run([BIN, "token", "create", "--scope", "send", "--sender", "alice@example.com",
                              "-c", self.config], capture_output=True, text=True, check=True)
        return out.stdout.strip()


def multipart(pdf):
    boundary = uuid.uuid4().hex
    fax = json.dumps({"to": ["0169293999"], "subject": "bench"}).encode()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"fax\"\r\n"
            f"Content-Type: application/json\r\n\r\n").encode() + fax + \
           (f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"doc.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + pdf + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def api_client(hub, token, body, ctype, n, errors):
    conn = http.client.HTTPConnection("127.0.0.1", hub.http, timeout=120)
    for _ in range(n):
        conn.request("POST", "/v1/faxes", body=body,
                     headers={"Authorization": f"Bearer {token}", "Content-Type": ctype})
        answer = conn.getresponse()
        answer.read()
        if answer.status != 202:
            errors.append(answer.status)


def smtp_client(hub, message, n, errors):
    with smtplib.SMTP("127.0.0.1", hub.smtp, timeout=120) as s:
        s.ehlo("bench.test")
        for _ in range(n):
            refused = s.sendmail("alice@example.com", ["0169293999@fax.localhost"], message)
            if refused:
                errors.append(refused)


def load(clients, per_client, target, args):
    errors, threads = [], []
    for _ in range(clients):
        threads.append(threading.Thread(target=target, args=(*args, per_client, errors)))
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - start
    if errors:
        sys.exit(f"{len(errors)} submissions refused: {errors[:5]}")
    return clients * per_client / took


def make_pdf():
    ps = "/Helvetica findfont 24 scalefont setfont 72 700 moveto (faxhub bench: one page) show showpage\n"
    out = subprocess.run(["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite",
                          "-sOutputFile=-", "-"], input=ps.encode(), capture_output=True, check=True)
    return out.stdout


def submissions(args, pdf):
    body, ctype = multipart(pdf)
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "alice@example.com", "0169293999@fax.localhost", "bench"
    mail.set_content("")
    mail.add_attachment(pdf, maintype="application", subtype="pdf", filename="doc.pdf")
    message = mail.as_bytes()
    per_client = args.faxes // args.clients
    results = {"api": [], "smtp": []}
    for run in range(args.runs):
        for mode in (["api", "smtp"] if run % 2 == 0 else ["smtp", "api"]):
            hub = Hub(f"{mode}-{run}")
            hub.start()
            try:
                if mode == "api":
                    token = hub.token()
                    load(args.clients, 5, api_client, (hub, token, body, ctype))  # warm-up
                    rate = load(args.clients, per_client, api_client, (hub, token, body, ctype))
                else:
                    load(args.clients, 5, smtp_client, (hub, message))
                    rate = load(args.clients, per_client, smtp_client, (hub, message))
            finally:
                hub.stop()
            shutil.rmtree(hub.dir, ignore_errors=True)
            results[mode].append(rate)
            print(f"  run {run + 1} {mode:4}: {rate:7.1f} faxes/s", flush=True)
    api, smtp = statistics.median(results["api"]), statistics.median(results["smtp"])
    print(f"submissions ({args.faxes} one-page PDFs, {args.clients} clients, median of {args.runs}):")
    print(f"  SMTP {smtp:7.1f}/s   API {api:7.1f}/s   ratio API/SMTP = {api / smtp:.2f}  (target >= 1.0)")


def fill(db, jobs):
    """`jobs` finished or parked jobs, one recipient each, written straight into the store."""
    now = int(time.time() * 1000)
    year = 365 * 24 * 3600 * 1000
    con = sqlite3.connect(db)
    job_rows, rcpt_rows = [], []
    for i in range(jobs):
        jid = f"BENCH{i:011d}"
        kind = i % 100
        status = "done" if kind < 90 else "failed" if kind < 95 else "held" if kind < 98 else "deferred"
        finished = now - 1000 if status in ("done", "failed") else None
        job_rows.append((jid, "smtp", "alice@example.com", now - (jobs - i) * 10, f"in/{jid}.eml",
                         10_000, "converted", 1, f"pages/{jid}.tif", finished))
        # reported already: the reporter has nothing to do with them
        rcpt_rows.append((jid, 0, "+33169293999", "0169293999@fax.localhost", status,
                          now + year if status == "deferred" else None, now,
                          "final" if finished else None))
    con.executemany("INSERT INTO jobs (id, origin, return_path, received_at, message_path, size, "
                    "conversion, pages, pages_path, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?)", job_rows)
    con.executemany("INSERT INTO recipients (job_id, idx, number, address, status, next_attempt_at, "
                    "updated_at, reported) VALUES (?,?,?,?,?,?,?,?)", rcpt_rows)
    con.commit()
    con.close()


def scrape_cost(args):
    hub = Hub("metrics")
    hub.start(farm=False)
    hub.stop()
    fill(f"{hub.dir}/var/faxhub.db", args.jobs)
    hub.start(farm=False)
    try:
        m, h = scrapes(hub, args.jobs)
    finally:
        hub.stop()
    shutil.rmtree(hub.dir, ignore_errors=True)
    print(f"/metrics with {args.jobs} jobs: median {m:.2f} ms, /healthz {h:.2f} ms; "
          f"ratio {m / h:.1f}  (target: /metrics under 50 ms)")


def scrapes(hub, jobs):
    """Medians of 200 timed /metrics and /healthz, alternating, in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.http, timeout=60)

    def timed(path):
        start = time.perf_counter()
        conn.request("GET", path)
        answer = conn.getresponse()
        text = answer.read()
        took = (time.perf_counter() - start) * 1000
        if answer.status != 200:
            sys.exit(f"{path}: {answer.status} {text[:200]}")
        return took, text

    _, text = timed("/metrics")
    line = next(l for l in text.decode().splitlines() if l.startswith('faxhub_recipients{status="done"}'))
    print(f"  the store holds {jobs} jobs: {line}")
    metrics, health = [], []
    for _ in range(200):
        metrics.append(timed("/metrics")[0])
        health.append(timed("/healthz")[0])
    return statistics.median(metrics), statistics.median(health)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--faxes", type=int, default=5000)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--only", choices=["submissions", "metrics"])
    args = p.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is missing: make release")
    if args.only != "metrics":
        submissions(args, make_pdf())
    if args.only != "submissions":
        scrape_cost(args)


if __name__ == "__main__":
    main()
