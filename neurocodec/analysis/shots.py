"""Shot-boundary detection in one streaming pass: hard cuts, fades and dissolves.

:class:`ShotDetector` reduces every frame to luma thumbnails (:mod:`.thumbs`)
and feeds them to the cut detector (:mod:`.cuts`, with FFmpeg's ``scdet``
through :mod:`.scdet`) and the gradual-transition detector (:mod:`.gradual`);
a cut inside a gradual transition, or closer than ``min_scene_frames`` to the
previous cut, is dropped. The thresholds are a :class:`ShotTuning`
(:mod:`.shot_tuning`). Only a few numbers per frame and a ring of the last few
seconds of thumbnails are kept, so memory does not grow with the video; the
cost per frame hardly depends on the resolution (about 1 ms for 720p on one
core). docs/scene-detection.md has the method and the measurements.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from fractions import Fraction

from ..errors import SettingsError
from ..io.frame import Frame
from .cuts import CutDetector
from .gradual import GradualDetector
from .scenes import Transition
from .shot_tuning import DEFAULT_TUNING, ShotTuning
from .thumbs import ThumbRing, block_mean, block_size, small_thumbnail

__all__ = ["ShotDetector", "ShotTuning", "DEFAULT_TUNING", "detect_transitions"]

log = logging.getLogger(__name__)

def detect_transitions(
    frames: Iterable[Frame],
    fps: Fraction,
    *,
    min_scene_frames: int | None = None,
    tuning: ShotTuning | None = None,
    **overrides: object,
) -> list[Transition]:
    """Run a :class:`ShotDetector` over ``frames`` and return its transitions (arguments as there)."""
    det = ShotDetector(fps, min_scene_frames=min_scene_frames, tuning=tuning, **overrides)
    for f in frames:
        det.push(f)
    return det.finish()


class ShotDetector:
    """Streaming shot-boundary detector.

    Args:
        fps: Frame rate (sets the default minimum scene length and the longest gradual transition).
        min_scene_frames: A cut closer than this to the previous cut is dropped
            (default ``max(4, round(0.4 * fps))``).
        tuning: The thresholds (default ``ShotTuning()``).
        **overrides: Settings of :class:`ShotTuning` to change, e.g. ``cut_method="own"``.

    Raises:
        SettingsError: A bad frame rate, minimum scene length or setting.

    Call :meth:`push` once per frame in display order, then :meth:`finish`.
    """

    def __init__(
        self,
        fps: Fraction,
        *,
        min_scene_frames: int | None = None,
        tuning: ShotTuning | None = None,
        **overrides: object,
    ):
        fps = Fraction(fps)
        if fps <= 0:
            raise SettingsError(f"frame rate must be positive, got {fps}")
        tuning = ShotTuning() if tuning is None else tuning
        if overrides:
            tuning = tuning.replace(**overrides)
        if min_scene_frames is None:
            min_scene_frames = max(4, round(float(fps) * 0.4))
        if int(min_scene_frames) < 1:
            raise SettingsError(f"min_scene_frames must be at least 1, got {min_scene_frames}")
        self.fps = fps
        self.tuning = tuning
        self.min_scene_frames = int(min_scene_frames)
        self._n = 0
        self._size: tuple[int, int] | None = None
        self._block = 1
        self._cut = CutDetector(fps, tuning, self.min_scene_frames)
        self._grad = GradualDetector(fps, tuning) if tuning.gradual else None
        self._result: list[Transition] | None = None

    def push(self, frame: Frame) -> None:
        """Feed the next frame (display order).

        Raises:
            SettingsError: The frame's size differs from the first frame's.
            RuntimeError: :meth:`finish` was called already.
        """
        if self._result is not None:
            raise RuntimeError("ShotDetector.push() after finish()")
        if self._size is None:
            self._size = (frame.width, frame.height)
            self._block = block_size(frame.width, self.tuning.analysis_width)
        elif (frame.width, frame.height) != self._size:
            raise SettingsError(
                f"frame {self._n} is {frame.width}x{frame.height}, "
                f"earlier frames were {self._size[0]}x{self._size[1]}"
            )
        thumb = block_mean(frame.y, self._block)
        small = small_thumbnail(thumb)
        self._cut.push(frame, thumb, small)
        if self._grad is not None:
            self._grad.push(small, float(thumb.std()))
            self._cut.finalize(self._grad.settled, self._grad.transitions)
        else:
            self._cut.finalize(self._n, ())
        self._n += 1

    def finish(self) -> list[Transition]:
        """Flush the look-ahead and return all transitions, sorted by frame (later calls return the same)."""
        if self._result is not None:
            return list(self._result)
        self._cut.finish()
        gradual: list[Transition] = []
        if self._grad is not None:
            self._grad.finish()
            gradual = self._grad.transitions
        self._cut.finalize(self._n - 1, gradual)
        self._result = sorted(self._cut.cuts + gradual, key=lambda t: (t.frame, t.kind))
        log.debug("shot detection: %d frames, %d cuts, %d gradual", self._n, len(self._cut.cuts), len(gradual))
        return list(self._result)

    # -- the parts' buffers, whose sizes bound the memory (tests/test_shots.py checks them) --

    @property
    def _max_len(self) -> int:
        return self._grad.max_len

    @property
    def _ring(self) -> ThumbRing | None:
        return self._grad.ring if self._grad is not None else None

    @property
    def _candidates(self) -> deque:
        return self._cut.candidates

    @property
    def _scores(self) -> deque:
        return self._cut.scores
