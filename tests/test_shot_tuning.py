"""The shot detector's typed tuning: defaults, validation, overrides."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from neurocodec.analysis.shot_tuning import DEFAULT_TUNING, ShotTuning
from neurocodec.analysis.shots import ShotDetector, detect_transitions
from neurocodec.errors import SettingsError
from neurocodec.io.synthetic import pan_zoom

FPS = Fraction(25)


def test_defaults_are_the_documented_ones_and_read_only():
    t = ShotTuning()
    assert DEFAULT_TUNING == dataclasses.asdict(t)
    assert (t.cut_method, t.scdet_input, t.analysis_width, t.search) == ("both", "thumb", 160, 3)
    assert (t.cut_threshold, t.cut_ratio, t.tonal_threshold, t.tonal_ratio) == (12.0, 2.5, 8.0, 10.0)
    with pytest.raises(TypeError):
        DEFAULT_TUNING["cut_method"] = "own"
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.cut_ratio = 3.0


@pytest.mark.parametrize(
    "name,value",
    [
        ("cut_method", "magic"),
        ("scdet_input", "half"),
        ("analysis_width", 0),
        ("search", -1),
        ("search", 1.5),
        ("gradual_min_frames", 0),
        ("cut_ratio", float("nan")),
        ("cut_threshold", -1.0),
        ("tonal_ratio", float("inf")),
        ("scdet_threshold", True),
        ("flat_std", "4"),
        ("gradual_max_seconds", 0.0),
        ("gradual", 1),
        ("gradual_scales", []),
        ("gradual_scales", [2, 0]),
        ("gradual_scales", "248"),
        ("gradual_scales", [2.5]),
    ],
)
def test_bad_values_name_the_setting(name, value):
    with pytest.raises(SettingsError, match=name):
        ShotTuning(**{name: value})


def test_values_are_stored_with_their_types():
    t = ShotTuning(cut_threshold=12, gradual_scales=[8, 2, 2])
    assert isinstance(t.cut_threshold, float) and t.cut_threshold == 12.0
    assert t.gradual_scales == (2, 8) and hash(t) == hash(ShotTuning(cut_threshold=12.0, gradual_scales=(2, 8)))


def test_scales_and_longest_transition_follow_the_frame_rate():
    t = ShotTuning()
    assert t.scales(FPS) == (2, 4, 8) and t.max_gradual_frames(FPS) == 125
    assert t.scales(Fraction(60000, 1001)) == (2, 4, 8, 19)
    assert ShotTuning(gradual_scales=(3,)).scales(Fraction(60)) == (3,)
    assert ShotTuning(gradual_min_frames=200).max_gradual_frames(FPS) == 200


def test_replace_checks_names_and_values():
    t = ShotTuning()
    assert t.replace(cut_method="own") == ShotTuning(cut_method="own") and t.cut_method == "both"
    with pytest.raises(SettingsError, match="unknown shot-detector setting.*treshold"):
        t.replace(treshold=3)
    with pytest.raises(SettingsError, match="search"):
        t.replace(search=-2)


def test_a_tuning_and_keyword_overrides_give_the_same_detector():
    frames = list(pan_zoom(128, 72, 14, image="astronaut", pan=(2, 1)))
    frames += list(pan_zoom(128, 72, 14, image="coffee", pan=(-9, 3), zoom=-0.01))
    by_keywords = detect_transitions(frames, FPS, cut_method="scdet", scdet_input="full")
    assert [t.frame for t in by_keywords] == [14]
    assert detect_transitions(frames, FPS, tuning=ShotTuning(cut_method="scdet", scdet_input="full")) == by_keywords
    # Keywords change the given tuning.
    assert detect_transitions(frames, FPS, tuning=ShotTuning(cut_method="scdet"), scdet_input="full") == by_keywords
    assert ShotDetector(FPS, tuning=ShotTuning(search=0), cut_ratio=3).tuning == ShotTuning(search=0, cut_ratio=3.0)
