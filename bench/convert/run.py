#!/usr/bin/env python3
"""bench/convert: faxhub's conversion against its anchors, side by side in the same run.

1. Office documents (tests/corpus/office): `faxhub convert` (the warm LibreOffice farm with its
   default pool, then Ghostscript to TIFF-F, plus the PDF preview; the farm's start-up is
   included) against one cold `soffice --headless --convert-to pdf` process per document, one
   after the other (which does less: it stops at PDF). Reports documents per second, the
   ratio, and the farm's peak memory (sum of the soffice.bin resident sets, sampled).
2. PDF to TIFF-F (tests/corpus/pdf): `faxhub convert` with one worker against raw
   `gs -sDEVICE=tiffg4` on each file, one after the other. Reports the time ratio (target <= 1.1).

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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", choices=["office", "pdf"], help="run one of the two comparisons")
    args = p.parse_args()
    if not os.path.exists(BIN):
        raise SystemExit(f"{BIN} is missing: run `make bench`")
    one_worker = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    one_worker.write("[convert]\nworkers = 1\n")
    one_worker.close()
    farm, cold, fh_pdf, gs_pdf, peaks, done = [], [], [], [], [], []
    for run in range(args.runs):
        if args.only != "pdf":
            with PeakRss() as rss:
                t = timed(lambda: done.append(faxhub_convert(OFFICE)))
            farm.append(len(OFFICE) / t)
            peaks.append(rss.peak_kb)
            t = timed(lambda: cold_soffice(OFFICE))
            cold.append(len(OFFICE) / t)
            print(f"run {run + 1}: farm {farm[-1]:.2f} docs/s ({done[-1]}/{len(OFFICE)} converted), "
                  f"cold {cold[-1]:.2f} docs/s, peak farm RSS {peaks[-1] / 1024:.0f} MB", flush=True)
        if args.only != "office":
            fh_pdf.append(timed(lambda: faxhub_convert(PDFS, one_worker.name)))
            gs_pdf.append(timed(lambda: raw_gs(PDFS)))
            print(f"run {run + 1}: PDF->TIFF faxhub {fh_pdf[-1]:.1f} s, raw gs {gs_pdf[-1]:.1f} s", flush=True)
    os.unlink(one_worker.name)
    m = statistics.median
    print(f"\nmedian of {args.runs} runs:")
    if farm:
        print(f"  office, {len(OFFICE)} files: farm {m(farm):.2f} docs/s, cold soffice {m(cold):.2f} docs/s, ratio {m(farm) / m(cold):.1f}x (target >= 10x)")
        print(f"  farm peak memory {m(peaks) / 1024:.0f} MB")
    if fh_pdf:
        print(f"  PDF -> TIFF-F, {len(PDFS)} files: faxhub {m(fh_pdf):.1f} s, raw gs {m(gs_pdf):.1f} s, ratio {m(fh_pdf) / m(gs_pdf):.2f} (target <= 1.10)")


if __name__ == "__main__":
    main()
