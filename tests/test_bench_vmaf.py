"""VMAF in ``neurocodec bench``: per-point scores, BD-rate on VMAF, the VMAF floor, plots; anchor verification."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from neurocodec_cli.main import cli

from neurocodec.bench import BenchConfig, format_tables, plot_rd, run_bench, write_compressai
from neurocodec.errors import SettingsError
from neurocodec.metrics.bd import bd_rate

pytest.importorskip("imageio_ffmpeg", reason="VMAF runs in the FFmpeg binary that imageio-ffmpeg ships")

VMAF_KEYS = ("vmaf", "vmaf_harmonic_mean", "vmaf_p5", "vmaf_neg")


@pytest.fixture(scope="module")
def results(small_clip):
    config = BenchConfig(codecs=("x264", "x265"), points=4, frames=3, anchor="x265",
                         presets={"x264": "ultrafast", "x265": "ultrafast"}, vmaf=True, vmaf_floor=80.0)
    return run_bench([small_clip], config)


def test_points_have_vmaf(results):
    assert results["config"]["vmaf"] is True and results["config"]["vmaf_scale"] == "native"
    assert "--enable-libvmaf" in results["ffmpeg_tool"]["configuration"]
    for entry in results["clips"][0]["codecs"].values():
        pts = entry["points"]
        for p in pts:
            assert all(0 <= p[k] <= 100 for k in VMAF_KEYS)
            # Pooling: the harmonic mean and the 5th percentile never exceed the mean.
            assert p["vmaf_p5"] <= p["vmaf"] + 1e-9 and p["vmaf_harmonic_mean"] <= p["vmaf"] + 1e-9
        # Best quality first: VMAF falls along the CRF ladder.
        assert pts[0]["vmaf"] > pts[-1]["vmaf"]


def test_vmaf_bd_rate_and_floor(results):
    clip = results["clips"][0]
    a, t = clip["codecs"]["x265"]["points"], clip["codecs"]["x264"]["points"]
    again = bd_rate([p["bitrate_kbps"] for p in a], [p["vmaf"] for p in a],
                    [p["bitrate_kbps"] for p in t], [p["vmaf"] for p in t])
    got = clip["bd_rate"]["x264"]["vmaf"]
    assert got["value"] is not None and got["value"] == again.value
    assert set(clip["vmaf_floor"]) == {"x264", "x265"}
    for name, floor in clip["vmaf_floor"].items():
        pts = clip["codecs"][name]["points"]
        if floor["bitrate_kbps"] is None:
            assert max(p["vmaf"] for p in pts) < 80.0 and floor["how"] == "not_reached"
        else:
            assert floor["how"] in ("interpolated", "measured_below")
            assert min(p["bitrate_kbps"] for p in pts) <= floor["bitrate_kbps"] <= max(p["bitrate_kbps"] for p in pts)
    assert "vmaf" in results["average"]["bd_rate"]["x264"] and "vmaf" in results["average"]["curves"]["x264"]
    text = format_tables(results)
    assert "VMAF >= 80" in text and "   VMAF " in text


def test_vmaf_plot_and_compressai(results, tmp_path):
    plot_rd(results, tmp_path / "rd.png", metric="vmaf")
    assert (tmp_path / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    files = write_compressai(results, tmp_path / "cai")
    doc = json.loads(files[0].read_text())
    assert len(doc["results"]["vmaf"]) == 4


def test_without_vmaf_nothing_changes(results):
    plain = BenchConfig(codecs=("x264", "x265"), points=4).to_dict()
    assert not {"vmaf", "vmaf_floor", "vmaf_scale", "verify_anchors"} & set(plain)
    stripped = dict(results, config=dict(results["config"], vmaf=False))
    with pytest.raises(SettingsError, match="no VMAF"):
        plot_rd(stripped, "unused.png", metric="vmaf")


def test_cli_vmaf_options(small_clip, tmp_path):
    bad = CliRunner().invoke(cli, ["bench", str(small_clip), "--metric", "vmaf", "--plot", str(tmp_path / "p.png")])
    assert bad.exit_code == 2 and "needs --vmaf" in bad.output
    bad = CliRunner().invoke(cli, ["bench", str(small_clip), "--vmaf", "--vmaf-floor", "120"])
    assert bad.exit_code == 2 and "0..100" in bad.output


# -- --verify-anchors -----------------------------------------------------------


@pytest.mark.parametrize(("codec", "preset", "clip"), [("x264", "ultrafast", "small_clip"), ("av1", "8", "odd_clip")])
def test_anchor_point_verified(codec, preset, clip, request, tmp_path):
    """The recorded command, rerun by the bundled FFmpeg, gives the payload's stream or one within tolerance.

    The odd clip (75x47) covers padding: SVT-AV1 codes it padded up to its minimum size (input_padded_to).
    """
    from neurocodec.bench.point import PointJob, measure_point
    from neurocodec.bench.verify import PSNR_TOLERANCE_DB, SIZE_TOLERANCE

    path = request.getfixturevalue(clip)
    p = measure_point(PointJob(str(path), str(tmp_path), codec, 30.0, preset, False, "elementary_stream",
                               verify_anchor=True))
    v = p["anchor_verification"]
    assert v["segments"] >= 1 and v["command"][0].startswith("ffmpeg -f yuv4mpegpipe -i in.y4m -c:v lib")
    assert v["result"] in ("identical", "within_tolerance"), v
    if v["result"] == "identical":
        assert v["segments_identical"] == v["segments"] and v["tool_bytes"] == p["stream_bytes"]
    else:
        assert abs(v["tool_bytes"] / p["stream_bytes"] - 1) <= SIZE_TOLERANCE
        assert abs(v["tool_psnr_yuv"] - p["psnr_yuv"]) <= PSNR_TOLERANCE_DB


def test_cli_verify_anchors(small_clip, tmp_path):
    res = CliRunner().invoke(cli, ["bench", str(small_clip), "--codecs", "x264,x265", "--points", "4", "--frames", "2",
                                   "--preset", "x264=ultrafast,x265=ultrafast", "--verify-anchors",
                                   "--json", str(tmp_path / "r.json"), "-q"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["config"]["verify_anchors"] is True and "version" in doc["ffmpeg_tool"]
    results = [p["anchor_verification"]["result"] for e in doc["clips"][0]["codecs"].values() for p in e["points"]]
    assert len(results) == 8 and "Anchor verification" in res.output
    assert res.output.count("identical") + res.output.count("within tolerance") + res.output.count("differs") >= 8
