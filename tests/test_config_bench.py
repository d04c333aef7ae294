"""``bench --config CODEC=FILE.toml``: a codec label measured with a configuration file."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from neurocodec.bench import BenchConfig, run_bench
from neurocodec.bench.config import parse_configs
from neurocodec.bench.point import crf_ladder
from neurocodec.codec_config import CodecConfig
from neurocodec.errors import SettingsError
from neurocodec_cli.main import cli

TUNED = """schema = "neurocodec.config/1"
strategy = "x264"
preset = "ultrafast"

[options]
aq-mode = 1
psy-rd = 0.5

[provenance]
study = "bench-test"
"""


def test_config_labels_are_checked():
    x264 = CodecConfig("x264", "ultrafast", {"aq-mode": 1})
    with pytest.raises(SettingsError, match="--config given for codec.* not benchmarked: tuned"):
        BenchConfig(codecs=("x264", "x265"), anchor="x265", configs={"tuned": x264})
    with pytest.raises(SettingsError, match="av1@4: a codec with a configuration takes its preset from the file"):
        BenchConfig(codecs=("x265", "av1@4"), configs={"av1@4": CodecConfig("av1")})
    with pytest.raises(SettingsError, match="takes its preset from the file"):
        BenchConfig(codecs=("x265", "tuned"), presets={"tuned": "fast"}, configs={"tuned": x264})
    with pytest.raises(SettingsError, match="x265: names a strategy, but its configuration is for 'x264'"):
        BenchConfig(codecs=("x265", "x264"), configs={"x265": x264})
    config = BenchConfig(codecs=("x265", "tuned"), anchor="tuned", configs={"tuned": x264})
    assert (config.strategy("tuned"), config.preset("tuned"), config.options("tuned")) == ("x264", "ultrafast", {"aq-mode": 1})
    assert (config.strategy("x265"), config.options("x265")) == ("x265", {})


def test_parse_configs_reads_each_file(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(TUNED)
    assert parse_configs([f"tuned={path}"])["tuned"].options == {"aq-mode": 1, "psy-rd": 0.5}
    for bad, message in ((["tuned"], "expected CODEC=FILE.toml"), ([f"a={path}", f"a={path}"], "given twice"),
                         ([f"a={tmp_path / 'no.toml'}"], "no.toml: cannot read")):
        with pytest.raises(SettingsError, match=message):
            parse_configs(bad)


def test_config_label_is_measured_with_the_file(small_clip, tmp_path):
    cfg = tmp_path / "tuned.toml"
    cfg.write_text(TUNED)
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["bench", str(small_clip), "--codecs", "x264,tuned", "--anchor", "tuned",
                                   "--config", f"tuned={cfg}", "--preset", "x264=ultrafast", "--points", "4",
                                   "--frames", "3", "--json", str(out), "-q"])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["config"]["configs"] == {"tuned": {"strategy": "x264", "preset": "ultrafast",
                                                  "options": {"aq-mode": 1, "psy-rd": 0.5},
                                                  "provenance": {"study": "bench-test"}}}
    assert doc["config"]["presets_used"] == {"x264": "ultrafast", "tuned": "ultrafast"}
    codecs = doc["clips"][0]["codecs"]
    tuned, plain = codecs["tuned"], codecs["x264"]
    assert tuned["rate_basis"] == plain["rate_basis"] == "elementary_stream"  # an anchor strategy, rated like one
    for p in tuned["points"]:
        assert p["encoder_params"]["opts"] == {"aq-mode": 1, "psy-rd": 0.5}
        assert "aq-mode=1:psy-rd=0.5" in p["encoder_params"]["options"]["x264-params"]
    assert all("opts" not in p["encoder_params"] for p in plain["points"])
    assert set(doc["clips"][0]["bd_rate"]) == {"x264"}


def test_cli_refuses_a_config_for_a_codec_not_measured(small_clip, tmp_path):
    cfg = tmp_path / "tuned.toml"
    cfg.write_text(TUNED)
    res = CliRunner().invoke(cli, ["bench", str(small_clip), "--codecs", "x264,x265", "--config", f"tuned={cfg}"])
    assert res.exit_code == 2 and "not benchmarked: tuned" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["bench", str(small_clip), "--codecs", "x265,tuned", "--config",
                                   f"tuned={tmp_path / 'missing.toml'}"])
    assert res.exit_code == 2 and "missing.toml: cannot read the configuration" in res.output


def test_a_run_without_configs_writes_no_configs_key():
    assert "configs" not in BenchConfig(codecs=("x264", "x265")).to_dict()


def test_auto_config_label(small_clip):
    config = BenchConfig(codecs=("fast-auto",), anchor="fast-auto", points=4, frames=3,
                         configs={"fast-auto": CodecConfig("auto", "fast", {"probe-window": 2})})
    doc = run_bench([small_clip], config)
    entry = doc["clips"][0]["codecs"]["fast-auto"]
    assert entry["rate_basis"] == "ncv_file" and entry["preset"] == "fast"
    assert [p["crf"] for p in entry["points"]] == crf_ladder("auto", 4)  # the quality knob's ladder
