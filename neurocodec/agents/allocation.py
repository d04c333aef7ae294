"""Rate control: which mode an encode runs in, where its probes centre, and the bitrate allocator.

The mode follows from the options: target quality, target bitrate, the
quality knob (always with ``auto``), or a named strategy's own settings.
With a target bitrate every scene is probed first, and one Lagrange
multiplier shares the bits (equal slope, :func:`.rd.lambda_for_budget`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..errors import SettingsError
from ..settings import DEFAULT_QUALITY, EncodeOptions
from .rd import CandidateModel, Decision, lambda_for_budget

__all__ = [
    "RateMode",
    "probe_center",
    "Allocation",
    "allocate_bitrate",
    "container_overhead_bits",
    "CONTAINER_BYTES",
    "SEGMENT_BYTES",
]

#: Container bytes an encode pays once, as the bitrate allocator estimates them: preamble (10), HEAD chunk
#: (44), ``meta`` (about 65), INDX, NEND and ``scnb`` framing (about 60), and the first segment's params
#: (since bitstream 1.2 a patch over its strategy's base params: docs/bitstream.md).
CONTAINER_BYTES = 200
#: Container bytes per segment, as estimated: its SEGM chunk framing (12) and prefix (strategy name, frame
#: range, its params' changes), its index entry (a few varints) and its 6-byte ``scnb`` row.
#:
#: Estimates, not sizes: a segment's params are only known once it is decided. Measured with bitstream 1.2
#: (x264 and SVT-AV1 at CRF 40, 1, 4 and 8 fixed segments of the first 48 frames of multiscene_qcif_62f):
#: 202 + 35 per segment for x264, 201 + 35 per segment for SVT-AV1, container bytes besides the segments'
#: payloads (1.1: 324 and 286 + 35).
SEGMENT_BYTES = 35


class RateMode(Enum):
    """How each scene's rate is chosen; the value is the name reports and scene jobs use."""

    #: A named strategy with its own settings (``crf``/``preset`` as given).
    FIXED = "fixed"
    #: The quality knob: least ``D + lambda * R`` per scene (always with ``auto``).
    LAGRANGIAN = "lagrangian"
    #: Fewest bits meeting ``target_psnr``/``target_ssim``/``target_vmaf``, verified on the final encode.
    TARGET = "target"
    #: A bitrate for the whole video: probe every scene, then one ``lambda`` for all.
    BITRATE = "bitrate"

    @classmethod
    def of(cls, options: EncodeOptions) -> RateMode:
        if options.targets_given:
            return cls.TARGET
        if options.bitrate is not None:
            return cls.BITRATE
        if options.auto or options.quality is not None:
            return cls.LAGRANGIAN
        return cls.FIXED

    @property
    def scene_mode(self) -> str:
        """The :class:`~.scene.SceneJob` mode: scenes of a bitrate encode get their decision made beforehand."""
        return "decided" if self is RateMode.BITRATE else self.value


def probe_center(mode: RateMode, options: EncodeOptions) -> float:
    """The quality knob trial encodes centre on: for a PSNR or VMAF target, a knob likely near it.

    x265 at CRF ``c`` gave about ``73 - c`` dB PSNR-YUV on the development clips. For VMAF only a
    rough guess (about 2.5 points per knob step, VMAF 90 near knob 28): refinement probes and the
    verification of the final encode correct it.
    """
    if mode is not RateMode.TARGET:
        return options.quality_knob
    if options.target_psnr is not None:
        return min(max(73.0 - options.target_psnr, 12.0), 45.0)
    if options.target_vmaf is not None:
        return min(max(DEFAULT_QUALITY + (90.0 - options.target_vmaf) / 2.5, 12.0), 45.0)
    return DEFAULT_QUALITY


def container_overhead_bits(segments: int) -> int:
    """The container's own bits for ``segments`` segments, as the allocator estimates them."""
    return 8 * (CONTAINER_BYTES + SEGMENT_BYTES * segments)


@dataclass(frozen=True)
class Allocation:
    """A bitrate encode's decisions, one per scene, and what the report tells about them."""

    decisions: list[Decision]
    lam: float
    target_bps: int
    predicted_bps: float

    def to_dict(self) -> dict[str, Any]:
        return {"lambda": self.lam, "target_bps": self.target_bps, "predicted_bps": self.predicted_bps}


def allocate_bitrate(scenes: Sequence[tuple[int, Sequence[CandidateModel]]], duration_s: float, bitrate: int
                     ) -> Allocation:
    """Share ``bitrate * duration_s`` bits, less the container's, among the scenes by equal slope.

    Args:
        scenes: ``(frame_count, models)`` per scene, in order.
        duration_s: The video's duration.
        bitrate: Target bits per second, container included.

    Raises:
        SettingsError: The budget does not even cover the container.
    """
    overhead_bits = container_overhead_bits(len(scenes))
    budget = bitrate * duration_s - overhead_bits
    if budget <= 0:
        raise SettingsError(f"bitrate {bitrate} b/s is below the container's own overhead")
    lam, decisions = lambda_for_budget(scenes, budget)
    predicted = sum(n * d.predicted_bits_per_frame for (n, _), d in zip(scenes, decisions)) + overhead_bits
    return Allocation(decisions, lam, bitrate, predicted / duration_s)
