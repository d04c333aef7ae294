"""Shot-boundary detection on clips made from photographs, with known cuts, fades and dissolves."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from neurocodec.analysis.scenes import Transition, split_scenes
from neurocodec.analysis.shots import DEFAULT_TUNING, ShotDetector, detect_transitions
from neurocodec.errors import SettingsError
from neurocodec.io.frame import Frame
from neurocodec.io.synthetic import pan_zoom

FPS = Fraction(25)
W, H = 128, 72


def clip(n, image, pan=(2.0, 1.0), zoom=0.0, scale=None, size=(W, H)):
    return list(pan_zoom(size[0], size[1], n, image=image, pan=pan, zoom=zoom, start_scale=scale))


def blend(f: Frame, g: Frame | None, a: float, level: int = 16) -> Frame:
    """``(1 - a) f + a g``; ``g`` None is a flat frame of luma ``level`` (16 black, 235 white)."""
    planes = []
    for k, p in enumerate(f.planes()):
        q = (level if k == 0 else 128) if g is None else g.planes()[k].astype(np.float32)
        planes.append(np.clip(np.rint((1 - a) * p.astype(np.float32) + a * q), 0, 255).astype(np.uint8))
    return Frame(*planes)


def cuts_of(transitions):
    return [t.frame for t in transitions if t.kind == "cut"]


def gradual_of(transitions):
    return [t for t in transitions if t.kind != "cut"]


@pytest.fixture(scope="module")
def shots():
    """Five shots, each moving differently (slow, fast pan and zoom, very fast pan, zoom out, diagonal)."""
    parts = [
        clip(14, "astronaut", (2, 1)),
        clip(12, "coffee", (-9, 3), -0.01),
        clip(11, "chelsea", (16, -5)),
        clip(13, "rocket", (0, 2), 0.015, 1.2),
        clip(10, "camera", (-4, -4)),
    ]
    frames = [f for p in parts for f in p]
    return frames, [14, 26, 37, 50]


@pytest.fixture(scope="module")
def through_black():
    """Shot A, a 10-frame fade to black, 5 black frames, a 10-frame fade in to shot B."""
    a, b = clip(25, "astronaut", (3, 1)), clip(25, "coffee", (-2, 1))
    frames = a[:15] + [blend(a[15 + k], None, (k + 1) / 11) for k in range(10)]
    frames += [blend(a[0], None, 1.0)] * 5
    frames += [blend(b[k], None, 1 - (k + 1) / 11) for k in range(10)] + b[10:]
    return frames


@pytest.fixture(scope="module")
def dissolve():
    """Shot A, a 12-frame linear cross-fade while both shots keep moving, shot B."""
    a, b = clip(27, "chelsea", (1.5, 0.5)), clip(27, "rocket", (-1, 1), -0.003)
    return a[:15] + [blend(a[15 + k], b[k], (k + 1) / 13) for k in range(12)] + b[12:]


# --------------------------------------------------------------------------- hard cuts


@pytest.mark.parametrize("method", ["both", "own"])
def test_cuts_between_shots_are_exact(shots, method):
    frames, truth = shots
    found = detect_transitions(frames, FPS, cut_method=method)
    assert cuts_of(found) == truth
    assert not gradual_of(found)
    assert all(t.length == 0 and t.score > 0 for t in found)


def test_scdet_alone_misses_the_cut_out_of_a_fast_pan(shots):
    # scdet scores a frame's change minus the previous frame's, and the very fast pan before
    # frame 37 changes almost as much as the cut; the default's decisive own score covers it.
    frames, truth = shots
    assert cuts_of(detect_transitions(frames, FPS, cut_method="scdet")) == [14, 26, 50]
    assert cuts_of(detect_transitions(frames, FPS, cut_method="scdet", scdet_input="full")) == [14, 26, 50]


def test_default_uses_both_detectors_on_a_thumbnail():
    assert DEFAULT_TUNING["cut_method"] == "both" and DEFAULT_TUNING["scdet_input"] == "thumb"


@pytest.mark.parametrize(
    "image,pan,zoom,scale",
    [
        ("astronaut", (2.0, 1.0), 0.0, None),  # slow pan
        ("coffee", (24.0, 9.0), -0.01, None),  # fast pan and zoom in, bouncing off the picture's edges
        ("chelsea", (-40.0, 0.0), 0.0, 1.0),  # very fast pan: 31 % of the width per frame, reversing every 8 frames
        ("chelsea", (-40.0, 0.0), 0.0, None),  # violent shake: 10 % of the width per frame, reversing every other frame
        ("camera", (0.0, 0.0), 0.02, 1.0),  # fast zoom out
    ],
)
def test_no_transition_in_one_continuous_shot(image, pan, zoom, scale):
    frames = clip(60, image, pan, zoom, scale)
    assert detect_transitions(frames, FPS) == []


def test_min_scene_rule_drops_cuts_close_to_the_previous_one():
    # Shots of 12, 3, 5 and 12 frames: with the default minimum (10 frames at 25 fps)
    # the cut at 15 is within 10 frames of the cut at 12, and 20 within 10 of 12.
    parts = [clip(12, "astronaut"), clip(3, "coffee"), clip(5, "camera"), clip(12, "chelsea")]
    frames = [f for p in parts for f in p]
    assert cuts_of(detect_transitions(frames, FPS)) == [12]
    assert cuts_of(detect_transitions(frames, FPS, min_scene_frames=3)) == [12, 15, 20]
    assert cuts_of(detect_transitions(frames, FPS, min_scene_frames=4)) == [12, 20]


def test_default_minimum_scene_is_0_4_seconds_and_at_least_4_frames():
    assert ShotDetector(Fraction(25)).min_scene_frames == 10
    assert ShotDetector(Fraction(60000, 1001)).min_scene_frames == 24
    assert ShotDetector(Fraction(5)).min_scene_frames == 4


# --------------------------------------------------------------------------- gradual transitions


def test_fade_out_and_in_through_black(through_black):
    found = detect_transitions(through_black, FPS)
    assert cuts_of(found) == []
    fades = gradual_of(found)
    assert [t.kind for t in fades] == ["fade", "fade"]
    out, into = fades
    assert abs(out.frame - 15) <= 2 and abs(out.frame + out.length - 25) <= 2
    assert abs(into.frame - 30) <= 2 and abs(into.frame + into.length - 40) <= 2


def test_linear_dissolve(dissolve):
    found = detect_transitions(dissolve, FPS)
    assert len(found) == 1
    (t,) = found
    assert t.kind == "dissolve"
    assert abs(t.frame - 15) <= 2 and abs(t.length - 12) <= 2


def test_short_dissolve_is_not_a_cut():
    a, b = clip(20, "coffee", (1, 1)), clip(20, "astronaut", (-1, 0))
    frames = a[:12] + [blend(a[12 + k], b[k], (k + 1) / 5) for k in range(4)] + b[4:]
    found = detect_transitions(frames, FPS)
    assert [t.kind for t in found] == ["dissolve"]
    assert abs(found[0].frame - 12) <= 2 and abs(found[0].length - 4) <= 2


def test_fade_to_white():
    a, b = clip(20, "camera", (1, 2)), clip(20, "chelsea", (2, 0))
    frames = a[:12] + [blend(a[12 + k], None, (k + 1) / 9, level=235) for k in range(8)]
    frames += [blend(b[k], None, 1 - (k + 1) / 9, level=235) for k in range(8)] + b[8:]
    fades = gradual_of(detect_transitions(frames, FPS))
    assert [t.kind for t in fades] == ["fade", "fade"]
    assert abs(fades[0].frame - 12) <= 2 and abs(fades[1].frame - 20) <= 2


def test_fade_out_at_the_end_of_the_clip_runs_to_the_end():
    a = clip(40, "rocket", (1, 1), 0.0, 1.2)
    frames = a[:25] + [blend(a[25 + k], None, (k + 1) / 16) for k in range(15)]
    found = detect_transitions(frames, FPS)
    assert len(found) == 1
    (t,) = found
    assert t.kind == "fade" and abs(t.frame - 25) <= 2 and t.frame + t.length == len(frames)
    # The pipeline turns a long enough fade into a scene of its own.
    scenes = split_scenes(found, len(frames), min_frames=10, max_frames=100)
    assert [(s.start_frame, s.transition) for s in scenes] == [(0, "start"), (t.frame, "fade")]


def test_unfinished_fade_at_the_end_is_still_a_fade():
    # The clip ends while the picture is only half as bright: no flat frame at all.
    a = clip(36, "astronaut", (1, 0))
    frames = a[:24] + [blend(a[24 + k], None, 0.5 * (k + 1) / 12) for k in range(12)]
    found = detect_transitions(frames, FPS)
    assert [(t.kind, t.frame + t.length) for t in found] == [("fade", 36)]
    assert abs(found[0].frame - 24) <= 2


def test_brightness_drift_within_one_picture_is_not_a_transition():
    a = clip(40, "coffee", (1, 0))
    frames = a[:10] + [blend(a[10 + k], None, 0.3 * (k + 1) / 20, level=235) for k in range(20)]
    frames += [blend(f, None, 0.3, level=235) for f in a[30:]]
    assert detect_transitions(frames, FPS) == []


# --------------------------------------------------------------------------- API


def test_push_and_finish_match_detect_transitions(shots, dissolve):
    frames = shots[0] + dissolve
    det = ShotDetector(FPS)
    for f in frames:
        det.push(f)
    found = det.finish()
    assert found == detect_transitions(frames, FPS)
    assert found == sorted(found, key=lambda t: t.frame)
    assert [t.kind for t in found] == ["cut"] * 5 + ["dissolve"]
    assert all(isinstance(t, Transition) for t in found)
    assert det.finish() == found  # finish() may be called again
    with pytest.raises(RuntimeError):
        det.push(frames[0])


def test_memory_does_not_grow_with_the_video():
    rng = np.random.default_rng(1)
    det = ShotDetector(FPS, min_scene_frames=1)
    cap = det._max_len + 40
    for i in range(1500):
        # A new random picture every other frame: a cut candidate every other frame.
        if i % 2 == 0:
            y = rng.integers(0, 256, (18, 32), dtype=np.uint8)
        det.push(Frame(y, np.full((9, 16), 128, np.uint8), np.full((9, 16), 128, np.uint8)))
        assert len(det._candidates) <= cap and len(det._ring.buf) <= cap and len(det._scores) <= 8
    assert len(det.finish()) > 500


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (33, 17), (500, 3)])
def test_tiny_and_odd_frames(size):
    w, h = size
    cw, ch = (w + 1) // 2, (h + 1) // 2
    rng = np.random.default_rng(0)
    frames = [
        Frame(rng.integers(0, 256, (h, w), dtype=np.uint8), np.full((ch, cw), 128, np.uint8),
              np.full((ch, cw), 128, np.uint8))
        for _ in range(30)
    ]
    found = detect_transitions(frames, FPS)
    assert all(0 < t.frame < 30 for t in found)


def test_short_clips():
    frames = clip(3, "astronaut") + clip(2, "coffee")
    for n in range(len(frames) + 1):
        assert all(0 < t.frame < n for t in detect_transitions(frames[:n], FPS))


def test_bad_settings_and_inputs():
    with pytest.raises(SettingsError, match="unknown"):
        ShotDetector(FPS, treshold=3)
    with pytest.raises(SettingsError, match="cut_method"):
        ShotDetector(FPS, cut_method="magic")
    with pytest.raises(SettingsError):
        ShotDetector(Fraction(0))
    det = ShotDetector(FPS)
    det.push(clip(1, "astronaut")[0])
    with pytest.raises(SettingsError, match="earlier frames"):
        det.push(clip(1, "astronaut", size=(64, 36))[0])
