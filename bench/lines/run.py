#!/usr/bin/env python3
"""bench/lines: the fax line, measured.

1. Simultaneous loopback calls: faxhub's SIP user agent calls itself N times at once, every call
   sending the same 3-page corpus document (tests/corpus/office/unstructured/tests-example.xls,
   made into TIFF-F by `faxhub convert`), over T.38 and over G.711. N goes up (60, 120, 240,
   480, 960) until a call fails; reported: the largest N with zero failures, and the CPU per
   channel at 240 channels (both ends of each call run in the process, so this is the cost of a
   sender plus a receiver), median of --runs runs. Target: 240 T.38 channels on this machine
   (eight E1 spans).
2. Line time per page, MMR with ECM against MH without ECM at 14.4k, for corpus documents made
   into TIFF-F: the T.30 sessions run between two libspandsp terminals on a simulated clock,
   so the line time is exact and needs no waiting. Medians over the documents.

3. The media checks against an earlier build (`--against REV`, e.g. the commit before issue 14's
   media checks): the loopback_calls example built at REV in a worktree of its own, then 240
   simultaneous T.38 calls with each build, alternating, --runs times. Reported: CPU per channel
   of each (median) and their ratio. Target: within 10% (ratio <= 1.10).

Needs target/release/faxhub and the lines examples in release (this script builds them).
"""
import argparse, glob, json, os, statistics, subprocess, tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FAXHUB = os.path.join(ROOT, "target", "release", "faxhub")
CALLS = os.path.join(ROOT, "target", "release", "examples", "loopback_calls")
LINE_TIME = os.path.join(ROOT, "target", "release", "examples", "line_time")
DOC = os.path.join(ROOT, "tests/corpus/office/unstructured/tests-example.xls")
DOCS = sorted(glob.glob(os.path.join(ROOT, "tests/corpus/pdf/pypdf/*.pdf")))[:12] + sorted(
    glob.glob(os.path.join(ROOT, "tests/corpus/office/calamine/*.xlsx")))[:4]


def convert(files, out):
    subprocess.run([FAXHUB, "convert", "--out", out, *files], check=False, capture_output=True)
    return sorted(glob.glob(os.path.join(out, "*.tif")))


def calls(n, mode, tiff):
    out = subprocess.run([CALLS, str(n), mode, tiff], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def per_channel_percent(r):
    """CPU per channel, in percent of one core, over the calls' median duration."""
    return 100.0 * r["cpu_s"] / (r["calls"] * r["median_call_s"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max", type=int, default=960)
    ap.add_argument("--against", help="a git revision to compare 240 T.38 channels with")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "faxhub-lines", "--examples"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="faxhub-bench-lines-")
    tiff = convert([DOC], os.path.join(work, "doc"))[0]
    if args.against:
        return against(args.against, tiff, args.runs)

    print("== simultaneous loopback calls, 3 pages each ==")
    for mode in ["t38", "g711"]:
        best = 0
        n = 60
        while n <= args.max:
            r = calls(n, mode, tiff)
            print(f"{mode} N={n}: {r['ok']}/{n} ok, call {r['median_call_s']} s, cpu {r['cpu_s']} s"
                  + (f", failures {r['failures']}" if r['failures'] else ""), flush=True)
            if r["ok"] != n:
                break
            best = n
            n *= 2
        runs = [calls(240, mode, tiff) for _ in range(args.runs)]
        ok = [r["ok"] for r in runs]
        cpu = statistics.median(per_channel_percent(r) for r in runs)
        print(f"{mode}: largest N with zero failures {best} (of those tried up to {args.max}); "
              f"at 240 channels: ok {ok}, CPU per channel {cpu:.3f}% of a core (median of {args.runs})", flush=True)

    print("== line time per page at 14.4k: MMR with ECM vs MH without ==")
    tiffs = convert(DOCS, os.path.join(work, "docs"))
    rows = []
    for t in tiffs:
        out = subprocess.run([LINE_TIME, t], capture_output=True, text=True, check=True).stdout
        row = json.loads(out.strip())
        if "error" not in row:
            rows.append(row)
            print(f"{os.path.basename(t)}: {row['pages']} page(s), MMR+ECM {row['mmr_ecm_s_per_page']} s/page, "
                  f"MH {row['mh_s_per_page']} s/page", flush=True)
    mmr = statistics.median(r["mmr_ecm_s_per_page"] for r in rows)
    mh = statistics.median(r["mh_s_per_page"] for r in rows)
    print(f"median over {len(rows)} documents: MMR+ECM {mmr:.2f} s/page, MH {mh:.2f} s/page, "
          f"MH/MMR = {mh / mmr:.2f}")


def against(rev, tiff, runs):
    """240 T.38 channels, this build and REV's, alternating; CPU per channel and their ratio."""
    tree = os.path.join(tempfile.gettempdir(), f"faxhub-anchor-{rev}")
    if not os.path.isdir(tree):
        subprocess.run(["git", "worktree", "add", "--detach", tree, rev], cwd=ROOT, check=True,
                       capture_output=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "faxhub-lines", "--example", "loopback_calls"],
                   cwd=tree, check=True)
    anchor = os.path.join(tree, "target", "release", "examples", "loopback_calls")
    cpu = {"anchor": [], "now": []}
    for i in range(runs):
        for name, binary in [("anchor", anchor), ("now", CALLS)]:
            out = subprocess.run([binary, "240", "t38", tiff], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            cpu[name].append(per_channel_percent(r))
            print(f"run {i + 1} {name} ({rev if name == 'anchor' else 'this build'}): "
                  f"{r['ok']}/240 ok, CPU per channel {cpu[name][-1]:.3f}%", flush=True)
    a, n = statistics.median(cpu["anchor"]), statistics.median(cpu["now"])
    print(f"240 T.38 channels, CPU per channel (median of {runs}): {rev} {a:.3f}%, this build {n:.3f}%, "
          f"ratio {n / a:.2f} (target <= 1.10)")


if __name__ == "__main__":
    main()
