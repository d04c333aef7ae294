"""The i_frame_interpolation strategy: anchors in a classical stream, motion-compensated frames in between."""

from __future__ import annotations

import numpy as np
import pytest

from neurocodec.errors import NcvFormatError, SettingsError
from neurocodec.io.synthetic import pan_zoom
from neurocodec.metrics import psnr, psnr_yuv
from neurocodec.strategies import DecodeContext, StrategySettings, get_strategy
from neurocodec.strategies.interpolation import InterpolationOptions

W, H = 160, 128


def _frames(n=9, pan=(0.7, 0.3)):
    return list(pan_zoom(W, H, n, image="astronaut", pan=pan))


def _code(frames, preset, crf=40):
    s = get_strategy("i_frame_interpolation")
    st = StrategySettings(crf=crf, preset=preset)
    payload = s.encode(frames, st, 25)
    ctx = DecodeContext(W, H, len(frames), s.describe(st, W, H, 25))
    return payload, ctx


def _q(a, b):
    return psnr_yuv(*[psnr(x, y) for x, y in zip((a.y, a.u, a.v), (b.y, b.u, b.v))])


def _parse(preset):
    return get_strategy("i_frame_interpolation").resolve_options(StrategySettings(preset=preset))


def test_preset_grammar():
    assert _parse("x265:fast/gap=3/drop=2") == InterpolationOptions("x265", "fast", 3, 2.0)
    assert _parse(str(InterpolationOptions("av1", "8", 4))) == InterpolationOptions("av1", "8", 4)
    for bad in ("vp9", "av1/gap=0", "av1/drop=-1", "av1/speed=2"):
        with pytest.raises(SettingsError, match="i_frame_interpolation"):
            _parse(bad)


def test_slow_motion_round_trip_no_frame_far_below_the_anchors():
    frames = _frames()
    payload, ctx = _code(frames, "av1:10/gap=4/drop=3")
    s = get_strategy("i_frame_interpolation")
    rec = list(s.decode(payload, ctx))
    assert len(rec) == 9 and all((f.width, f.height) == (W, H) for f in rec)
    bits = np.unpackbits(np.frombuffer(payload[3:5], dtype=np.uint8), bitorder="little")[:9]
    anchors = np.flatnonzero(bits)
    assert anchors[0] == 0 and anchors[-1] == 8 and len(anchors) < 9  # some frames are interpolated
    q = [_q(f, r) for f, r in zip(frames, rec)]
    level = np.mean([q[i] for i in anchors])
    assert min(q) > level - 3 - 0.01  # the encoder promoted every frame that fell further


def test_interpolated_frames_cost_no_bits():
    frames = _frames()
    payload, _ = _code(frames, "av1:10/gap=4/drop=20")  # drop 20 dB: no frame is promoted
    anchors_only = get_strategy("av1").encode([frames[0], frames[4], frames[8]], StrategySettings(crf=40, preset="10"), 25)
    assert payload == payload[:5] + anchors_only  # format, base id, count, 2-byte bitmap, then the anchor stream


def test_decode_does_not_depend_on_opencv_threads():
    import cv2

    frames = _frames(5)
    payload, ctx = _code(frames, "av1:10/gap=4/drop=20")
    s = get_strategy("i_frame_interpolation")
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        one = [f.y.tobytes() + f.u.tobytes() for f in s.decode(payload, ctx)]
        cv2.setNumThreads(2)
        two = [f.y.tobytes() + f.u.tobytes() for f in s.decode(payload, ctx)]
    finally:
        cv2.setNumThreads(before)
    assert one == two


def test_malformed_payloads_are_format_errors():
    frames = _frames(5)
    payload, ctx = _code(frames, "av1:10/gap=2/drop=20")
    s = get_strategy("i_frame_interpolation")
    no_last = payload[:3] + bytes([payload[3] & 0x0F]) + payload[4:]
    with pytest.raises(NcvFormatError, match="must be anchors"):
        list(s.decode(no_last, ctx))
    with pytest.raises(NcvFormatError, match="5 frames, the segment 6"):
        list(s.decode(payload, DecodeContext(W, H, 6, ctx.params)))
    with pytest.raises(NcvFormatError):
        list(s.decode(payload[:40], ctx))


def test_auto_tries_every_gap_on_talking_heads_at_slow():
    from neurocodec.agents.encoder import EncodingAgent
    from neurocodec.analysis.scenes import Scene
    from neurocodec.settings import EncodeOptions

    agent = EncodingAgent(EncodeOptions(strategy="auto", preset="slow", opts={"candidates": 3}))  # shipped: 1
    cands = agent.candidates(Scene(0, 10, scene_class="talking_head"))
    gaps = sorted(_parse(c.preset).gap for c in cands if c.strategy == "i_frame_interpolation")
    assert gaps == [2, 3, 4]
    assert "i_frame_interpolation" not in [c.strategy for c in agent.candidates(Scene(0, 10, scene_class="high_motion"))]
