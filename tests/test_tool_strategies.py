"""The strategies encoded by the bundled FFmpeg binary: ``aom`` (libaom AV1) and ``vvc`` (VVenC)."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("imageio_ffmpeg", reason="the aom and vvc strategies encode with imageio-ffmpeg's binary")

from neurocodec.errors import EncoderError, NcvFormatError, SettingsError, ToolMissingError
from neurocodec.io.ffmpeg_tool import ffmpeg_exe
from neurocodec.io.synthetic import pan_zoom
from neurocodec.metrics import compare_frames
from neurocodec.strategies import DecodeContext, StrategySettings, available_strategies, get_strategy
from neurocodec.strategies.tool import parse_ivf

FPS = Fraction(25)
NAMES = ("aom", "vvc")


@pytest.fixture(scope="module")
def frames():
    return list(pan_zoom(128, 96, 6, pan=(1.5, 0.5)))


@pytest.fixture(scope="module")
def coded(frames):
    """Each strategy's payload of the clip at its default settings, encoded twice."""
    return {n: [get_strategy(n).encode(frames, StrategySettings(crf=30), FPS) for _ in range(2)] for n in NAMES}


def _ctx(strategy, frames):
    w, h = frames[0].width, frames[0].height
    return DecodeContext(w, h, len(frames), strategy.describe(StrategySettings(crf=30), w, h, FPS))


def test_registered_with_frozen_ids():
    assert {"aom", "vvc"} <= set(available_strategies())
    assert (get_strategy("aom").id, get_strategy("vvc").id) == (4, 5)


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_quality_and_determinism(name, frames, coded):
    s = get_strategy(name)
    first, second = coded[name]
    assert first == second
    decoded = list(s.decode(first, _ctx(s, frames)))
    assert len(decoded) == len(frames)
    assert compare_frames(frames, decoded).psnr_yuv > 32
    # Smaller than the raw frames by far.
    assert len(first) < len(frames) * frames[0].width * frames[0].height // 10


@pytest.mark.parametrize("name", NAMES)
def test_stored_command_reproduces_the_stream(name, frames, coded, tmp_path):
    """The ffmpeg command that reproduce() gives writes the very packets in the payload."""
    s = get_strategy(name)
    w, h = frames[0].width, frames[0].height
    args = s.reproduce(s.describe(StrategySettings(crf=30), w, h, FPS), w, h, FPS)["ffmpeg_args"]
    assert args[0] == "ffmpeg" and args[-1] in ("out.ivf", "out.266")
    y4m = tmp_path / "in.y4m"
    with open(y4m, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C420jpeg\n".encode())
        fh.writelines(b"FRAME\n" + f.tobytes() for f in frames)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *args[1:]], cwd=tmp_path, check=True,
                   timeout=300)
    out = (tmp_path / args[-1]).read_bytes()
    packets = s.packets(coded[name][0])
    if name == "aom":
        assert parse_ivf(out) == packets
    else:
        assert out == b"".join(packets)


def test_vvc_decode_matches_the_binary(frames, coded, tmp_path):
    """PyAV's VVC decode equals the binary's own 10-bit decode, rounded to 8 bits by (v + 2) >> 2."""
    s = get_strategy("vvc")
    (tmp_path / "in.266").write_bytes(b"".join(s.packets(coded["vvc"][0])))
    raw = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", "in.266", "-f", "rawvideo",
                          "-pix_fmt", "yuv420p10le", "-"], cwd=tmp_path, check=True, capture_output=True,
                         timeout=300).stdout
    ref = np.minimum((np.frombuffer(raw, "<u2") + 2) >> 2, 255).astype(np.uint8)
    got = np.frombuffer(b"".join(f.tobytes() for f in s.decode(coded["vvc"][0], _ctx(s, frames))), np.uint8)
    assert np.array_equal(got, ref)


@pytest.mark.parametrize("name", NAMES)
def test_corrupt_payload_is_a_format_error(name, frames, coded):
    s = get_strategy(name)
    good = coded[name][0]
    for bad in (good[:-7], good[:1] + b"\x00" + good[2:40], b"\x09" + good[1:]):
        with pytest.raises(NcvFormatError):
            list(s.decode(bad, _ctx(s, frames)))


@pytest.mark.parametrize("name", NAMES)
def test_tiny_frames_are_padded(name):
    s = get_strategy(name)
    tiny = list(pan_zoom(8, 6, 3))
    payload = s.encode(tiny, StrategySettings(crf=20), FPS)
    ctx = DecodeContext(8, 6, 3, s.describe(StrategySettings(crf=20), 8, 6, FPS))
    decoded = list(s.decode(payload, ctx))
    assert [(f.width, f.height) for f in decoded] == [(8, 6)] * 3
    assert compare_frames(tiny, decoded).psnr_yuv > 28


@pytest.mark.parametrize("name,settings,what", [
    ("aom", StrategySettings(crf=64), "crf 64"),
    ("aom", StrategySettings(crf=30.5), "whole number"),
    ("aom", StrategySettings(options={"cpu-used": 9}), "cpu-used"),
    ("aom", StrategySettings(options={"tiles": "3x3"}), "tiles"),
    ("vvc", StrategySettings(preset="veryslow"), "preset"),
    ("vvc", StrategySettings(crf=70), "crf 70"),
])
def test_validate_refuses_bad_settings(name, settings, what):
    with pytest.raises(SettingsError, match=what):
        get_strategy(name).validate(settings)


def test_aom_options_reach_the_command():
    s = get_strategy("aom")
    settings = StrategySettings(crf=40, preset="4", options={"tune": "ssim", "tiles": "2x1", "row-mt": False})
    s.validate(settings)
    args = s.reproduce(s.describe(settings, 128, 96, FPS), 128, 96, FPS)["ffmpeg_args"]
    text = " ".join(args)
    for part in ("-c:v libaom-av1", "-crf 40", "-b:v 0", "-cpu-used 4", "-tune ssim", "-tiles 2x1", "-row-mt 0",
                 "-threads 8", "-usage good", "-f ivf"):
        assert part in text


def test_missing_tool_names_the_strategy(monkeypatch):
    monkeypatch.setattr("neurocodec.io.ffmpeg_tool.imageio_ffmpeg", None)
    with pytest.raises(ToolMissingError, match=r"^vvc: .*pip install imageio-ffmpeg"):
        get_strategy("vvc").validate(StrategySettings())


def test_ivf_bounds_are_checked():
    header = b"DKIF" + b"\x00\x00" + b"\x20\x00" + b"AV01" + bytes(20)
    frame = (5).to_bytes(4, "little") + bytes(8) + b"abcde"
    assert parse_ivf(header + frame) == [b"abcde"]
    for bad in (header[:20], header + frame[:-1], header + frame[:10]):
        with pytest.raises(EncoderError, match="IVF"):
            parse_ivf(bad)


def test_info_names_the_binary_that_encoded_a_segment(tmp_path):
    """``info --json`` tells which FFmpeg build produced an aom/vvc segment (version and a hash of its flags)."""
    import json

    from click.testing import CliRunner

    import neurocodec
    from neurocodec.io import write_video
    from neurocodec.io.ffmpeg_tool import tool_info
    from neurocodec.io.synthetic import pan_zoom_info
    from neurocodec_cli.main import cli

    src, out = tmp_path / "in.y4m", tmp_path / "out.ncv"
    write_video(src, pan_zoom_info(64, 48, 3), pan_zoom(64, 48, 3))
    neurocodec.encode(src, out, strategy="aom", crf=40, preset="8", measure_quality=False)
    res = CliRunner().invoke(cli, ["info", "--json", str(out)])
    assert res.exit_code == 0, res.output
    tool = json.loads(res.output)["segments"][0]["params"]["tool"]
    info = tool_info()
    assert tool["ffmpeg"] == info["version"] and tool["package"] == info["package"]
    assert len(tool["configuration_sha256"]) == 16


def test_auto_tries_neither_aom_nor_vvc():
    """Measured (docs/benchmarks.md): libaom cpu-used 4 saves fewer bits than SVT-AV1 preset 2 (the slow
    effort's candidate) for about as much time, and VVenC saves bits only at presets far beyond any
    effort's time; both keep a CRF search (aom) for named encodes."""
    from neurocodec.agents.encoder import EncodingAgent
    from neurocodec.analysis.scenes import Scene
    from neurocodec.settings import EncodeOptions

    def offered(effort):
        agent = EncodingAgent(EncodeOptions(strategy="auto", preset=effort))
        return {c.strategy for c in agent.candidates(Scene(0, 9, scene_class="moderate_motion"))}

    assert not ({"aom", "vvc"} & (offered("fast") | offered("medium") | offered("slow")))
    assert get_strategy("aom").auto_capability().crf_for_quality(28) == 2.8 * 28 - 31
    assert get_strategy("vvc").auto_capability() is None
