"""SVT-AV1 CRF of equal PSNR-YUV to x265 medium at each knob value: the data behind ``AV1.quality_points``.

    python benchmarks/quality_map.py CLIP [CLIP ...] [--frames 16]

For each clip (its first ``--frames`` frames), x265 medium is encoded at CRF 22, 28, 34, 38 and 42,
SVT-AV1 preset 6 at CRF 27, 30, ..., 63, and for each x265 point the SVT-AV1 CRF of the same mean
PSNR-YUV is interpolated (``>63``: SVT-AV1's lowest quality is still above it). Prints one line per
point and the mean over clips.
"""

from __future__ import annotations

import argparse
import itertools
import os

import numpy as np

from neurocodec.io.frame import crop, pad_to_even
from neurocodec.io.readers import open_source
from neurocodec.metrics.quality import QualityAccumulator
from neurocodec.strategies import DecodeContext, StrategySettings, get_strategy

KNOBS = (22, 28, 34, 38, 42)
AV1_CRFS = tuple(range(27, 64, 3))


def psnr_yuv(strategy: str, frames, crf: int, preset: str, fps) -> float:
    s = get_strategy(strategy)
    settings = StrategySettings(crf=float(crf), preset=preset)
    padded = [pad_to_even(f) for f in frames]
    w, h = padded[0].width, padded[0].height
    payload = s.encode(padded, settings, fps)
    acc = QualityAccumulator(with_ms_ssim=False, with_ssim=False)
    ctx = DecodeContext(w, h, len(padded), s.describe(settings, w, h, fps))
    for ref, rec in zip(frames, s.decode(payload, ctx), strict=True):
        acc.add(ref, crop(rec, ref.width, ref.height))
    return acc.result().psnr_yuv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--frames", type=int, default=16)
    args = ap.parse_args()
    os.environ.setdefault("SVT_LOG", "1")
    per_knob: dict[int, list[float]] = {k: [] for k in KNOBS}
    for clip in args.clips:
        with open_source(clip) as src:
            fps = src.info.fps
            frames = list(itertools.islice(src.frames(), args.frames))
        av1 = [psnr_yuv("av1", frames, c, "6", fps) for c in AV1_CRFS]
        for knob in KNOBS:
            p = psnr_yuv("x265", frames, knob, "medium", fps)
            if p < av1[-1]:
                eq = None  # below SVT-AV1's lowest quality
            else:
                eq = float(np.interp(-p, [-v for v in av1], AV1_CRFS))  # PSNR falls as CRF rises
                per_knob[knob].append(eq)
            print(f"{os.path.basename(clip)}  x265 CRF {knob}: {p:.2f} dB -> SVT-AV1 CRF "
                  f"{'>63' if eq is None else f'{eq:.1f}'}")
    for knob, eqs in per_knob.items():
        mean = f"{sum(eqs) / len(eqs):.1f}" if eqs else ">63"
        print(f"mean  knob {knob}: SVT-AV1 CRF {mean} ({len(eqs)} of {len(args.clips)} clips in range)")


if __name__ == "__main__":
    main()
