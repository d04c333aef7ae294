"""Scenes as plain data, saved and loaded in Av1an's scene-file shape.

``{"scenes": [{"start_frame": 0, "end_frame": 120, ...}], "frames": N}``
with ``end_frame`` exclusive, extended with ``"class"``, ``"transition"``
(how the scene begins: ``start``, ``cut``, ``fade``, ``dissolve`` or
``split`` for a long scene cut at the maximum length) and ``"features"``.
Such a file can be edited by hand and fed back with ``--scenes``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.atomic import atomic_path
from ..strict_json import dumps

__all__ = ["Scene", "Transition", "save_scenes", "load_scenes", "split_scenes", "TRANSITION_KINDS"]

TRANSITION_KINDS = ("start", "cut", "fade", "dissolve", "split")


@dataclass(frozen=True)
class Transition:
    """A shot boundary found by the detector.

    Args:
        frame: First frame of the new shot (for gradual transitions: first frame of the transition).
        kind: ``cut``, ``fade`` or ``dissolve``.
        length: Frames the gradual transition lasts (0 for a cut).
        score: Detector confidence, for diagnostics.
    """

    frame: int
    kind: str = "cut"
    length: int = 0
    score: float = 0.0


@dataclass
class Scene:
    """A run of frames coded as one segment."""

    start_frame: int
    end_frame: int
    transition: str = "cut"
    scene_class: str | None = None
    features: dict[str, float] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start_frame": self.start_frame, "end_frame": self.end_frame, "transition": self.transition}
        if self.scene_class is not None:
            d["class"] = self.scene_class
        if self.features:
            d["features"] = {k: round(float(v), 5) for k, v in sorted(self.features.items())}
        return d


def split_scenes(
    transitions: list[Transition], total: int, *, min_frames: int, max_frames: int
) -> list[Scene]:
    """Turn detector transitions into scenes of ``min_frames..max_frames`` frames.

    Boundaries closer than ``min_frames`` to the previous one are dropped
    (the later one loses); a gradual transition long enough becomes a scene of
    its own; scenes longer than ``max_frames`` are split into equal parts.
    """
    if total < 1:
        return []
    bounds: dict[int, str] = {0: "start"}
    for t in sorted(transitions, key=lambda t: t.frame):
        marks = [(t.frame, t.kind)]
        if t.length >= min_frames:
            marks.append((t.frame + t.length, "cut" if t.kind == "dissolve" else t.kind))
        for frame, kind in marks:
            if 0 < frame < total:
                bounds.setdefault(frame, kind)
    kept: list[tuple[int, str]] = []
    for frame, kind in sorted(bounds.items()):
        if kept and frame - kept[-1][0] < min_frames:
            continue
        kept.append((frame, kind))
    if len(kept) > 1 and total - kept[-1][0] < min_frames:
        kept.pop()
    scenes: list[Scene] = []
    for i, (start, kind) in enumerate(kept):
        end = kept[i + 1][0] if i + 1 < len(kept) else total
        parts = -(-(end - start) // max_frames)
        for p in range(parts):
            a = start + (end - start) * p // parts
            b = start + (end - start) * (p + 1) // parts
            scenes.append(Scene(a, b, kind if p == 0 else "split"))
    return scenes


def save_scenes(path: str | os.PathLike, scenes: list[Scene], frames: int) -> None:
    """Write an Av1an-shaped scene file."""
    doc = {"scenes": [s.to_dict() for s in scenes], "frames": frames}
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(dumps(doc, indent=1) + "\n")


def load_scenes(path: str | os.PathLike) -> tuple[list[Scene], int]:
    """Read and check a scene file (Av1an's, or one this module wrote)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise InputError(f"{p}: no such scene file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a JSON scene file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("scenes"), list) or not isinstance(doc.get("frames"), int):
        raise InputError(f'{p}: expected {{"scenes": [...], "frames": N}}')
    scenes = []
    expect = 0
    for i, s in enumerate(doc["scenes"]):
        try:
            start, end = int(s["start_frame"]), int(s["end_frame"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{p}: scene {i} needs integer start_frame and end_frame") from None
        if start != expect or end <= start:
            raise InputError(f"{p}: scene {i} covers {start}..{end}, expected to start at {expect} and be non-empty")
        feats = s.get("features") or {}
        scenes.append(Scene(start, end, str(s.get("transition", "cut")), s.get("class"), dict(feats)))
        expect = end
    if expect != doc["frames"]:
        raise InputError(f"{p}: scenes cover {expect} frames but the file says {doc['frames']}")
    return scenes, doc["frames"]
