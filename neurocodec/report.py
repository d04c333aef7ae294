"""Encode reports: what the CLI prints, ``--stats-json`` writes, and the benchmarks read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .strict_json import dumps

__all__ = ["SegmentReport", "EncodeReport"]


@dataclass
class SegmentReport:
    """One segment of an encode. ``end_frame`` is exclusive (Av1an's convention).

    ``probes`` are the trial encodes (strategy, preset, CRF, bits, quality) the
    decision was taken from, ``decision`` the chosen candidate with its
    predicted rate and quality and Lagrangian cost, and ``tries`` the final
    encodes of a target-quality search. ``vmaf`` (only with a VMAF target) is the
    kept encode's VMAF on every frame: ``value`` pooled by ``pool`` (what the
    target was checked against), and ``mean``, ``harmonic_mean``, ``p5``, ``frames``.
    """

    index: int
    start_frame: int
    end_frame: int
    strategy: str
    params: dict[str, Any]
    bytes: int
    encode_seconds: float
    quality: dict[str, Any] | None = None
    target_met: bool | None = None
    probes: list[dict[str, Any]] = field(default_factory=list)
    scene_class: str | None = None
    transition: str | None = None
    decision: dict[str, Any] | None = None
    tries: list[dict[str, Any]] = field(default_factory=list)
    vmaf: dict[str, Any] | None = None


@dataclass
class EncodeReport:
    """Result of :func:`neurocodec.encode`.

    ``bytes`` is the size of the written ``.ncv`` file and ``bitrate_kbps``
    is ``bytes * 8 / duration / 1000``: real file size, container included.
    """

    path: str
    source: str
    width: int
    height: int
    fps: str
    frames: int
    bytes: int
    duration_s: float
    bitrate_kbps: float
    encode_seconds: float
    options: dict[str, Any]
    segments: list[SegmentReport]
    quality: dict[str, Any] | None = None
    allocation: dict[str, Any] | None = None

    @property
    def strategies(self) -> list[str]:
        return [s.strategy for s in self.segments]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "neurocodec.encode_report/1", **asdict(self)}

    def to_json(self) -> str:
        return dumps(self.to_dict(), indent=2, sort_keys=False)
