"""The shot detector's tuning: every threshold, typed, with its unit and the reason for its default.

The measurements behind the defaults are in docs/scene-detection.md. Fixed
design constants that are not meant to be tuned (look-back and look-ahead
lengths, the motion and ramp limits of the gradual test) live next to the code
that uses them in :mod:`.cuts` and :mod:`.gradual`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from numbers import Integral, Real
from types import MappingProxyType
from typing import Literal

from ..errors import SettingsError

__all__ = ["CUT_METHODS", "SCDET_INPUTS", "ShotTuning", "DEFAULT_TUNING"]

#: Values of :attr:`ShotTuning.cut_method`.
CUT_METHODS = ("own", "scdet", "both")
#: Values of :attr:`ShotTuning.scdet_input`.
SCDET_INPUTS = ("full", "thumb")

_INT_FIELDS = ("analysis_width", "search", "gradual_min_frames")
_FLOAT_FIELDS = (
    "cut_threshold", "cut_ratio", "cut_strong", "cut_strong_ratio", "scdet_threshold", "cut_clear_ratio",
    "tonal_threshold", "tonal_ratio", "gradual_min_change", "gradual_max_residual", "gradual_max_misfit",
    "gradual_max_seconds", "flat_std",
)
_MINIMUM = {"analysis_width": 1, "gradual_min_frames": 1}  # int fields not listed here may be 0
_POSITIVE = ("gradual_max_seconds",)  # float fields that must be above 0 (the others may be 0)


@dataclass(frozen=True)
class ShotTuning:
    """Thresholds of :class:`~neurocodec.analysis.shots.ShotDetector` (all defaults measured).

    "Levels" are 8-bit luma levels; "the level" of a score is its local level:
    the larger of the median score of the 5 frames before and the smaller
    score of the 2 frames after (see :mod:`.cuts`).

    Attributes:
        cut_method: ``"own"`` (our motion-tolerant test or the tonal test),
            ``"scdet"`` (FFmpeg's filter alone) or ``"both"``. Default
            ``"both"``: each detector alone fails where the other does not
            (scdet on whip pans and cuts out of fast pans, ours on jerky
            handheld motion), and the combination is the only variant with no
            false cut on the false-alarm clips and every synthetic cut.
        analysis_width: Bound on the luma thumbnail's width, pixels (block means
            of ``ceil(width / analysis_width)`` pixels). Default 160: the cost
            per frame then hardly depends on the resolution (about 1 ms per
            720p frame) and the thumbnail halved once (at most 80 pixels) still
            shows the motion the tests need.
        search: Motion search radius of our cut score, pixels of the (at most
            80-pixel) thumbnail; 0 is the plain difference. Default 3: a pan of
            up to about 4 % of the width per frame costs nothing; without the
            search (``own-plain``) whip pans and fast synthetic pans cut.
        cut_threshold: Floor of our cut score (and of the tonal test's), levels.
            Default 12: with it every variant finds every cut the minimum-scene
            rule allows in the three ground-truth clips.
        cut_ratio: Our score over its local level for a cut. Default 2.5:
            steady fast motion raises the level with the score; the jerky
            handheld motion that also passes (2.5-3.4 times) is vetoed by scdet.
        cut_strong: ``"both"``: our score that needs no scdet confirmation when
            it is also ``cut_strong_ratio`` times its level, levels. Default 30:
            scdet misses a cut out of a very fast pan; the jerky handheld
            motion scdet vetoes scores 16-23.
        cut_strong_ratio: See ``cut_strong``. Default 3.5: above the 2.5-3.4
            times the level of that handheld motion.
        scdet_threshold: scdet's threshold (its score is a percentage of full
            scale). Default 10, scdet's own default (about 25 levels).
        scdet_input: ``"thumb"`` (the grey analysis thumbnail) or ``"full"``
            (whole YUV frames). Default ``"thumb"``: the same cuts everywhere
            measured, 0.2 ms (720p) to 0.4 ms (1080p) per frame cheaper.
        cut_clear_ratio: ``"both"``: our score this many times its level needs
            no scdet when the tonal change is at least ``tonal_threshold``.
            Default 8: moderate cuts between smooth shots (which scdet, a plain
            difference, misses under about 25 levels) score 34-79 times their
            level; chosen on seeds 0-7 of the synthetic hard-cut set and checked
            on seeds 8-15 (issue 13).
        tonal_threshold: Tonal change (distance between the luma histograms of
            consecutive 40-pixel thumbnails) that counts as changed tones,
            levels. Default 8: a pan over noise changes it by 0.3-2 levels per
            frame, a scrolled page by 3.4, a cut to an unrelated picture
            usually by 10-110.
        tonal_ratio: A tonal change this many times its local level (with our
            score at least ``cut_threshold``) is a cut on its own. Default 10:
            the closest real non-cuts measured reach 8.3 times (a bird flying
            out of the frame), 7.4 and 6.9 (a whip pan).
        gradual: Look for fades and dissolves at all. Default True.
        gradual_scales: Frames before and after each tested frame that it is
            tested as a blend of; None means 2, 4, 8 and 0.32 s (``round(8 fps
            / 25)``, when more than 8). Over a few frames a slow pan is a blend
            (a sub-pixel shift is an interpolation); at the larger scales the
            same pan is a shift again, and 0.32 s keeps the largest scale as
            long in time at high frame rates. Given values are stored sorted
            and without repeats.
        gradual_min_change: Smallest mean ``|B - A|`` of the 80-pixel
            thumbnails between the frames a blend is tested against (and
            between a transition's ends), levels. Default 6; a dissolve between
            shots that differ by less is not seen (docs: Limits).
        gradual_max_residual: Per-frame blend test: largest misfit, relative to
            ``|B - A|``. Default 0.35.
        gradual_max_misfit: Whole transition: largest median misfit of its
            frames against blends of its ends, relative to ``|B - A|``. Default
            0.25: real dissolves measured 0.00-0.16; 0.35 let a 5-frame false
            dissolve through in a handheld close-up, and single shots reach 0.26.
        gradual_min_frames: Shortest gradual transition, frames. Default 3:
            shorter ones are cuts or nothing.
        gradual_max_seconds: Longest gradual transition, seconds (and with it
            the thumbnail ring: about 1 MB at 25 fps). Default 5: the longest
            measured fade (the airplane clip's) lasts 4 s.
        flat_std: A frame whose thumbnail's luma standard deviation is at most
            this is flat (black, white, grey), levels: a fade's end, never a
            blend frame. Default 4.
    """

    cut_method: Literal["own", "scdet", "both"] = "both"
    analysis_width: int = 160
    search: int = 3
    cut_threshold: float = 12.0
    cut_ratio: float = 2.5
    cut_strong: float = 30.0
    cut_strong_ratio: float = 3.5
    scdet_threshold: float = 10.0
    scdet_input: Literal["full", "thumb"] = "thumb"
    cut_clear_ratio: float = 8.0
    tonal_threshold: float = 8.0
    tonal_ratio: float = 10.0
    gradual: bool = True
    gradual_scales: tuple[int, ...] | None = None
    gradual_min_change: float = 6.0
    gradual_max_residual: float = 0.35
    gradual_max_misfit: float = 0.25
    gradual_min_frames: int = 3
    gradual_max_seconds: float = 5.0
    flat_std: float = 4.0

    def __post_init__(self) -> None:
        if self.cut_method not in CUT_METHODS:
            raise SettingsError(f"cut_method must be one of {', '.join(CUT_METHODS)}, got {self.cut_method!r}")
        if self.scdet_input not in SCDET_INPUTS:
            raise SettingsError(f"scdet_input must be 'full' or 'thumb', got {self.scdet_input!r}")
        if not isinstance(self.gradual, bool):
            raise SettingsError(f"gradual must be True or False, got {self.gradual!r}")
        for name in _INT_FIELDS:
            value = getattr(self, name)
            low = _MINIMUM.get(name, 0)
            if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
                raise SettingsError(f"{name} must be a whole number of at least {low}, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            positive = name in _POSITIVE
            if (not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value)
                    or value < 0 or (positive and value == 0)):
                raise SettingsError(f"{name} must be a finite number {'above' if positive else 'of at least'} 0,"
                                    f" got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.gradual_scales is not None:
            object.__setattr__(self, "gradual_scales", _scales(self.gradual_scales))

    def replace(self, **changes: object) -> ShotTuning:
        """A copy with some settings changed (validated like the constructor).

        Raises:
            SettingsError: A name is not a setting, or a value is out of range.
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SettingsError(f"unknown shot-detector setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def scales(self, fps: Fraction) -> tuple[int, ...]:
        """The gradual test's scales at frame rate ``fps``, ascending (see ``gradual_scales``)."""
        if self.gradual_scales is not None:
            return self.gradual_scales
        return tuple(sorted({2, 4, 8, max(8, round(8 * float(fps) / 25))}))

    def max_gradual_frames(self, fps: Fraction) -> int:
        """The longest gradual transition at frame rate ``fps``, frames (at least ``gradual_min_frames``)."""
        return max(self.gradual_min_frames, round(float(fps) * self.gradual_max_seconds))


def _scales(values: object) -> tuple[int, ...]:
    if not isinstance(values, Iterable) or isinstance(values, (str, bytes)):
        raise SettingsError(f"gradual_scales must be None or a list of frame counts, got {values!r}")
    values = list(values)
    if not values or any(not isinstance(h, Integral) or isinstance(h, bool) or h < 1 for h in values):
        raise SettingsError(f"gradual_scales must hold whole numbers of at least 1 (frames), got {values!r}")
    return tuple(sorted({int(h) for h in values}))


#: The default settings by name, read-only (``dataclasses.asdict(ShotTuning())``).
DEFAULT_TUNING: Mapping[str, object] = MappingProxyType(dataclasses.asdict(ShotTuning()))
