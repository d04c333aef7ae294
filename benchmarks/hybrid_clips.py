"""``hybrid`` against its own base codec (SVT-AV1 preset 6) at the low-rate end, with and without content adaptation.

    python benchmarks/hybrid_clips.py CLIP... [--frames 16] [--json out.json]

For each clip (first ``--frames`` frames) and each SVT-AV1 CRF in ``CRFS``:
SVT-AV1 alone (elementary-stream bytes) and every hybrid variant (scale 1,
3/4, 1/2 with 40 adaptation steps; scale 1 and 1/2 without adaptation).
Hybrid rates are its whole segment payload (base packets with their framing,
base size, adaptation update), so the update's bits are counted and the
anchor is not charged any framing. Quality is PSNR-YUV / SSIM of the decode.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

CRFS = (40, 48, 56, 63)
VARIANTS = {
    "scale 1": "av1:6/scale=1/adapt=40",
    "scale 3/4": "av1:6/scale=0.75/adapt=40",
    "scale 1/2": "av1:6/scale=0.5/adapt=40",
    "scale 1, no adaptation": "av1:6/scale=1/adapt=0",
    "scale 1/2, no adaptation": "av1:6/scale=0.5/adapt=0",
}


def _quality(src, rec):
    from neurocodec.metrics import psnr, psnr_yuv, ssim

    p = [psnr_yuv(*[psnr(a, b) for a, b in zip((f.y, f.u, f.v), (r.y, r.u, r.v))]) for f, r in zip(src, rec)]
    s = [ssim(f.y, r.y) for f, r in zip(src, rec)]
    return float(np.mean(p)), float(np.mean(s))


def run_clip(path: str, frames_n: int) -> dict:
    from neurocodec.io import open_source, pad_to_even
    from neurocodec.strategies import DecodeContext, StrategySettings, get_strategy

    with open_source(path) as src:
        fps = float(src.info.fps)
        frames = [pad_to_even(f) for _, f in zip(range(frames_n), src.frames())]
    w, h, n = frames[0].width, frames[0].height, len(frames)
    seconds = n / fps
    rows: dict[str, list[dict]] = {}
    av1, hy = get_strategy("av1"), get_strategy("hybrid")
    for crf in CRFS:
        st = StrategySettings(crf=crf, preset="6")
        payload = av1.encode(frames, st, fps)
        rec = list(av1.decode(payload, DecodeContext(w, h, n, {})))
        q = _quality(frames, rec)
        kbps = 8 * sum(len(p) for p in av1.packets(payload)) / seconds / 1000
        rows.setdefault("av1 preset 6", []).append({"crf": crf, "kbps": kbps, "psnr_yuv": q[0], "ssim": q[1]})
        print(path, "av1", crf, round(kbps, 1), round(q[0], 2), flush=True)
        for name, preset in VARIANTS.items():
            st = StrategySettings(crf=crf, preset=preset)
            t = time.perf_counter()
            payload = hy.encode(frames, st, fps)
            enc = time.perf_counter() - t
            t = time.perf_counter()
            rec = list(hy.decode(payload, DecodeContext(w, h, n, hy.describe(st, w, h, fps))))
            dec = time.perf_counter() - t
            q = _quality(frames, rec)
            # 0: shipped network, 1: network with the scene's bias update, 2: network switched off
            adaptation = payload[1 + 1 + len(_varint(hy, payload)) + 1]  # after the scale index
            row = {"crf": crf, "kbps": 8 * len(payload) / seconds / 1000, "psnr_yuv": q[0], "ssim": q[1],
                   "adaptation": adaptation, "encode_s": enc, "decode_fps": n / dec}
            rows.setdefault(name, []).append(row)
            print(path, name, json.dumps(row), flush=True)
    return {"clip": path, "size": [w, h], "frames": n, "rows": rows}


def _varint(hy, payload):
    """Bytes of the two size varints after the format and base-id bytes."""
    out, pos = b"", 2
    for _ in range(2):
        while payload[pos] & 0x80:
            out += payload[pos : pos + 1]
            pos += 1
        out += payload[pos : pos + 1]
        pos += 1
    return out


def summarize(result: dict) -> dict:
    from neurocodec.metrics.bd import bd_rate

    rows = result["rows"]
    anchor = rows["av1 preset 6"]
    ar, aq = [p["kbps"] for p in anchor], [p["psnr_yuv"] for p in anchor]
    out = {}
    curves = {k: [(p["kbps"], p["psnr_yuv"]) for p in v] for k, v in rows.items() if k != "av1 preset 6"}
    for name, pts in curves.items():
        r = bd_rate(ar, aq, [p[0] for p in pts], [p[1] for p in pts], min_overlap=0.3) if len(pts) >= 4 else None
        out[name] = None if r is None else r.value
    return out


def run_all(argv: list[str], default_frames: int, run_clip, summarize, bd_key: str, header: dict) -> None:
    """``CLIP... [--frames N] [--json OUT]``: measure every clip, print its BD-rates, rewrite OUT after each clip."""
    frames, out, clips = default_frames, None, []
    it = iter(argv)
    for a in it:
        if a == "--frames":
            frames = int(next(it))
        elif a == "--json":
            out = next(it)
        else:
            clips.append(a)
    results = header | {"frames": frames, "clips": []}
    for clip in clips:
        r = run_clip(clip, frames)
        r[bd_key] = summarize(r)
        print(clip, json.dumps(r[bd_key]), flush=True)
        results["clips"].append(r)
        if out:
            with open(out, "w") as f:
                json.dump(results, f, indent=1)


def main(argv: list[str]) -> None:
    import torch

    from neurocodec.strategies import get_strategy

    header = {"threads": torch.get_num_threads(), "crfs": CRFS,
              "decoder_macs_per_pixel": {k: get_strategy("hybrid").decoder_macs_per_pixel({"preset": v}) for k, v in VARIANTS.items()}}
    run_all(argv, 16, run_clip, summarize, "bd_rate_vs_av1_pct", header)


if __name__ == "__main__":
    main(sys.argv[1:])
