"""Encode options: one frozen dataclass, validated on construction."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from .errors import SettingsError

__all__ = ["EncodeOptions", "parse_bitrate", "DEVICES"]

DEVICES = ("auto", "cpu", "cuda")


def parse_bitrate(value: int | float | str | None) -> int | None:
    """Bits per second from ``1500000``, ``"1.5M"``, ``"800k"`` or ``"800kbps"``."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        bps = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]?)(?:b(?:ps|/s)?)?\s*", value)
        if not m:
            raise SettingsError(f"bitrate must look like 800k, 1.5M or 1500000, got {value!r}")
        bps = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
    if not 1000 <= bps <= 2e9:
        raise SettingsError(f"bitrate {value} is outside 1k .. 2G bits per second")
    return int(round(bps))


@dataclass(frozen=True)
class EncodeOptions:
    """Everything that decides the bytes of an encode (plus how many workers run it).

    Args:
        strategy: A strategy name, or ``"auto"`` (currently: x265; scene-adaptive
            selection replaces this when it lands).
        crf: Constant-quality factor on the strategy's scale.
        bitrate: Target bits per second (int or strings such as ``"1M"``).
        target_psnr: Lowest acceptable mean PSNR-YUV (dB) per segment.
        target_ssim: Lowest acceptable mean SSIM (Y) per segment.
        preset: Encoder speed preset.
        keyint: Maximum keyframe interval in frames.
        threads: Encoder threads (None: the strategy's deterministic default).
        low_delay: No B-frames / frame reordering.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (for neural strategies).
        workers: Segments encoded in parallel processes; never changes the bytes.
        segment_frames: Frames per segment (None: as many as fit ``memory_mb``, at most 300).
        memory_mb: Raw-frame memory one segment may hold when ``segment_frames`` is None.
        measure_quality: Decode each segment and report its quality.
    """

    strategy: str = "auto"
    crf: float | None = None
    bitrate: int | None = None
    target_psnr: float | None = None
    target_ssim: float | None = None
    preset: str | None = None
    keyint: int | None = None
    threads: int | None = None
    low_delay: bool = False
    device: str = "auto"
    workers: int = 1
    segment_frames: int | None = None
    memory_mb: int = 512
    measure_quality: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "bitrate", parse_bitrate(self.bitrate))
        if self.preset is not None:
            object.__setattr__(self, "preset", str(self.preset))
        modes = [self.crf is not None, self.bitrate is not None, self.targets_given]
        if sum(modes) > 1:
            raise SettingsError("choose one rate control: crf, bitrate, or target quality (target_psnr/target_ssim)")
        if self.target_psnr is not None and not 10 <= self.target_psnr <= 99:
            raise SettingsError(f"target PSNR {self.target_psnr} dB is outside 10..99")
        if self.target_ssim is not None and not 0 < self.target_ssim < 1:
            raise SettingsError(f"target SSIM {self.target_ssim} is outside (0, 1)")
        if self.targets_given and not self.measure_quality:
            raise SettingsError("target quality needs measure_quality")
        if not (self.device in DEVICES or re.fullmatch(r"cuda:\d+", self.device)):
            raise SettingsError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if not 1 <= self.workers <= 256:
            raise SettingsError(f"workers {self.workers} is outside 1..256")
        if self.segment_frames is not None and not 1 <= self.segment_frames <= 100_000:
            raise SettingsError(f"segment_frames {self.segment_frames} is outside 1..100000")
        if not 16 <= self.memory_mb <= 1 << 20:
            raise SettingsError(f"memory_mb {self.memory_mb} is outside 16..{1 << 20}")

    @property
    def targets_given(self) -> bool:
        return self.target_psnr is not None or self.target_ssim is not None

    def to_dict(self) -> dict:
        return asdict(self)
