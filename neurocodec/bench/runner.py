"""Runs a benchmark: clips x codecs x rate points, each point in a fresh process."""

from __future__ import annotations

import itertools
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import av
import numpy

from .._pool import process_pool
from .._version import __version__
from ..io import open_source, write_video
from ..io.ffmpeg_tool import tool_info
from .config import ANCHOR_CODECS, BenchConfig, rate_basis
from .point import PointJob, crf_ladder, measure_point
from .summary import summarize_clip, summarize_average

__all__ = ["run_bench", "ClipSpec", "SCHEMA"]

log = logging.getLogger(__name__)

SCHEMA = "neurocodec.bench/1"


class ClipSpec:
    """A clip to benchmark: a path plus, for raw .yuv, its size and rate."""

    def __init__(self, path: str | os.PathLike, name: str | None = None, size: str | None = None, fps: str | None = None):
        self.path = str(path)
        self.name = name or Path(path).name
        self.size = size
        self.fps = fps

    def __repr__(self) -> str:
        return f"ClipSpec({self.path!r})"


def _prepare(clip: ClipSpec, frames: int, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """The first ``frames`` frames as a lossless y4m, so every codec reads identical input."""
    y4m = workdir / "source.y4m"
    with open_source(clip.path, size=clip.size, fps=clip.fps) as src:
        n = write_video(y4m, src.info, itertools.islice(src.frames(), frames), overwrite=True)
        info = src.info
    return y4m, {
        "name": clip.name,
        "path": clip.path,
        "width": info.width,
        "height": info.height,
        "fps": f"{info.fps.numerator}/{info.fps.denominator}",
        "frames": n,
    }


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "neurocodec": __version__,
        "pyav": av.__version__,
        "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "numpy": numpy.__version__,
        "decoder_threads": "FFmpeg default (auto)",
        "timing": "wall clock, one process per point",
    }


def run_bench(
    clips: Sequence[ClipSpec | str | os.PathLike],
    config: BenchConfig,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure every codec at ``config.points`` rate points on every clip.

    Returns:
        The results document (schema :data:`SCHEMA`): machine, config, per-clip
        points, BD-rates against the anchor, seed-target rates, averages.
    """
    specs = [c if isinstance(c, ClipSpec) else ClipSpec(c) for c in clips]
    if not specs:
        raise ValueError("no clips to benchmark")
    ladders = {c: crf_ladder(config.strategy(c), config.points) for c in config.codecs}
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    # One task per process: peak memory is per point, and no state leaks between points.
    with process_pool(config.workers, max_tasks_per_child=1) as pool:
        for spec in specs:
            with tempfile.TemporaryDirectory(prefix="neurocodec-bench-") as tmp:
                y4m, clip = _prepare(spec, config.frames, Path(tmp))
                jobs = [
                    PointJob(
                        clip_y4m=str(y4m),
                        workdir=tmp,
                        codec=codec,
                        crf=float(crf),
                        preset=config.preset(codec),
                        low_delay=config.low_delay,
                        # A classical strategy is rated like the anchors, whatever its label or options.
                        rate_basis=rate_basis(config.strategy(codec)),
                        vmaf=config.vmaf,
                        vmaf_scale=config.vmaf_scale,
                        verify_anchor=config.verify_anchors and config.strategy(codec) in ANCHOR_CODECS,
                        strategy=config.strategy(codec),
                        options=config.options(codec),
                    )
                    for codec in config.codecs
                    for crf in ladders[codec]
                ]
                futures = [pool.submit(measure_point, job) for job in jobs]
                codecs: dict[str, Any] = {
                    c: {"preset": config.preset(c), "rate_basis": None, "points": []} for c in config.codecs
                }
                for job, fut in zip(jobs, futures):
                    point = fut.result()
                    entry = codecs[job.codec]
                    entry["rate_basis"] = point["rate_basis"]
                    entry["points"].append(point)
                    if progress:
                        vmaf = f", VMAF {point['vmaf']:.2f}" if config.vmaf else ""
                        progress(
                            f"{clip['name']}: {job.codec} crf {job.crf:g}: {point['bitrate_kbps']:.1f} kb/s, "
                            f"PSNR-YUV {point['psnr_yuv']:.2f} dB, SSIM {point['ssim']:.4f}{vmaf}"
                            + (f", anchor {point['anchor_verification']['result']}"
                               if "anchor_verification" in point else "")
                        )
                clip["codecs"] = codecs
                clip.update(summarize_clip(clip, config))
                results.append(clip)
    doc = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "config": config.to_dict(),
        "seconds": round(time.perf_counter() - t0, 1),
        "clips": results,
        "average": summarize_average(results, config),
    }
    if config.vmaf or config.verify_anchors:
        # The external binary that measured VMAF or reran the anchors: version, libraries, build flags.
        doc["ffmpeg_tool"] = tool_info()
    return doc
