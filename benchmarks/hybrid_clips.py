"""``hybrid`` against its own base codec (SVT-AV1 preset 6) at the low-rate end, with and without overfitting.

    python benchmarks/hybrid_clips.py CLIP... [--frames 16] [--json out.json] [--only NAME,NAME]

For each clip (first ``--frames`` frames) and each SVT-AV1 CRF in ``CRFS``:
SVT-AV1 alone (elementary-stream bytes, encode time) and every hybrid
variant of ``VARIANTS`` (scale 1, 3/4, 1/2 overfitted per scene with the
default 200 steps; scale 1/2 with the shipped network only; the light
network at scale 1/2; scale 3/4, 2/3 and 1/2 upscaled without a network,
the rungs of auto's ladder). Rates are whole segment payloads: SVT-AV1's
packets with their framing, and for hybrid also its base size and network
update, so the update's bits are counted and both sides pay the same
packet framing (bitstream 1.2 stores AV1 packets 3-4 bytes shorter than
the encoder writes them, on both sides alike). Each
row records the adaptation the encoder chose, the update's bytes, encode
seconds and decode frames per second. Quality is PSNR-YUV / SSIM of the
decode.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

ONLY: set[str] = set()  # --only: the variants to run (default all)
CRFS = (44, 51, 57, 63)
VARIANTS = {
    "scale 1": "av1:6/scale=1",
    "scale 3/4": "av1:6/scale=0.75",
    "scale 1/2": "av1:6/scale=0.5",
    "scale 1/2 shipped network": "av1:6/scale=0.5/adapt=0",
    "scale 1/2 light": "av1:6/scale=0.5/light=true",
    "scale 3/4 no network": "av1:6/scale=0.75/network=false",
    "scale 2/3 no network": "av1:6/scale=0.667/network=false",
    "scale 1/2 no network": "av1:6/scale=0.5/network=false",
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
        t = time.perf_counter()
        payload = av1.encode(frames, st, fps)
        enc = time.perf_counter() - t
        rec = list(av1.decode(payload, DecodeContext(w, h, n, {})))
        q = _quality(frames, rec)
        kbps = 8 * len(payload) / seconds / 1000
        rows.setdefault("av1 preset 6", []).append({"crf": crf, "kbps": kbps, "psnr_yuv": q[0], "ssim": q[1],
                                                    "encode_s": enc})
        print(path, "av1", crf, round(kbps, 1), round(q[0], 2), flush=True)
        for name, preset in VARIANTS.items():
            if ONLY and name not in ONLY:
                continue
            st = StrategySettings(crf=crf, preset=preset)
            t = time.perf_counter()
            payload = hy.encode(frames, st, fps)
            enc = time.perf_counter() - t
            t = time.perf_counter()
            rec = list(hy.decode(payload, DecodeContext(w, h, n, hy.describe(st, w, h, fps))))
            dec = time.perf_counter() - t
            q = _quality(frames, rec)
            # 0: shipped network, 2: network switched off, 3: network with the scene's update
            at = 1 + 1 + len(_varint(hy, payload)) + 1  # after the scale index
            adaptation = payload[at]
            row = {"crf": crf, "kbps": 8 * len(payload) / seconds / 1000, "psnr_yuv": q[0], "ssim": q[1],
                   "adaptation": adaptation, "update_bytes": _update_bytes(payload, at + 1) if adaptation == 3 else 0,
                   "payload_bytes": len(payload), "encode_s": enc, "decode_fps": n / dec}
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


def _update_bytes(payload: bytes, pos: int) -> int:
    """Bytes of the network update starting at ``pos``: group mask, 2 bytes per group, stream length and stream."""
    from neurocodec.bitstream.chunks import Cursor

    cur = Cursor(payload[pos:])
    groups = bin(cur.u8("mask")).count("1")
    cur.take(2 * groups, "exponents and priors")
    cur.blob("stream", len(payload))
    return cur.pos


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
    rungs = [k for k in rows if k.endswith("no network")]
    if rungs:
        out["oracle ladder"] = oracle_ladder(anchor, [rows[k] for k in rungs])
    return out


def oracle_ladder(anchor: list[dict], rungs: list[list[dict]]) -> float:
    """Saving (%) if each quality took the cheapest curve: full scale or a rung, each interpolated (pchip of
    log-rate over PSNR-YUV) within its own measured range, averaged over the anchor's range; the upper bound of
    a per-scene choice among them on a one-scene clip."""
    from scipy.interpolate import PchipInterpolator

    def curve(points):
        q = np.array([p["psnr_yuv"] for p in points])
        r = np.log10([p["kbps"] for p in points])
        o = np.argsort(q)
        return PchipInterpolator(q[o], r[o]), q.min(), q.max()

    f, lo, hi = curve(anchor)
    grid = np.linspace(lo, hi, 400)
    base = f(grid)
    env = base.copy()
    for points in rungs:
        g, glo, ghi = curve(points)
        env = np.minimum(env, np.where((grid >= glo) & (grid <= ghi), g(grid), np.inf))
    return float((10 ** np.mean(env - base) - 1) * 100)


def run_all(argv: list[str], default_frames: int, run_clip, summarize, bd_key: str, header: dict) -> None:
    """``CLIP... [--frames N] [--json OUT]``: measure every clip, print its BD-rates, rewrite OUT after each clip."""
    frames, out, clips = default_frames, None, []
    it = iter(argv)
    for a in it:
        if a == "--frames":
            frames = int(next(it))
        elif a == "--json":
            out = next(it)
        elif a == "--only":
            ONLY.update(next(it).split(","))
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
