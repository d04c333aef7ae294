"""Encode/decode speed and rate-distortion of the classical strategies on real clips.

Quality and size land in each benchmark's ``extra_info`` (see ``--benchmark-json``).
"""

from __future__ import annotations

import pytest

import neurocodec
from neurocodec.bench.config import DEFAULT_PRESETS

CODECS = {"x264": 26, "x265": 28, "av1": 38}


@pytest.mark.parametrize("codec", list(CODECS))
def test_encode(benchmark, codec, clip_y4m, tmp_path):
    out = tmp_path / "out.ncv"

    def run():
        return neurocodec.encode(clip_y4m, out, strategy=codec, crf=CODECS[codec], preset=DEFAULT_PRESETS[codec],
                                 overwrite=True, measure_quality=False)

    report = benchmark.pedantic(run, rounds=1, iterations=1)
    q = neurocodec.compare(clip_y4m, out)
    benchmark.extra_info.update(
        codec=codec, crf=CODECS[codec], preset=DEFAULT_PRESETS[codec], frames=report.frames, bytes=report.bytes,
        bitrate_kbps=report.bitrate_kbps, psnr_yuv=q.psnr_yuv, psnr_y=q.psnr_y, ssim=q.ssim, ms_ssim=q.ms_ssim,
        encode_fps=report.frames / benchmark.stats.stats.mean,
    )
    assert q.frames == report.frames


@pytest.mark.parametrize("codec", list(CODECS))
def test_decode(benchmark, codec, clip_y4m, tmp_path):
    ncv = tmp_path / "in.ncv"
    report = neurocodec.encode(clip_y4m, ncv, strategy=codec, crf=CODECS[codec], preset=DEFAULT_PRESETS[codec],
                               measure_quality=False)
    agent = neurocodec.open(ncv)
    n = benchmark.pedantic(lambda: sum(1 for _ in agent.frames()), rounds=3, iterations=1)
    benchmark.extra_info.update(codec=codec, frames=n, decode_fps=n / benchmark.stats.stats.mean,
                                bitrate_kbps=report.bitrate_kbps)
    assert n == report.frames
