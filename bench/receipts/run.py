#!/usr/bin/env python3
"""bench/receipts: how soon the sender has its receipt, against Postfix delivering a mail.

Load: 100 mails, one after the other, each a 3-page PDF (made by Ghostscript's pdfwrite) to one
fax number on the `file` line (no line time). For each: the time from faxhub's SMTP 250 to the
success report (RFC 3464) in the sender's Maildir (<data_dir>/Maildir, the embedded default).
faxhub runs as shipped (release build, SQLite with synchronous=FULL, spool and report fsynced):
conversion, the file line, the report with its PDF and thumbnail, the outbox and the postman.

Anchors, in the same run:
  - Postfix: the time from a private Postfix's 250 to the same mail in a Maildir (its virtual
    delivery agent): what a mail system takes to hand a mail on;
  - Ghostscript: the time raw Ghostscript takes to render the same PDF to TIFF G4 at fax
    resolution (the conversion faxhub cannot avoid).
Median and p95 of each, and the ratios of the medians.

Usage: bench/receipts/run.py [--mails N]
Needs root (Postfix), Ghostscript, and target/release/faxhub (make bench builds it).
"""
import argparse, os, shutil, smtplib, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "faxhub")
BASE = "/var/tmp/faxhub-tests"
sys.path.insert(0, os.path.join(ROOT, "bench", "ingest"))
from run import faxhub_instance, postfix_instance  # noqa: E402


def three_page_pdf(path):
    ps = path + ".ps"
    with open(ps, "w") as f:
        f.write("%!PS\n/Helvetica findfont 24 scalefont setfont\n")
        for page in range(1, 4):
            f.write(f"72 720 moveto (Quarterly report, page {page}) show\n")
            for line in range(30):
                f.write(f"72 {680 - 20 * line} moveto (Line {line} of page {page}: figures and text) show\n")
            f.write("showpage\n")
    subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite",
                    f"-sOutputFile={path}", ps], check=True)
    return open(path, "rb").read()


def message(token, pdf):
    import base64
    b64 = base64.encodebytes(pdf).decode().replace("\n", "\r\n")
    return (f"From: Alice <alice@example.com>\r\nTo: 0169293999@fax.localhost\r\nSubject: {token}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
            "--B\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
            "Content-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{b64}\r\n--B--\r\n").encode()


def submit(port, rcpt, msg):
    """Sends one mail; returns the time of the 250 to DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.ehlo("bench.test")
        s.mail("alice@example.com")
        code, _ = s.rcpt(rcpt)
        assert code == 250, code
        code, resp = s.data(msg)
        t = time.perf_counter()
        assert code == 250, (code, resp)
        return t


def wait_in_maildir(maildir, token, seen, timeout=120):
    """Polls the Maildir's new/ until a new file holds `token`; returns when it was seen."""
    new = os.path.join(maildir, "new")
    start = time.time()
    while time.time() - start < timeout:
        try:
            names = os.listdir(new)
        except FileNotFoundError:
            names = []
        for name in names:
            if name in seen:
                continue
            path = os.path.join(new, name)
            with open(path, "rb") as f:
                head = f.read(4096)
            if token.encode() in head:
                seen.add(name)
                return time.perf_counter()
        time.sleep(0.002)
    sys.exit(f"{token} never reached {maildir}")


def start_faxhub():
    d, port, stop = faxhub_instance("bench-receipts")
    return port, f"{d}/var/Maildir", stop


def start_postfix():
    mail = f"{BASE}/postfix-bench-receipts-mail"
    shutil.rmtree(mail, ignore_errors=True)
    os.makedirs(mail)
    shutil.chown(mail, "nobody", "nogroup")
    _, port, stop = postfix_instance("bench-receipts", f"""virtual_mailbox_domains = fax.localhost
virtual_mailbox_base = {mail}
virtual_mailbox_maps = inline:{{0169293999@fax.localhost=inbox/}}
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534""")
    return port, f"{mail}/inbox", stop


def latencies(port, maildir, pdf, n, label):
    seen = set()
    out = []
    for i in range(n):
        token = f"bench-{label}-{i}-{time.time_ns()}"
        t250 = submit(port, "0169293999@fax.localhost", message(token, pdf))
        out.append(wait_in_maildir(maildir, token, seen) - t250)
    return out


def ghostscript(pdf_path, n, work):
    out = []
    for i in range(n):
        start = time.perf_counter()
        subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=tiffg4",
                        "-r204x196", "-sPAPERSIZE=a4", "-dFIXEDMEDIA", "-dPDFFitPage",
                        f"-sOutputFile={work}/gs.tif", pdf_path], check=True)
        out.append(time.perf_counter() - start)
    return out


def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mails", type=int, default=100)
    args = p.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is missing: run `make bench` (it builds the release binary)")
    work = tempfile.mkdtemp(prefix="bench-receipts-")
    pdf_path = os.path.join(work, "three.pdf")
    pdf = three_page_pdf(pdf_path)
    results = {}
    port, maildir, stop = start_postfix()
    try:
        latencies(port, maildir, pdf, 5, "warm-postfix")
        results["postfix"] = latencies(port, maildir, pdf, args.mails, "postfix")
    finally:
        stop()
    port, maildir, stop = start_faxhub()
    try:
        latencies(port, maildir, pdf, 5, "warm-faxhub")
        results["faxhub"] = latencies(port, maildir, pdf, args.mails, "faxhub")
    finally:
        stop()
    results["ghostscript"] = ghostscript(pdf_path, args.mails, work)
    shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.mails} mails, a 3-page PDF each ({len(pdf)} bytes), one after the other:")
    med = {}
    for name, what in [("faxhub", "250 -> success report in the sender's Maildir"),
                       ("postfix", "250 -> the mail in a Maildir (anchor)"),
                       ("ghostscript", "raw Ghostscript, the PDF to TIFF G4 (anchor)")]:
        xs = results[name]
        med[name] = statistics.median(xs)
        print(f"  {name:12s} median {1000 * med[name]:7.1f} ms   p95 {1000 * p95(xs):7.1f} ms   ({what})")
    print(f"  ratio faxhub/postfix     = {med['faxhub'] / med['postfix']:.1f}")
    print(f"  ratio faxhub/ghostscript = {med['faxhub'] / med['ghostscript']:.2f}")


if __name__ == "__main__":
    main()
