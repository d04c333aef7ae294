"""Gradual-transition detection: fades and dissolves, found in a ring of recent thumbnails.

During a dissolve from shot A to shot B every frame is, pixel by pixel,
``A + a (B - A)`` with one ``a`` for the whole frame; a fade is the same with a
flat (black or white) A or B. Each frame ``i`` is tested against the frames
``h`` before and after it (``h`` the tuning's scales): when those differ
enough, frame ``i`` is such a blend of them (``a`` between 0.2 and 0.8, small
misfit) and no global motion (:func:`.motion.motion_residual`) explains the
difference between them, the frame lies inside a gradual transition.

For a run of such frames the transition is the stretch of frames around it
that each move on by a similar step along the run's direction; it is accepted
when its frames fit blends of its two end frames with weights growing about
linearly and no shift explains the ends, nor the ends against frames a few
further out (fine texture panning slowly passes for a blend over a short
span). It is a ``fade`` when one end is flat (its slow start or end is then
followed to the flat frames) or, at the end of the clip, a darkened copy of
the other end, and a ``dissolve`` when the ends are two different pictures; a
brightness change within one picture is not reported. A transition still
going on at the last frame runs to the end of the clip.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np

from .motion import motion_residual, similarity
from .scenes import Transition
from .shot_tuning import ShotTuning
from .thumbs import SMALL_WIDTH, ThumbRing, shrink

__all__ = ["RING_WIDTH", "GradualDetector"]

log = logging.getLogger(__name__)

#: Ring thumbnails are at most this wide, pixels.
RING_WIDTH = SMALL_WIDTH
_GAP = 2  # unflagged frames tolerated inside a run of blend frames
_MOTION = 0.6  # a change that global motion explains down to this fraction is camera motion
_MAX_BEND = 0.15  # RMS distance of the blend weights from a straight ramp
_CREEP = 0.25  # mean luma change per frame that still counts as fading
_STEP_LOW, _STEP_HIGH = 0.3, 3.0  # per-frame progress, relative to the median, that counts as part of a transition


class GradualDetector:
    """Streaming detector of fades and dissolves.

    Args:
        fps: Frame rate (sets the scales by default and the longest transition).
        tuning: The thresholds.

    Call :meth:`push` once per frame and :meth:`finish` after the last one;
    :attr:`transitions` holds the transitions found so far.
    """

    def __init__(self, fps: Fraction, tuning: ShotTuning):
        self.tuning = tuning
        self.scales = tuning.scales(fps)
        self.hmax = self.scales[-1]
        #: The longest transition, frames.
        self.max_len = tuning.max_gradual_frames(fps)
        # The longest transition, the frame before it, and the frames seen before its run closes.
        self.ring = ThumbRing(self.max_len + self.hmax + _GAP + 12)
        #: Fades and dissolves found so far, in the order found.
        self.transitions: list[Transition] = []
        self._n = 0
        self._run: list[int] | None = None  # [first, last] flagged frame
        self._pending: list[tuple[int, int]] = []  # closed runs waiting for their transition to end

    @property
    def settled(self) -> int:
        """The last frame that no transition found later can contain.

        A transition needs the frame before it in the ring, so it starts after the oldest frame there.
        """
        return self.ring.oldest - 1

    def push(self, small: np.ndarray, std: float) -> None:
        """Store the next frame and test the frame the largest scale back.

        Args:
            small: The frame's small thumbnail (see :mod:`.thumbs`).
            std: The standard deviation of the frame's thumbnail, levels.
        """
        n = self._n
        self.ring.put(n, shrink(small, RING_WIDTH), std)
        if n >= self.hmax:
            self._step(n - self.hmax, n)
        self._n = n + 1

    def finish(self) -> None:
        """Test the last frames (their later neighbours are missing) and close the open run."""
        if not self._n:
            return
        last = self._n - 1
        for i in range(max(0, self._n - self.hmax), self._n):
            self._step(i, last, final=True)
        if self._run is not None:
            self._close_run()
        self._settle(last, final=True)

    # -- runs of blend frames -------------------------------------------------------

    def _step(self, i: int, newest: int, *, final: bool = False) -> None:
        """Test frame ``i`` (frames up to ``newest`` are in the ring) and track runs of blend frames."""
        flat = self.ring.std(i) <= self.tuning.flat_std
        if not flat and self._flag(i, newest):
            if self._run is None:
                self._run = [i, i]
            else:
                self._run[1] = i
            if self._run[1] - self._run[0] + 1 > self.max_len:
                log.debug("gradual run from %d exceeds %d frames; dropped", self._run[0], self.max_len)
                self._run = None
        elif self._run is not None and (flat or i - self._run[1] > _GAP):
            self._close_run()
        self._settle(newest, final=final)

    def _flag(self, i: int, newest: int) -> bool:
        """Is frame ``i`` a blend of the frames ``h`` before and after it, for some scale ``h``?"""
        ring = self.ring
        g = ring.get(i)
        dmin = self.tuning.gradual_min_change
        rmax = self.tuning.gradual_max_residual
        blend = False
        changed = []
        for h in self.scales:
            if i - h < ring.oldest or i + h > newest:
                continue
            a_, b_ = ring.get(i - h), ring.get(i + h)
            ba = b_ - a_
            d = float(np.abs(ba).mean())
            if d < dmin:
                continue
            changed.append((a_, b_, d))
            w = float(((g - a_) * ba).sum()) / float((ba * ba).sum())
            if 0.2 <= w <= 0.8 and float(np.abs(g - a_ - w * ba).mean()) <= rmax * d:
                blend = True
        # Camera motion if at any scale the change is one picture moved. (Over a few frames a slow
        # pan looks like a blend: a sub-pixel shift is an interpolation.)
        return blend and all(motion_residual(a_, b_) >= _MOTION * d for a_, b_, d in changed)

    def _close_run(self) -> None:
        p, q = self._run
        self._run = None
        # A fade out and straight back in (no flat frame between) gives one run: split it at its darkest frame.
        stds = [self.ring.std(k) for k in range(p, q + 1)]
        k = int(np.argmin(stds))
        if 0 < k < len(stds) - 1 and stds[k] < 0.25 * min(stds[0], stds[-1]):
            self._pending += [(p, p + k - 1), (p + k + 1, q)]
        else:
            self._pending.append((p, q))

    def _settle(self, newest: int, *, final: bool) -> None:
        """Refine the closed runs whose transitions are complete in the ring."""
        if self._pending:
            self._pending = [pq for pq in self._pending if not self._refine(*pq, newest, final=final)]

    # -- from a run to a transition -----------------------------------------------

    def _refine(self, p: int, q: int, newest: int, *, final: bool) -> bool:
        """Find the extent of the transition around the run p..q of blend frames, check and classify it.

        Returns False when the transition may go on past ``newest`` (try again with more frames).
        """
        span = self._extent(p, q, newest)
        if span is None:
            return True
        s, f = span
        if f >= newest and not final:
            return False
        # Frame f is the last that moved on: the first frame of the new picture, unless the clip
        # ends while the picture is still changing.
        tail = f >= newest
        e = newest if tail else f - 1
        length = e - s + 1
        if not self.tuning.gradual_min_frames <= length <= self.max_len or s - 1 < self.ring.oldest:
            return True
        last = min(e + 1, newest)
        a_, b_ = self.ring.get(s - 1), self.ring.get(last)
        d = float(np.abs(b_ - a_).mean())
        if d < self.tuning.gradual_min_change:
            log.debug("gradual candidate %d+%d rejected: change %.1f", s, length, d)
            return True
        if self._camera_motion(a_, b_, d, s, last, newest):
            log.debug("gradual candidate %d+%d rejected: camera motion", s, length)
            return True
        fit = self._blend_misfit(a_, b_, d, s, e, newest, tail=tail)
        if fit is None:
            return True
        kind = self._kind(a_, b_, unfinished=tail)
        if kind is None:
            log.debug("gradual candidate %d+%d rejected: a brightness change within one picture", s, length)
            return True
        if kind == "fade":
            eased = self._follow_fade(s, e, a_, b_, tail=tail, newest=newest, final=final)
            if eased is None:
                return False
            s, e = eased
            length = e - s + 1
        for t in self.transitions:
            if s <= t.frame + t.length and t.frame <= e:
                log.debug("gradual candidate %d+%d overlaps %s at %d", s, length, t.kind, t.frame)
                return True
        self.transitions.append(Transition(s, kind, length, round(d * (1.0 - fit), 3)))
        log.debug("%s at %d, %d frames (change %.1f, misfit %.2f)", kind, s, length, d, fit)
        return True

    def _extent(self, p: int, q: int, newest: int) -> tuple[int, int] | None:
        """Grow the run p..q to the frames that move on by a similar step along its direction.

        Returns:
            ``(s, f)``: the first frame of the transition and the last frame that moved on; None
            when the run does not move on, or grows longer than the longest transition.
        """
        progress = _Progress(self.ring, p, q, newest)
        run_steps = [v for v in (progress.step(k) for k in range(p, q + 1)) if v is not None]
        med = float(np.median(run_steps)) if run_steps else 0.0
        if med <= 0:
            return None

        def big(k: int) -> bool:
            v = progress.step(k)
            return v is not None and _STEP_LOW * med < v < _STEP_HIGH * med

        s = f = (p + q) // 2
        while big(s - 1) or (s - 2 >= p - 1 and big(s - 2)):
            s -= 1 if big(s - 1) else 2
        while big(f + 1) or (f + 2 <= q + 1 and big(f + 2)):
            f += 1 if big(f + 1) else 2
            if f - s > self.max_len:
                log.debug("gradual change from %d is longer than %d frames; ignored", s, self.max_len)
                return None
        return s, f

    def _camera_motion(self, a_: np.ndarray, b_: np.ndarray, d: float, s: int, last: int, newest: int) -> bool:
        """Is the change from frame ``s - 1`` (``a_``) to ``last`` (``b_``), ``d`` levels, camera motion?

        Fine texture panning slowly (noise, foliage) aliases in the thumbnails: over a few frames
        no shift explains it, and it passes for a blend. Over a longer span the pan is a shift
        again, so the ends are also compared with frames further out on either side.
        """
        if motion_residual(a_, b_) < _MOTION * d:
            return True
        ring = self.ring
        for h in self.scales:
            for p_, q_ in ((s - 1 - h, last), (s - 1, last + h)):
                if p_ >= ring.oldest and q_ <= newest:
                    far_a, far_b = ring.get(p_), ring.get(q_)
                    if motion_residual(far_a, far_b) < _MOTION * float(np.abs(far_b - far_a).mean()):
                        log.debug("frames %d to %d differ by camera motion", p_, q_)
                        return True
        return False

    def _blend_misfit(
        self, a_: np.ndarray, b_: np.ndarray, d: float, s: int, e: int, newest: int, *, tail: bool
    ) -> float | None:
        """How well frames ``s..e`` fit blends of the ends ``a_`` and ``b_`` (``d`` levels apart).

        Returns:
            The median misfit relative to ``d``; None when it is too large, or when the blend
            weight does not grow steadily (e.g. a brightness drift and then a camera move).
        """
        ring = self.ring
        ba = b_ - a_
        mix = np.stack([ring.get(k) for k in range(s, min(e, newest) + 1)])
        w = ((mix - a_) * ba).sum(axis=(1, 2)) / float((ba * ba).sum())
        resid = np.abs(mix - a_ - w[:, None, None] * ba).mean(axis=(1, 2))
        fit = float(np.median(resid)) / d
        if fit > self.tuning.gradual_max_misfit:
            log.debug("gradual candidate %d+%d rejected: misfit %.2f", s, e - s + 1, fit)
            return None
        ramp = (np.arange(len(w)) + 1.0) / (len(w) + (0 if tail else 1))
        bend = float(np.sqrt(((w - ramp) ** 2).mean()))
        if bend > _MAX_BEND:
            log.debug("gradual candidate %d+%d rejected: uneven progress (%.2f)", s, e - s + 1, bend)
            return None
        return fit

    def _kind(self, a_: np.ndarray, b_: np.ndarray, *, unfinished: bool) -> str | None:
        """``"fade"``, ``"dissolve"``, or None for a brightness change within one picture."""
        sa, sb = float(a_.std()), float(b_.std())
        flat = self.tuning.flat_std
        lo_std, hi_std = min(sa, sb), max(sa, sb)
        if lo_std <= flat:
            # To or from a flat frame: a fade if the other end is a picture, else a colour change.
            return "fade" if hi_std >= 3 * flat else None
        if similarity(a_, b_) < 0.8:
            return "dissolve"
        # The same picture at another contrast: a fade that stops short of flat (or that the
        # clip's end cuts short), else a lighting change.
        if lo_std <= 0.25 * hi_std or (unfinished and sb < 0.6 * sa):
            return "fade"
        return None

    def _follow_fade(
        self, s: int, e: int, a_: np.ndarray, b_: np.ndarray, *, tail: bool, newest: int, final: bool
    ) -> tuple[int, int] | None:
        """Extend the fade ``s..e`` over its slow start or end to the flat frames.

        Fades often ease in or out (a gamma curve).

        Returns:
            The new ``(s, e)``; None when the fade may go on past ``newest``.
        """
        ring = self.ring
        if a_.std() <= b_.std():
            while s - 2 >= ring.oldest and _creeping(ring.get(s - 2), ring.get(s - 1), ring.get(s)):
                s -= 1
        elif not tail:
            while e + 2 <= newest and _creeping(ring.get(e + 2), ring.get(e + 1), ring.get(e)):
                e += 1
            if e + 2 > newest and not final:
                return None
            if e + 2 > newest:
                e = newest if _creeping(ring.get(newest), ring.get(newest - 1), ring.get(newest - 2)) else e
        return s, e


class _Progress:
    """Progress of each frame over the frame before it along the direction of a run of blend
    frames ``p..q`` (the change across it), as a fraction of that change; cached."""

    def __init__(self, ring: ThumbRing, p: int, q: int, newest: int):
        self.ring = ring
        self.newest = newest
        self.ref = ring.get(min(newest, q + 2)) - ring.get(max(ring.oldest, p - 2))
        self.den = float((self.ref * self.ref).sum())
        self._steps: dict[int, float] = {}

    def step(self, k: int) -> float | None:
        """Progress of frame ``k`` over frame ``k - 1``; None when either is not in the ring
        (or the run's ends do not differ)."""
        if self.den <= 0 or not self.ring.oldest < k <= self.newest:
            return None
        if k not in self._steps:
            self._steps[k] = float(((self.ring.get(k) - self.ring.get(k - 1)) * self.ref).sum()) / self.den
        return self._steps[k]


def _creeping(flat_side: np.ndarray, k: np.ndarray, inner: np.ndarray) -> bool:
    """Is frame ``k`` still part of a fade: its mean luma differs from its neighbour towards the
    flat end, and lies between that neighbour's and the next inner frame's?"""
    m0, m1, m2 = float(flat_side.mean()), float(k.mean()), float(inner.mean())
    return abs(m1 - m0) >= _CREEP and (m0 - m1) * (m1 - m2) > 0
