#!/usr/bin/env python3
"""bench/convert: faxhub's conversion against its anchors, side by side in the same run.

1. Office documents (tests/corpus/office) against one cold `soffice --headless --convert-to pdf`
   process per document, one after the other (which does less: it stops at PDF), two ways:
   `faxhub convert` (farm start-up included), and a running `faxhub serve` whose farm is warm,
   one `faxhub send` job per document, until every job is converted to TIFF-F. Reports
   documents per second, the ratios, and the farm's peak memory (sum of the soffice.bin
   resident sets, sampled).
2. PDF to TIFF-F (tests/corpus/pdf): `faxhub convert` with one worker against raw
   `gs -sDEVICE=tiffg4` on each file, one after the other. Reports the time ratio (target <= 1.1).
3. The converters' sandbox (`--only sandbox`): the running daemon's warm farm and `faxhub
   convert` of the PDFs with `[convert.sandbox] mode = "off"` against the default (bubblewrap),
   alternating in each run. Reports the throughput ratios (target: the sandboxed farm within 10%
   of the unsandboxed one) and the sandbox's start-up cost per farm instance (the difference of
   the farm's warm-up times, divided by the instances).

Medians of --runs runs. Needs target/release/faxhub (make bench builds it), LibreOffice, gs.
"""
import argparse, glob, os, shutil, statistics, subprocess, tempfile, threading, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "faxhub")
OFFICE = sorted(f for f in glob.glob(os.path.join(ROOT, "tests/corpus/office/*/*")) if os.path.isfile(f))
PDFS = sorted(glob.glob(os.path.join(ROOT, "tests/corpus/pdf/*/*.pdf")))


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class PeakRss:
    """Samples the summed RSS of all soffice.bin processes."""

    def __init__(self):
        self.peak_kb = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop:
            out = subprocess.run(["ps", "-C", "soffice.bin", "-o", "rss="], capture_output=True, text=True).stdout
            self.peak_kb = max(self.peak_kb, sum(int(x) for x in out.split() if x.isdigit()))
            time.sleep(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()


def faxhub_convert(files, config=None):
    out = tempfile.mkdtemp(prefix="bench-out-")
    cmd = [BIN, "convert", "--out", out] + files
    if config:
        cmd[1:1] = ["-c", config]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    produced = len(glob.glob(os.path.join(out, "*.tif")))
    shutil.rmtree(out)
    return produced


def office_mail(path):
    """A mail to one fax number with `path` attached (built once, before the clock starts)."""
    from email.message import EmailMessage
    msg = EmailMessage()
    msg["From"] = "bench@example.com"
    msg["To"] = "0169293999@fax.localhost"
    msg["Subject"] = os.path.basename(path)
    msg.set_content("")
    with open(path, "rb") as f:
        msg.add_attachment(f.read(), maintype="application", subtype="octet-stream",
                           filename=os.path.basename(path))
    return msg.as_bytes()


def daemon_farm(files, extra=""):
    """Docs/s through a running faxhub whose farm is warm: one mail a document, all sent over one
    SMTP session (the mails are built before the clock starts), timed from the first submission
    until the daemon's log shows every job converted or failed. (Polling `faxhub queue` instead
    would cost the daemon's CPU a share of the measurement.)"""
    import smtplib
    d = tempfile.mkdtemp(prefix="bench-daemon-")
    config = os.path.join(d, "faxhub.toml")
    port = 20000 + os.getpid() % 10000
    open(config, "w").write(f'data_dir = "{d}/var"\n[http]\nlisten = []\n[smtp]\nlisten = ["127.0.0.1:{port}"]\n'
                            f'[convert]\nbody = "never"\n{extra}')
    logpath = os.path.join(d, "log")
    log = open(logpath, "w")
    proc = subprocess.Popen([BIN, "serve", "-c", config], stdout=subprocess.DEVNULL, stderr=log)
    mails = [office_mail(f) for f in files]
    try:
        launched = time.perf_counter()
        deadline = time.time() + 120
        while "LibreOffice farm warm" not in open(logpath).read():
            if time.time() > deadline:
                raise SystemExit("the farm did not warm up")
            time.sleep(0.05)
        daemon_farm.warm_up = time.perf_counter() - launched
        start = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for m in mails:
                smtp.sendmail("bench@example.com", ["0169293999@fax.localhost"], m)
        while True:
            text = open(logpath).read()
            converted = text.count('to="converted"')
            failed = text.count('to="convert_failed"')
            if converted + failed >= len(files):
                break
            if time.perf_counter() - start > 600:
                raise SystemExit("the daemon did not convert everything in 10 minutes")
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        return len(files) / elapsed, converted
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def cold_soffice(files):
    out = tempfile.mkdtemp(prefix="bench-cold-")
    profile = tempfile.mkdtemp(prefix="bench-profile-")
    ok = 0
    for f in files:
        r = subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
                            "--convert-to", "pdf", "--outdir", out, f],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        ok += r.returncode == 0
    produced = len(glob.glob(os.path.join(out, "*.pdf")))
    shutil.rmtree(out)
    shutil.rmtree(profile)
    return produced


def raw_gs(files):
    out = tempfile.mkdtemp(prefix="bench-gs-")
    for i, f in enumerate(files):
        subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=tiffg4", "-r204x196", "-sPAPERSIZE=a4",
                        "-dFIXEDMEDIA", "-dPDFFitPage", "-dMaxStripSize=0", f"-sOutputFile={out}/{i}.tif", f],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(out)


UNSANDBOXED = '[convert.sandbox]\nmode = "off"\n'


def sandbox_cost(runs):
    """The daemon's warm farm and `faxhub convert` of the PDFs, sandboxed and not, alternating."""
    on, off, warm_on, warm_off, pdf_on, pdf_off = [], [], [], [], [], []
    instances = os.cpu_count() or 1
    configs = {}
    for name, extra in (("on", "workers = 1\n"), ("off", "workers = 1\n" + UNSANDBOXED)):
        f = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
        f.write("[convert]\n" + extra)
        f.close()
        configs[name] = f.name
    for run in range(runs):
        rate, _ = daemon_farm(OFFICE, UNSANDBOXED)
        off.append(rate)
        warm_off.append(daemon_farm.warm_up)
        rate, _ = daemon_farm(OFFICE)
        on.append(rate)
        warm_on.append(daemon_farm.warm_up)
        pdf_off.append(timed(lambda: faxhub_convert(PDFS, configs["off"])))
        pdf_on.append(timed(lambda: faxhub_convert(PDFS, configs["on"])))
        print(f"run {run + 1}: warm farm {off[-1]:.2f} docs/s unsandboxed, {on[-1]:.2f} sandboxed; "
              f"warm-up {warm_off[-1]:.1f} s / {warm_on[-1]:.1f} s; PDFs {pdf_off[-1]:.1f} s / {pdf_on[-1]:.1f} s",
              flush=True)
    for f in configs.values():
        os.unlink(f)
    m = statistics.median
    print(f"\nmedian of {runs} runs, {len(OFFICE)} office files, {len(PDFS)} PDFs:")
    print(f"  warm farm: unsandboxed {m(off):.2f} docs/s, sandboxed {m(on):.2f} docs/s, "
          f"ratio {m(on) / m(off):.2f} (target >= 0.90)")
    print(f"  farm warm-up: unsandboxed {m(warm_off):.2f} s, sandboxed {m(warm_on):.2f} s, "
          f"{(m(warm_on) - m(warm_off)) / instances * 1000:.0f} ms per instance ({instances} instances)")
    print(f"  PDF -> TIFF-F (one worker, a Ghostscript run per file): unsandboxed {m(pdf_off):.1f} s, "
          f"sandboxed {m(pdf_on):.1f} s, ratio {m(pdf_off) / m(pdf_on):.2f}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", choices=["office", "pdf", "sandbox"], help="run one comparison")
    args = p.parse_args()
    if not os.path.exists(BIN):
        raise SystemExit(f"{BIN} is missing: run `make bench`")
    if args.only == "sandbox":
        return sandbox_cost(args.runs)
    one_worker = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    one_worker.write("[convert]\nworkers = 1\n")
    one_worker.close()
    farm, warm, cold, fh_pdf, gs_pdf, peaks, done = [], [], [], [], [], [], []
    for run in range(args.runs):
        if args.only != "pdf":
            with PeakRss() as rss:
                t = timed(lambda: done.append(faxhub_convert(OFFICE)))
            farm.append(len(OFFICE) / t)
            peaks.append(rss.peak_kb)
            rate, ok = daemon_farm(OFFICE)
            warm.append(rate)
            t = timed(lambda: cold_soffice(OFFICE))
            cold.append(len(OFFICE) / t)
            print(f"run {run + 1}: faxhub convert {farm[-1]:.2f} docs/s ({done[-1]}/{len(OFFICE)} converted), "
                  f"daemon with warm farm {rate:.2f} docs/s ({ok} converted), cold {cold[-1]:.2f} docs/s, "
                  f"peak farm RSS {peaks[-1] / 1024:.0f} MB", flush=True)
        if args.only != "office":
            fh_pdf.append(timed(lambda: faxhub_convert(PDFS, one_worker.name)))
            gs_pdf.append(timed(lambda: raw_gs(PDFS)))
            print(f"run {run + 1}: PDF->TIFF faxhub {fh_pdf[-1]:.1f} s, raw gs {gs_pdf[-1]:.1f} s", flush=True)
    os.unlink(one_worker.name)
    m = statistics.median
    print(f"\nmedian of {args.runs} runs:")
    if farm:
        print(f"  office, {len(OFFICE)} files, cold soffice to PDF {m(cold):.2f} docs/s;")
        print(f"    `faxhub convert` (farm start-up included) {m(farm):.2f} docs/s: {m(farm) / m(cold):.1f}x")
        print(f"    running daemon, warm farm, jobs to TIFF-F {m(warm):.2f} docs/s: {m(warm) / m(cold):.1f}x (target >= 10x)")
        print(f"  farm peak memory {m(peaks) / 1024:.0f} MB")
    if fh_pdf:
        print(f"  PDF -> TIFF-F, {len(PDFS)} files: faxhub {m(fh_pdf):.1f} s, raw gs {m(gs_pdf):.1f} s, ratio {m(fh_pdf) / m(gs_pdf):.2f} (target <= 1.10)")


if __name__ == "__main__":
    main()
