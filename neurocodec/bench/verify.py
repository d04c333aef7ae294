"""Anchor verification: rerun a classical point's recorded ``ffmpeg`` command and compare the streams.

Each x264 / x265 / SVT-AV1 segment records its encoder options, from which
:meth:`~neurocodec.strategies.classical.ClassicalStrategy.reproduce` builds an
``ffmpeg`` command line. Here that command runs in the bundled FFmpeg binary
(:mod:`neurocodec.io.ffmpeg_tool`) on the segment's source frames (padded the
way the encoder padded them), its output switched to the raw elementary
stream (``-f h264`` / ``hevc`` / ``obu``: Annex B or low-overhead OBUs, the
same bytes as the payload's packets concatenated, with no container whose
timestamps or headers could differ for reasons unrelated to the encoder).

Outcomes per point: ``identical`` (every segment's stream equals the
payload's, byte for byte); ``within_tolerance`` (the bundled encoder is a
different build, so bytes differ, but the rerun's size is within
:data:`SIZE_TOLERANCE` and its PSNR-YUV within :data:`PSNR_TOLERANCE_DB` of
the point's); ``differs`` (neither).
"""

from __future__ import annotations

import io
import itertools
from fractions import Fraction
from typing import Any

import av

from ..bitstream import NcvReader
from ..io import open_source
from ..io.avframes import from_av
from ..io.ffmpeg_tool import run_ffmpeg
from ..io.frame import VideoInfo, crop, pad_edges, padded_size
from ..metrics import compare_frames
from ..strategies import get_strategy_by_id

__all__ = ["PSNR_TOLERANCE_DB", "RAW_FORMATS", "SIZE_TOLERANCE", "verify_anchor"]


#: Raw elementary-stream format (muxer and demuxer name) per encoder.
RAW_FORMATS = {"libx264": "h264", "libx265": "hevc", "libsvtav1": "obu"}
#: Largest relative difference in stream size accepted from a different encoder build.
SIZE_TOLERANCE = 0.05
#: Largest PSNR-YUV difference (dB) accepted from a different encoder build.
PSNR_TOLERANCE_DB = 0.3
_INPUT_PREFIX = ["ffmpeg", "-f", "yuv4mpegpipe", "-i", "in.y4m"]
_OUT = "out.raw"


def _decode(stream: bytes, fmt: str, width: int, height: int):
    with av.open(io.BytesIO(stream), format=fmt) as container:
        for avf in container.decode(video=0):
            yield crop(from_av(avf), width, height)


def verify_anchor(ncv: str, clip_y4m: str, *, psnr_yuv: float, stream_bytes: int) -> dict[str, Any] | None:
    """Rerun the recorded command of every classical segment in ``ncv``; None if it has none.

    Args:
        ncv: The point's ``.ncv`` file.
        clip_y4m: The source it was encoded from.
        psnr_yuv: The point's measured PSNR-YUV (of the payload's decode).
        stream_bytes: The point's elementary-stream bytes.
    """
    with NcvReader(ncv) as reader, open_source(clip_y4m) as src:
        info = src.info
        w, h = padded_size(info.width, info.height)
        runs = []
        for seg in reader.segments():
            strategy = get_strategy_by_id(seg.strategy_id)
            fmt = RAW_FORMATS.get(seg.params.get("encoder"))
            if fmt is None or not hasattr(strategy, "reproduce"):
                return None  # not a classical anchor: nothing to verify
            repro = strategy.reproduce(seg.params, w, h, info.fps)
            args = repro["ffmpeg_args"]
            if args[: len(_INPUT_PREFIX)] != _INPUT_PREFIX:
                raise ValueError(f"{ncv}: segment {seg.index}: unexpected recorded command {' '.join(args[:6])}")
            cw, ch = repro.get("input_padded_to") or (w, h)
            frames = (pad_edges(f, cw, ch) for f in
                      itertools.islice(src.frames(), seg.start_frame, seg.start_frame + seg.frame_count))
            run = run_ffmpeg(args[len(_INPUT_PREFIX):] + ["-f", fmt, _OUT],
                             [(VideoInfo(cw, ch, Fraction(info.fps), seg.frame_count, info.color), frames)],
                             read_back=[_OUT])
            ours = b"".join(strategy.packets(reader.payload(seg)))
            runs.append((seg, fmt, run.files[_OUT], ours, " ".join(args + ["-f", fmt, "out." + fmt])))
    identical = all(theirs == ours for _, _, theirs, ours, _ in runs)
    tool_bytes = sum(len(theirs) for _, _, theirs, _, _ in runs)
    out: dict[str, Any] = {
        "command": [cmd for *_, cmd in runs],
        "tool_bytes": tool_bytes,
        "segments_identical": sum(theirs == ours for _, _, theirs, ours, _ in runs),
        "segments": len(runs),
    }
    if identical:
        return {"result": "identical", **out}
    with open_source(clip_y4m) as src:
        decoded = itertools.chain.from_iterable(_decode(theirs, fmt, info.width, info.height)
                                                for _, fmt, theirs, _, _ in runs)
        q = compare_frames(src.frames(), decoded)
    size_diff = tool_bytes / stream_bytes - 1 if stream_bytes else float("inf")
    psnr_diff = q.psnr_yuv - psnr_yuv
    ok = abs(size_diff) <= SIZE_TOLERANCE and abs(psnr_diff) <= PSNR_TOLERANCE_DB
    return {
        "result": "within_tolerance" if ok else "differs",
        **out,
        "tool_psnr_yuv": q.psnr_yuv,
        "size_difference": size_diff,
        "psnr_yuv_difference_db": psnr_diff,
        "tolerance": {"size": SIZE_TOLERANCE, "psnr_yuv_db": PSNR_TOLERANCE_DB},
    }
