"""One rate point: a real encode, a real decode, and the measurements.

Runs in its own spawned process (see :mod:`neurocodec.bench.runner`), so the
peak resident memory it reports is that point's alone.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..agents.decoder import DecodingAgent
from ..api import encode
from ..bitstream import NcvReader
from ..io import open_source
from ..io.frame import padded_size
from ..metrics import compare_frames
from ..metrics.vmaf import vmaf_frames
from ..strategies import available_strategies, get_strategy, get_strategy_by_id
from .config import strategy_of
from .verify import verify_anchor

__all__ = ["PointJob", "measure_point", "crf_ladder"]


@dataclass(frozen=True)
class PointJob:
    clip_y4m: str
    workdir: str
    codec: str  # the label in the results: a strategy, or ``strategy@preset`` (``av1@4``)
    crf: float
    preset: str | None
    low_delay: bool
    rate_basis: str  # "elementary_stream" or "ncv_file"
    keep_ncv: str | None = None  # move the measured .ncv here instead of deleting it
    vmaf: bool = False
    vmaf_scale: str = "native"
    verify_anchor: bool = False  # rerun the recorded ffmpeg command (classical points only)
    strategy: str | None = None  # the strategy measured; None: the one ``codec`` names (``av1@4`` -> ``av1``)
    options: dict[str, Any] = field(default_factory=dict)  # the strategy's typed options (``--opt``)


def crf_ladder(strategy_name: str, points: int) -> list[float]:
    """``points`` distinct CRFs evenly spread over the strategy's RD range, best quality first.

    ``auto``'s points are quality-knob values: those its reference candidate's quality map (SVT-AV1's)
    sends to that candidate's own ladder, so that ``auto`` and SVT-AV1 are sampled at the same operating
    points. Evenly spaced knobs crowded SVT-AV1's saturated low-rate end (knob 35 and 42 are CRF 59 and
    63), and the interpolation alone then moved BD-rate: +2.1 % on SSIM for identical encodes of
    sam2_cups_720p (docs/benchmarks.md).
    """
    if strategy_name == "auto":
        name, cap = _auto_reference()
        return [round(cap.quality_for_crf(c), 1) for c in crf_ladder(name, points)]
    s = get_strategy(strategy_name)
    lo, hi = getattr(s, "rd_crf_range", (None, None))
    if lo is None:
        raise ValueError(f"strategy {strategy_name!r} has no quality knob to sweep")
    step = (hi - lo) / (points - 1)
    ladder = sorted({round(lo + i * step) for i in range(points)})
    if len(ladder) < points:
        raise ValueError(f"{strategy_name}: cannot place {points} distinct CRFs in {lo}..{hi}")
    return ladder


def _auto_reference():
    """``auto``'s best-ranked candidate (the one whose quality map defines the knob) and its capability."""
    caps = [(cap.rank, name, cap) for name in available_strategies()
            if (cap := get_strategy(name).auto_capability()) is not None
            and getattr(get_strategy(name), "rd_crf_range", None)]
    _, name, cap = min(caps, key=lambda c: c[:2])
    return name, cap


def _segment_summary(seg) -> dict[str, Any]:
    """What was decided for one segment: strategy, frames, CRF and the options not at their default."""
    p = seg.params
    options = p.get("options") if isinstance(p.get("options"), dict) else {}  # classical: the encoder's options
    crf = p.get("crf", options.get("crf"))
    try:
        crf = float(crf) if crf is not None else None
    except (TypeError, ValueError):
        crf = None
    preset = options.get("preset")
    out = {"strategy": seg.strategy, "frames": seg.frame_count, "crf": crf, "bytes": seg.chunk_size}
    if preset is not None:
        out["preset"] = preset
    if p.get("opts"):
        out["opts"] = p["opts"]
    return out


def measure_point(job: PointJob) -> dict[str, Any]:
    """Encode, decode and measure one point; returns plain data for the results JSON."""
    ncv = Path(job.workdir) / f"{job.codec.replace('@', '_')}_crf{job.crf:g}.ncv"
    t0 = time.perf_counter()
    report = encode(
        job.clip_y4m, ncv, strategy=job.strategy or strategy_of(job.codec), crf=job.crf, preset=job.preset,
        opts=job.options or None, low_delay=job.low_delay, measure_quality=False, overwrite=True,
    )
    enc_s = time.perf_counter() - t0

    stream_bytes = 0
    macs = 0.0
    with NcvReader(ncv) as reader:
        segs = reader.segments()
        for seg in segs:
            strategy = get_strategy_by_id(seg.strategy_id)
            macs = max(macs, strategy.decoder_macs_per_pixel(seg.params))
            packets = getattr(strategy, "packets", None)
            if packets is not None:
                stream_bytes += sum(len(p) for p in packets(reader.payload(seg)))
    agent = DecodingAgent(ncv)
    t0 = time.perf_counter()
    n = sum(1 for _ in agent.frames())
    dec_s = time.perf_counter() - t0
    with open_source(job.clip_y4m) as src:
        q = compare_frames(src.frames(), agent.frames())
        # A second decode: libvmaf reads the frames from a pipe, after the in-process metrics.
        v = vmaf_frames(src.frames(), agent.frames(), src.info, scale=job.vmaf_scale) if job.vmaf else None

    file_bytes = report.bytes
    basis = "elementary_stream" if job.rate_basis == "elementary_stream" and stream_bytes else "ncv_file"
    rate_bytes = stream_bytes if basis == "elementary_stream" else file_bytes
    duration = report.duration_s
    first = get_strategy_by_id(segs[0].strategy_id)
    params = segs[0].params | first.reproduce(segs[0].params, *padded_size(report.width, report.height), report.fps)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before verification: the point's own peak
    verified = (verify_anchor(str(ncv), job.clip_y4m, psnr_yuv=q.psnr_yuv, stream_bytes=stream_bytes)
                if job.verify_anchor and basis == "elementary_stream" else None)
    if job.keep_ncv:
        os.replace(ncv, job.keep_ncv)
    else:
        os.unlink(ncv)
    point = {
        "crf": job.crf,
        "rate_basis": basis,
        "bytes": rate_bytes,
        "file_bytes": file_bytes,
        "stream_bytes": stream_bytes or None,
        "bitrate_kbps": rate_bytes * 8 / duration / 1000,
        "bpp": rate_bytes * 8 / (report.width * report.height * report.frames),
        "frames": n,
        "psnr_y": q.psnr_y,
        "psnr_u": q.psnr_u,
        "psnr_v": q.psnr_v,
        "psnr_yuv": q.psnr_yuv,
        "ssim": q.ssim,
        "ms_ssim": q.ms_ssim,
        "encode_seconds": enc_s,
        "decode_seconds": dec_s,
        "encode_fps": n / enc_s,
        "decode_fps": n / dec_s,
        "peak_rss_mb": peak_kib / 1024,
        "decoder_macs_per_pixel": macs,
        "strategies": sorted({s.strategy for s in segs}),
        "segments": [_segment_summary(s) for s in segs],
        "encoder_params": params,
    }
    if v is not None:
        point.update(vmaf=v.mean, vmaf_harmonic_mean=v.harmonic_mean, vmaf_p5=v.p5, vmaf_neg=v.neg_mean)
    if verified is not None:
        point["anchor_verification"] = verified
    return point
