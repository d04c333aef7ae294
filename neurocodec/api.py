"""The public entry points: :func:`encode`, :func:`decode`, :func:`open`, :func:`info`, :func:`compare`."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from ._progress import StderrProgress
from .agents.decoder import DecodeReport, DecodingAgent, describe
from .agents.encoder import EncodingAgent
from .codec_config import CodecConfig, check_config, load_config, merge_config
from .errors import InputError, NeurocodecError
from .io.atomic import check_not_input
from .io.readers import is_url, open_source
from .metrics.quality import VideoQuality, compare_frames
from .metrics.vmaf import VmafResult, vmaf_frames
from .report import EncodeReport
from .settings import AUTO_STRATEGY, EncodeOptions

__all__ = ["compare", "compare_vmaf", "decode", "encode", "info", "open"]

Progress = bool | Callable[[int, int | None], None]


def _progress(progress: Progress, label: str):
    if progress is True:
        return StderrProgress(label)
    return progress or None


def encode(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    strategy: str | None = None,
    config: str | os.PathLike | CodecConfig | None = None,
    crf: float | None = None,
    bitrate: int | str | None = None,
    target_psnr: float | None = None,
    target_ssim: float | None = None,
    target_vmaf: float | None = None,
    vmaf_pool: str | None = None,
    preset: str | int | None = None,
    opts: Mapping[str, Any] | None = None,
    device: str = "auto",
    workers: int = 1,
    progress: Progress = False,
    overwrite: bool = False,
    size: tuple[int, int] | str | None = None,
    fps: float | str | Fraction | None = None,
    strict: bool = False,
    executor: Any = None,
    **options: Any,
) -> EncodeReport:
    """Encode a video to a ``.ncv`` file.

    Args:
        src: A video PyAV reads, a folder of numbered images, or a raw ``.yuv``
            (then ``size`` and ``fps`` are required).
        dst: Output ``.ncv`` path, written atomically.
        strategy: ``"auto"`` (per scene: the candidate strategy and CRF with the best
            measured rate-distortion) or a strategy name (``x264``, ``x265``, ``av1``, ...);
            None: ``config``'s, else ``"auto"``.
        config: A configuration file (``neurocodec.config/1`` TOML, see
            :mod:`neurocodec.codec_config`) or a :class:`~neurocodec.codec_config.CodecConfig`:
            its strategy, preset and options, read and checked before any input. What is given
            here wins: ``preset`` replaces its preset, ``opts`` are merged over its options key
            by key, and a different ``strategy`` is an error. The report records it
            (``options["config"]``: file, strategy, preset, options, provenance).
        crf: Constant-quality factor (strategy's scale; with ``auto`` the quality knob).
        bitrate: Target bits per second for the whole video (``1500000`` or ``"1.5M"``),
            shared across scenes by equal rate-distortion slope.
        target_psnr: Per-scene minimum mean PSNR-YUV in dB, verified on the final encode.
        target_ssim: Per-scene minimum mean SSIM, verified likewise.
        target_vmaf: Per-scene minimum VMAF (0..100), probed on every third frame of the trial
            window and verified on every frame of the final encode (needs ``imageio-ffmpeg``).
            The targets combine: each scene meets every one given.
        vmaf_pool: How ``target_vmaf`` pools per-frame scores: ``mean`` (default), ``harmonic``
            or ``p5`` (5th percentile); only with ``target_vmaf``.
        preset: Encoder speed preset; with ``auto`` the search effort (fast, medium, slow).
        opts: The strategy's own options, ``{"key": value}`` (e.g. ``{"scale": 0.5}`` for
            ``hybrid``, ``{"tune": 0}`` for ``av1``, ``{"probe-window": 32}`` for ``auto``);
            listed by ``neurocodec strategies NAME``.
        device: ``auto``/``cpu``/``cuda`` for neural strategies.
        workers: Segments encoded in parallel processes (bytes do not change).
        progress: True for a stderr progress line, or a callback ``(done, total)`` called as
            frames are analysed, then as the final encodes take them; a callback with a
            ``phase(label)`` method is also told which (see :mod:`neurocodec._progress`).
        overwrite: Replace an existing ``dst``.
        size, fps: Raw-YUV geometry; ``fps`` also overrides a container's rate.
        strict: Refuse an input whose last frame is cut short (by default it is
            dropped with a warning).
        executor: Where the scene jobs run: a :class:`distributed.Client` (used, left open) or an
            :class:`~neurocodec.agents.executor.Executor`; None: ``cluster`` or ``workers``.
        **options: Further :class:`~neurocodec.settings.EncodeOptions` fields
            (``quality``, ``keyint``, ``threads``, ``low_delay``, ``scenes_file``,
            ``write_scenes``, ``resume``, ``min_scene_frames``, ``max_scene_frames``,
            ``cluster`` (``local:N`` or ``tcp://HOST:PORT``), ``parts``, ...).

    Returns:
        The :class:`~neurocodec.report.EncodeReport` (sizes, bitrate, per-segment quality).

    Raises:
        OutputIsInputError: ``dst`` (or ``write_scenes``) is an input, or lies in the input folder.
        SettingsError: ``config`` cannot be read, is invalid, or is for another strategy than ``strategy``.
    """
    used = file = None
    if config is not None:
        file = None if isinstance(config, CodecConfig) else str(config)
        cfg = config if file is None else load_config(file)
        if file is None:
            check_config(cfg)
        strategy, preset, opts = merge_config(cfg, file or "configuration", strategy=strategy, preset=preset, options=opts)
        used = {"file": file, "strategy": cfg.strategy, "preset": cfg.preset, "options": dict(cfg.options),
                "provenance": dict(cfg.provenance)}
    parts = options.get("parts")
    for out in (dst, options.get("write_scenes"), None if parts is None or is_url(parts) else parts):
        check_not_input(out, src, options.get("scenes_file"), file, inside=True)
    opts = EncodeOptions(
        strategy=AUTO_STRATEGY if strategy is None else strategy,
        crf=crf,
        bitrate=bitrate,
        target_psnr=target_psnr,
        target_ssim=target_ssim,
        target_vmaf=target_vmaf,
        vmaf_pool=vmaf_pool,
        preset=preset,
        opts=opts,
        device=device,
        workers=workers,
        **options,
    )
    agent = EncodingAgent(opts)
    source = open_source(src, size=size, fps=fps, strict=strict)
    bar = _progress(progress, "encode")
    try:
        report = agent.encode(source, dst, overwrite=overwrite, progress=bar, executor=executor)
    finally:
        if hasattr(bar, "close"):
            bar.close()
    report.options["config"] = used  # which configuration produced the file (not in the bitstream)
    return report


def decode(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    overwrite: bool = False,
    codec: str | None = None,
    crf: float | None = None,
    progress: Progress = False,
    model_dir: str | os.PathLike | None = None,
    intra_model: str | os.PathLike | None = None,
) -> DecodeReport:
    """Decode a ``.ncv`` file to ``.y4m`` (lossless), ``.yuv``, ``.mkv`` (FFV1) or ``.mp4`` (x264).

    Args:
        codec: For mkv/mp4: ``ffv1`` or ``x264``.
        crf: For x264 output: quality (None: lossless).
        model_dir: Folder of weights files (``NAME.pt``) for models the file names
            that are not installed (a file names models, never paths).
        intra_model: Intra model for ``semantic_latent`` segments: a shipped or
            ``compressai:`` name, or a weights file; checked against the recorded hash.

    Raises:
        OutputIsInputError: ``dst`` is ``src``.
    """
    check_not_input(dst, src)
    agent = DecodingAgent(src, model_dir=model_dir, intra_model=intra_model)
    bar = _progress(progress, "decode")
    try:
        return agent.decode_to(dst, overwrite=overwrite, codec=codec, crf=crf, progress=bar)
    finally:
        if hasattr(bar, "close"):
            bar.close()


def open(  # noqa: A001 - mirrors av.open
    path: str | os.PathLike,
    *,
    model_dir: str | os.PathLike | None = None,
    intra_model: str | os.PathLike | None = None,
) -> DecodingAgent:
    """Open a ``.ncv`` file; ``.frames()`` iterates decoded frames, ``.header`` describes the stream.

    ``model_dir`` and ``intra_model`` are as for :func:`decode`.
    """
    return DecodingAgent(path, model_dir=model_dir, intra_model=intra_model)


def info(path: str | os.PathLike) -> dict[str, Any]:
    """Describe a ``.ncv`` file (header and segments) after validating every chunk."""
    return describe(path)


@contextlib.contextmanager
def _paired_frames(ref, dist, *, size, fps, max_frames, strict):
    """Open both inputs, check they have one size, and yield ``(ref info, ref frames, dist frames)``."""
    with (
        open_source(ref, size=size, fps=fps, strict=strict) as a,
        open_source(dist, size=size, fps=fps, strict=strict) as b,
    ):
        if (a.info.width, a.info.height) != (b.info.width, b.info.height):
            raise InputError(
                f"{dist}: size {b.info.width}x{b.info.height} differs from {ref} ({a.info.width}x{a.info.height})"
            )
        fa, fb = a.frames(), b.frames()
        if max_frames is not None:
            fa, fb = itertools.islice(fa, max_frames), itertools.islice(fb, max_frames)
        yield a.info, fa, fb


def compare(
    ref: str | os.PathLike,
    dist: str | os.PathLike,
    *,
    size: tuple[int, int] | str | None = None,
    fps: float | str | None = None,
    max_frames: int | None = None,
    strict: bool = False,
) -> VideoQuality:
    """PSNR-Y/U/V, PSNR-YUV (6:1:1), SSIM and MS-SSIM between two videos (any readable inputs, ``.ncv`` included).

    ``strict`` refuses an input whose last frame is cut short (by default it is dropped with a warning).
    """
    with _paired_frames(ref, dist, size=size, fps=fps, max_frames=max_frames, strict=strict) as (_, fa, fb):
        try:
            return compare_frames(fa, fb)
        except ValueError as exc:
            raise InputError(f"{ref} vs {dist}: {exc}") from None


def compare_vmaf(
    ref: str | os.PathLike,
    dist: str | os.PathLike,
    *,
    size: tuple[int, int] | str | None = None,
    fps: float | str | None = None,
    max_frames: int | None = None,
    strict: bool = False,
    scale: str = "native",
    n_threads: int | None = None,
) -> VmafResult:
    """VMAF (``vmaf_v0.6.1`` and ``vmaf_v0.6.1neg``) of ``dist`` against ``ref``, per frame and pooled.

    Runs libvmaf in the bundled FFmpeg binary (``imageio-ffmpeg``), fed through
    pipes; the inputs are decoded here (a second pass when called after
    :func:`compare`). ``scale``: ``native`` (default) or ``1080p``, see
    :mod:`neurocodec.metrics.vmaf`.

    Raises:
        InputError: The inputs differ in size or frame count.
        ToolMissingError: ``imageio-ffmpeg`` is not installed.
        ToolError: FFmpeg failed (the message carries its last stderr lines).
    """
    with _paired_frames(ref, dist, size=size, fps=fps, max_frames=max_frames, strict=strict) as (info, fa, fb):
        try:
            return vmaf_frames(fa, fb, info, scale=scale, n_threads=n_threads)
        except ValueError as exc:
            if isinstance(exc, NeurocodecError):
                raise
            raise InputError(f"{ref} vs {dist}: {exc}") from None


