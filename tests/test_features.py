"""Scene features and the rule-based scene classifier, on synthetic clips."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import cv2
import numpy as np
import pytest

from neurocodec.analysis.classify import CLASSES, THRESHOLDS, classify, explain
from neurocodec.analysis.features import FEATURE_NAMES, FeatureExtractor
from neurocodec.io.frame import Frame, chroma_size
from neurocodec.io.synthetic import pan_zoom

FPS = Fraction(25)


def gray(y: np.ndarray) -> Frame:
    """A frame with the given luma and neutral chroma."""
    cw, ch = chroma_size(y.shape[1], y.shape[0])
    chroma = np.full((ch, cw), 128, np.uint8)
    return Frame(np.ascontiguousarray(y, dtype=np.uint8), chroma, chroma.copy())


def features(frames, **kw) -> dict[str, float]:
    fx = FeatureExtractor(FPS, **kw)
    for f in frames:
        fx.push(f)
    return fx.scene_features(0, len(fx))


def test_still_clip_is_static():
    f = features(pan_zoom(320, 180, 10, image="coffee", pan=(0.0, 0.0)))
    assert set(f) == set(FEATURE_NAMES)
    assert all(isinstance(v, float) for v in f.values())
    assert f["motion_mean"] < 0.05
    assert f["motion_coverage"] < 0.01
    assert f["temporal_diff"] < 0.5
    assert f["spatial_complexity"] > 1.0
    assert classify(f) == "static"


def test_slow_pan_is_global_motion_in_percent_of_width():
    # 2 source px per frame at 1 source px per output px: 2 px of 320 = 0.625 % of the width per frame.
    f = features(pan_zoom(320, 180, 10, pan=(2.0, 0.0), start_scale=1.0))
    assert f["motion_mean"] == pytest.approx(0.625, rel=0.15)
    assert f["motion_global"] == pytest.approx(0.625, rel=0.15)
    assert f["motion_global"] > 4 * f["motion_local"]
    assert f["motion_coverage"] > 0.5
    assert classify(f) == "moderate_motion"


def test_motion_is_resolution_independent():
    # The same view of the photograph at twice the resolution moves twice the pixels: same percent.
    small = features(pan_zoom(320, 180, 8, pan=(2.0, 1.0), start_scale=1.0))
    large = features(pan_zoom(640, 360, 8, pan=(2.0, 1.0), start_scale=0.5))
    assert large["motion_mean"] == pytest.approx(small["motion_mean"], rel=0.1)
    assert large["motion_global"] == pytest.approx(small["motion_global"], rel=0.1)
    # Also when the analysis scale differs from the frame size in the other direction.
    wide = features(pan_zoom(320, 180, 8, pan=(2.0, 1.0), start_scale=1.0), analysis_width=160)
    assert wide["motion_mean"] == pytest.approx(small["motion_mean"], rel=0.15)


def test_fast_pan_and_zoom_is_high_motion():
    f = features(pan_zoom(320, 180, 10, pan=(8.0, 3.0), zoom=-0.01, start_scale=1.0))
    assert f["motion_mean"] > 2.0
    assert classify(f) == "high_motion"


def _moving_square(frames: int, step: int) -> list[Frame]:
    rng = np.random.default_rng(1)
    background = next(pan_zoom(320, 180, 1, image="coffee", pan=(0.0, 0.0))).y
    patch = cv2.GaussianBlur(rng.integers(0, 256, (64, 64), dtype=np.uint8), (3, 3), 0)
    out = []
    for i in range(frames):
        y = background.copy()
        x = 20 + step * i
        y[60:124, x : x + 64] = patch
        out.append(gray(y))
    return out


def test_local_object_on_still_background_is_local_motion():
    f = features(_moving_square(10, 6))
    assert f["motion_local"] > 2 * f["motion_global"]
    assert f["motion_local_coverage"] > 0.02
    # The square covers ~7 % of the picture: most of it stays still.
    assert f["motion_coverage"] < 0.2
    assert f["motion_p95"] > 1.0  # 6 px of 320 = 1.9 % per frame


def test_fade_to_black():
    still = next(pan_zoom(320, 180, 1, pan=(0.0, 0.0))).y.astype(np.float64)
    frames = [gray(np.round(16 + (still - 16) * (1 - i / 19))) for i in range(20)]
    f = features(frames)
    assert f["luma_slope"] < -2.0
    assert f["luma_range"] > 50
    assert f["fade_ratio"] > 0.8
    assert f["luma_trend_r2"] > 0.95
    assert classify(f) == "fade"


def _text_page(shift: int = 0) -> np.ndarray:
    page = np.full((360, 640), 235, np.uint8)
    cv2.rectangle(page, (0, 0), (639, 40), 60, thickness=-1)  # a title bar
    for line in range(8):
        cv2.putText(
            page, f"Line {line}: the quick brown fox 0123", (20, 80 + 34 * line - shift),
            cv2.FONT_HERSHEY_SIMPLEX, 0.8, 16, 2, cv2.LINE_8,
        )
    return page


def test_flat_page_with_sharp_text_is_screen_content():
    f = features([gray(_text_page(i // 4)) for i in range(12)])
    assert f["flat_blocks"] > 0.3
    assert f["level_concentration"] > 0.7
    assert f["sharp_edges"] > 0.3
    assert classify(f) == "screen_content"
    # A photograph is not.
    photo = features(pan_zoom(320, 180, 4, pan=(0.0, 0.0)))
    assert photo["flat_blocks"] < 0.05 and photo["sharp_edges"] < 0.2
    assert classify(photo) != "screen_content"


def test_letterbox_bars_do_not_look_like_screen_content():
    frames = []
    for f in pan_zoom(320, 136, 6, pan=(0.0, 0.0), image="chelsea"):
        y = np.full((180, 320), 16, np.uint8)
        y[22:158] = f.y
        frames.append(gray(y))
    f = features(frames)
    assert f["flat_blocks"] < 0.05
    assert classify(f) != "screen_content"


def test_still_face_is_talking_head():
    # The astronaut photograph shows a face large enough for the Haar cascade.
    f = features(pan_zoom(320, 320, 16, pan=(0.0, 0.0), start_scale=1.6))
    assert f["face_presence"] == 1.0
    assert f["face_area"] > 0.02
    assert classify(f) == "talking_head"


def test_features_are_deterministic():
    frames = list(pan_zoom(320, 180, 12, pan=(3.0, 1.0), zoom=-0.005, start_scale=1.0))
    assert features(frames) == features(frames)


def test_scenes_do_not_see_across_a_cut():
    a = list(pan_zoom(160, 96, 5, image="coffee", pan=(0.0, 0.0)))
    b = list(pan_zoom(160, 96, 5, image="rocket", pan=(0.0, 0.0)))
    fx = FeatureExtractor(FPS)
    for f in a + b:
        fx.push(f)
    assert fx.scene_features(0, 10)["temporal_diff"] > 5
    for start, end in ((0, 5), (5, 10)):
        f = fx.scene_features(start, end)
        assert f["temporal_diff"] < 0.5 and f["motion_mean"] < 0.05
        assert f["frames"] == 5.0 and f["duration_s"] == pytest.approx(0.2)
    one = fx.scene_features(7, 8)
    assert one["motion_mean"] == 0.0 and one["luma_slope"] == 0.0 and classify(one) == "static"
    with pytest.raises(ValueError):
        fx.scene_features(5, 5)
    with pytest.raises(ValueError):
        fx.scene_features(0, 11)


@pytest.mark.parametrize("size", [(16, 16), (75, 47), (8, 300), (300, 8), (1, 1)])
def test_odd_and_tiny_sizes(size):
    w, h = size
    rng = np.random.default_rng(0)
    frames = [gray(rng.integers(0, 256, (h, w), dtype=np.uint8)) for _ in range(3)]
    f = features(frames)
    assert all(np.isfinite(v) for v in f.values())
    assert classify(f) in CLASSES


def test_size_change_is_refused():
    fx = FeatureExtractor(FPS)
    fx.push(gray(np.zeros((32, 32), np.uint8)))
    with pytest.raises(ValueError, match="size changed"):
        fx.push(gray(np.zeros((32, 48), np.uint8)))


def test_memory_does_not_grow_with_frames():
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, (240, 320), dtype=np.uint8)
    frames = [gray(np.roll(base, i, axis=1)) for i in range(8)]
    fx = FeatureExtractor(FPS)
    tracemalloc.start()
    try:
        for i in range(40):
            fx.push(frames[i % 8])
        before = tracemalloc.get_traced_memory()[0]
        for i in range(400):
            fx.push(frames[i % 8])
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 15 doubles a frame are kept (120 bytes); a frame's luma alone is 76,800 bytes.
    assert grown < 400 * 300, f"grew {grown} bytes over 400 frames"
    held = sum(v.nbytes for v in vars(fx).values() if isinstance(v, np.ndarray))
    # Only the previous downscaled frame and its gradient (plus the fixed flow grid) are kept.
    assert held < 8 * 320 * 240
    assert len(fx) == 440


def test_classify_checks_its_input():
    f = features(pan_zoom(96, 64, 3, pan=(0.0, 0.0)))
    assert explain(f)[0] == classify(f)
    with pytest.raises(ValueError, match="lack"):
        classify({"motion_mean": 1.0})
    with pytest.raises(ValueError, match="unknown thresholds"):
        classify(f, thresholds={"NOT_A_THRESHOLD": 1.0})
    # Overrides work: with an impossible static bar, a still clip is no longer static.
    assert classify(f, thresholds={"STATIC_MOTION": -1.0, "STATIC_COVERAGE": -1.0}) == "moderate_motion"
    assert set(THRESHOLDS) >= {"HIGH_MOTION", "STATIC_MOTION", "SCREEN_MIN_FLAT", "FADE_MIN_RATIO"}
    assert CLASSES == ("static", "talking_head", "moderate_motion", "high_motion", "fade", "screen_content")


def test_an_opencv_without_face_detector_gives_zero_face_features_and_one_warning(monkeypatch, caplog):
    """OpenCV 5 has no CascadeClassifier (neurocodec pins < 4.12): analysis goes on without faces, warning once."""
    from neurocodec.analysis import features

    monkeypatch.delattr(features.cv2, "CascadeClassifier")
    monkeypatch.setattr(features, "_face_cascade", None)
    import numpy as np

    small = np.full((120, 160), 128, np.uint8)
    with caplog.at_level("WARNING", logger=features.log.name):
        assert features._faces(small) == {"face": 0.0, "face_area": 0.0}
        assert features._faces(small) == {"face": 0.0, "face_area": 0.0}
    assert sum("no face detector" in r.getMessage() for r in caplog.records) == 1
