"""Fuzz the decoder at scale: many mutated ``.ncv`` files of every strategy in one long-lived process.

Seeds are small real encodes (one multi-segment file per strategy). Each
mutant comes from :mod:`neurocodec.bitstream.mutate` (truncation, bit flips,
forged lengths, header, index and params edits, payload damage behind a
recomputed CRC, concatenations, payloads swapped between strategies) and is
decoded completely, front to back, in the same worker process as all the
others: that is how a server or a notebook uses the library, and how the
AV1 decoder deadlock of issue 13 showed up.

A watchdog (``faulthandler.dump_traceback_later``, which fires even while a
C library holds the GIL) ends the worker after ``--hang-s`` seconds without
progress; the supervisor records a hang for that mutant, keeps the stack
dump, and starts a fresh worker at the next mutant. The worker runs under an
address-space limit (``--mem-gb``) and reports its peak RSS.

Outcomes per mutant: ``decoded`` (a valid file after all), ``rejected``
(:class:`~neurocodec.errors.NcvFormatError`), ``library_error`` (another
neurocodec error class), ``foreign`` (any other exception: a bug),
``hang`` (watchdog). The goal is 0 foreign and 0 hangs.

Usage::

    python benchmarks/fuzz_ncv.py --mutants 10000 --work runs/fuzz --json runs/fuzz/report.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

STRATEGIES = ("x264", "x265", "av1", "semantic_latent", "hybrid", "i_frame_interpolation", "aom", "vvc")


def make_seeds(work: Path) -> list[Path]:
    """One 3-segment file per strategy (96x64, 12 frames), made once and reused."""
    import neurocodec
    from neurocodec.io import write_video
    from neurocodec.io.synthetic import pan_zoom, pan_zoom_info

    work.mkdir(parents=True, exist_ok=True)
    clip = work / "seed_clip.y4m"
    if not clip.exists():
        write_video(clip, pan_zoom_info(96, 64, 12), pan_zoom(96, 64, 12, image="chelsea", pan=(1.5, 0.5)))
    seeds = []
    for name in STRATEGIES:
        out = work / f"seed_{name}.ncv"
        if not out.exists():
            neurocodec.encode(clip, out, strategy=name, segment_frames=4, measure_quality=False)
        seeds.append(out)
    return seeds


def worker(args) -> None:
    """Decode mutants ``start..end`` in this process, one JSON line each on stdout."""
    import faulthandler
    import resource

    if args.mem_gb:
        cap = int(args.mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from neurocodec.agents.decoder import DecodingAgent, describe
    from neurocodec.bitstream.mutate import mutate
    from neurocodec.errors import NcvFormatError, NeurocodecError

    seeds = [Path(p).read_bytes() for p in args.seeds]
    names = [Path(p).stem.removeprefix("seed_") for p in args.seeds]
    current = Path(args.work) / "current.ncv"
    for i in range(args.start, args.end):
        rng = random.Random(f"{args.seed}:{i}")
        k = i % len(seeds)
        op, data = mutate(seeds[k], rng, others=seeds[:k] + seeds[k + 1 :])
        current.write_bytes(data)
        faulthandler.dump_traceback_later(args.hang_s, exit=True)
        t0 = time.perf_counter()
        detail = ""
        try:
            describe(current)
            frames = sum(1 for _ in DecodingAgent(current).frames())
            outcome, detail = "decoded", f"{frames} frames"
        except NcvFormatError as exc:
            outcome, detail = "rejected", str(exc)[:160]
        except NeurocodecError as exc:
            outcome, detail = "library_error", f"{type(exc).__name__}: {exc}"[:200]
        except BaseException as exc:  # noqa: BLE001 - the point is to catch what the library lets through
            outcome, detail = "foreign", f"{type(exc).__name__}: {exc}"[:200]
        faulthandler.cancel_dump_traceback_later()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row = {"i": i, "seed": names[k], "op": op, "outcome": outcome, "s": round(time.perf_counter() - t0, 4),
               "rss_mb": round(rss_mb, 1), "detail": detail}
        print(json.dumps(row), flush=True)


def supervise(args) -> dict:
    work = Path(args.work)
    seeds = make_seeds(work)
    rows: list[dict] = []
    hangs: list[dict] = []
    start = 0
    t0 = time.time()
    while start < args.mutants:
        cmd = [sys.executable, __file__, "--_worker", "--start", str(start), "--end", str(args.mutants),
               "--seed", str(args.seed), "--hang-s", str(args.hang_s), "--mem-gb", str(args.mem_gb),
               "--work", str(work), "--seeds", *map(str, seeds)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=os.environ | {"SVT_LOG": "1"})
        out, err = proc.communicate()
        got = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        rows += got
        done = got[-1]["i"] + 1 if got else start
        if done < args.mutants:  # the worker died at mutant `done`: watchdog (hang) or a crash
            kind = "hang" if "Timeout" in err or "timeout" in err else "crash"
            dump = work / f"{kind}_{done}.ncv"
            if (work / "current.ncv").exists():
                (work / "current.ncv").replace(dump)
            hangs.append({"i": done, "kind": kind, "file": str(dump), "stderr_tail": err[-3000:]})
            rows.append({"i": done, "seed": None, "op": None, "outcome": kind, "s": args.hang_s, "rss_mb": None,
                         "detail": err.strip().splitlines()[-1][:200] if err.strip() else ""})
            done += 1
        start = done
        print(f"{start}/{args.mutants} mutants, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return summarize(rows, hangs, time.time() - t0, args)


def summarize(rows: list[dict], hangs: list[dict], wall_s: float, args) -> dict:
    by_outcome = collections.Counter(r["outcome"] for r in rows)
    by_seed = collections.defaultdict(collections.Counter)
    by_op = collections.defaultdict(collections.Counter)
    for r in rows:
        by_seed[r["seed"] or "?"][r["outcome"]] += 1
        by_op[r["op"] or "?"][r["outcome"]] += 1
    times = sorted(r["s"] for r in rows if r["outcome"] not in ("hang", "crash"))
    foreign = [r for r in rows if r["outcome"] == "foreign"]
    return {
        "mutants": len(rows),
        "seed": args.seed,
        "wall_s": round(wall_s, 1),
        "outcomes": dict(by_outcome),
        "by_strategy": {k: dict(v) for k, v in sorted(by_seed.items())},
        "by_operator": {k: dict(v) for k, v in sorted(by_op.items())},
        "decode_s": {"median": times[len(times) // 2] if times else None,
                     "p99": times[int(len(times) * 0.99)] if times else None, "max": times[-1] if times else None},
        "peak_rss_mb": max((r["rss_mb"] or 0) for r in rows) if rows else None,
        "mem_cap_gb": args.mem_gb,
        "foreign_examples": collections.Counter(r["detail"].split(":")[0] for r in foreign).most_common(10),
        "library_examples": collections.Counter(r["detail"][:90] for r in rows
                                                if r["outcome"] == "library_error").most_common(10),
        "slowest": sorted((r for r in rows if r["outcome"] not in ("hang", "crash")), key=lambda r: -r["s"])[:5],
        "foreign_rows": foreign[:20],
        "hangs_and_crashes": hangs,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mutants", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hang-s", type=float, default=30.0, help="Watchdog: seconds without progress that count as a hang.")
    p.add_argument("--mem-gb", type=float, default=8.0, help="Address-space limit of the decoding process (0: none).")
    p.add_argument("--work", default="runs/fuzz", help="Seeds, the mutant in progress, and dumps of hangs.")
    p.add_argument("--json", help="Write the report here.")
    p.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--end", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--seeds", nargs="*", default=[], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._worker:
        worker(args)
        return 0
    report = supervise(args)
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(json.dumps({k: report[k] for k in ("mutants", "wall_s", "outcomes", "decode_s", "peak_rss_mb")}, indent=2))
    bad = report["outcomes"].get("foreign", 0) + report["outcomes"].get("hang", 0) + report["outcomes"].get("crash", 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
