"""Hard-cut detection: per-frame change scores, the cut tests on them, and the final cut list.

Three scores per frame ``i`` (against frame ``i - 1``):

* *our score*: the smallest mean absolute luma difference between the small
  thumbnails of the two frames, one shifted by up to ``search`` pixels (a pan
  of a few per cent of the width per frame costs nothing);
* *the tonal change*: the mean absolute difference between the sorted luma
  values of the two small thumbnails halved once more (the distance between
  their histograms), which ignores where pixels are, so a pan over fine texture
  that no shift compensates hardly changes it;
* *scdet's score* (:mod:`.scdet`), a frame's change against the previous
  frame's.

A score counts relative to its *local level*: the larger of the median score
of the :data:`PAST` frames before and the smaller score of the :data:`AHEAD`
frames after. Steady fast motion raises the level with the score, and the
look-ahead rejects motion that starts abruptly (the next frames keep changing
as much). Which scores make a cut is :attr:`ShotTuning.cut_method
<neurocodec.analysis.shot_tuning.ShotTuning.cut_method>`; the rules are in
:meth:`CutDetector._decide` and docs/scene-detection.md.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from ..io.frame import Frame
from .motion import shift_mad
from .scdet import Scdet
from .scenes import Transition
from .shot_tuning import ShotTuning
from .thumbs import half

__all__ = ["PAST", "AHEAD", "CutDetector"]

log = logging.getLogger(__name__)

#: Frames whose median score is the backward level.
PAST = 5
#: Frames of look-ahead for the forward level (a frame is decided this many frames late).
AHEAD = 2


class _Scores(NamedTuple):
    """One frame's change scores against the previous frame."""

    frame: int
    own: float  # our motion-tolerant difference, levels
    scdet: float  # scdet's score, per cent of full scale
    tonal: float  # the tonal change, levels


class CutDetector:
    """Streaming hard-cut detector: scores each frame, keeps candidates, then makes them final.

    Args:
        fps: Frame rate (scdet's time base).
        tuning: The thresholds.
        min_scene_frames: A cut closer than this to the previous cut is dropped.

    Call :meth:`push` once per frame, :meth:`finish` after the last one, and
    :meth:`finalize` whenever candidates up to some frame can no longer fall
    inside a gradual transition; :attr:`cuts` holds the final cuts.
    """

    def __init__(self, fps: Fraction, tuning: ShotTuning, min_scene_frames: int):
        self.fps = fps
        self.tuning = tuning
        self.min_scene_frames = min_scene_frames
        #: Scores of the last frames: enough for the levels of the frame being decided.
        self.scores: deque[_Scores] = deque(maxlen=PAST + 1 + AHEAD)
        #: ``(frame, score)`` of cuts found but not yet checked against gradual transitions.
        self.candidates: deque[tuple[int, float]] = deque()
        #: The final cuts, in frame order.
        self.cuts: list[Transition] = []
        self._n = 0
        self._last_cut: int | None = None
        self._prev_small: np.ndarray | None = None
        self._prev_tones: np.ndarray | None = None
        self._scdet: Scdet | None = None

    def push(self, frame: Frame, thumb: np.ndarray, small: np.ndarray) -> None:
        """Score the next frame and decide the frame :data:`AHEAD` frames back.

        Args:
            frame: The frame (scdet reads it in ``"full"`` mode).
            thumb: Its luma thumbnail.
            small: Its small thumbnail (see :mod:`.thumbs`).
        """
        n = self._n
        if n == 0 and self.tuning.cut_method in ("scdet", "both"):
            t = self.tuning
            self._scdet = Scdet(self.fps, frame, thumb, t.scdet_input, t.scdet_threshold)
        tones = np.sort(half(small), axis=None)
        own = tonal = 0.0
        if self._prev_small is not None:
            own = shift_mad(self._prev_small, small, self.tuning.search)
            tonal = float(np.abs(tones - self._prev_tones).mean())
        self._prev_small, self._prev_tones = small, tones
        sc = self._scdet.push(frame, thumb, n) if self._scdet is not None else 0.0
        self.scores.append(_Scores(n, own, sc, tonal))
        if n >= AHEAD:
            self._decide(n - AHEAD)
        self._n = n + 1

    def finish(self) -> None:
        """Decide the last frames, whose look-ahead ended with the clip."""
        for i in range(max(1, self._n - AHEAD), self._n):
            self._decide(i)

    def finalize(self, upto: int, gradual: Sequence[Transition]) -> None:
        """Make the candidates up to frame ``upto`` final.

        A candidate inside one of the ``gradual`` transitions is dropped, then one
        within ``min_scene_frames`` of the previous cut.
        """
        while self.candidates and self.candidates[0][0] <= upto:
            i, score = self.candidates.popleft()
            if any(g.frame <= i <= g.frame + g.length for g in gradual):
                log.debug("cut candidate at %d lies inside a gradual transition", i)
                continue
            if self._last_cut is not None and i - self._last_cut < self.min_scene_frames:
                log.debug("cut candidate at %d is within %d frames of the cut at %d", i, self.min_scene_frames,
                          self._last_cut)
                continue
            self.cuts.append(Transition(i, "cut", 0, round(score, 3)))
            self._last_cut = i

    # -- the tests ------------------------------------------------------------------

    def _decide(self, i: int) -> None:
        """Add frame ``i`` to the candidates if the chosen method calls it a cut."""
        if i < 1:
            return
        # scdet compares a frame's change with the previous frame's, which frame 1 lacks.
        rows = {s.frame: s if s.frame > 1 else s._replace(scdet=0.0) for s in self.scores}
        now = rows.get(i)
        if now is None:
            return
        t = self.tuning
        if t.cut_method == "scdet":
            if now.scdet >= t.scdet_threshold:
                self.candidates.append((i, now.scdet))
            return
        level = _local_level(rows, i, "own")
        if level is None:
            return  # a lone frame pair: motion and a cut look alike
        fire_own = now.own >= t.cut_threshold and now.own >= t.cut_ratio * level
        toned = now.own >= t.cut_threshold and now.tonal >= t.tonal_threshold
        if (fire_own and (t.cut_method == "own" or self._confirmed(rows, now, level, toned))) or (
            toned and self._tonal_cut(rows, now)
        ):
            self.candidates.append((i, now.own))

    def _tonal_cut(self, rows: dict[int, _Scores], now: _Scores) -> bool:
        """Is the tonal change far above its own level (the tones already changed enough)?

        Fine texture moving by fractions of a thumbnail pixel (a pan over noise, grass,
        water) cannot be motion-compensated, so our score stays high and hides a cut
        into or out of it (and scdet's too). Its luma histogram hardly changes, while a
        cut to an unrelated picture usually changes it at once.
        """
        return now.tonal >= self.tuning.tonal_ratio * _local_level(rows, now.frame, "tonal")

    def _confirmed(self, rows: dict[int, _Scores], now: _Scores, level: float, toned: bool) -> bool:
        """``"both"``: does scdet agree with our test, or is our score decisive alone?"""
        t = self.tuning
        i = now.frame
        # scdet scores a cut against the previous frame's change, so of two cuts in a row
        # (a one-frame shot) it may flag the first where the look-ahead flags the second.
        if any(rows[k].scdet >= t.scdet_threshold for k in (i - 1, i, i + 1) if k in rows):
            return True
        # scdet compares a frame's change with the previous frame's, so it misses a cut out of
        # a fast pan; a decisive score of our own needs no confirmation.
        if now.own >= t.cut_strong and now.own >= t.cut_strong_ratio * level:
            return True
        # scdet's score is a plain difference on a percent scale: it misses cuts of less than about
        # 25 levels even between two still shots. Far above the local level, with the tones
        # changed too (a scrolled page keeps them), our score needs no confirmation.
        return toned and now.own >= t.cut_clear_ratio * level


def _local_level(rows: dict[int, _Scores], i: int, score: str) -> float | None:
    """The larger of the median ``score`` of the frames before ``i`` and the smaller of the two
    after (None when there is neither)."""
    past = [getattr(rows[k], score) for k in range(i - PAST, i) if k >= 1 and k in rows]
    ahead = [getattr(rows[k], score) for k in range(i + 1, i + 1 + AHEAD) if k in rows]
    if not past and not ahead:
        return None
    return max(float(np.median(past)) if past else 0.0, min(ahead) if ahead else 0.0)
