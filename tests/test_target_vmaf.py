"""``encode --target-vmaf``: per-scene VMAF targets, verified on every frame of the final encode."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import neurocodec
from neurocodec.errors import SettingsError

pytest.importorskip("imageio_ffmpeg", reason="VMAF runs in the FFmpeg binary that imageio-ffmpeg bundles")

from neurocodec.io import open_source, write_video
from neurocodec.io.synthetic import concat_shots, pan_zoom, pan_zoom_info
from neurocodec.metrics.vmaf import vmaf_frames

W, H, N = 128, 96, 10


@pytest.fixture(scope="module")
def two_scenes(tmp_path_factory):
    """128x96, two 10-frame shots of different photographs joined by a hard cut."""
    frames, _ = concat_shots([pan_zoom(W, H, N, image="astronaut", pan=(1.5, 0.5)),
                              pan_zoom(W, H, N, image="coffee", pan=(-1.0, 0.8), zoom=0.01)])
    path = tmp_path_factory.mktemp("tvmaf") / "two.y4m"
    write_video(path, pan_zoom_info(W, H, 2 * N), frames, overwrite=True)
    return path


def _frames(path):
    with open_source(path) as src:
        return list(src.frames())


def _encode(clip, tmp_path, name, **kw):
    ncv, out = tmp_path / f"{name}.ncv", tmp_path / f"{name}.y4m"
    report = neurocodec.encode(clip, ncv, strategy="x264", preset="ultrafast", segment_frames=N, **kw)
    neurocodec.decode(ncv, out)
    return report, _frames(clip), _frames(out)


def _check_vmaf(report, src, dec, target, pool):
    info = pan_zoom_info(W, H, 2 * N)
    for seg in report.segments:
        a, b = seg.start_frame, seg.end_frame
        # Recomputed independently on the decoded file, every frame of the scene.
        v = vmaf_frames(src[a:b], dec[a:b], info)
        assert v.frames == b - a == seg.vmaf["frames"]
        assert seg.vmaf["pool"] == pool
        assert v.pooled(pool) == pytest.approx(seg.vmaf["value"], abs=1e-3)
        assert seg.probes and all(p["vmaf"] is not None for p in seg.probes)
        assert seg.tries and all("vmaf" in t for t in seg.tries)
        if seg.target_met:
            assert v.pooled(pool) >= target
        else:
            # Only a scene whose CRF search ran into the strategy's bound may miss.
            assert int(seg.params["options"]["crf"]) == 0
            assert v.pooled(pool) < target


@pytest.mark.parametrize("pool", ["mean", "p5"])
def test_target_vmaf_met_per_scene(two_scenes, tmp_path, pool):
    target = 93.0
    report, src, dec = _encode(two_scenes, tmp_path, pool, target_vmaf=target, vmaf_pool=pool)
    assert len(report.segments) == 2
    assert all(seg.target_met for seg in report.segments)
    _check_vmaf(report, src, dec, target, pool)
    # The kept encode is the smallest real encode that met the target.
    for seg in report.segments:
        ok = [t for t in seg.tries if t["meets"]]
        assert min(ok, key=lambda t: t["bytes"])["crf"] == int(seg.params["options"]["crf"])


def test_target_vmaf_combined_with_psnr(two_scenes, tmp_path):
    report, src, dec = _encode(two_scenes, tmp_path, "both", target_vmaf=80.0, target_psnr=38.0)
    assert all(seg.target_met for seg in report.segments)
    _check_vmaf(report, src, dec, 80.0, "mean")
    for seg in report.segments:
        q = neurocodec.metrics.compare_frames(src[seg.start_frame : seg.end_frame], dec[seg.start_frame : seg.end_frame])
        assert q.psnr_yuv >= 38.0
        assert q.psnr_yuv == pytest.approx(seg.quality["psnr_yuv"], abs=1e-9)


@pytest.mark.parametrize("kw, msg", [
    ({"target_vmaf": 0}, "outside"),
    ({"target_vmaf": 100.5}, "outside"),
    ({"vmaf_pool": "mean"}, "needs target_vmaf"),
    ({"target_vmaf": 90, "vmaf_pool": "median"}, "vmaf_pool must be one of"),
    ({"target_vmaf": 90, "crf": 23}, "choose one rate control"),
    ({"target_vmaf": 90, "measure_quality": False}, "needs measure_quality"),
])
def test_target_vmaf_options_checked_before_reading(tmp_path, kw, msg):
    # The source does not exist: the options fail first.
    with pytest.raises(SettingsError, match=msg):
        neurocodec.encode(tmp_path / "missing.y4m", tmp_path / "x.ncv", **kw)


def test_missing_ffmpeg_is_a_settings_error(monkeypatch, tmp_path):
    from neurocodec.io import ffmpeg_tool

    monkeypatch.setattr(ffmpeg_tool, "imageio_ffmpeg", None)
    with pytest.raises(SettingsError, match="imageio-ffmpeg"):
        neurocodec.encode(tmp_path / "missing.y4m", tmp_path / "x.ncv", target_vmaf=90)


def test_cli_vmaf_pool_without_target_exits_2(tmp_path):
    from neurocodec_cli.main import cli

    r = CliRunner().invoke(cli, ["encode", str(tmp_path / "in.y4m"), str(tmp_path / "o.ncv"), "--vmaf-pool", "p5"])
    assert r.exit_code == 2 and "--target-vmaf" in r.output
    assert "Traceback" not in r.output
