"""``encode --config`` and auto's typed options: precedence, errors before any input, same bytes as flags."""

from __future__ import annotations

import json
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from click.testing import CliRunner

import neurocodec
from neurocodec.agents.encoder import EncodingAgent
from neurocodec.agents.planner import auto_options
from neurocodec.codec_config import CodecConfig, auto_preset, check_config
from neurocodec.errors import SettingsError
from neurocodec.io import open_source, write_video
from neurocodec.io.synthetic import hard_cut_clips, pan_zoom_info
from neurocodec.settings import AUTO_SPEEDS, AutoOptions, EncodeOptions
from neurocodec.strategies.options import build_options, option_specs
from neurocodec_cli.main import cli

ROOT = Path(__file__).resolve().parents[1]

AUTO_FAST = """schema = "neurocodec.config/1"
strategy = "auto"
preset = "fast"

[options]
probe-window = 4

[provenance]
study = "test"
search_bd_rate = -1.5
"""

X264 = """schema = "neurocodec.config/1"
strategy = "x264"
preset = "ultrafast"

[options]
aq-mode = 1
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _encode(*args: str) -> None:
    res = CliRunner().invoke(cli, ["encode", *args, "-q", "--no-progress"])
    assert res.exit_code == 0, res.output


def test_config_equals_the_same_encode_with_flags(small_clip, tmp_path):
    cfg = _write(tmp_path / "auto.toml", AUTO_FAST)
    a, b = tmp_path / "a.ncv", tmp_path / "b.ncv"
    _encode(str(small_clip), str(a), "--config", str(cfg), "--stats-json", str(tmp_path / "a.json"))
    _encode(str(small_clip), str(b), "-s", "auto", "--preset", "fast", "--opt", "probe-window=4")
    assert a.read_bytes() == b.read_bytes()
    options = json.loads((tmp_path / "a.json").read_text())["options"]
    assert options["config"] == {"file": str(cfg), "strategy": "auto", "preset": "fast",
                                 "options": {"probe-window": 4}, "provenance": {"study": "test", "search_bd_rate": -1.5}}
    assert options["auto_options"] == {**auto_preset("fast").options, "probe-window": 4}


def test_explicit_preset_and_options_win_key_by_key(small_clip, tmp_path):
    cfg = _write(tmp_path / "x264.toml", X264.replace("aq-mode = 1", "aq-mode = 1\npsy-rd = 0.5"))
    a, b = tmp_path / "a.ncv", tmp_path / "b.ncv"
    report = neurocodec.encode(small_clip, a, config=cfg, crf=30, preset="veryfast", opts={"aq-mode": "2"},
                               measure_quality=False)
    _encode(str(small_clip), str(b), "-s", "x264", "--crf", "30", "--preset", "veryfast",
            "--opt", "aq-mode=2", "--opt", "psy-rd=0.5", "--no-quality")
    assert a.read_bytes() == b.read_bytes()
    assert report.options["preset"] == "veryfast" and report.options["opts"] == {"aq-mode": "2", "psy-rd": 0.5}
    assert report.options["config"]["options"] == {"aq-mode": 1, "psy-rd": 0.5}  # the file as it was
    # The same configuration as an object, and with the file's own strategy named again.
    c = tmp_path / "c.ncv"
    neurocodec.encode(small_clip, c, strategy="x264", config=CodecConfig("x264", "veryfast", {"aq-mode": 2, "psy-rd": 0.5}),
                      crf=30, measure_quality=False)
    assert c.read_bytes() == a.read_bytes()


@pytest.mark.parametrize("text, flags, message", [
    (X264, ["-s", "x265"], "is for strategy 'x264', but strategy 'x265' was given"),
    (AUTO_FAST.replace("probe-window = 4", "probe-window = 0"), [], "probe-window=0 is not allowed; use 1..300"),
    (AUTO_FAST.replace("probe-window = 4", "window = 4"), [], "auto: unknown option 'window'"),
    (X264.replace("x264", "nonesuch"), [], "unknown strategy 'nonesuch'"),
])
def test_config_errors_are_one_line_naming_the_file_before_any_input(tmp_path, text, flags, message):
    cfg = _write(tmp_path / "bad.toml", text)
    out = tmp_path / "o.ncv"
    res = CliRunner().invoke(cli, ["encode", str(tmp_path / "missing.y4m"), str(out), "--config", str(cfg), *flags])
    assert res.exit_code == 2 and "Traceback" not in res.output
    line = res.output.strip()
    assert "\n" not in line and str(cfg) in line and message in line and "missing.y4m" not in line
    assert not out.exists()


def test_missing_config_and_config_as_output(small_clip, tmp_path):
    res = CliRunner().invoke(cli, ["encode", str(small_clip), str(tmp_path / "o.ncv"), "--config", str(tmp_path / "no.toml")])
    assert res.exit_code == 2 and "no.toml: cannot read the configuration" in res.output
    cfg = _write(tmp_path / "x264.toml", X264)
    with pytest.raises(neurocodec.errors.OutputIsInputError):
        neurocodec.encode(small_clip, cfg, config=cfg, crf=30)
    assert cfg.read_text() == X264


def test_shipped_auto_presets_are_complete_and_used():
    keys = [s.key for s in option_specs(AutoOptions)]
    for effort in AUTO_SPEEDS:
        config = auto_preset(effort)
        assert (config.strategy, config.preset, list(config.options)) == ("auto", effort, keys)
        # Each effort's file is a study's export (docs/experiments.md), with what the study searched.
        assert config.provenance["study"] == f"auto-{effort}" and config.provenance["searched"]
        check_config(config)
        assert auto_options(EncodeOptions(preset=effort)) == build_options(AutoOptions, "auto", config.options)
    # medium's values are the defaults, which a named strategy's CRF search uses
    assert build_options(AutoOptions, "auto", auto_preset("medium").options) == AutoOptions()
    assert auto_options(EncodeOptions(strategy="x264", preset="fast", quality=30)) == AutoOptions()
    # installed with the package: pyproject's package data covers every shipped file
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["neurocodec"]
    shipped = [p.relative_to(ROOT / "neurocodec").as_posix() for p in (ROOT / "neurocodec" / "presets").iterdir()]
    assert shipped and all(any(fnmatch(f, pat) for pat in data) for f in shipped)


def test_auto_options_at_the_shipped_values_change_no_byte(small_clip, tmp_path):
    a, b = tmp_path / "a.ncv", tmp_path / "b.ncv"
    neurocodec.encode(small_clip, a, preset="fast", measure_quality=False)
    neurocodec.encode(small_clip, b, preset="fast", opts=dict(auto_preset("fast").options), measure_quality=False)
    assert a.read_bytes() == b.read_bytes()


def test_auto_options_reach_the_search(small_clip, tmp_path):
    # fast has a single candidate (SVT-AV1 preset 6): no trials, the quality map's CRF
    mapped = neurocodec.encode(small_clip, tmp_path / "m.ncv", preset="fast", measure_quality=False)
    assert all(not s.probes and s.decision["basis"] == "quality_map" for s in mapped.segments)
    # with two candidates, at a low rate medium also tries the resolution ladder: trials at SVT-AV1 preset 6
    # (one at 4 calibrates them), final at 4
    two = {"candidates": "2"}
    base = neurocodec.encode(small_clip, tmp_path / "a.ncv", quality=40, opts=two, measure_quality=False)
    short = neurocodec.encode(small_clip, tmp_path / "b.ncv", quality=40, opts=two | {"probe-window": "4"},
                              measure_quality=False)
    windows = lambda r: {p["frames"] for s in r.segments for p in s.probes if p["kind"] == "window"}  # noqa: E731
    assert windows(base) == {8}  # the whole 8-frame scene
    assert windows(short) == {4} and {p["frames"] for s in short.segments for p in s.probes if p["kind"] == "key"} == {1}
    av1_trials = [p for s in base.segments for p in s.probes if p["strategy"] == "av1"]
    assert {(p["kind"], p["encoded_preset"]) for p in av1_trials} == {("window", "6"), ("calibration", "4")}
    assert {s.decision["preset"] for s in base.segments if s.strategy == "av1"} <= {"4"}
    assert short.options["auto_options"]["probe-window"] == 4 and short.options["opts"]["probe-window"] == "4"
    # Without calibration the candidates are compared at the trial preset: the same window trials, no more.
    uncal = neurocodec.encode(small_clip, tmp_path / "u.ncv", quality=40, opts=two | {"calibrate": "false"},
                              measure_quality=False)
    assert [[p for p in s.probes if p["kind"] != "calibration"] for s in base.segments] == \
        [s.probes for s in uncal.segments]
    # A larger Lagrange multiplier trades quality for bits: from the same probes, a higher CRF.
    steep = neurocodec.encode(small_clip, tmp_path / "c.ncv", quality=40, opts=two | {"lambda-scale": 20},
                              measure_quality=False)
    assert [s.probes for s in steep.segments] == [s.probes for s in base.segments]
    assert all(s.decision["crf"] > b.decision["crf"] for s, b in zip(steep.segments, base.segments))


def test_cut_thresholds_reach_the_scene_detector(tmp_path):
    _, frames, cuts = next(hard_cut_clips(((96, 64, 1, 2),), seed=1))
    clip = tmp_path / "cut.y4m"
    write_video(clip, pan_zoom_info(96, 64, len(frames), 25), iter(frames), overwrite=True)

    def starts(opts):
        with open_source(clip) as src:
            return [s.start_frame for s in EncodingAgent(EncodeOptions(opts=opts)).planner.scenes(src)]

    assert starts({}) == [0, *cuts]
    assert starts({"cut-threshold": 255}) == [0]


def test_out_of_range_auto_option_is_refused_before_reading_input(tmp_path):
    with pytest.raises(SettingsError, match=r"auto: option lambda-scale=0 is not allowed; use \(0, 100\]"):
        neurocodec.encode(tmp_path / "missing.y4m", tmp_path / "o.ncv", opts={"lambda-scale": 0})
    res = CliRunner().invoke(cli, ["encode", str(tmp_path / "missing.y4m"), str(tmp_path / "o.ncv"),
                                   "--preset", "slow", "--opt", "candidates=100"])
    assert res.exit_code == 2 and "auto: option candidates='100' is not allowed; use 1..99" in res.output


def test_strategies_lists_auto_options():
    res = CliRunner().invoke(cli, ["strategies", "auto", "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)
    assert [o["key"] for o in row["options"]] == [s.key for s in option_specs(AutoOptions)]
    window = row["options"][1]
    assert window["key"] == "probe-window" and window["efforts"] == {e: auto_preset(e).options["probe-window"]
                                                                      for e in AUTO_SPEEDS}
    res = CliRunner().invoke(cli, ["strategies"])
    assert "--opt probe-window=<int>  1..300; fast 12, medium 24, slow 48." in res.output


@pytest.mark.parametrize("effort, preset", [("fast", "6"), ("medium", "4"), ("slow", "2")])
def test_each_shipped_effort_codes_what_svt_av1_alone_codes_at_its_preset(small_clip, tmp_path, effort, preset):
    """As shipped, an effort is SVT-AV1 at its rival preset and the knob's CRF: the same packets, byte for byte."""
    from neurocodec.bench.point import crf_ladder
    from neurocodec.bitstream import NcvReader
    from neurocodec.strategies import get_strategy

    knob = crf_ladder("auto", 4)[1]  # the point bench measures against SVT-AV1's CRF 41
    auto = neurocodec.encode(small_clip, tmp_path / "a.ncv", preset=effort, quality=knob, measure_quality=False)
    alone = neurocodec.encode(small_clip, tmp_path / "s.ncv", strategy="av1", preset=preset, crf=41,
                              measure_quality=False)
    assert [(s.strategy, s.decision["crf"]) for s in auto.segments] == [("av1", 41)] * len(auto.segments)
    av1 = get_strategy("av1")
    with NcvReader(tmp_path / "a.ncv") as a, NcvReader(tmp_path / "s.ncv") as s:
        assert [av1.packets(a.payload(x)) for x in a.segments()] == [av1.packets(s.payload(x)) for x in s.segments()]
