"""VMAF through the bundled FFmpeg binary, and the tool wrapper that runs it."""

from __future__ import annotations

import json
import tempfile
import time

import pytest

pytest.importorskip("imageio_ffmpeg", reason="imageio-ffmpeg (the bundled FFmpeg binary with libvmaf) is not installed")

from click.testing import CliRunner
from neurocodec_cli.main import cli

from neurocodec.api import compare_vmaf
from neurocodec.errors import SettingsError, ToolError, ToolMissingError
from neurocodec.io import ffmpeg_tool, write_video
from neurocodec.io.synthetic import pan_zoom, pan_zoom_info
from neurocodec.metrics.vmaf import vmaf_frames

W, H, N = 160, 120, 6


def _clip():
    return list(pan_zoom(W, H, N, image="chelsea", pan=(1.5, 0.5)))


@pytest.fixture(scope="module")
def vmaf_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("vmaf") / "ref.y4m"
    write_video(path, pan_zoom_info(W, H, N), _clip())
    return path


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """An empty folder as the temporary directory, to see what a run leaves behind."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def _strict_loads(text):
    def bad(word):
        raise ValueError(f"not strict JSON: {word}")

    return json.loads(text, parse_constant=bad)


@pytest.mark.timeout(120)
def test_identical_clip_scores_near_100(private_tmp):
    frames = _clip()
    r = vmaf_frames(frames, list(frames), pan_zoom_info(W, H, N))
    assert r.frames == N
    assert r.mean >= 97 and r.harmonic_mean >= 97 and r.p5 >= 97 and r.neg_mean >= 97
    assert r.p5 <= r.harmonic_mean <= r.mean <= 100
    assert not list(private_tmp.iterdir())


@pytest.mark.timeout(300)
def test_vmaf_falls_as_x264_crf_rises(vmaf_clip, tmp_path, private_tmp):
    scores = []
    for crf in (20, 35, 50):
        dist = tmp_path / f"crf{crf}.mp4"
        write_video(dist, pan_zoom_info(W, H, N), _clip(), codec="x264", crf=crf)
        scores.append(compare_vmaf(vmaf_clip, dist).mean)
    assert scores[0] > scores[1] > scores[2], scores
    assert not list(private_tmp.iterdir())


@pytest.mark.timeout(300)
def test_compare_json_has_vmaf_keys_and_tool(vmaf_clip, tmp_path):
    dist = tmp_path / "d.mp4"
    write_video(dist, pan_zoom_info(W, H, N), _clip(), codec="x264", crf=35)
    res = CliRunner().invoke(cli, ["compare", str(vmaf_clip), str(dist), "--json", "--vmaf"])
    assert res.exit_code == 0, res.output
    out = _strict_loads(res.output)
    for k in ("vmaf", "vmaf_harmonic_mean", "vmaf_p5", "vmaf_neg"):
        assert isinstance(out[k], float) and 0 <= out[k] <= 100, (k, out[k])
    assert out["vmaf_scale"] == "native"
    assert "--enable-libvmaf" in out["vmaf_tool"]["configuration"]
    assert out["vmaf_tool"]["version"]
    plain = CliRunner().invoke(cli, ["compare", str(vmaf_clip), str(dist), "--json"])
    assert plain.exit_code == 0 and "vmaf" not in _strict_loads(plain.output)


@pytest.mark.timeout(120)
def test_1080p_scale_scores_after_resizing(private_tmp):
    frames = _clip()[:2]
    r = vmaf_frames(frames, list(frames), pan_zoom_info(W, H, 2), scale="1080p")
    assert r.scale == "1080p" and r.frames == 2 and r.mean >= 90


def test_unknown_scale_is_a_settings_error():
    with pytest.raises(SettingsError, match="4k"):
        vmaf_frames([], [], pan_zoom_info(W, H, 1), scale="4k")


@pytest.mark.timeout(60)
def test_bad_argument_raises_tool_error_with_stderr(private_tmp):
    info = pan_zoom_info(W, H, N)
    with pytest.raises(ToolError, match="exit status .*nosuchfilter"):
        ffmpeg_tool.run_ffmpeg(["-lavfi", "[0:v]nosuchfilter", "-f", "null", "-"], [(info, _clip())])
    assert not list(private_tmp.iterdir())


@pytest.mark.timeout(60)
def test_a_failing_frame_source_ends_the_run(private_tmp):
    info = pan_zoom_info(W, H, N)

    def frames():
        yield from _clip()[:2]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        vmaf_frames(frames(), _clip(), info)
    assert not list(private_tmp.iterdir())


@pytest.mark.timeout(60)
def test_frame_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="frame counts differ"):
        vmaf_frames(_clip(), _clip()[:3], pan_zoom_info(W, H, N))


def test_missing_package_names_the_fix(monkeypatch):
    monkeypatch.setattr(ffmpeg_tool, "imageio_ffmpeg", None)
    with pytest.raises(ToolMissingError, match="pip install imageio-ffmpeg"):
        ffmpeg_tool.ffmpeg_exe()


def test_tool_info_reports_the_build():
    info = ffmpeg_tool.tool_info()
    assert info["version"] and "libavfilter" in info["libraries"]
    assert {"--enable-libvmaf", "--enable-libvvenc", "--enable-libaom"} <= set(info["configuration"])


@pytest.mark.timeout(60)
def test_a_stalled_run_times_out(private_tmp):
    info = pan_zoom_info(W, H, N)

    def slow():
        yield _clip()[0]
        time.sleep(3)
        yield _clip()[1]

    with pytest.raises(ToolError, match="timed out after 0.5 s"):
        ffmpeg_tool.run_ffmpeg(["-f", "null", "-"], [(info, slow())], timeout=0.5)
    assert not list(private_tmp.iterdir())
