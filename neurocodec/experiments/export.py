"""A study's best feasible configuration as a codec configuration file (``neurocodec.config/1``).

The file carries where it came from (study, trial, scores, clips, code
version, the option keys the study searched) in its provenance table, never
the storage URL (it may hold a password). An ``auto`` configuration is
written whole: the effort's shipped values with the searched ones over them,
which is what the trial ran, so the file can become the effort's shipped
``neurocodec/presets/auto_EFFORT.toml``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from .._version import __version__
from ..codec_config import CodecConfig, auto_preset, check_config
from ..errors import SettingsError
from ..settings import AUTO_STRATEGY
from .study import Experiment, TrialRecord
from .validation import best_feasible

__all__ = ["choose_trial", "export_config"]

log = logging.getLogger(__name__)


def choose_trial(records: list[TrialRecord], ceiling: float | None = None) -> TrialRecord:
    """The lowest search BD-rate within the time ceiling, preferring trials whose validation stayed within it.

    Validation re-times a trial (and the anchor) on other clips: a trial over the ceiling there is
    kept only when no validated trial stayed within it, and its provenance says so.

    Raises:
        SettingsError: No finished trial is within the ceiling.
    """
    ranked = best_feasible(records, ceiling)
    if not ranked:
        limit = f" within time multiple {ceiling:g}" if ceiling is not None else " within the study's time ceiling"
        raise SettingsError(f"no finished trial{limit}; nothing to export")
    validated = [r for r in ranked if _validated(r)]
    within = [r for r in validated if ceiling is None or r.validation["time_multiple"] <= ceiling]
    return (within or validated or ranked)[0]


def _validated(r: TrialRecord) -> bool:
    return bool(r.validation) and r.validation.get("bd_rate") is not None


def export_config(exp: Experiment, study: str, ceiling: float | None = None) -> tuple[CodecConfig, TrialRecord]:
    """The configuration of the chosen trial (:func:`choose_trial`), with its provenance."""
    r = choose_trial(exp.records(), ceiling)
    space = exp.space
    strategy, preset, options = space.config_of(r.params)
    searched = sorted(options)
    if strategy == AUTO_STRATEGY:
        # An auto trial ran its effort's shipped values under the searched ones (as every auto encode does), so
        # that merge is what was measured; written out whole, the file can replace the effort's shipped one.
        preset = preset or "medium"
        options = dict(auto_preset(preset).options) | options
    v = r.validation if _validated(r) else None
    provenance = {
        "study": study,
        "trial": r.number,
        "metric": space.metric,
        "objective": space.objective,
        "search_bd_rate": round(r.score["bd_rate"], 4),
        "time_multiple": round(r.score["time_multiple"], 4),
        "validated": v is not None,
        "searched": searched,
    }
    if v is not None:
        provenance |= {"validation_bd_rate": round(v["bd_rate"], 4),
                       "validation_time_multiple": round(v["time_multiple"], 4)}
    ceiling_used = ceiling if ceiling is not None else space.max_time_multiple
    if ceiling_used is not None:
        provenance["max_time_multiple"] = ceiling_used
        if v is not None and v["time_multiple"] > ceiling_used:
            provenance["validation_within_time"] = False  # no validated trial stayed within the ceiling
            log.warning("trial %d took %.2fx the anchor's time on the validation clips, above the ceiling %g; "
                        "no validated trial stayed within it", r.number, v["time_multiple"], ceiling_used)
    provenance |= {
        "anchor": space.anchor.describe(),
        "points": space.points,
        "frames": space.frames,
        "frame_step": space.frame_step,
        "search_clips": [c.get("name") or "" for c in exp.clips],
        "validation_clips": list(v["clip_names"]) if v else [c.get("name") or "" for c in exp.validation_clips],
        "neurocodec_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    config = CodecConfig(strategy, preset, options, provenance)
    check_config(config, f"trial {r.number}")
    return config, r
