"""``i_frame_interpolation`` on talking-head clips against x265 medium and SVT-AV1 preset 6.

    python benchmarks/interpolation_clips.py CLIP... [--frames 60] [--json out.json]

Rates: x265 and SVT-AV1 as elementary-stream bytes; i_frame_interpolation as
its whole segment payload (anchor bitmap, then the anchor stream with its
packet framing). Quality: PSNR-YUV and SSIM of every decoded frame; the
lowest frame PSNR-YUV is reported next to the mean.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from hybrid_clips import _quality, run_all

ANCHORS = {"x265 medium": ("x265", "medium", (27, 32, 37, 42)), "av1 preset 6": ("av1", "6", (40, 48, 56, 63))}
GAPS = (2, 3, 4)


def run_clip(path: str, frames_n: int) -> dict:
    from neurocodec.io import open_source, pad_to_even
    from neurocodec.metrics import psnr, psnr_yuv
    from neurocodec.strategies import DecodeContext, StrategySettings, get_strategy

    with open_source(path) as src:
        fps = float(src.info.fps)
        frames = [pad_to_even(f) for _, f in zip(range(frames_n), src.frames())]
    w, h, n = frames[0].width, frames[0].height, len(frames)
    seconds = n / fps
    rows: dict[str, list[dict]] = {}

    def per_frame(rec):
        return [psnr_yuv(*[psnr(a, b) for a, b in zip((f.y, f.u, f.v), (r.y, r.u, r.v))]) for f, r in zip(frames, rec)]

    for name, (codec, preset, crfs) in ANCHORS.items():
        s = get_strategy(codec)
        for crf in crfs:
            payload = s.encode(frames, StrategySettings(crf=crf, preset=preset), fps)
            rec = list(s.decode(payload, DecodeContext(w, h, n, {})))
            q = _quality(frames, rec)
            rows.setdefault(name, []).append({"crf": crf, "kbps": 8 * sum(len(p) for p in s.packets(payload)) / seconds / 1000,
                                              "psnr_yuv": q[0], "ssim": q[1], "min_psnr_yuv": min(per_frame(rec))})
    s = get_strategy("i_frame_interpolation")
    for gap in GAPS:
        for crf in ANCHORS["av1 preset 6"][2]:
            st = StrategySettings(crf=crf, preset=f"av1:6/gap={gap}")
            t = time.perf_counter()
            payload = s.encode(frames, st, fps)
            enc = time.perf_counter() - t
            t = time.perf_counter()
            rec = list(s.decode(payload, DecodeContext(w, h, n, s.describe(st, w, h, fps))))
            dec = time.perf_counter() - t
            q = _quality(frames, rec)
            head = 2 + 1 + (n >= 128)
            bits = np.unpackbits(np.frombuffer(payload[head : head + (n + 7) // 8], dtype=np.uint8), bitorder="little")[:n]
            row = {"crf": crf, "kbps": 8 * len(payload) / seconds / 1000, "psnr_yuv": q[0], "ssim": q[1],
                   "min_psnr_yuv": min(per_frame(rec)), "interpolated_share": 1 - bits.mean(),
                   "encode_s": enc, "decode_fps": n / dec}
            rows.setdefault(f"gap {gap}", []).append(row)
            print(path, gap, json.dumps(row), flush=True)
    return {"clip": path, "size": [w, h], "frames": n, "rows": rows}


def summarize(result: dict) -> dict:
    from neurocodec.metrics.bd import bd_rate

    rows = result["rows"]
    curves = {k: [(p["kbps"], p["psnr_yuv"]) for p in v] for k, v in rows.items()}
    out = {}
    for anchor in ANCHORS:
        a = curves[anchor]
        for name, pts in curves.items():
            if name in ANCHORS and name != "av1 preset 6":
                continue
            if name == anchor:
                continue
            r = bd_rate([p[0] for p in a], [p[1] for p in a], [p[0] for p in pts], [p[1] for p in pts], min_overlap=0.3) if len(pts) >= 4 else None
            out[f"{name} vs {anchor}"] = None if r is None else r.value
    return out


def main(argv: list[str]) -> None:
    run_all(argv, 60, run_clip, summarize, "bd_rate_pct", {})


if __name__ == "__main__":
    main(sys.argv[1:])
