"""Codec configuration files: round trip, strict checking, hostile files."""

from __future__ import annotations

import pytest

from neurocodec.codec_config import MAX_BYTES, CodecConfig, dump_config, load_config, parse_config
from neurocodec.errors import SettingsError

GOOD = """schema = "neurocodec.config/1"
strategy = "av1"
preset = "6"

[options]
enable-qm = true
qm-min = 8

[provenance]
study = "svt-p6"
search_bd_rate = -5.2
clips = ["a.y4m", "b.y4m"]
"""


def test_round_trip_keeps_every_field(tmp_path):
    config = parse_config(GOOD)
    assert config == CodecConfig("av1", "6", {"enable-qm": True, "qm-min": 8},
                                 {"study": "svt-p6", "search_bd_rate": -5.2, "clips": ["a.y4m", "b.y4m"]})
    path = tmp_path / "c.toml"
    path.write_text(dump_config(config))
    assert load_config(path) == config
    odd = CodecConfig("x265", None, {}, {"note": 'quote " back\\slash \u00e9', "nested": {"a": 1.5, "b": [1, 2]}})
    assert parse_config(odd.to_toml()) == odd


@pytest.mark.parametrize("text, msg", [
    ("strategy = 'av1'", "schema"),
    ('schema = "neurocodec.config/1"\nstrategy = "nope"', "unknown strategy 'nope'"),
    ('schema = "neurocodec.config/1"\nstrategy = "av1"\nextra = 1', "unknown key"),
    ('schema = "neurocodec.config/1"\nstrategy = "av1"\n[options]\nqm-min = 99', "qm-min"),
    ('schema = "neurocodec.config/1"\nstrategy = "av1"\n[options]\nno-such = 1', "no-such"),
    ('schema = "neurocodec.config/1"\nstrategy = "av1"\npreset = "fastest"', "fastest"),
    ('schema = "neurocodec.config/1"\nstrategy = "auto"\npreset = "ludicrous"', "auto's preset"),
    ('schema = "neurocodec.config/1"\nstrategy = "auto"\n[options]\nprobe-window = 0', r"probe-window=0 .* 1\.\.300"),
    ('schema = "neurocodec.config/1"\nstrategy = "auto"\n[options]\nqm-min = 4', "auto: unknown option 'qm-min'"),
    ('schema = "neurocodec.config/1"\nstrategy = "av1"\n[options]\nqm-min = [1]', "options.qm-min"),
    ('schema = "neurocodec.config/1"\nstrategy = "av1"\n[provenance]\nx = nan', "finite"),
    ("strategy = [", "not valid TOML"),
])
def test_bad_files_are_one_line_errors(text, msg, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=msg) as err:
        load_config(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_hostile_files_are_refused_before_parsing(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text(GOOD + "#" * MAX_BYTES)
    with pytest.raises(SettingsError, match="at most"):
        load_config(big)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe" + GOOD.encode())
    with pytest.raises(SettingsError, match="UTF-8"):
        load_config(binary)
    with pytest.raises(SettingsError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_auto_takes_its_typed_options():
    config = parse_config('schema = "neurocodec.config/1"\nstrategy = "auto"\npreset = "slow"\n'
                          '[options]\nprobe-window = 32\nlambda-scale = 1.25\ncut-threshold = 20')
    assert config.options == {"probe-window": 32, "lambda-scale": 1.25, "cut-threshold": 20}
    assert parse_config(config.to_toml()) == config
