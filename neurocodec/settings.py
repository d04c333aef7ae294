"""Encode options: one frozen dataclass, validated on construction, and what the options mean.

:class:`EncodeOptions` is the one settings object from the API to the
strategies: the strategies' share of it is derived in one place
(:meth:`EncodeOptions.strategy_settings`), as is the meaning ``crf``,
``preset`` and ``opts`` take with ``strategy="auto"`` (the quality knob, the
search effort, and :class:`AutoOptions`: auto's own typed constants).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .analysis.shot_tuning import ShotTuning
from .errors import SettingsError, ToolMissingError
from .io.ffmpeg_tool import ffmpeg_exe
from .metrics.vmaf import VMAF_POOLS
from .strategies.base import AUTO_EFFORTS, StrategySettings
from .strategies.options import build_options, option

__all__ = ["EncodeOptions", "AutoOptions", "parse_bitrate", "DEVICES", "AUTO_STRATEGY", "AUTO_SPEEDS",
           "QUALITY_RANGE", "DEFAULT_QUALITY", "LOCAL_CLUSTER", "check_cluster",
           "CLUSTER_FRAMES"]

DEVICES = ("auto", "cpu", "cuda")
#: The strategy name that lets the encoder choose per scene.
AUTO_STRATEGY = "auto"
#: The quality knob's scale (x265-CRF-like): ``quality``, and ``crf`` with ``strategy="auto"``.
QUALITY_RANGE = (0, 51)
#: With ``strategy="auto"``, ``preset`` is the search effort (the strategies declare what they do at each).
AUTO_SPEEDS = AUTO_EFFORTS
#: The quality knob when neither ``quality`` nor (with ``auto``) ``crf`` is given.
DEFAULT_QUALITY = 28.0


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


#: ``--cluster local:N``: a Dask LocalCluster of N worker processes (:mod:`neurocodec.agents.cluster`).
LOCAL_CLUSTER = re.compile(r"local:(\d{1,3})")
_SCHEDULER = re.compile(r"(tcp|tls|inproc|ucx)://[^\s/]+")


#: ``--cluster-frames``: how a cluster job gets its scene's frames (:mod:`neurocodec.agents.remote`).
CLUSTER_FRAMES = ("auto", "read", "send")


def check_cluster(spec: str) -> None:
    """Raises SettingsError unless ``spec`` is ``local:N`` (N 1..256) or a Dask scheduler address."""
    m = LOCAL_CLUSTER.fullmatch(spec)
    if (m and 1 <= int(m.group(1)) <= 256) or (not m and _SCHEDULER.fullmatch(spec)):
        return
    raise SettingsError(f"cluster {spec!r} is not local:N (N 1..256) or a scheduler address such as tcp://HOST:8786")


@dataclass(frozen=True)
class AutoOptions:
    """``auto``'s decision constants, typed options like a strategy's (``--opt KEY=VALUE`` with ``auto``).

    Each search effort (``--preset fast|medium|slow``) ships its values as a
    configuration file, ``neurocodec/presets/auto_EFFORT.toml``
    (:func:`neurocodec.codec_config.auto_preset`); options given with the
    encode override them key by key. The defaults here are the ``medium``
    effort's values, and what a named strategy's CRF search (``--quality``,
    ``--bitrate``, quality targets) uses.

    Attributes:
        candidates: Candidate strategies tried per scene, best-ranked for the scene's class first
            (each with the encoder presets it declares for the effort); 99: all of them.
        probe_window: Frames of a scene's trial window (a contiguous run from its middle).
        probe_points: CRFs each candidate is trial-encoded at, spread about the quality knob.
        calibrate: Also trial each candidate once at its final preset (where its trials run at a faster
            one) and move the trials to that level (:class:`~neurocodec.agents.rd.CandidateModel`). Off,
            candidates are compared at the trial preset, which costs a fraction of a final encode.
        lambda_scale: Multiplies each scene's Lagrange multiplier (1: the slope of its best-ranked
            candidate at that candidate's quality-map CRF, :func:`neurocodec.agents.rd.scene_lambda`;
            above 1 favours fewer bits). Only scenes with several candidates use one; a ``--bitrate``
            encode finds its multiplier from the budget instead, and quality targets use none.
        ladder_crf: Candidates that win only at low rates (the resolution ladder) are tried where the
            scene's best-ranked candidate's CRF for the knob (its quality map) is at least this; below,
            they are screened out, and a scene left with one candidate needs no trials.
        cut_threshold: Scene detection: floor of the motion-compensated cut score, 8-bit levels
            (:class:`~neurocodec.analysis.shot_tuning.ShotTuning`, which documents the measurements).
        cut_ratio: Scene detection: the cut score over its local level for a cut.
        scdet_threshold: Scene detection: FFmpeg scdet's threshold, percent of full scale.
    """

    candidates: int = option(1, int, "Candidate strategies tried per scene, best-ranked first (99: all).",
                             range=(1, 99))
    probe_window: int = option(24, int, "Frames of each scene's trial window (from its middle).", range=(1, 300))
    probe_points: int = option(3, int, "CRFs each candidate is trial-encoded at.", range=(1, 8))
    calibrate: bool = option(True, bool, "Trial each candidate once at its final preset to calibrate the faster "
                             "trials.")
    lambda_scale: float = option(1.0, float, "Multiplies each scene's Lagrange multiplier (1: as calibrated).",
                                 range=(0, 100), low_open=True)
    ladder_crf: int = option(50, int, "Try the resolution ladder where the best-ranked candidate's CRF for the "
                             "knob is at least this.", range=(0, 63))
    cut_threshold: float = option(12.0, float, "Scene detection: floor of the cut score, 8-bit levels.",
                                  range=(0, 255))
    cut_ratio: float = option(2.5, float, "Scene detection: cut score over its local level for a cut.",
                              range=(1, 100))
    scdet_threshold: float = option(10.0, float, "Scene detection: FFmpeg scdet threshold, percent.",
                                    range=(0, 100))

    def shot_tuning(self) -> ShotTuning:
        """The shot detector's thresholds with these scene-detection values (the rest at their defaults)."""
        return ShotTuning(cut_threshold=self.cut_threshold, cut_ratio=self.cut_ratio,
                          scdet_threshold=self.scdet_threshold)


@dataclass(frozen=True)
class EncodeOptions:
    """Everything that decides the bytes of an encode (plus how many workers run it).

    Args:
        strategy: A strategy name, or ``"auto"``: per scene, the candidate strategy
            and CRF with the best measured rate-distortion trade-off.
        crf: Constant-quality factor on the strategy's scale (with ``auto``: the quality knob).
        quality: The quality knob, on an x265-CRF-like scale (lower is better):
            one Lagrangian operating slope for every scene and strategy.
        bitrate: Target bits per second (int or strings such as ``"1M"``).
        target_psnr: Lowest acceptable mean PSNR-YUV (dB) per segment.
        target_ssim: Lowest acceptable mean SSIM (Y) per segment.
        target_vmaf: Lowest acceptable VMAF (0..100, pooled by ``vmaf_pool``) per segment; needs
            the bundled FFmpeg (``imageio-ffmpeg``).
        vmaf_pool: How a segment's per-frame VMAF is pooled for ``target_vmaf``: ``mean`` (the
            default), ``harmonic`` or ``p5`` (5th percentile).
        preset: Encoder speed preset; with ``auto`` the search effort (fast, medium, slow).
        keyint: Maximum keyframe interval in frames.
        threads: Encoder threads (None: the strategy's deterministic default).
        low_delay: No B-frames / frame reordering.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (for neural strategies).
        intra_model: Learned intra model for neural strategies: a shipped name
            (``intra_yuv420``, the default) or a weights file.
        opts: The named strategy's own options, ``key -> value`` (``neurocodec strategies NAME``
            lists them), checked by the strategy when the encoder starts; with ``auto``,
            :class:`AutoOptions` over the effort's shipped values, checked here.
        workers: Segments encoded in parallel processes; never changes the bytes.
        cluster: Run the scene jobs on Dask instead: ``local:N`` or a scheduler address
            (``tcp://HOST:8786``; :mod:`neurocodec.agents.cluster`); never changes the bytes.
        parts: Folder for the part store (``PARTS/OUT.ncv-HASH.parts/``; default beside the output):
            on a cluster, storage the workers share, so each writes its finished scene there.
        cluster_frames: On a cluster, ``read`` (each worker reads its scene from the source
            where every worker can open it), ``send`` (this process sends each scene's frames)
            or ``auto`` (send when every worker runs on this machine, else read).
        segment_frames: Fixed-length segments instead of detected scenes.
        min_scene_frames, max_scene_frames: Scene length limits (defaults: 0.4 s, and
            10 s or what fits ``memory_mb``, at most 300 frames).
        memory_mb: Raw-frame memory one scene may hold (``workers + 1`` scenes are in flight).
        measure_quality: Decode each segment and report its quality.
        scenes_file: Use these scenes (Av1an JSON) instead of detecting them.
        write_scenes: Save the scenes used (Av1an JSON, with class and features).
        resume: Reuse scenes finished by an interrupted encode of the same job.
    """

    strategy: str = AUTO_STRATEGY
    crf: float | None = None
    quality: float | None = None
    bitrate: int | None = None
    target_psnr: float | None = None
    target_ssim: float | None = None
    target_vmaf: float | None = None
    vmaf_pool: str | None = None
    preset: str | None = None
    keyint: int | None = None
    threads: int | None = None
    low_delay: bool = False
    device: str = "auto"
    intra_model: str | None = None
    opts: Mapping[str, Any] | None = None
    workers: int = 1
    cluster: str | None = None
    parts: str | None = None
    cluster_frames: str = "auto"
    segment_frames: int | None = None
    min_scene_frames: int | None = None
    max_scene_frames: int | None = None
    memory_mb: int = 512
    measure_quality: bool = True
    scenes_file: str | None = None
    write_scenes: str | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "bitrate", parse_bitrate(self.bitrate))
        if self.preset is not None:
            object.__setattr__(self, "preset", str(self.preset))
        if self.opts is not None:
            if not isinstance(self.opts, Mapping):
                raise SettingsError(f"opts must be a mapping of option names to values, got {self.opts!r}")
            if self.strategy == AUTO_STRATEGY:
                build_options(AutoOptions, AUTO_STRATEGY, self.opts)  # keys and values, before any input is read
            object.__setattr__(self, "opts", dict(self.opts))
        modes = [self.crf is not None or self.quality is not None, self.bitrate is not None, self.targets_given]
        if sum(modes) > 1 or (self.crf is not None and self.quality is not None):
            raise SettingsError(
                "choose one rate control: crf or quality, bitrate, or target quality (target_psnr/target_ssim/target_vmaf)"
            )
        lo, hi = QUALITY_RANGE
        if self.quality is not None and not lo <= self.quality <= hi:
            raise SettingsError(f"quality {self.quality:g} is outside {lo}..{hi}")
        # With auto, crf is the quality knob; a named strategy checks crf on its own scale.
        if self.auto and self.crf is not None and not lo <= self.crf <= hi:
            raise SettingsError(f"crf {self.crf:g} (with auto: the quality knob) is outside {lo}..{hi}")
        for name in ("min_scene_frames", "max_scene_frames"):
            v = getattr(self, name)
            if v is not None and not 1 <= v <= 100_000:
                raise SettingsError(f"{name} {v} is outside 1..100000")
        if self.segment_frames is not None and self.scenes_file is not None:
            raise SettingsError("give either segment_frames or a scenes file, not both")
        if self.target_psnr is not None and not 10 <= self.target_psnr <= 99:
            raise SettingsError(f"target PSNR {self.target_psnr} dB is outside 10..99")
        if self.target_ssim is not None and not 0 < self.target_ssim < 1:
            raise SettingsError(f"target SSIM {self.target_ssim} is outside (0, 1)")
        if self.target_vmaf is not None and not 0 < self.target_vmaf <= 100:
            raise SettingsError(f"target VMAF {self.target_vmaf} is outside (0, 100]")
        if self.vmaf_pool is not None:
            if self.target_vmaf is None:
                raise SettingsError("vmaf_pool (--vmaf-pool) needs target_vmaf (--target-vmaf)")
            if self.vmaf_pool not in VMAF_POOLS:
                raise SettingsError(f"vmaf_pool must be one of {', '.join(VMAF_POOLS)}, got {self.vmaf_pool!r}")
        if self.target_vmaf is not None:
            try:
                ffmpeg_exe()  # now, not after scene analysis: VMAF runs in the bundled FFmpeg
            except ToolMissingError as exc:
                raise SettingsError(f"target VMAF needs the bundled FFmpeg: {exc}") from None
        if self.targets_given and not self.measure_quality:
            raise SettingsError("target quality needs measure_quality")
        if not (self.device in DEVICES or re.fullmatch(r"cuda:\d+", self.device)):
            raise SettingsError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if not 1 <= self.workers <= 256:
            raise SettingsError(f"workers {self.workers} is outside 1..256")
        if self.cluster is not None:
            check_cluster(self.cluster)
        if self.cluster_frames not in CLUSTER_FRAMES:
            raise SettingsError(f"cluster_frames must be one of {', '.join(CLUSTER_FRAMES)}, got {self.cluster_frames!r}")
        if self.segment_frames is not None and not 1 <= self.segment_frames <= 100_000:
            raise SettingsError(f"segment_frames {self.segment_frames} is outside 1..100000")
        if not 16 <= self.memory_mb <= 1 << 20:
            raise SettingsError(f"memory_mb {self.memory_mb} is outside 16..{1 << 20}")
        if self.auto and self.preset is not None and self.preset not in AUTO_SPEEDS:
            raise SettingsError(f"with strategy auto, --preset is the search effort: {', '.join(AUTO_SPEEDS)}")

    @property
    def targets_given(self) -> bool:
        return self.target_psnr is not None or self.target_ssim is not None or self.target_vmaf is not None

    @property
    def vmaf_pooling(self) -> str:
        """How ``target_vmaf`` pools per-frame scores: ``vmaf_pool``, else ``mean``."""
        return self.vmaf_pool or "mean"

    @property
    def auto(self) -> bool:
        """Whether the encoder chooses the strategy per scene."""
        return self.strategy == AUTO_STRATEGY

    @property
    def search_effort(self) -> str:
        """How hard the per-scene search tries (one of :data:`AUTO_SPEEDS`): ``preset`` with ``auto``."""
        return (self.preset or "medium") if self.auto else "medium"

    @property
    def quality_knob(self) -> float:
        """The x265-CRF-like quality knob: ``quality``, or ``crf`` with ``auto``, else :data:`DEFAULT_QUALITY`."""
        if self.quality is not None:
            return self.quality
        if self.auto and self.crf is not None:
            return self.crf
        return DEFAULT_QUALITY

    def strategy_settings(self) -> StrategySettings:
        """The strategies' knobs; with ``auto``, ``crf``, ``preset`` and ``opts`` are the encoder's, not a strategy's."""
        return StrategySettings(
            crf=None if self.auto else self.crf,
            preset=None if self.auto else self.preset,
            keyint=self.keyint,
            threads=self.threads,
            low_delay=self.low_delay,
            model=self.intra_model,
            device=self.device,
            options={} if self.auto else self.opts or {},
        )

    def to_dict(self) -> dict:
        return asdict(self)
