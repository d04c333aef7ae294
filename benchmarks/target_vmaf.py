"""``--target-vmaf`` against the cheapest single SVT-AV1 CRF meeting the same target on every scene.

    python benchmarks/target_vmaf.py OUT.json VMAF CLIP[:FRAMES] [CLIP[:FRAMES] ...]

The clips (their first FRAMES frames, default 24) are joined into one
multi-scene clip at the first clip's size (the others are resized with the
project's Lanczos filter). Three encodes use the same detected scenes:

- ``av1`` (SVT-AV1 preset 6) with ``target_vmaf``: neurocodec picks a CRF per scene;
- ``auto`` with ``target_vmaf`` at the given effort (``--effort``, default medium);
- the reference, what ab-av1's ``crf-search`` would pick for the whole clip: one
  SVT-AV1 preset 6 CRF for every scene, the largest (fewest bits) whose VMAF,
  pooled per scene, meets the target on every scene. It is found by bisection
  over CRF 1..63 (VMAF falls as CRF rises); the next CRF up was measured to miss it.

Every scene's VMAF is measured here on every frame of its decode, scene by
scene (libvmaf at native size, the pooling of ``--pool``), for all three encodes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import neurocodec
from neurocodec.agents.decoder import DecodingAgent
from neurocodec.io import open_source, write_video
from neurocodec.io.frame import VideoInfo
from neurocodec.io.resize import resize_frame
from neurocodec.metrics.vmaf import vmaf_frames


def _join(clips: list[str], workdir: Path) -> Path:
    """The clips' first frames, one after the other, as one y4m at the first clip's size and rate."""
    frames, info = [], None
    for spec in clips:
        path, _, n = spec.partition(":")
        with open_source(path) as src:
            info = info or src.info
            for f in itertools.islice(src.frames(), int(n or 24)):
                same = (f.width, f.height) == (info.width, info.height)
                frames.append(f if same else resize_frame(f, info.width, info.height))
    out = workdir / "joined.y4m"
    write_video(out, VideoInfo(info.width, info.height, info.fps, len(frames)), frames)
    return out


def _scene_vmaf(ref: list, info: VideoInfo, ncv: Path, scenes: list[tuple[int, int]], pool: str) -> list[float]:
    """VMAF of each scene of ``ncv``'s decode against the source frames ``ref``, scored on the scene's frames alone."""
    dec = list(DecodingAgent(ncv).frames())
    return [vmaf_frames(ref[a:b], dec[a:b], info).pooled(pool) for a, b in scenes]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("vmaf", type=float)
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--pool", default="mean")
    ap.add_argument("--effort", default="medium")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="target-vmaf-"))
    src = _join(a.clips, tmp)
    scenes_file = tmp / "scenes.json"
    doc: dict = {"target_vmaf": a.vmaf, "pool": a.pool, "clips": a.clips, "encodes": {}}
    with open_source(src) as s:  # read once: every encode is scored against these frames
        ref, info = list(s.frames()), s.info

    def scene_vmaf(ncv: Path, report) -> list[float]:
        return _scene_vmaf(ref, info, ncv, [(s.start_frame, s.end_frame) for s in report.segments], a.pool)

    def record(name: str, ncv: Path, report, seconds: float, scores: list[float] | None = None,
               extra: dict | None = None) -> None:
        scores = scene_vmaf(ncv, report) if scores is None else scores
        doc["encodes"][name] = {
            "bytes": ncv.stat().st_size, "kbps": report.bitrate_kbps, "encode_seconds": round(seconds, 1),
            "scenes": [{"frames": [s.start_frame, s.end_frame], "strategy": s.strategy,
                        "crf": s.params.get("options", {}).get("crf") or s.params.get("crf"),
                        "vmaf": round(v, 3)} for s, v in zip(report.segments, scores)],
            "all_met": all(v >= a.vmaf for v in scores), **(extra or {})}
        print(f"{name}: {report.bitrate_kbps:.1f} kb/s, scene VMAF {[round(v, 2) for v in scores]}", flush=True)

    t = time.perf_counter()
    rep = neurocodec.encode(src, tmp / "av1t.ncv", strategy="av1", preset="6", target_vmaf=a.vmaf,
                            vmaf_pool=a.pool, write_scenes=scenes_file)
    record("av1_p6_target_vmaf", tmp / "av1t.ncv", rep, time.perf_counter() - t)
    t = time.perf_counter()
    rep = neurocodec.encode(src, tmp / "auto.ncv", strategy="auto", preset=a.effort, target_vmaf=a.vmaf,
                            vmaf_pool=a.pool, scenes_file=scenes_file)
    record(f"auto_{a.effort}_target_vmaf", tmp / "auto.ncv", rep, time.perf_counter() - t)

    cache: dict[int, tuple] = {}

    def fixed(crf: int) -> tuple:
        if crf not in cache:
            ncv = tmp / f"av1_crf{crf}.ncv"
            t = time.perf_counter()
            r = neurocodec.encode(src, ncv, strategy="av1", preset="6", crf=crf, scenes_file=scenes_file,
                                  measure_quality=False, overwrite=True)
            secs = time.perf_counter() - t
            scores = scene_vmaf(ncv, r)
            cache[crf] = (r, ncv, secs, scores)
            print(f"  crf-search: CRF {crf}: {r.bitrate_kbps:.1f} kb/s, worst scene VMAF {min(scores):.2f}", flush=True)
        return cache[crf]

    lo, hi = 1, 63  # invariant: lo meets the target (checked), hi+1 does not (or is out of range)
    if min(fixed(lo)[3]) < a.vmaf:
        raise SystemExit(f"even CRF {lo} misses VMAF {a.vmaf} on a scene")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if min(fixed(mid)[3]) >= a.vmaf:
            lo = mid
        else:
            hi = mid - 1
    r, ncv, secs, scores = fixed(lo)
    record("av1_p6_crf_search", ncv, r, secs, scores, {"crf": lo, "crfs_tried": sorted(cache)})
    ref = doc["encodes"]["av1_p6_crf_search"]["bytes"]
    for e in doc["encodes"].values():
        e["size_vs_crf_search"] = round(e["bytes"] / ref, 4)
    Path(a.out).write_text(json.dumps(doc, indent=1))
    print(json.dumps({k: (v["kbps"], v["size_vs_crf_search"], v["all_met"]) for k, v in doc["encodes"].items()}))


if __name__ == "__main__":
    main()
