"""Every strategy codes frames down to 2x2.

Classical encoders refuse, corrupt their heap or hang below some size
(x265 below 16x16, SVT-AV1 below 4x4 or on 96x8); the strategies pad to a
safe size by edge replication and crop at decode. 96x8 also took OpenCV's
optical flow (``i_frame_interpolation``) out of bounds.
"""

from __future__ import annotations

import pytest

import neurocodec
from neurocodec.io import open_source
from neurocodec.io.frame import Frame
from neurocodec.io.synthetic import pan_zoom
from neurocodec.metrics import psnr, psnr_yuv
from neurocodec.strategies import DecodeContext, StrategySettings, get_strategy
from neurocodec.strategies.classical import AV1

from .conftest import make_clip

# High-quality settings, fast presets: the decoded frames must then be close to the source.
SETTINGS = {
    "x264": StrategySettings(crf=10, preset="ultrafast"),
    "x265": StrategySettings(crf=10, preset="ultrafast"),
    "av1": StrategySettings(crf=10, preset="12"),
    "i_frame_interpolation": StrategySettings(crf=10, preset="av1:12/gap=2"),
    "hybrid": StrategySettings(crf=10, preset="av1:12/adapt=2"),
    "semantic_latent": StrategySettings(crf=0),
}
SIZES = [(2, 2), (6, 4), (18, 10), (96, 8)]


def _psnr_yuv(a: Frame, b: Frame) -> float:
    return psnr_yuv(psnr(a.y, b.y), psnr(a.u, b.u), psnr(a.v, b.v))


# SVT-AV1's hang holds the GIL, which the default (signal) timeout needs: a regression must fail, not hang.
@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_tiny_frames_round_trip(name, size):
    w, h = size
    frames = list(pan_zoom(w, h, 3))
    strategy, settings = get_strategy(name), SETTINGS[name]
    payload = strategy.encode(frames, settings, 25)
    decoded = list(strategy.decode(payload, DecodeContext(w, h, 3, strategy.describe(settings, w, h, 25))))
    assert [(f.width, f.height) for f in decoded] == [(w, h)] * 3
    # Measured 26.6-63 dB; a frame of the source's mean colour scores 16.6 dB at 18x10, a misplaced crop less.
    assert min(_psnr_yuv(a, b) for a, b in zip(frames, decoded)) > 25


@pytest.mark.parametrize("name", ["x265", "av1"])
def test_padding_is_deterministic(name):
    frames = list(pan_zoom(18, 10, 3))
    s = get_strategy(name)
    settings = StrategySettings(crf=30, preset=SETTINGS[name].preset, threads=1)
    assert s.encode(frames, settings, 25) == s.encode(frames, settings, 25)


def test_stream_coded_at_the_segment_size_still_decodes(monkeypatch):
    """A stream written before padding existed (coded at its small size) decodes as before."""
    frames = list(pan_zoom(18, 10, 3))
    s = get_strategy("av1")
    monkeypatch.setattr(AV1, "min_size", (4, 4))
    unpadded = s.encode(frames, SETTINGS["av1"], 25)
    monkeypatch.undo()
    assert s.coded_size(18, 10) != (18, 10)
    decoded = list(s.decode(unpadded, DecodeContext(18, 10, 3, {})))
    assert min(_psnr_yuv(a, b) for a, b in zip(frames, decoded)) > 40


def test_reproduce_names_the_padding():
    s = get_strategy("x265")
    params = s.describe(StrategySettings(), 18, 10, 25)
    assert s.reproduce(params, 18, 10, 25)["input_padded_to"] == [64, 32]
    assert "input_padded_to" not in s.reproduce(params, 640, 360, 25)


@pytest.mark.parametrize("strategy", ["x265", "av1"])
def test_odd_tiny_video_through_the_api(strategy, tmp_path):
    """The reported case: a 17x9 video (padded to 18x10 by the agent) with x265."""
    clip = make_clip(tmp_path / "tiny.y4m", 17, 9, 4)
    ncv, out = tmp_path / "tiny.ncv", tmp_path / "out.y4m"
    neurocodec.encode(clip, ncv, strategy=strategy, crf=10)
    neurocodec.decode(ncv, out)
    with open_source(out) as src:
        frames = list(src.frames())
    assert [(f.width, f.height) for f in frames] == [(17, 9)] * 4
    assert neurocodec.compare(clip, out).psnr_yuv > 30
