"""`compare` against an independent implementation: FFmpeg's psnr filter (through PyAV)."""

from __future__ import annotations

from fractions import Fraction

import av.filter
import pytest

import neurocodec
from neurocodec.io import open_source
from neurocodec.io.avframes import to_av
from neurocodec.metrics import frame_quality


def _ffmpeg_psnr(ref, dist, width, height):
    g = av.filter.Graph()
    tb = Fraction(1, 25)
    main = g.add_buffer(width=width, height=height, format="yuv420p", time_base=tb)
    refin = g.add_buffer(width=width, height=height, format="yuv420p", time_base=tb)
    psnr, sink = g.add("psnr"), g.add("buffersink")
    main.link_to(psnr, 0, 0)
    refin.link_to(psnr, 0, 1)
    psnr.link_to(sink)
    g.configure()
    out = []
    for i, (r, d) in enumerate(zip(ref, dist, strict=True)):
        for src, f in ((main, d), (refin, r)):
            vf = to_av(f)
            vf.pts, vf.time_base = i, tb
            src.push(vf)
        md = sink.pull().metadata
        out.append({c: float(md[f"lavfi.psnr.psnr.{c}"]) for c in "yuv"})
    return out


@pytest.mark.parametrize("strategy", ["x264", "av1"])
def test_per_frame_psnr_matches_ffmpeg(strategy, det_clip, tmp_path):
    ncv = tmp_path / "a.ncv"
    report = neurocodec.encode(det_clip, ncv, strategy=strategy, crf=30)
    with open_source(det_clip) as src:
        ref = list(src.frames())
    dist = list(neurocodec.open(ncv).frames())
    ff = _ffmpeg_psnr(ref, dist, 128, 96)
    ours = [frame_quality(r, d, with_ms_ssim=False) for r, d in zip(ref, dist)]
    for a, b in zip(ours, ff):
        # FFmpeg prints six decimals (and sums its MSE in a different order).
        assert a.psnr_y == pytest.approx(b["y"], abs=1e-5)
        assert a.psnr_u == pytest.approx(b["u"], abs=1e-5)
        assert a.psnr_v == pytest.approx(b["v"], abs=1e-5)
    mean_yuv = sum((6 * b["y"] + b["u"] + b["v"]) / 8 for b in ff) / len(ff)
    assert report.quality["psnr_yuv"] == pytest.approx(mean_yuv, abs=1e-5)
