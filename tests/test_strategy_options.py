"""Typed strategy options (--opt / opts=), the preset alias, auto capabilities and entry-point registration."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

import neurocodec
from neurocodec.agents.encoder import EncodingAgent
from neurocodec.analysis.scenes import Scene
from neurocodec.bitstream import NcvReader
from neurocodec.bitstream.ids import STRATEGY_IDS
from neurocodec.errors import NcvFormatError, SettingsError
from neurocodec.io import open_source, pad_to_even
from neurocodec.settings import EncodeOptions
from neurocodec.strategies import AutoCapability, DecodeContext, Strategy, StrategySettings, get_strategy
from neurocodec.strategies.hybrid import HybridOptions
from neurocodec_cli.main import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def det_frames(det_clip):
    with open_source(det_clip) as src:
        return [pad_to_even(f) for f in src.frames()]


def _describe(name, **kw):
    return get_strategy(name).describe(StrategySettings(**kw), 64, 64, 25)


def test_options_at_their_default_are_not_passed_or_stored():
    for name in ("x264", "x265", "av1"):
        d = _describe(name, crf=30)
        assert "opts" not in d
        assert set(d["options"]) <= {"preset", "crf", "x264-params", "x265-params"}  # base params only


def test_given_options_reach_the_encoder_params_and_are_stored_typed():
    d = _describe("av1", options={"tune": "0", "enable-qm": "yes", "qm_min": 4}, low_delay=True)
    assert d["options"]["svtav1-params"] == "pred-struct=1:tune=0:enable-qm=1:qm-min=4"
    assert d["opts"] == {"tune": 0, "enable-qm": True, "qm-min": 4}
    d = _describe("x265", options={"aq-mode": "3", "psy-rd": "1.5"})
    assert d["options"]["x265-params"] == "log-level=error:info=0:aq-mode=3:psy-rd=1.5"
    d = _describe("x264", options={"psy-rd": 0.5}, preset="fast")
    assert d["options"] == {"preset": "fast", "crf": "23", "x264-params": "cpu-independent=1:psy-rd=0.5"}
    assert d["opts"] == {"psy-rd": 0.5}


@pytest.mark.parametrize("name, opts, message", [
    ("av1", {"qm-min": "16"}, r"av1: option qm-min='16' is not allowed; use 0\.\.15"),
    ("av1", {"enable-qm": "maybe"}, "av1: option enable-qm='maybe' is not allowed; use true or false"),
    ("x264", {"aq-mode": "x"}, r"x264: option aq-mode='x' is not allowed; use 0\.\.3"),
    ("x265", {"colour": "1"}, "x265: unknown option 'colour'; its options: preset, aq-mode, psy-rd"),
    ("hybrid", {"scale": "0.3"}, "hybrid: option scale='0.3' is not allowed; use one of 1, 0.75, 0.667, 0.5"),
    ("i_frame_interpolation", {"drop": 0}, r"option drop=0 is not allowed; use \(0, 20\]"),
    ("hybrid", {"base": "x265", "base-preset": "12"}, "x265: option preset='12' is not allowed"),
    ("semantic_latent", {"x": 1}, "semantic_latent: unknown option 'x'; its options: none"),
])
def test_validate_names_the_option_and_its_range(name, opts, message):
    with pytest.raises(SettingsError, match=message) as err:
        get_strategy(name).validate(StrategySettings(options=opts))
    assert "\n" not in str(err.value)


def test_bad_options_fail_before_any_input_is_read(tmp_path):
    with pytest.raises(SettingsError, match="tune"):
        neurocodec.encode(tmp_path / "missing.y4m", tmp_path / "o.ncv", strategy="av1", opts={"tune": 9})
    with pytest.raises(SettingsError, match="auto: unknown option 'tune'"):  # auto's options are its own
        EncodeOptions(strategy="auto", opts={"tune": 0})
    with pytest.raises(SettingsError, match="hybrid: crf 70 is outside 0..63"):
        EncodingAgent(EncodeOptions(strategy="hybrid", crf=70))
    with pytest.raises(SettingsError, match="x265: crf 60 is outside 0..51"):  # the base's own scale
        EncodingAgent(EncodeOptions(strategy="hybrid", crf=60, opts={"base": "x265"}))


def test_preset_grammar_is_an_alias_of_the_typed_options():
    s = get_strategy("hybrid")
    alias = s.resolve_options(StrategySettings(preset="x265:fast/scale=0.5/adapt=0"))
    typed = s.resolve_options(StrategySettings(options={"base": "x265", "base-preset": "fast", "scale": 0.5, "adapt": 0}))
    assert alias == typed == HybridOptions("x265", "fast", 0.5, 0)
    # An alias and an option may be combined; they must agree where both speak.
    assert s.resolve_options(StrategySettings(preset="av1:8", options={"adapt": "5"})) == HybridOptions("av1", "8", 1.0, 5)
    assert s.resolve_options(StrategySettings(preset="av1/scale=0.5", options={"scale": "0.50"})).scale == 0.5
    with pytest.raises(SettingsError, match="--preset sets scale=0.5, the options scale=1"):
        s.resolve_options(StrategySettings(preset="av1/scale=0.5", options={"scale": "1"}))
    x265 = get_strategy("x265")
    assert x265.resolve_options(StrategySettings(preset="slow")) == x265.resolve_options(
        StrategySettings(options={"preset": "slow"}))
    with pytest.raises(SettingsError, match="semantic_latent takes no preset"):
        get_strategy("semantic_latent").validate(StrategySettings(preset="fast"))


def test_stored_options_round_trip_and_old_params_still_read():
    s = get_strategy("i_frame_interpolation")
    settings = StrategySettings(crf=40, options={"gap": "3", "base-preset": "10"})
    params = s.describe(settings, 64, 64, 25)
    assert params == {"crf": 40, "opts": {"base-preset": "10", "gap": 3}}
    assert s.stored_options(params) == s.resolve_options(settings)
    old = {"crf": 40, "preset": "av1:10/gap=3/drop=3"}  # how release 0.1 wrote it
    assert s.stored_options(old) == s.resolve_options(settings)
    with pytest.raises(NcvFormatError, match="gap"):
        s.stored_options({"opts": {"gap": 99}})
    with pytest.raises(NcvFormatError, match="not a table"):
        get_strategy("hybrid").validate_params({"opts": [1]}, DecodeContext(64, 64, 1, {}))


def test_encoder_params_change_the_encode(det_frames):
    s = get_strategy("x265")
    plain = s.encode(det_frames, StrategySettings(crf=30, preset="fast"), 25)
    for opts in ({"aq-mode": 0}, {"psy-rd": 0}):
        assert s.encode(det_frames, StrategySettings(crf=30, preset="fast", options=opts), 25) != plain
    av1 = get_strategy("av1")
    settings = StrategySettings(crf=40, preset="12", options={"enable-qm": True, "qm-min": 2, "tune": 2, "lookahead": 0})
    payload = av1.encode(det_frames, settings, 25)
    w, h = det_frames[0].width, det_frames[0].height
    assert len(list(av1.decode(payload, DecodeContext(w, h, len(det_frames), {})))) == len(det_frames)


def test_cli_opt_reaches_the_segment_and_bad_ones_exit_2(small_clip, tmp_path):
    ncv = tmp_path / "a.ncv"
    res = CliRunner().invoke(cli, ["encode", str(small_clip), str(ncv), "-s", "x265", "--preset", "ultrafast",
                                   "--opt", "aq-mode=1", "--opt", "psy-rd=0", "--no-quality", "-q"])
    assert res.exit_code == 0, res.output
    with NcvReader(ncv) as reader:
        params = next(iter(reader.segments())).params
    assert params["opts"] == {"aq-mode": 1, "psy-rd": 0.0}
    assert params["options"]["x265-params"].endswith(":aq-mode=1:psy-rd=0")
    for bad, message in ((["--opt", "aq-mode"], "expected KEY=VALUE"), (["--opt", "aq-mode=9"], "use 0..4"),
                         (["--opt", "a=1", "--opt", "a=2"], "given twice")):
        res = CliRunner().invoke(cli, ["encode", str(small_clip), str(tmp_path / "b.ncv"), "-s", "x265", *bad])
        assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "b.ncv").exists()


def test_cli_strategies_lists_options_and_auto():
    res = CliRunner().invoke(cli, ["strategies", "hybrid", "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)
    assert (row["name"], row["id"], row["crf_range"]) == ("hybrid", 18, [0, 63])
    assert [o["key"] for o in row["options"]] == ["base", "base-preset", "scale", "adapt", "network", "light"]
    assert row["options"][3] == {"key": "adapt", "type": "int", "default": 200, "allowed": "0..2000",
                                 "help": row["options"][3]["help"]}
    ladder = [f"scale={s}/adapt=200/network=false" for s in ("0.75", "0.667", "0.5")]
    assert row["auto"]["presets"]["medium"] == [f"av1:4/{rung}" for rung in ladder]
    assert row["auto"]["presets"]["slow"] == [f"av1:2/{rung}" for rung in ladder]
    assert row["auto"]["trial_presets"]["slow"] == [f"av1:4/{rung}" for rung in ladder]
    res = CliRunner().invoke(cli, ["strategies"])
    assert res.exit_code == 0
    assert "x264 (id 1): crf 0..51; not tried by any auto effort" in res.output
    assert "av1 (id 3): crf 0..63; auto candidate (rank 1; every scene class; fast: 6 (trials 10)" in res.output
    assert "--opt enable-qm=<bool>" in res.output
    res = CliRunner().invoke(cli, ["strategies", "nonesuch"])
    assert res.exit_code == 2 and "unknown strategy 'nonesuch'" in res.output


class _Fake(Strategy):
    name = "test_capable"
    id = 0x4200
    crf_range = (0, 10)

    def encode(self, frames, settings, fps):
        return b""

    def decode(self, payload, ctx):
        return iter(())

    def describe(self, settings, width, height, fps):
        return {}

    def auto_capability(self):
        return AutoCapability(rank=0, crf_range=(0, 10), presets={"slow": ("a", "b")},
                              scene_classes=frozenset({"static"}), quality_points=((10, 40), (0, 10)))


def test_a_declared_capability_makes_a_plugin_an_auto_candidate(monkeypatch):
    from neurocodec.strategies import base

    monkeypatch.setitem(base._REGISTRY, _Fake.name, _Fake)
    cap = _Fake().auto_capability()
    assert [cap.crf_for_quality(q) for q in (0, 25, 99)] == [0, 5, 10]

    def names(effort, scene_class):
        agent = EncodingAgent(EncodeOptions(strategy="auto", preset=effort))
        return [(c.strategy, c.preset, c.crf_min, c.crf_max) for c in agent.candidates(Scene(0, 9, scene_class=scene_class))]

    assert names("slow", "static")[:2] == [("test_capable", "a", 0, 10), ("test_capable", "b", 0, 10)]
    assert "test_capable" not in [n for n, *_ in names("fast", "static")]
    assert "test_capable" not in [n for n, *_ in names("slow", "high_motion")]


def test_builtins_are_declared_as_entry_points():
    """Built-ins register as plugins do: each frozen id has an entry point naming its class."""
    from importlib.metadata import EntryPoint

    tomllib = pytest.importorskip("tomllib")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["neurocodec.strategies"]
    assert set(declared) == set(STRATEGY_IDS)
    for name, target in declared.items():
        cls = EntryPoint(name, target, "neurocodec.strategies").load()
        assert (cls.name, cls.id) == (name, STRATEGY_IDS[name])


def test_a_broken_plugin_only_warns(monkeypatch, caplog):
    import importlib.metadata as md

    from neurocodec.strategies import available_strategies, base

    good = md.EntryPoint("x264", "neurocodec.strategies.classical:X264", base.ENTRY_POINT_GROUP)
    broken = md.EntryPoint("broken", "neurocodec_no_such_module:Thing", base.ENTRY_POINT_GROUP)
    monkeypatch.setattr(base, "entry_points", lambda group=None: [good, broken] if group == base.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(base, "_entry_points_loaded", False)
    with caplog.at_level(logging.WARNING, logger="neurocodec.strategies.base"):
        assert "x264" in available_strategies()
    assert "could not load strategy plugin broken" in caplog.text


def test_a_strategy_without_a_quality_knob_is_refused_a_search_before_reading(monkeypatch, small_clip, tmp_path):
    import neurocodec
    from neurocodec.errors import SettingsError
    from neurocodec.strategies import classical

    monkeypatch.setattr(classical.X264, "auto_capability", lambda self: None)
    opened = []
    monkeypatch.setattr(neurocodec.api, "open_source", lambda *a, **k: opened.append(a) or 1 / 0)
    for kw in ({"quality": 30}, {"bitrate": "200k"}, {"target_psnr": 35}):
        with pytest.raises(SettingsError, match="x264 has no quality knob"):
            neurocodec.encode(small_clip, tmp_path / "o.ncv", strategy="x264", **kw)
    assert not opened
