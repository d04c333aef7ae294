"""Classical strategies: round trips, quality bounds, determinism, recorded options, registry."""

from __future__ import annotations

from fractions import Fraction

import pytest

from neurocodec.errors import NcvFormatError, SettingsError, UnknownStrategyError
from neurocodec.io import open_source, pad_to_even
from neurocodec.metrics import compare_frames
from neurocodec.strategies import (
    DecodeContext,
    Strategy,
    StrategySettings,
    available_strategies,
    get_strategy,
    get_strategy_by_id,
    register,
)

CLASSICAL = ["x264", "x265", "av1"]
FAST = {"x264": "veryfast", "x265": "fast", "av1": "10"}


def _frames(path):
    with open_source(path) as src:
        return [pad_to_even(f) for f in src.frames()]


@pytest.fixture(scope="module")
def frames(small_clip):
    return _frames(small_clip)


@pytest.fixture(scope="module")
def det_frames(det_clip):
    return _frames(det_clip)


@pytest.mark.parametrize("name", CLASSICAL)
def test_round_trip_quality(name, frames):
    s = get_strategy(name)
    payload = s.encode(frames, StrategySettings(preset=FAST[name]), Fraction(25))
    out = list(s.decode(payload, DecodeContext(96, 64, len(frames), {})))
    assert len(out) == len(frames)
    assert all((f.width, f.height) == (96, 64) for f in out)
    q = compare_frames(frames, out)
    # Default CRFs on a 96x64 pan: measured 34-37 dB PSNR-YUV, SSIM >= 0.96.
    assert q.psnr_yuv > 32
    assert q.ssim > 0.93


@pytest.mark.parametrize("name", CLASSICAL)
def test_lower_crf_gives_more_bytes_and_quality(name, frames):
    s = get_strategy(name)
    hi_q = s.encode(frames, StrategySettings(crf=18, preset=FAST[name]), 25)
    lo_q = s.encode(frames, StrategySettings(crf=45, preset=FAST[name]), 25)
    assert len(hi_q) > len(lo_q)
    ctx = DecodeContext(96, 64, len(frames), {})
    assert compare_frames(frames, s.decode(hi_q, ctx)).psnr_yuv > compare_frames(frames, s.decode(lo_q, ctx)).psnr_yuv


@pytest.mark.parametrize("name", CLASSICAL)
def test_same_settings_same_bytes(name, det_frames):
    s = get_strategy(name)
    settings = StrategySettings(crf=30, preset=FAST[name])
    first = s.encode(det_frames, settings, 25)
    assert all(s.encode(det_frames, settings, 25) == first for _ in range(4))


@pytest.mark.parametrize("name", ["x265", "av1"])
def test_thread_count_does_not_change_bytes(name, det_frames):
    """The documented claim: x265 and SVT-AV1 bytes do not depend on the thread count."""
    s = get_strategy(name)
    one = s.encode(det_frames, StrategySettings(crf=30, preset=FAST[name], threads=1), 25)
    two = s.encode(det_frames, StrategySettings(crf=30, preset=FAST[name], threads=2), 25)
    assert one == two


def test_x264_threads_pinned_and_recorded():
    s = get_strategy("x264")
    d = s.describe(StrategySettings(), 64, 64, 25)
    assert d["threads"] == 1
    args = s.reproduce(d, 64, 64, 25)["ffmpeg_args"]
    assert args[args.index("-threads") + 1] == "1"


@pytest.mark.parametrize("name", CLASSICAL)
def test_describe_records_reproducible_options(name):
    s = get_strategy(name)
    d = s.describe(StrategySettings(crf=27, preset=FAST[name], keyint=50), 320, 240, Fraction(30000, 1001))
    assert d["options"]["crf"] == "27"
    assert d["options"]["preset"] == FAST[name]
    assert d["gop_size"] == 50
    args = s.reproduce(d, 320, 240, Fraction(30000, 1001))["ffmpeg_args"]
    assert args[0] == "ffmpeg" and d["encoder"] in args and "-crf" in args and "30000/1001" in args


def test_low_delay_disables_reordering(frames):
    s = get_strategy("x264")
    settings = StrategySettings(crf=30, preset="veryfast", low_delay=True)
    assert "bframes=0" in s.describe(settings, 96, 64, 25)["options"]["x264-params"].split(":")
    payload = s.encode(frames, settings, 25)
    assert len(list(s.decode(payload, DecodeContext(96, 64, len(frames), {})))) == len(frames)


def test_bitrate_mode(frames):
    s = get_strategy("x265")
    small = s.encode(frames, StrategySettings(bitrate=20_000, preset="fast"), 25)
    big = s.encode(frames, StrategySettings(bitrate=400_000, preset="fast"), 25)
    assert len(small) < len(big)
    assert "crf" not in s.describe(StrategySettings(bitrate=20_000), 96, 64, 25)["options"]


def test_settings_validation():
    with pytest.raises(SettingsError, match="either crf or bitrate"):
        StrategySettings(crf=20, bitrate=100_000)
    with pytest.raises(SettingsError, match="crf -1"):
        StrategySettings(crf=-1)
    for crf in (52, 99):  # the range is the strategy's own, whatever the value
        with pytest.raises(SettingsError, match=r"x264: crf \d+ is outside 0\.\.51"):
            get_strategy("x264").validate(StrategySettings(crf=crf))
    with pytest.raises(SettingsError, match=r"semantic_latent: crf 64 is outside 0\.\.63"):
        get_strategy("semantic_latent").validate(StrategySettings(crf=64))
    with pytest.raises(SettingsError, match="x265: option preset='warp' is not allowed; use one of ultrafast"):
        get_strategy("x265").validate(StrategySettings(preset="warp"))
    get_strategy("av1").validate(StrategySettings(crf=60, preset="12"))


def test_corrupt_payload_raises_format_error(frames):
    s = get_strategy("x264")
    payload = bytearray(s.encode(frames, StrategySettings(preset="veryfast"), 25))
    ctx = DecodeContext(96, 64, len(frames), {})
    with pytest.raises(NcvFormatError):
        list(s.decode(bytes(payload[:-5]), ctx))
    with pytest.raises(NcvFormatError, match="payload format"):
        list(s.decode(b"\x07" + bytes(payload[1:]), ctx))
    with pytest.raises(NcvFormatError, match="frames"):
        list(s.decode(bytes(payload), DecodeContext(96, 64, len(frames) + 3, {})))


def test_registry_lookup():
    assert set(CLASSICAL) <= set(available_strategies())
    assert get_strategy_by_id(3).name == "av1"
    with pytest.raises(UnknownStrategyError, match="available: .*x264"):
        get_strategy("nonesuch")
    with pytest.raises(LookupError):
        get_strategy_by_id(9999)


class _Nothing(Strategy):
    """A strategy that codes nothing: for registry tests."""

    def encode(self, frames, settings, fps):
        return b""

    def decode(self, payload, ctx):
        return iter(())

    def describe(self, settings, width, height, fps):
        return {}


def test_register_rejects_bad_ids():
    class Fake(_Nothing):
        name = "x264"
        id = 77
    with pytest.raises(ValueError, match="frozen id 1"):
        register(Fake)
    Fake.name, Fake.id = "my_private", 12
    with pytest.raises(ValueError, match="third-party"):
        register(Fake)


def test_entry_point_plugins_are_loaded(monkeypatch):
    """A strategy published under the `neurocodec.strategies` entry-point group becomes available."""
    from types import SimpleNamespace

    from neurocodec.strategies import base

    class Plugin(_Nothing):
        name = "plugin_demo"
        id = 0x4100
    # The entry points the registry sees (patched where it looks them up: with the importlib_metadata backport
    # installed, as Dask's dependencies do, they are not importlib.metadata.EntryPoint instances).
    ep = SimpleNamespace(name="plugin_demo", load=lambda: Plugin)
    monkeypatch.setattr(base, "entry_points", lambda group=None: [ep] if group == base.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(base, "_entry_points_loaded", False)
    assert "plugin_demo" in available_strategies()
    assert get_strategy_by_id(0x4100).name == "plugin_demo"
