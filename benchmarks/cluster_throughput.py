"""Wall time of one encode with local worker processes against Dask, at 1, 2 and 4 workers.

Three ways to run the same scene jobs:

* ``local``: ``--workers N`` (spawned processes; the encoding process reads
  each scene's frames and sends them through a pipe);
* ``dask``: ``--cluster local:N``, workers reading their own span of the source
  and writing their own part (what a cluster with shared storage does);
* ``dask-sent``: the same cluster, but the source exists only in the encoding
  process, so each scene's raw frames travel through Dask (what a cluster
  without shared storage does).

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

import neurocodec
from neurocodec.agents import EncodingAgent
from neurocodec.io.readers import VideoSource, open_source


class _OnlyHere(VideoSource):
    """The clip as a source the workers cannot open (no path they know), so its frames are sent."""

    def __init__(self, path):
        self.inner = open_source(path)
        self.path, self.info = f"<{Path(path).name} in this process>", self.inner.info

    def frames(self):
        return self.inner.frames()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--modes", nargs="+", default=["local", "dask", "dask-sent"])
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
                out = Path(tmp) / f"{mode}-{n}.ncv"
                t0 = time.perf_counter()
                if mode == "local":
                    report = neurocodec.encode(args.clip, out, workers=n, **kw)
                elif mode == "dask":
                    report = neurocodec.encode(args.clip, out, cluster=f"local:{n}", **kw)
                else:
                    report = EncodingAgent(cluster=f"local:{n}", **kw).encode(_OnlyHere(args.clip), out)
                wall = time.perf_counter() - t0
                md5 = hashlib.md5(out.read_bytes()).hexdigest()
                digests.add(md5)
                row = {"mode": mode, "workers": n, "wall_s": round(wall, 2), "fps": round(report.frames / wall, 2),
                       "frames": report.frames, "segments": len(report.segments), "bytes": report.bytes, "md5": md5}
                rows.append(row)
                print(json.dumps(row), flush=True)
    if len(digests) != 1:
        raise SystemExit(f"the runs wrote different files: {sorted(digests)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"clip": args.clip, "settings": kw, "runs": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
