"""Learned intra codec on Kodak 24 (evaluation only), against the same model untrained and x265/SVT-AV1 all-intra.

    python benchmarks/intra_kodak.py ../shared/data/images/kodak24_eval [WEIGHTS]

Kodak PNGs are converted to YUV 4:2:0 with neurocodec.training.data.rgb_to_yuv420
(BT.601 limited range, 2x2 chroma mean). Rates are real bytes: the rANS
streams of y and z (CompressAI's coder, float hyper-decoder: this script does
not use the cross-device deterministic path, which is not built yet) plus a
4-byte size header; x265/SVT-AV1 are one-frame streams from the classical strategies.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from neurocodec.metrics import psnr, psnr_yuv, ssim
from neurocodec.models.intra import LAMBDAS, IntraCodec, from_model_output, to_model_input
from neurocodec.training.data import rgb_to_yuv420


def load(weights: str | None) -> IntraCodec:
    from compressai.models.google import get_scale_table

    m = IntraCodec()
    if weights:
        state = torch.load(weights, map_location="cpu", weights_only=False)
        m.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["weights"].items()})
    m.eval()
    m.gaussian_conditional.update_scale_table(get_scale_table())
    m.update(force=True) if hasattr(m, "update") else None
    m.entropy_bottleneck.update(force=True)
    return m


@torch.no_grad()
def code(m: IntraCodec, planes, level: int):
    y, u, v = (torch.from_numpy(p.astype(np.float32) / 255)[None, None] for p in planes)
    x = to_model_input(y, u, v)
    lv = torch.tensor([level])
    gain, inv_gain = m._gains(lv)
    yl = m.g_a(x)
    z = m.h_a(yl)
    zs = m.entropy_bottleneck.compress(z)
    z_hat = m.entropy_bottleneck.decompress(zs, z.shape[-2:])
    scales, means = m.hyper_params(z_hat, gain)
    idx = m.gaussian_conditional.build_indexes(scales)
    ys = m.gaussian_conditional.compress(yl * gain, idx, means=means)
    yg = m.gaussian_conditional.decompress(ys, idx, means=means)
    xh = m.g_s(yg * inv_gain).clamp(0, 1)
    rec = [np.round(t[0, 0].numpy() * 255).astype(np.uint8) for t in from_model_output(xh)]
    return len(zs[0]) + len(ys[0]) + 4, rec


def quality(planes, rec):
    p = [psnr(a, b) for a, b in zip(planes, rec)]
    return psnr_yuv(*p), ssim(planes[0], rec[0])


def main(folder: str, weights: str | None) -> None:
    from PIL import Image

    from neurocodec.io import Frame, pad_to_even
    from neurocodec.strategies import StrategySettings, get_strategy

    images = sorted(Path(folder).glob("*.png"))
    pics = [rgb_to_yuv420(np.asarray(Image.open(p).convert("RGB"))) for p in images]
    px = sum(p[0].size for p in pics)
    rows = {}
    for name, w in (("trained", weights), ("untrained", None)):
        torch.manual_seed(0)
        m = load(w)
        for level in range(len(LAMBDAS)):
            bits, ps, ss = 0, [], []
            for planes in pics:
                n, rec = code(m, planes, level)
                bits += 8 * n
                a, b = quality(planes, rec)
                ps.append(a)
                ss.append(b)
            rows.setdefault(name, []).append((bits / px, float(np.mean(ps)), float(np.mean(ss))))
            print(f"{name:9s} level {level}: {bits / px:.4f} bpp  PSNR-YUV {np.mean(ps):.2f}  SSIM {np.mean(ss):.4f}", flush=True)
    for codec, crfs, preset in (("x265", (22, 27, 32, 37, 42), "medium"), ("av1", (30, 38, 46, 55, 63), "6")):
        s = get_strategy(codec)
        for crf in crfs:
            bits, ps, ss = 0, [], []
            for planes in pics:
                f = pad_to_even(Frame(*planes))
                payload = s.encode([f], StrategySettings(crf=crf, preset=preset, keyint=1), 25)
                bits += 8 * sum(len(p) for p in s.packets(payload))
                from neurocodec.strategies.base import DecodeContext

                rec = next(iter(s.decode(payload, DecodeContext(f.width, f.height, 1, {}))))
                a, b = quality(planes, (rec.y, rec.u, rec.v))
                ps.append(a)
                ss.append(b)
            rows.setdefault(codec, []).append((bits / px, float(np.mean(ps)), float(np.mean(ss))))
            print(f"{codec:9s} crf {crf}: {bits / px:.4f} bpp  PSNR-YUV {np.mean(ps):.2f}  SSIM {np.mean(ss):.4f}", flush=True)
    from neurocodec.metrics.bd import bd_rate

    for name in ("trained", "untrained", "av1"):
        for anchor in ("x265", "av1"):
            if name == anchor:
                continue
            r = bd_rate([a for a, _, _ in rows[anchor]], [b for _, b, _ in rows[anchor]],
                        [a for a, _, _ in rows[name]], [b for _, b, _ in rows[name]], min_overlap=0.3)
            print(f"BD-rate PSNR-YUV {name} vs {anchor}: {r.value if r.value is None else round(r.value, 1)} {r.note}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "neurocodec/weights/intra_yuv420.pt")
