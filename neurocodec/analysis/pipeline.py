"""One analysis pass over a video: shot boundaries, scene features, scene classes."""

from __future__ import annotations

import logging
import time
from fractions import Fraction

from ..errors import InputError
from ..io.readers import VideoSource
from .classify import classify
from .scenes import Scene, split_scenes
from .shot_tuning import ShotTuning
from .shots import ShotDetector

__all__ = ["AnalysisConfig", "analyze", "describe_scenes"]

log = logging.getLogger(__name__)


class AnalysisConfig:
    """Scene length limits in frames, and the shot detector's thresholds (None: its defaults)."""

    def __init__(self, *, min_frames: int, max_frames: int, tuning: ShotTuning | None = None):
        if not 1 <= min_frames <= max_frames:
            raise ValueError(f"need 1 <= min_frames ({min_frames}) <= max_frames ({max_frames})")
        self.min_frames = min_frames
        self.max_frames = max_frames
        self.tuning = tuning


def analyze(
    source: VideoSource, config: AnalysisConfig, *, scenes: list[Scene] | None = None, fixed_frames: int | None = None
) -> list[Scene]:
    """Detect scenes (unless given, or ``fixed_frames`` asks for fixed-length ones), then compute
    each scene's features and class in the same pass."""
    from .features import FeatureExtractor  # heavy: it imports OpenCV

    t0 = time.perf_counter()
    fps = Fraction(source.info.fps)
    features = FeatureExtractor(fps)
    detect = scenes is None and fixed_frames is None
    detector = ShotDetector(fps, min_scene_frames=config.min_frames, tuning=config.tuning) if detect else None
    total = 0
    for frame in source.frames():
        features.push(frame)
        if detector is not None:
            detector.push(frame)
        total += 1
    if detect:
        scenes = split_scenes(detector.finish(), total, min_frames=config.min_frames, max_frames=config.max_frames)
    elif scenes is None:
        scenes = [Scene(a, min(a + fixed_frames, total), "split") for a in range(0, total, fixed_frames)]
    elif scenes and scenes[-1].end_frame != total:
        raise InputError(f"the scene list covers {scenes[-1].end_frame} frames but the video has {total}")
    for s in scenes:
        if not s.features:
            s.features = features.scene_features(s.start_frame, s.end_frame)
        if s.scene_class is None:
            s.scene_class = classify(s.features)
    log.info("analysis: %d frames, %d scenes in %.1f s", total, len(scenes), time.perf_counter() - t0)
    return scenes


def describe_scenes(scenes: list[Scene]) -> str:
    return ", ".join(f"{s.start_frame}-{s.end_frame}:{s.scene_class}" for s in scenes)
