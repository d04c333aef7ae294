"""Wall time of one encode with local worker processes against Dask, at 1, 2 and 4 workers.

Three ways to run the same scene jobs:

* ``local``: ``--workers N`` (spawned processes; the encoding process reads
  each scene's frames and sends them through a pipe; one worker runs in-process);
* ``dask``: ``--cluster local:N`` as it runs by default on one machine: the
  encoding process sends each scene's frames through Dask, the workers write
  their own part;
* ``dask-read``: the same with ``--cluster-frames read``: each worker reads its
  own span of the source (what a cluster with shared storage does), decoding
  from the keyframe before it;
* ``dask-up``: ``dask`` on a LocalCluster started before the clock starts (as a
  cluster one runs is), passed as ``executor``; the row also gives the seconds
  the LocalCluster took to start.

Every run's file must have the same MD5 (the script fails otherwise).

Usage (from the repository root)::

    SVT_LOG=1 python benchmarks/cluster_throughput.py CLIP --workers 1 2 4 --json out.json

Not part of the test suite: minutes per clip.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import tempfile
import time
from pathlib import Path

import os

os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # before distributed is imported

import neurocodec  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--modes", nargs="+", default=["local", "dask", "dask-read"])
    ap.add_argument("--strategy", default="av1")
    ap.add_argument("--crf", type=float, default=40)
    ap.add_argument("--preset", default="6")
    ap.add_argument("--segment-frames", type=int, default=16)
    ap.add_argument("--json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    kw = {"strategy": args.strategy, "crf": args.crf, "preset": args.preset, "segment_frames": args.segment_frames}
    rows, digests = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.workers:
            for mode in args.modes:
                out = Path(tmp) / f"{mode}-{n}-{len(rows)}.ncv"
                t0 = time.perf_counter()
                if mode == "local":
                    report = neurocodec.encode(args.clip, out, workers=n, **kw)
                elif mode == "dask-up":
                    from distributed import Client, LocalCluster

                    t_start = time.perf_counter()
                    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True) as cluster, \
                            Client(cluster) as client:
                        client.wait_for_workers(n)
                        started = time.perf_counter() - t_start
                        t0 = time.perf_counter()
                        report = neurocodec.encode(args.clip, out, executor=client, **kw)
                        wall = time.perf_counter() - t0
                else:
                    frames = "read" if mode == "dask-read" else "auto"
                    report = neurocodec.encode(args.clip, out, cluster=f"local:{n}", cluster_frames=frames, **kw)
                if mode != "dask-up":
                    wall, started = time.perf_counter() - t0, None
                md5 = hashlib.md5(out.read_bytes()).hexdigest()
                digests.add(md5)
                row = {"mode": mode, "workers": n, "wall_s": round(wall, 2), "fps": round(report.frames / wall, 2),
                       "frames": report.frames, "segments": len(report.segments), "bytes": report.bytes, "md5": md5}
                if started is not None:
                    row["cluster_start_s"] = round(started, 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    if len(digests) != 1:
        raise SystemExit(f"the runs wrote different files: {sorted(digests)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"clip": args.clip, "settings": kw, "runs": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
