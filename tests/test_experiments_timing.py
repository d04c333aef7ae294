"""How a study times its anchor, and which trial export picks when validation re-times it."""

from __future__ import annotations

from types import SimpleNamespace

from neurocodec.experiments.anchor import TIMING_RUNS, ensure_anchor
from neurocodec.experiments.evaluate import PreparedClip
from neurocodec.experiments.export import choose_trial
from neurocodec.experiments.study import TrialRecord


class _Study:
    """The slice of Experiment that ensure_anchor uses."""

    def __init__(self):
        self.space = SimpleNamespace(anchor=SimpleNamespace(strategy="av1", preset="6", options={},
                                                            describe=lambda: "av1 preset 6"),
                                     points=4, metric="psnr_yuv")
        self.curves, self.seconds = {}, {}

    def anchor_curve(self, clip):
        return self.curves.get(clip)

    def anchor_seconds(self, host, clip):
        return self.seconds.get((host, clip))

    def store_anchor(self, host, clip, points, seconds):
        self.curves.setdefault(clip, points)
        self.seconds[(host, clip)] = seconds


def test_anchor_time_is_the_median_of_rounds_so_one_disturbed_run_does_not_shift_a_study():
    clips = (PreparedClip("a", "a.y4m"), PreparedClip("b", "b.y4m"))
    timings = iter([1.0, 2.0, 9.0, 2.2, 1.1, 2.1])  # round 1 (a, b), round 2, round 3: a's second run disturbed
    calls = []

    def run(jobs):
        calls.append([j.clip.name for j in jobs])
        return [{"clip": j.clip.name, "points": [{"bitrate_kbps": 1.0}], "encode_seconds": next(timings)} for j in jobs]

    study = _Study()
    anchors, measured = ensure_anchor(study, clips, "host", run)
    assert calls == [["a", "b"] * TIMING_RUNS] and measured == 2
    assert (anchors["a"]["seconds"], anchors["b"]["seconds"]) == (1.1, 2.1)
    assert ensure_anchor(study, clips, "host", run)[1] == 0  # measured once per host


def _record(number, bd, t, val=None):
    return TrialRecord(number, "COMPLETE", {}, (bd,), {"bd_rate": bd, "time_multiple": t}, t <= 1.0,
                       None if val is None else {"bd_rate": val[0], "time_multiple": val[1]}, {})


def test_export_prefers_a_trial_that_stayed_within_the_ceiling_on_validation():
    fast_on_search_only = _record(1, -4.0, 0.95, (-6.0, 1.4))
    honest = _record(2, -2.0, 0.9, (-1.5, 0.97))
    unvalidated = _record(3, -5.0, 0.99)
    assert choose_trial([fast_on_search_only, honest, unvalidated], 1.0).number == 2
    # With no validated trial within the ceiling, the best validated one is kept (its provenance says so).
    assert choose_trial([fast_on_search_only, unvalidated], 1.0).number == 1
    assert choose_trial([unvalidated], 1.0).number == 3


def test_an_exported_auto_trial_is_its_effort_whole_and_loads_as_the_shipped_file_would():
    from neurocodec.codec_config import auto_preset, parse_config
    from neurocodec.experiments.export import export_config
    from neurocodec.experiments.space import Space

    trial = TrialRecord(4, "COMPLETE", {"strategy": "auto", "preset": "slow", "probe-window": 8}, (-1.0,),
                        {"bd_rate": -1.0, "time_multiple": 0.9}, True, None, {})
    space = SimpleNamespace(config_of=lambda p: Space.config_of(None, p), metric="psnr_yuv", objective="constrained",
                            max_time_multiple=1.0, anchor=SimpleNamespace(describe=lambda: "av1 preset 2"),
                            points=4, frames=16, frame_step=2)
    exp = SimpleNamespace(records=lambda: [trial], space=space, clips=[{"name": "a"}], validation_clips=[])
    config, record = export_config(exp, "auto-slow", None)
    shipped = auto_preset("slow").options
    assert record.number == 4 and config.preset == "slow"
    assert dict(config.options) == dict(shipped) | {"probe-window": 8}
    assert config.provenance["searched"] == ["probe-window"]
    again = parse_config(config.to_toml(), "exported.toml")
    assert dict(again.options) == dict(config.options)
