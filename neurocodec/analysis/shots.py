"""Shot-boundary detection in one streaming pass: hard cuts, fades and dissolves.

Every frame is first reduced to a luma thumbnail of block means, at most
``analysis_width`` (160) pixels wide, and halved again to at most 80 pixels,
so the cost per frame hardly depends on the resolution (about 1 ms for 720p
on one core). Only a few numbers per frame and a ring of the last few seconds
of 80-pixel thumbnails are kept, so memory does not grow with the video.

Hard cuts
    Our score for frame ``i`` is a motion-tolerant mean absolute difference:
    the smallest mean absolute luma difference between frame ``i`` and frame
    ``i - 1`` shifted by up to ``search`` pixels of the 80-pixel thumbnail (a
    pan of a few per cent of the width per frame costs nothing). It counts
    when it is above ``cut_threshold`` and ``cut_ratio`` times the local
    level: the larger of the median score of the five frames before and the
    smaller score of the two frames after. Steady fast motion raises the level
    with the score, and the look-ahead rejects motion that starts abruptly
    (the next frames keep changing as much), which a backward-looking test
    takes for a cut. FFmpeg's ``scdet`` filter, run through PyAV on the grey
    thumbnail, scores each frame's change against the previous frame's.

    Fine texture moving by fractions of a thumbnail pixel (a pan over noise)
    cannot be motion-compensated: its score stays high from frame to frame
    and raises the local level over a cut into or out of it. The *tonal
    change*, the mean absolute difference between the sorted luma values of
    two 40-pixel thumbnails (the distance between their histograms), ignores
    where pixels are, so such a pan hardly changes it; it is a cut on its own
    when it is at least ``tonal_threshold`` and ``tonal_ratio`` times its own
    local level (and our score at least ``cut_threshold``).

    ``cut_method="both"`` (the default) reports a cut where our test fires and
    scdet agrees within one frame, or where our score alone is decisive
    (``cut_strong``, ``cut_strong_ratio``, or ``cut_clear_ratio`` times the
    level with the tones changed by ``tonal_threshold``), or where the tonal
    test fires: scdet vetoes the jerky non-rigid motion of handheld close-ups
    that fools our test, ours vetoes scdet's false alarms on whip pans and at
    motion onsets, and the decisive paths cover scdet's blind spots, a cut
    out of a fast pan and a cut of less than about 25 levels. ``"own"``
    (our test or the tonal test) and ``"scdet"`` use one detector alone.
    docs/scene-detection.md has the measurements. A cut closer than
    ``min_scene_frames`` to the previous cut is dropped.

Fades and dissolves
    During a dissolve from shot A to shot B every frame is, pixel by pixel,
    ``A + a (B - A)`` with one ``a`` for the whole frame; a fade is the same
    with a flat (black or white) A or B. Each frame ``i`` is tested against
    the frames ``h`` before and after it (``h`` in 2, 4, 8): when those differ
    enough, frame ``i`` is such a blend of them (``a`` between 0.2 and 0.8,
    small misfit) and no global motion (a shift, plus a sub-pixel shift and
    zoom fitted on the image gradients) explains the difference between them,
    the frame lies inside a gradual transition. For a run of such frames the
    transition is the stretch of frames around it that each move on by a
    similar step along the run's direction; it is accepted when its frames
    fit blends of its two end frames with weights growing about linearly and
    no shift explains the ends, nor the ends against frames a few further
    out (fine texture panning slowly passes for a blend over a short span).
    It is a ``fade`` when one end is flat (its slow start or end is then
    followed to the flat frames) or, at the end of the clip, a darkened copy
    of the other end, and a ``dissolve`` when the ends are two different
    pictures; a brightness change within one picture is not reported. A
    transition still going on at the last frame runs to the end of the clip.
    Cuts inside a gradual transition are dropped.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import SettingsError
from ..io.frame import Frame
from .scenes import Transition

__all__ = ["ShotDetector", "detect_transitions", "DEFAULT_TUNING"]

log = logging.getLogger(__name__)

#: Tuning knobs accepted by :class:`ShotDetector` (and :func:`detect_transitions`).
DEFAULT_TUNING: dict[str, object] = {
    # Hard cuts.
    "cut_method": "both",  # "own", "scdet" (FFmpeg's filter) or "both" (see the module notes)
    "analysis_width": 160,  # luma thumbnail width bound, pixels
    "search": 3,  # motion search radius in pixels of the <= 80 px wide thumbnail (0: plain difference)
    "cut_threshold": 12.0,  # own score floor, in 8-bit luma levels
    "cut_ratio": 2.5,  # own score over the local level
    "cut_strong": 30.0,  # "both": own score that needs no scdet confirmation...
    "cut_strong_ratio": 3.5,  # ...when also this many times the local level
    "scdet_threshold": 10.0,  # scdet's own default
    "scdet_input": "thumb",  # "thumb": the grey analysis thumbnail; "full": whole YUV frames
    "cut_clear_ratio": 8.0,  # "both": own score this many times the local level needs no scdet when the tones changed
    "tonal_threshold": 8.0,  # tonal change (luma levels) that counts as changed tones
    "tonal_ratio": 10.0,  # a tonal change this many times its local level is a cut (with the own score floor)
    # Gradual transitions.
    "gradual": True,
    "gradual_scales": None,  # frames before/after each tested frame (None: 2, 4, 8 and 0.32 s)
    "gradual_min_change": 6.0,  # mean |B - A| of the 80-px thumbnails, luma levels
    "gradual_max_residual": 0.35,  # per-frame blend test: misfit relative to |B - A|
    "gradual_max_misfit": 0.25,  # whole transition: median misfit relative to |B - A|
    "gradual_min_frames": 3,
    "gradual_max_seconds": 5.0,
    "flat_std": 4.0,  # a frame with a smaller luma standard deviation is flat (black, white, grey)
}

_CUT_METHODS = ("own", "scdet", "both")
_PAST = 5  # frames whose median score is the backward level
_AHEAD = 2  # frames of look-ahead for the forward level
_RING_WIDTH = 80  # ring thumbnails are at most this wide
_GAP = 2  # unflagged frames tolerated inside a gradual run
_MOTION = 0.6  # a change that global motion explains down to this fraction is camera motion
_MAX_BEND = 0.15  # RMS distance of the blend weights from a straight ramp
_CREEP = 0.25  # mean luma change per frame that still counts as fading
_STEP_LOW, _STEP_HIGH = 0.3, 3.0  # per-frame progress, relative to the median, that counts as part of a transition


def detect_transitions(frames: Iterable[Frame], fps: Fraction, **kw) -> list[Transition]:
    """Run a :class:`ShotDetector` over ``frames`` and return its transitions."""
    det = ShotDetector(fps, **kw)
    for f in frames:
        det.push(f)
    return det.finish()


class ShotDetector:
    """Streaming shot-boundary detector.

    Args:
        fps: Frame rate (sets the default minimum scene length and the longest gradual transition).
        min_scene_frames: A cut closer than this to the previous cut is dropped
            (default ``max(4, round(0.4 * fps))``).
        **tuning: Overrides of :data:`DEFAULT_TUNING`.

    Call :meth:`push` once per frame in display order, then :meth:`finish`.
    """

    def __init__(self, fps: Fraction, *, min_scene_frames: int | None = None, **tuning):
        fps = Fraction(fps)
        if fps <= 0:
            raise SettingsError(f"frame rate must be positive, got {fps}")
        unknown = set(tuning) - set(DEFAULT_TUNING)
        if unknown:
            raise SettingsError(f"unknown shot-detector setting(s): {', '.join(sorted(unknown))}")
        cfg = {**DEFAULT_TUNING, **tuning}
        if cfg["cut_method"] not in _CUT_METHODS:
            raise SettingsError(f"cut_method must be one of {', '.join(_CUT_METHODS)}, got {cfg['cut_method']!r}")
        if cfg["scdet_input"] not in ("full", "thumb"):
            raise SettingsError(f"scdet_input must be 'full' or 'thumb', got {cfg['scdet_input']!r}")
        self.fps = fps
        if min_scene_frames is None:
            min_scene_frames = max(4, round(float(fps) * 0.4))
        self.min_scene_frames = int(min_scene_frames)
        if self.min_scene_frames < 1:
            raise SettingsError(f"min_scene_frames must be at least 1, got {min_scene_frames}")
        self.cfg = cfg
        self._n = 0
        self._size: tuple[int, int] | None = None
        self._block = 1
        self._prev_small: np.ndarray | None = None
        self._prev_tones: np.ndarray | None = None
        # Cut scoring: (index, own score, scdet score, tonal change) of the last frames, and candidates found.
        self._scores: deque[tuple[int, float, float, float]] = deque(maxlen=_PAST + 1 + _AHEAD)
        self._candidates: deque[tuple[int, float]] = deque()  # cuts not yet checked against gradual ones
        self._cuts: list[Transition] = []
        self._last_cut: int | None = None
        self._result: list[Transition] | None = None
        self._scdet = None
        # Gradual transitions.
        scales = cfg["gradual_scales"]
        if scales is None:
            scales = {2, 4, 8, max(8, round(8 * float(fps) / 25))}
        self._scales = tuple(sorted({int(h) for h in scales if int(h) >= 1}))
        self._hmax = self._scales[-1] if self._scales else 0
        self._max_len = max(int(cfg["gradual_min_frames"]), round(float(fps) * float(cfg["gradual_max_seconds"])))
        self._ring: _Ring | None = None
        self._run: list[int] | None = None  # [first, last] flagged frame
        self._pending: list[tuple[int, int]] = []  # closed runs waiting for their transition to end
        self._gradual: list[Transition] = []

    # -- streaming ----------------------------------------------------------------

    def push(self, frame: Frame) -> None:
        """Feed the next frame (display order)."""
        if self._result is not None:
            raise RuntimeError("ShotDetector.push() after finish()")
        n = self._n
        if self._size is None:
            self._start(frame)
        elif (frame.width, frame.height) != self._size:
            raise SettingsError(
                f"frame {n} is {frame.width}x{frame.height}, earlier frames were {self._size[0]}x{self._size[1]}"
            )
        thumb = _block_mean(frame.y, self._block)
        small = _half(thumb) if thumb.shape[1] > 80 else thumb
        tones = np.sort(_half(small), axis=None)
        own = tonal = 0.0
        if self._prev_small is not None:
            own = _shift_mad(self._prev_small, small, int(self.cfg["search"]))
            tonal = float(np.abs(tones - self._prev_tones).mean())
        self._prev_small, self._prev_tones = small, tones
        sc = self._scdet.push(frame, thumb, n) if self._scdet is not None else 0.0
        self._scores.append((n, own, sc, tonal))
        if n >= _AHEAD:
            self._decide_cut(n - _AHEAD)
        if self._ring is not None:
            tiny = small
            while tiny.shape[1] > _RING_WIDTH:
                tiny = _half(tiny)
            self._ring.put(n, tiny, float(thumb.std()))
            if n >= self._hmax:
                self._gradual_step(n - self._hmax, n)
            # A gradual transition needs its frame before it in the ring: older candidates are final.
            self._flush_cuts(self._ring.oldest - 1)
        else:
            self._flush_cuts(n)
        self._n = n + 1

    def finish(self) -> list[Transition]:
        """Flush the look-ahead and return all transitions, sorted by frame (later calls return the same)."""
        if self._result is not None:
            return list(self._result)
        last = self._n - 1
        for i in range(max(1, self._n - _AHEAD), self._n):
            self._decide_cut(i)
        if self._ring is not None and self._n:
            for i in range(max(0, self._n - self._hmax), self._n):
                self._gradual_step(i, last, final=True)
            if self._run is not None:
                self._close_run()
            self._settle(last, final=True)
        self._flush_cuts(last)
        self._result = sorted(self._cuts + self._gradual, key=lambda t: (t.frame, t.kind))
        log.debug("shot detection: %d frames, %d cuts, %d gradual", self._n, len(self._cuts), len(self._gradual))
        return list(self._result)

    def _flush_cuts(self, upto: int) -> None:
        """Make the cut candidates up to frame ``upto`` final: drop those inside a gradual
        transition, then those within ``min_scene_frames`` of the previous cut."""
        while self._candidates and self._candidates[0][0] <= upto:
            i, score = self._candidates.popleft()
            if any(g.frame <= i <= g.frame + g.length for g in self._gradual):
                log.debug("cut candidate at %d lies inside a gradual transition", i)
                continue
            if self._last_cut is not None and i - self._last_cut < self.min_scene_frames:
                log.debug("cut candidate at %d is within %d frames of the cut at %d", i, self.min_scene_frames,
                          self._last_cut)
                continue
            self._cuts.append(Transition(i, "cut", 0, round(score, 3)))
            self._last_cut = i

    # -- set-up -------------------------------------------------------------------

    def _start(self, frame: Frame) -> None:
        self._size = (frame.width, frame.height)
        self._block = max(1, math.ceil(frame.width / int(self.cfg["analysis_width"])))
        if self.cfg["cut_method"] in ("scdet", "both"):
            th = _block_mean(frame.y, self._block)
            self._scdet = _Scdet(self.fps, frame, th, self.cfg["scdet_input"], float(self.cfg["scdet_threshold"]))
        if self.cfg["gradual"] and self._scales:
            # The longest transition, the frame before it, and the frames seen before its run closes.
            self._ring = _Ring(self._max_len + self._hmax + _GAP + 12)

    # -- hard cuts ------------------------------------------------------------------

    def _decide_cut(self, i: int) -> None:
        if i < 1:
            return
        # scdet compares a frame's change with the previous frame's, which frame 1 lacks.
        rows = {k: (own, sc if k > 1 else 0.0, tonal) for k, own, sc, tonal in self._scores}
        if i not in rows:
            return
        own, sc, tonal = rows[i]
        method = self.cfg["cut_method"]
        fire_own = True
        level = 0.0
        tonal_cut = False
        if method in ("own", "both"):
            level = _local_level(rows, i, 0)
            if level is None:
                return  # a lone frame pair: motion and a cut look alike
            floor = float(self.cfg["cut_threshold"])
            fire_own = own >= floor and own >= float(self.cfg["cut_ratio"]) * level
            # Fine texture moving by fractions of a thumbnail pixel (a pan over noise, grass, water)
            # cannot be motion-compensated, so its own score stays high and hides a cut into or out
            # of it (and scdet's too). Its luma histogram hardly changes, while a cut to an
            # unrelated picture usually changes it at once.
            toned = own >= floor and tonal >= float(self.cfg["tonal_threshold"])
            tonal_cut = toned and tonal >= float(self.cfg["tonal_ratio"]) * _local_level(rows, i, 2)
        thr = float(self.cfg["scdet_threshold"])
        if method == "own":
            fire_sc = True
        elif method == "scdet":
            fire_sc = sc >= thr
        else:
            # scdet scores a cut against the previous frame's change, so of two cuts in a row
            # (a one-frame shot) it may flag the first where the look-ahead flags the second.
            fire_sc = any(rows[k][1] >= thr for k in (i - 1, i, i + 1) if k in rows)
            # scdet compares a frame's change with the previous frame's, so it misses a cut out of
            # a fast pan; a decisive score of our own needs no confirmation.
            fire_sc = fire_sc or (
                own >= float(self.cfg["cut_strong"]) and own >= float(self.cfg["cut_strong_ratio"]) * level
            )
            # scdet's score is a plain difference on a percent scale: it misses cuts of less than about
            # 25 levels even between two still shots. Far above the local level, with the tones
            # changed too (a scrolled page keeps them), our score needs no confirmation.
            fire_sc = fire_sc or (toned and own >= float(self.cfg["cut_clear_ratio"]) * level)
        if (fire_own and fire_sc) or tonal_cut:
            self._candidates.append((i, own if method != "scdet" else sc))

    # -- gradual transitions ------------------------------------------------------

    def _gradual_step(self, i: int, newest: int, *, final: bool = False) -> None:
        """Test frame ``i`` (frames up to ``newest`` are in the ring) and track runs of blend frames."""
        flat = self._ring.std(i) <= float(self.cfg["flat_std"])
        if not flat and self._flag(i, newest):
            if self._run is None:
                self._run = [i, i]
            else:
                self._run[1] = i
            if self._run[1] - self._run[0] + 1 > self._max_len:
                log.debug("gradual run from %d exceeds %d frames; dropped", self._run[0], self._max_len)
                self._run = None
        elif self._run is not None and (flat or i - self._run[1] > _GAP):
            self._close_run()
        self._settle(newest, final=final)

    def _close_run(self) -> None:
        p, q = self._run
        self._run = None
        # A fade out and straight back in (no flat frame between) gives one run: split it at its darkest frame.
        stds = [self._ring.std(k) for k in range(p, q + 1)]
        k = int(np.argmin(stds))
        if 0 < k < len(stds) - 1 and stds[k] < 0.25 * min(stds[0], stds[-1]):
            self._pending += [(p, p + k - 1), (p + k + 1, q)]
        else:
            self._pending.append((p, q))

    def _settle(self, newest: int, *, final: bool) -> None:
        """Refine the closed runs whose transitions are complete in the ring."""
        if self._pending:
            self._pending = [pq for pq in self._pending if not self._refine(*pq, newest, final=final)]

    def _flag(self, i: int, newest: int) -> bool:
        """Is frame ``i`` a blend of the frames ``h`` before and after it, for some scale ``h``?"""
        ring = self._ring
        g = ring.get(i)
        dmin = float(self.cfg["gradual_min_change"])
        rmax = float(self.cfg["gradual_max_residual"])
        blend = False
        changed = []
        for h in self._scales:
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
        return blend and all(_motion_residual(a_, b_) >= _MOTION * d for a_, b_, d in changed)

    def _refine(self, p: int, q: int, newest: int, *, final: bool) -> bool:
        """Find the extent of the transition around the run p..q of blend frames and classify it.

        Returns False when the transition may go on past ``newest`` (try again with more frames).
        """
        ring = self._ring
        oldest = ring.oldest
        ref = ring.get(min(newest, q + 2)) - ring.get(max(oldest, p - 2))
        den = float((ref * ref).sum())
        if den <= 0:
            return True
        steps: dict[int, float] = {}

        def step(k: int) -> float | None:
            """Progress of frame k over frame k - 1 along the direction of the run."""
            if not oldest < k <= newest:
                return None
            if k not in steps:
                steps[k] = float(((ring.get(k) - ring.get(k - 1)) * ref).sum()) / den
            return steps[k]

        run_steps = [v for v in (step(k) for k in range(p, q + 1)) if v is not None]
        med = float(np.median(run_steps)) if run_steps else 0.0
        if med <= 0:
            return True

        def big(k: int) -> bool:
            v = step(k)
            return v is not None and _STEP_LOW * med < v < _STEP_HIGH * med

        s = f = (p + q) // 2
        while big(s - 1) or (s - 2 >= p - 1 and big(s - 2)):
            s -= 1 if big(s - 1) else 2
        while big(f + 1) or (f + 2 <= q + 1 and big(f + 2)):
            f += 1 if big(f + 1) else 2
            if f - s > self._max_len:
                log.debug("gradual change from %d is longer than %d frames; ignored", s, self._max_len)
                return True
        if f >= newest and not final:
            return False
        # Frame f is the last that moved on: the first frame of the new picture, unless the clip
        # ends while the picture is still changing.
        tail = f >= newest
        e = newest if tail else f - 1
        length = e - s + 1
        if not int(self.cfg["gradual_min_frames"]) <= length <= self._max_len or s - 1 < oldest:
            return True
        last = min(e + 1, newest)
        a_ = ring.get(s - 1)
        b_ = ring.get(last)
        ba = b_ - a_
        d = float(np.abs(ba).mean())
        if d < float(self.cfg["gradual_min_change"]):
            log.debug("gradual candidate %d+%d rejected: change %.1f", s, length, d)
            return True
        if _motion_residual(a_, b_) < _MOTION * d:
            log.debug("gradual candidate %d+%d rejected: camera motion", s, length)
            return True
        # Fine texture panning slowly (noise, foliage) aliases in the thumbnails: over a few frames
        # no shift explains it, and it passes for a blend. Over a longer span the pan is a shift
        # again, so the ends are also compared with frames further out on either side.
        for h in self._scales:
            for p_, q_ in ((s - 1 - h, last), (s - 1, last + h)):
                if p_ >= oldest and q_ <= newest:
                    far_a, far_b = ring.get(p_), ring.get(q_)
                    if _motion_residual(far_a, far_b) < _MOTION * float(np.abs(far_b - far_a).mean()):
                        log.debug("gradual candidate %d+%d rejected: camera motion (%d to %d)", s, length, p_, q_)
                        return True
        mix = np.stack([ring.get(k) for k in range(s, min(e, newest) + 1)])
        w = ((mix - a_) * ba).sum(axis=(1, 2)) / float((ba * ba).sum())
        resid = np.abs(mix - a_ - w[:, None, None] * ba).mean(axis=(1, 2))
        fit = float(np.median(resid)) / d
        if fit > float(self.cfg["gradual_max_misfit"]):
            log.debug("gradual candidate %d+%d rejected: misfit %.2f", s, length, fit)
            return True
        # The blend weight must grow steadily, not jump (e.g. a brightness drift and then a camera move).
        ramp = (np.arange(len(w)) + 1.0) / (len(w) + (0 if tail else 1))
        bend = float(np.sqrt(((w - ramp) ** 2).mean()))
        if bend > _MAX_BEND:
            log.debug("gradual candidate %d+%d rejected: uneven progress (%.2f)", s, length, bend)
            return True
        kind = self._kind(a_, b_, unfinished=tail)
        if kind is None:
            log.debug("gradual candidate %d+%d rejected: a brightness change within one picture", s, length)
            return True
        if kind == "fade":
            # Fades often ease in or out (a gamma curve): follow the slow end to the flat frames.
            if a_.std() <= b_.std():
                while s - 2 >= oldest and _creeping(ring.get(s - 2), ring.get(s - 1), ring.get(s)):
                    s -= 1
            elif not tail:
                while e + 2 <= newest and _creeping(ring.get(e + 2), ring.get(e + 1), ring.get(e)):
                    e += 1
                if e + 2 > newest and not final:
                    return False
                if e + 2 > newest:
                    e = newest if _creeping(ring.get(newest), ring.get(newest - 1), ring.get(newest - 2)) else e
            length = e - s + 1
        for t in self._gradual:
            if s <= t.frame + t.length and t.frame <= e:
                log.debug("gradual candidate %d+%d overlaps %s at %d", s, length, t.kind, t.frame)
                return True
        self._gradual.append(Transition(s, kind, length, round(d * (1.0 - fit), 3)))
        log.debug("%s at %d, %d frames (change %.1f, misfit %.2f)", kind, s, length, d, fit)
        return True

    def _kind(self, a_: np.ndarray, b_: np.ndarray, *, unfinished: bool) -> str | None:
        sa, sb = float(a_.std()), float(b_.std())
        flat = float(self.cfg["flat_std"])
        lo_std, hi_std = min(sa, sb), max(sa, sb)
        if lo_std <= flat:
            # To or from a flat frame: a fade if the other end is a picture, else a colour change.
            return "fade" if hi_std >= 3 * flat else None
        if _similarity(a_, b_) < 0.8:
            return "dissolve"
        # The same picture at another contrast: a fade that stops short of flat (or that the
        # clip's end cuts short), else a lighting change.
        if lo_std <= 0.25 * hi_std or (unfinished and sb < 0.6 * sa):
            return "fade"
        return None


# ----------------------------------------------------------------------------- helpers


def _local_level(rows: dict[int, tuple[float, ...]], i: int, col: int) -> float | None:
    """The larger of the median score of the frames before ``i`` and the smaller of the two after
    (None when there is neither); ``col`` picks the score in ``rows``' tuples."""
    past = [rows[k][col] for k in range(i - _PAST, i) if k >= 1 and k in rows]
    ahead = [rows[k][col] for k in range(i + 1, i + 1 + _AHEAD) if k in rows]
    if not past and not ahead:
        return None
    return max(float(np.median(past)) if past else 0.0, min(ahead) if ahead else 0.0)


def _block_mean(y: np.ndarray, b: int) -> np.ndarray:
    """Mean of b x b blocks (trailing partial blocks dropped) as float32."""
    if b == 1:
        return y.astype(np.float32)
    h, w = y.shape
    hh, ww = h // b, w // b
    if hh == 0 or ww == 0:
        return np.array([[float(y.mean())]], np.float32)
    acc = y[0 : hh * b : b, : ww * b].astype(np.uint16 if b <= 16 else np.uint32)
    for k in range(1, b):
        acc += y[k : hh * b : b, : ww * b]
    out = acc.reshape(hh, ww, b).sum(axis=2, dtype=np.uint32).astype(np.float32)
    out *= 1.0 / (b * b)
    return out


def _half(t: np.ndarray) -> np.ndarray:
    h, w = t.shape
    if h < 2 or w < 2:
        return t
    h2, w2 = h // 2 * 2, w // 2 * 2
    return 0.25 * (t[0:h2:2, 0:w2:2] + t[1:h2:2, 0:w2:2] + t[0:h2:2, 1:w2:2] + t[1:h2:2, 1:w2:2])


def _shift_mad(prev: np.ndarray, cur: np.ndarray, r: int) -> float:
    """Smallest mean |cur - prev shifted by (dy, dx)| over |dy|, |dx| <= r (border of r dropped)."""
    h, w = cur.shape
    r = min(r, (h - 1) // 4, (w - 1) // 4)
    if r <= 0:
        return float(np.abs(cur - prev).mean())
    core = cur[r : h - r, r : w - r]
    win = sliding_window_view(prev, core.shape)  # (2r+1, 2r+1, h-2r, w-2r), a view
    return float(np.abs(win - core).mean(axis=(2, 3)).min())


def _creeping(flat_side: np.ndarray, k: np.ndarray, inner: np.ndarray) -> bool:
    """Is frame ``k`` still part of a fade: its mean luma differs from its neighbour towards the
    flat end, and lies between that neighbour's and the next inner frame's?"""
    m0, m1, m2 = float(flat_side.mean()), float(k.mean()), float(inner.mean())
    return abs(m1 - m0) >= _CREEP and (m0 - m1) * (m1 - m2) > 0


def _similarity(a_: np.ndarray, b_: np.ndarray, r: int = 3) -> float:
    """Largest normalised cross-correlation of ``b`` with ``a`` shifted by up to ``r`` pixels."""
    h, w = b_.shape
    r = max(0, min(r, (h - 3) // 4, (w - 3) // 4))
    core = b_[r : h - r, r : w - r]
    win = sliding_window_view(a_, core.shape)
    cz = core - core.mean()
    wz = win - win.mean(axis=(2, 3), keepdims=True)
    num = (wz * cz).mean(axis=(2, 3))
    den = np.sqrt((wz * wz).mean(axis=(2, 3)) * float((cz * cz).mean())) + 1e-6
    return float((num / den).max())


def _motion_residual(a_: np.ndarray, b_: np.ndarray, r: int = 2) -> float:
    """Mean |b - a| left once a global motion (a shift of up to ``r`` pixels in half-pixel steps,
    then a finer shift and a zoom fitted by least squares on the image gradients) is compensated."""
    h, w = b_.shape
    r = min(r, (h - 3) // 4, (w - 3) // 4)
    if r < 1:
        return float(np.abs(b_ - a_).mean())
    core = b_[r : h - r, r : w - r]
    win = sliding_window_view(a_, core.shape)
    mads = np.abs(win - core).mean(axis=(2, 3))
    dy, dx = np.unravel_index(int(mads.argmin()), mads.shape)
    # Half-pixel shifts around the best whole-pixel one: bilinear averages of neighbouring windows.
    y0, x0 = max(dy - 1, 0), max(dx - 1, 0)
    nb = win[y0 : dy + 2, x0 : dx + 2]
    hx = 0.5 * (nb[:, 1:] + nb[:, :-1])
    cands = [nb.reshape(-1, *core.shape), hx.reshape(-1, *core.shape),
             (0.5 * (nb[1:] + nb[:-1])).reshape(-1, *core.shape), (0.5 * (hx[1:] + hx[:-1])).reshape(-1, *core.shape)]
    cands = np.concatenate(cands)
    moved = cands[int(np.abs(cands - core).mean(axis=(1, 2)).argmin())]
    err = (core - moved)[1:-1, 1:-1].ravel()
    gx = 0.5 * (moved[1:-1, 2:] - moved[1:-1, :-2])
    gy = 0.5 * (moved[2:, 1:-1] - moved[:-2, 1:-1])
    yy, xx = _centred_grid(gx.shape)
    basis = np.stack([gx.ravel(), gy.ravel(), (xx * gx + yy * gy).ravel()])
    gram = basis @ basis.T
    try:
        coef = np.linalg.solve(gram + 1e-6 * np.trace(gram) * np.eye(3), basis @ err)
    except np.linalg.LinAlgError:
        return float(np.abs(err).mean())
    return float(np.abs(err - coef @ basis).mean())


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _centred_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    if shape not in _GRIDS:
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        _GRIDS[shape] = (yy - yy.mean(), xx - xx.mean())
    return _GRIDS[shape]


class _Ring:
    """The tiny thumbnails (and thumbnail standard deviations) of the last ``cap`` frames."""

    def __init__(self, cap: int):
        self.cap = cap
        self.buf: list[np.ndarray | None] = [None] * cap
        self.stds = np.zeros(cap)
        self.newest = -1

    @property
    def oldest(self) -> int:
        return max(0, self.newest - self.cap + 1)

    def put(self, i: int, t: np.ndarray, std: float) -> None:
        self.buf[i % self.cap] = t.astype(np.float16)  # 1/8 of a level near white: plenty, half the memory
        self.stds[i % self.cap] = std
        self.newest = i

    def get(self, i: int) -> np.ndarray:
        if not self.oldest <= i <= self.newest:
            raise IndexError(f"frame {i} is not in the ring ({self.oldest}..{self.newest})")
        return self.buf[i % self.cap].astype(np.float32)

    def std(self, i: int) -> float:
        return float(self.stds[i % self.cap])


class _Scdet:
    """FFmpeg's scdet filter through PyAV; returns ``lavfi.scd.score`` per frame."""

    def __init__(self, fps: Fraction, frame: Frame, thumb: np.ndarray, mode: str, threshold: float):
        import av
        import av.filter

        self.mode = mode
        tb = 1 / fps
        if mode == "full":
            w, h, fmt = frame.width, frame.height, "yuv420p"
        else:
            h, w = thumb.shape
            fmt = "gray"
        self.graph = av.filter.Graph()
        src = self.graph.add_buffer(width=w, height=h, format=fmt, time_base=tb)
        det = self.graph.add("scdet", f"threshold={threshold}")
        sink = self.graph.add("buffersink")
        src.link_to(det)
        det.link_to(sink)
        self.graph.configure()
        self.tb = tb

    def push(self, frame: Frame, thumb: np.ndarray, n: int) -> float:
        import av

        from ..io.avframes import to_av

        if self.mode == "full":
            vf = to_av(frame)
        else:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rint(thumb).astype(np.uint8)), format="gray")
        vf.pts = n
        vf.time_base = self.tb
        self.graph.push(vf)
        score = 0.0
        while True:
            try:
                out = self.graph.pull()
            except (av.BlockingIOError, av.EOFError):
                break
            score = float(out.metadata.get("lavfi.scd.score", 0.0))
        return score
