"""Learned intra codec on Kodak 24 (evaluation only), against the same model untrained and x265/SVT-AV1 all-intra.

    python benchmarks/intra_kodak.py ../shared/data/images/kodak24_eval [WEIGHTS] [--json OUT]

Kodak PNGs are converted to YUV 4:2:0 with neurocodec.training.data.rgb_to_yuv420
(BT.601 limited range, 2x2 chroma mean). Rates are real bytes: the learned
codec's picture payloads (neurocodec.models.coder: CRF byte, rANS z and y
streams, with the integer entropy path a decoder uses), decoded again to
measure quality; x265 (preset medium) and SVT-AV1 (preset 6) are one-frame
streams from the classical strategies, elementary-stream bytes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from neurocodec.metrics import psnr, psnr_yuv, ssim

CRFS = (0, 9, 18, 27, 36, 45, 54, 63)


def quality(planes, rec):
    return psnr_yuv(*[psnr(a, b) for a, b in zip(planes, rec)]), ssim(planes[0], rec[0])


def learned(pics, loaded):
    from neurocodec.models.coder import IntraCoder

    coder = IntraCoder(loaded)
    px = sum(p[0].size for p in pics)
    rows = []
    for crf in CRFS:
        bits, ps, ss, te, td = 0, [], [], 0.0, 0.0
        for planes in pics:
            t = time.perf_counter()
            data, _ = coder.compress(planes, crf)
            te += time.perf_counter() - t
            t = time.perf_counter()
            rec, _ = coder.decompress(data, *planes[0].shape)
            td += time.perf_counter() - t
            bits += 8 * len(data)
            a, b = quality(planes, rec)
            ps.append(a)
            ss.append(b)
        rows.append({"crf": crf, "bpp": bits / px, "psnr_yuv": float(np.mean(ps)), "ssim": float(np.mean(ss)),
                     "encode_s": te / len(pics), "decode_s": td / len(pics)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def classical(pics, codec, crfs, preset):
    from neurocodec.io import Frame, pad_to_even
    from neurocodec.strategies import DecodeContext, StrategySettings, get_strategy

    s = get_strategy(codec)
    px = sum(p[0].size for p in pics)
    rows = []
    for crf in crfs:
        bits, ps, ss = 0, [], []
        for planes in pics:
            f = pad_to_even(Frame(*planes))
            payload = s.encode([f], StrategySettings(crf=crf, preset=preset, keyint=1), 25)
            bits += 8 * sum(len(p) for p in s.packets(payload))
            rec = next(iter(s.decode(payload, DecodeContext(f.width, f.height, 1, {}))))
            a, b = quality(planes, (rec.y, rec.u, rec.v))
            ps.append(a)
            ss.append(b)
        rows.append({"crf": crf, "bpp": bits / px, "psnr_yuv": float(np.mean(ps)), "ssim": float(np.mean(ss))})
        print(codec, json.dumps(rows[-1]), flush=True)
    return rows


def main(folder: str, weights: str | None, out: str | None) -> None:
    import torch
    from PIL import Image

    from neurocodec.metrics.bd import bd_rate
    from neurocodec.models.integer import build_tables
    from neurocodec.models.intra import IntraCodec, decoder_macs_per_pixel
    from neurocodec.models.registry import load_intra
    from neurocodec.models.weights import LoadedIntra
    from neurocodec.training.data import rgb_to_yuv420

    pics = [rgb_to_yuv420(np.asarray(Image.open(p).convert("RGB"))) for p in sorted(Path(folder).glob("*.png"))]
    loaded = load_intra(weights)
    torch.manual_seed(0)
    raw = IntraCodec().eval()
    results = {
        "images": len(pics), "weights_sha256": loaded.sha256.hex(), "threads": torch.get_num_threads(),
        "decoder_macs_per_pixel": decoder_macs_per_pixel(loaded.model),
        "trained": learned(pics, loaded),
        "untrained": learned(pics, LoadedIntra(raw, build_tables(raw), b"", None, {})),
        "x265": classical(pics, "x265", (22, 27, 32, 37, 42, 47), "medium"),
        "av1": classical(pics, "av1", (30, 38, 46, 52, 58, 63), "6"),
    }
    bd = {}
    for name in ("trained", "untrained", "av1"):
        for anchor in ("x265", "av1"):
            if name == anchor:
                continue
            a, b = results[anchor], results[name]
            r = bd_rate([p["bpp"] for p in a], [p["psnr_yuv"] for p in a], [p["bpp"] for p in b], [p["psnr_yuv"] for p in b], min_overlap=0.3)
            bd[f"{name} vs {anchor}"] = {"bd_rate_pct": r.value, "note": r.note}
            print(f"BD-rate PSNR-YUV {name} vs {anchor}: {r.value if r.value is None else round(r.value, 1)} {r.note}")
    results["bd_rate"] = bd
    if out:
        Path(out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--json")]
    out = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--json=")), None)
    main(args[0], args[1] if len(args) > 1 else None, out)
