"""Benchmark settings: which codecs, how many rate points, which anchor, presets and configurations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..codec_config import CodecConfig, load_config
from ..errors import SettingsError
from ..metrics.bd import MIN_OVERLAP
from ..metrics.vmaf import VMAF_SCALES
from ..settings import AUTO_STRATEGY
from ..strategies import available_strategies

__all__ = ["BenchConfig", "DEFAULT_PRESETS", "ANCHOR_CODECS", "parse_presets", "parse_configs", "strategy_of",
           "rate_basis"]

#: Anchor presets used unless overridden: x264 medium, x265 medium, SVT-AV1 preset 6.
DEFAULT_PRESETS = {"x264": "medium", "x265": "medium", "av1": "6"}
#: Codecs measured as external anchors: their rate is the elementary stream's size
#: (what ``ffmpeg -c:v ... out.264`` writes), not the .ncv wrapper's.
ANCHOR_CODECS = ("x264", "x265", "av1")


def rate_basis(strategy: str) -> str:
    """How a strategy's points are rated: the anchors' classical encoders on their elementary stream
    (what ``ffmpeg -c:v ... out.265`` writes), every other strategy on the ``.ncv`` file."""
    return "elementary_stream" if strategy in ANCHOR_CODECS else "ncv_file"


def strategy_of(codec: str) -> str:
    """The strategy a codec label measures: ``"av1@4"`` -> ``"av1"`` (a label names one preset of it)."""
    return codec.split("@", 1)[0]


def parse_presets(text: str | None) -> dict[str, str]:
    """``"x264=fast,av1=8"`` -> ``{"x264": "fast", "av1": "8"}``."""
    out: dict[str, str] = {}
    for item in filter(None, (text or "").split(",")):
        if "=" not in item:
            raise SettingsError(f"preset override must look like codec=preset, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_configs(items: Iterable[str]) -> dict[str, CodecConfig]:
    """``["tuned=FILE.toml", ...]`` (the CLI's repeated ``--config``) -> ``{label: configuration}``.

    Each file is read and checked now (errors name it).
    """
    out: dict[str, CodecConfig] = {}
    for item in items:
        label, sep, path = item.partition("=")
        label, path = label.strip(), path.strip()
        if not sep or not label or not path:
            raise SettingsError(f"--config {item!r}: expected CODEC=FILE.toml")
        if label in out:
            raise SettingsError(f"--config {label} is given twice")
        out[label] = load_config(path)
    return out


@dataclass(frozen=True)
class BenchConfig:
    """What ``neurocodec bench`` measures.

    Args:
        codecs: Codec labels: ``x264``, ``x265``, ``av1`` (anchors), ``auto`` or any strategy, each
            optionally with ``@PRESET`` (``av1@4``) so that one strategy can be measured at several presets.
        points: Rate points per codec (CRF values evenly spread over the strategy's RD range).
        frames: Frames taken from the start of each clip.
        anchor: The codec BD-rates are computed against.
        presets: Per-codec preset overrides (defaults: :data:`DEFAULT_PRESETS`).
        configs: Codec labels measured with a configuration (``--config tuned=FILE.toml``): its
            strategy, preset and options (:class:`~neurocodec.codec_config.CodecConfig`); such a
            label takes no ``@PRESET`` and no preset override.
        low_delay: No B-frames / reordering for every codec (the "low-delay" configuration).
        workers: Rate points measured in parallel processes (timings then share the CPU).
        min_overlap: Least quality-range overlap for a BD-rate to be reported.
        seed_psnr: PSNR-YUV floor of the seed-target rate.
        seed_ssim: SSIM floor of the seed-target rate.
        vmaf: Also measure VMAF per point (libvmaf in the bundled FFmpeg, see docs/vmaf.md).
        vmaf_floor: With ``vmaf``: the VMAF (mean) whose lowest rate each clip's summary reports.
        vmaf_scale: With ``vmaf``: ``native`` or ``1080p`` (:data:`~neurocodec.metrics.vmaf.VMAF_SCALES`).
        verify_anchors: Rerun each classical point's recorded ``ffmpeg`` command with the bundled binary
            and compare its stream with the payload (:mod:`neurocodec.bench.verify`).
    """

    codecs: tuple[str, ...] = ("x264", "x265", "av1", "auto")
    points: int = 5
    frames: int = 64
    anchor: str = "x265"
    presets: dict[str, str] = field(default_factory=dict)
    configs: Mapping[str, CodecConfig] = field(default_factory=dict)
    low_delay: bool = False
    workers: int = 1
    min_overlap: float = MIN_OVERLAP
    seed_psnr: float = 35.0
    seed_ssim: float = 0.95
    vmaf: bool = False
    vmaf_floor: float = 95.0
    vmaf_scale: str = "native"
    verify_anchors: bool = False

    def __post_init__(self) -> None:
        if not self.codecs:
            raise SettingsError("no codecs to benchmark")
        if len(set(self.codecs)) != len(self.codecs):
            raise SettingsError("a codec is listed twice")
        if self.anchor not in self.codecs:
            raise SettingsError(f"anchor {self.anchor!r} must be one of the codecs ({', '.join(self.codecs)})")
        if not 4 <= self.points <= 20:
            raise SettingsError(f"points must be 4..20 (BD-rate needs at least 4), got {self.points}")
        if not 1 <= self.frames <= 100_000:
            raise SettingsError(f"frames must be at least 1, got {self.frames}")
        if not 1 <= self.workers <= 64:
            raise SettingsError(f"workers must be 1..64, got {self.workers}")
        if not 0 <= self.vmaf_floor <= 100:
            raise SettingsError(f"VMAF floor must be 0..100, got {self.vmaf_floor:g}")
        if self.vmaf_scale not in VMAF_SCALES:
            raise SettingsError(f"VMAF scale must be one of {', '.join(VMAF_SCALES)}, got {self.vmaf_scale!r}")
        for codec in self.codecs:
            name, at, preset = codec.partition("@")
            if not name or (at and not preset) or "@" in preset:
                raise SettingsError(f"codec {codec!r} must look like NAME or NAME@PRESET")
            if at and codec in self.presets:
                raise SettingsError(f"{codec}: preset given twice (in the label and in --preset)")
        unknown = set(self.presets) - set(self.codecs)
        if unknown:
            raise SettingsError(f"preset given for codec(s) not benchmarked: {', '.join(sorted(unknown))}")
        unknown = set(self.configs) - set(self.codecs)
        if unknown:
            raise SettingsError(f"--config given for codec(s) not benchmarked: {', '.join(sorted(unknown))}")
        for label, cfg in self.configs.items():
            if "@" in label or label in self.presets:
                raise SettingsError(f"{label}: a codec with a configuration takes its preset from the file, "
                                    "not from @PRESET or --preset")
            if label in (*available_strategies(), AUTO_STRATEGY) and label != cfg.strategy:
                raise SettingsError(f"{label}: names a strategy, but its configuration is for {cfg.strategy!r}")

    def strategy(self, codec: str) -> str:
        """The strategy a codec label measures: its configuration's, else the name (``av1@4`` -> ``av1``)."""
        cfg = self.configs.get(codec)
        return cfg.strategy if cfg else strategy_of(codec)

    def options(self, codec: str) -> dict[str, Any]:
        """The typed options a codec label is measured with (its configuration's; else none)."""
        cfg = self.configs.get(codec)
        return dict(cfg.options) if cfg else {}

    def preset(self, codec: str) -> str | None:
        """The preset of a codec label: its configuration's, its ``@PRESET``, else the override, else the anchor default."""
        if codec in self.configs:
            return self.configs[codec].preset
        name, at, preset = codec.partition("@")
        if at:
            return preset
        return self.presets.get(codec, DEFAULT_PRESETS.get(name))

    @property
    def mode(self) -> str:
        return "low_delay" if self.low_delay else "random_access"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["codecs"] = list(self.codecs)
        d["configs"] = {label: {"strategy": c.strategy, "preset": c.preset, "options": dict(c.options),
                                "provenance": dict(c.provenance)} for label, c in self.configs.items()}
        if not self.configs:  # a run without configurations writes the same document as before they existed
            del d["configs"]
        d["presets_used"] = {c: self.preset(c) for c in self.codecs}
        d["mode"] = self.mode
        if not self.vmaf:  # a run without VMAF writes the same document as before VMAF existed
            for k in ("vmaf", "vmaf_floor", "vmaf_scale"):
                del d[k]
        if not self.verify_anchors:
            del d["verify_anchors"]
        return d
