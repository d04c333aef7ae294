"""Scene classes from :mod:`neurocodec.analysis.features`, by transparent rules.

The rules are tried in this order; the first that matches names the class:

1. ``fade``: the mean luma moves a lot, along a straight line, and that
   change explains most of the frame differences.
2. ``screen_content``: many exactly flat blocks, few luma levels and crisp
   one-pixel edges (text, slides, graphics).
3. ``high_motion``: fast motion, whatever moves.
4. ``talking_head``: a frontal face found in most sampled frames, with calm motion.
5. ``static``: almost nothing moves anywhere, or only a tiny part of the picture.
6. ``moderate_motion``: everything else.

Each threshold is a module constant with the reason for its value. They were
set from the features' meaning and then adjusted on the labelled development
clips (``benchmarks/classify_clips.py``, results in ``docs/scene-classes.md``),
so the agreement measured on those clips is optimistic.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CLASSES", "THRESHOLDS", "classify", "explain"]

#: Every class :func:`classify` can return.
CLASSES = ("static", "talking_head", "moderate_motion", "high_motion", "fade", "screen_content")

# --- fade ---------------------------------------------------------------------------------
#: A fade moves the mean luma by at least this many levels (a quarter of the way to black from mid-grey).
FADE_MIN_RANGE = 16.0
#: ... and that change explains at least half of the frame differences (non-fades here: < 0.45).
FADE_MIN_RATIO = 0.5
#: ... and follows a line (r^2), unlike flashes or cuts between a dark and a bright shot.
FADE_MIN_R2 = 0.6

# --- screen content -------------------------------------------------------------------------
#: Rendered pages have large exactly flat areas (0.36-0.6 on the screen clips); still, low-bitrate
#: camera video reaches 0.3-0.45 too, so the two tests below must also pass.
SCREEN_MIN_FLAT = 0.25
#: Text and graphics use a handful of levels: the 8 commonest cover at least half the pixels
#: (camera clips: mostly < 0.4; a plain sky can exceed it, hence the edge test).
SCREEN_MIN_LEVELS = 0.5
#: A fifth or more of the edges are steps of 64+ levels in one pixel (camera clips: mostly < 0.1,
#: fine high-contrast texture up to ~0.28, but never together with many flat blocks).
SCREEN_MIN_SHARP = 0.2

# --- motion -------------------------------------------------------------------------------
#: 1 % of the width per frame (12.8 px at 1280 wide) strains motion search and blurs: high motion.
HIGH_MOTION = 1.0
#: A face must show in at least this share of the sampled frames (the cascade misses some).
FACE_MIN_PRESENCE = 0.4
#: ... and be at least this large (share of the picture), so a face in a crowd does not count.
FACE_MIN_AREA = 0.02
#: A talking head keeps the camera and the body fairly calm: below 0.6 % of the width per frame.
TALKING_MAX_MOTION = 0.6
#: Static: the textured picture moves less than 0.15 % of the width per frame on average ...
STATIC_MOTION = 0.15
#: ... and even its fastest 5 % moves under 0.45 % (~1.4 px at 320 wide): no moving subject;
STATIC_P95 = 0.45
#: or under 2 % of the picture moves at all (a small object over a still, flat background).
STATIC_COVERAGE = 0.02

#: The default thresholds by name (pass a partial mapping to :func:`classify` to override some).
THRESHOLDS: dict[str, float] = {
    "FADE_MIN_RANGE": FADE_MIN_RANGE,
    "FADE_MIN_RATIO": FADE_MIN_RATIO,
    "FADE_MIN_R2": FADE_MIN_R2,
    "SCREEN_MIN_FLAT": SCREEN_MIN_FLAT,
    "SCREEN_MIN_LEVELS": SCREEN_MIN_LEVELS,
    "SCREEN_MIN_SHARP": SCREEN_MIN_SHARP,
    "HIGH_MOTION": HIGH_MOTION,
    "FACE_MIN_PRESENCE": FACE_MIN_PRESENCE,
    "FACE_MIN_AREA": FACE_MIN_AREA,
    "TALKING_MAX_MOTION": TALKING_MAX_MOTION,
    "STATIC_MOTION": STATIC_MOTION,
    "STATIC_P95": STATIC_P95,
    "STATIC_COVERAGE": STATIC_COVERAGE,
}

_NEEDED = (
    "luma_range",
    "fade_ratio",
    "luma_trend_r2",
    "flat_blocks",
    "level_concentration",
    "sharp_edges",
    "motion_mean",
    "motion_p95",
    "motion_coverage",
    "face_presence",
    "face_area",
)


def classify(features: Mapping[str, float], *, thresholds: Mapping[str, float] | None = None) -> str:
    """The class of a scene (one of :data:`CLASSES`) from its features.

    Args:
        features: As returned by :meth:`FeatureExtractor.scene_features
            <neurocodec.analysis.features.FeatureExtractor.scene_features>`.
        thresholds: Optional overrides of :data:`THRESHOLDS`, by name.
    """
    return explain(features, thresholds=thresholds)[0]


def explain(features: Mapping[str, float], *, thresholds: Mapping[str, float] | None = None) -> tuple[str, str]:
    """Like :func:`classify`, plus a short reason naming the rule that decided."""
    missing = [k for k in _NEEDED if k not in features]
    if missing:
        raise ValueError(f"scene features lack {', '.join(missing)}")
    t = dict(THRESHOLDS)
    if thresholds:
        unknown = set(thresholds) - set(t)
        if unknown:
            raise ValueError(f"unknown thresholds {', '.join(sorted(unknown))}; known: {', '.join(t)}")
        t.update({k: float(v) for k, v in thresholds.items()})
    f = {k: float(features[k]) for k in _NEEDED}

    if (
        f["luma_range"] >= t["FADE_MIN_RANGE"]
        and f["fade_ratio"] >= t["FADE_MIN_RATIO"]
        and f["luma_trend_r2"] >= t["FADE_MIN_R2"]
    ):
        return "fade", f"luma moves {f['luma_range']:.0f} levels in a line, {f['fade_ratio']:.0%} of the change"
    if (
        f["flat_blocks"] >= t["SCREEN_MIN_FLAT"]
        and f["level_concentration"] >= t["SCREEN_MIN_LEVELS"]
        and f["sharp_edges"] >= t["SCREEN_MIN_SHARP"]
    ):
        return "screen_content", (
            f"{f['flat_blocks']:.0%} flat blocks, {f['level_concentration']:.0%} in 8 levels, "
            f"{f['sharp_edges']:.0%} sharp edges"
        )
    if f["motion_mean"] >= t["HIGH_MOTION"]:
        return "high_motion", f"motion {f['motion_mean']:.2f} %w/frame >= {t['HIGH_MOTION']}"
    if (
        f["face_presence"] >= t["FACE_MIN_PRESENCE"]
        and f["face_area"] >= t["FACE_MIN_AREA"]
        and f["motion_mean"] < t["TALKING_MAX_MOTION"]
    ):
        return "talking_head", f"face in {f['face_presence']:.0%} of samples, motion {f['motion_mean']:.2f}"
    if f["motion_mean"] < t["STATIC_MOTION"] and f["motion_p95"] < t["STATIC_P95"]:
        return "static", f"motion {f['motion_mean']:.2f}, p95 {f['motion_p95']:.2f} %w/frame"
    if f["motion_coverage"] < t["STATIC_COVERAGE"]:
        return "static", f"only {f['motion_coverage']:.1%} of the picture moves"
    return "moderate_motion", f"motion {f['motion_mean']:.2f}, p95 {f['motion_p95']:.2f} %w/frame"
