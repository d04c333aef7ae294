"""Strategies encoded by the bundled FFmpeg binary: ``aom`` (libaom AV1) and ``vvc`` (VVenC H.266).

PyAV's FFmpeg has neither encoder, so the static ``ffmpeg`` of the
``imageio-ffmpeg`` wheel encodes (:func:`~neurocodec.io.ffmpeg_tool.run_ffmpeg`,
frames in as y4m through a FIFO, the stream back on its stdout); PyAV decodes
in-process (libdav1d for AV1, FFmpeg's native VVC decoder). The payload has
the layout of the classical strategies (:mod:`.classical`), and the stored
params hold the exact output arguments, so ``reproduce`` gives the command
that was run.

Determinism: libaom with row multithreading codes differently with 1 thread
than with 2 or more (2, 3, 4, 8, 16 and 64 gave identical bytes here), so
``aom`` pins 8 threads (recorded); any machine then writes the same bytes.
VVenC gave identical bytes with 1, 2 and 4 threads and is pinned to 4.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from ..errors import EncoderError, NcvFormatError, SettingsError, ToolError
from ..io.ffmpeg_tool import ffmpeg_exe, run_ffmpeg, tool_info
from ..io.frame import Frame, VideoInfo
from .base import StrategySettings
from .classical import ClassicalStrategy, _num
from .options import option

__all__ = ["AOM", "VVC", "ToolStrategy", "parse_ivf"]

log = logging.getLogger(__name__)

_IVF_HEADER = 32
_IVF_FRAME_HEADER = 12
#: Seconds one scene's encode may take before the binary is stopped.
_ENCODE_TIMEOUT_S = 3600.0


def parse_ivf(data: bytes, what: str = "IVF") -> list[bytes]:
    """The frames of an IVF stream (32-byte file header, then per frame u32 size LE, u64 pts, data).

    Raises:
        EncoderError: The stream is truncated or not IVF.
    """
    if len(data) < _IVF_HEADER or data[:4] != b"DKIF":
        raise EncoderError(f"{what}: output is not an IVF stream ({len(data)} bytes)")
    header_size = struct.unpack_from("<H", data, 6)[0]
    if not _IVF_HEADER <= header_size <= len(data):
        raise EncoderError(f"{what}: IVF header size {header_size} is invalid")
    pos, frames = header_size, []
    while pos < len(data):
        if pos + _IVF_FRAME_HEADER > len(data):
            raise EncoderError(f"{what}: IVF frame header at byte {pos} is truncated")
        (size,) = struct.unpack_from("<I", data, pos)
        pos += _IVF_FRAME_HEADER
        if size == 0 or pos + size > len(data):
            raise EncoderError(f"{what}: IVF frame of {size} bytes at byte {pos} does not fit the stream")
        frames.append(data[pos:pos + size])
        pos += size
    return frames


class ToolStrategy(ClassicalStrategy):
    """A classical strategy whose encoder runs in the bundled FFmpeg binary; decode is PyAV's."""

    #: Pixel format the encoder takes (FFmpeg converts the 8-bit y4m input to it).
    pix_fmt: str = "yuv420p"
    #: Output muxer and the file name ``reproduce`` writes.
    muxer: str
    out_name: str

    #: ``auto`` efforts it is a candidate at, and its preset there (docs/benchmarks.md says why).
    speeds: dict[str, str] = {}
    rank = 2
    #: ``crf = a * quality + b`` against x265 (None: not measured, so no CRF search and no ``auto`` capability).
    quality_map: tuple[float, float] | None = None

    def auto_capability(self):
        return super().auto_capability() if self.quality_map is not None else None

    def validate(self, settings: StrategySettings) -> Any:
        """Also refuses a fractional CRF and a missing FFmpeg binary, before any input is read."""
        opts = super().validate(settings)
        self._crf(settings)
        try:
            ffmpeg_exe()
        except ToolError as exc:
            raise type(exc)(f"{self.name}: {exc}") from None
        return opts

    def describe(self, settings: StrategySettings, width: int, height: int, fps: Any) -> dict[str, Any]:
        """Also records which FFmpeg build encoded the segment (``info --json`` shows it).

        The build flags are long, so the segment keeps their SHA-256; ``bench --json``
        records the flags themselves (``ffmpeg_tool``).
        """
        params = super().describe(settings, width, height, fps)
        info = tool_info()
        flags = " ".join(info["configuration"]).encode()
        params["tool"] = {"package": info["package"], "ffmpeg": info["version"],
                          "configuration_sha256": hashlib.sha256(flags).hexdigest()[:16]}
        return params

    def _crf(self, settings: StrategySettings) -> str:
        crf = settings.crf if settings.crf is not None else self.default_crf
        if not float(crf).is_integer():
            raise SettingsError(f"{self.name}: crf {crf:g} must be a whole number")
        return _num(crf)

    def _default_keyint(self, fps: Fraction) -> int:
        # One keyframe per scene: each segment is its own stream, so a scene is one GOP.
        return 10_000

    def _output_args(self, params: dict[str, Any], fps: Fraction) -> list[str]:
        """The ffmpeg arguments after the input, up to the output name (the same for encode and reproduce)."""
        args = ["-c:v", str(params.get("encoder")), "-pix_fmt", self.pix_fmt,
                "-r", f"{fps.numerator}/{fps.denominator}",
                "-g", str(params.get("gop_size")), "-threads", str(params.get("threads"))]
        if params.get("bit_rate") is not None:
            args += ["-b:v", str(params["bit_rate"])]
        options = params.get("options")
        for k, v in sorted(options.items() if isinstance(options, dict) else []):
            args += [f"-{k}", str(v)]
        return args + ["-f", self.muxer]

    def reproduce(self, params: dict[str, Any], width: int, height: int, fps: Any) -> dict[str, Any]:
        """The ``ffmpeg`` command that encoded the segment (input: its frames as y4m, padded if ``input_padded_to``)."""
        fps = Fraction(fps).limit_denominator(1_000_000)
        args = ["ffmpeg", "-f", "yuv4mpegpipe", "-i", "in.y4m"] + self._output_args(params, fps) + [self.out_name]
        out: dict[str, Any] = {"ffmpeg_args": args}
        if self.coded_size(width, height) != (width, height):
            out["input_padded_to"] = list(self.coded_size(width, height))
        return out

    def _encode_packets(self, frames: Sequence[Frame], settings: StrategySettings, desc: dict[str, Any],
                        fps: Fraction) -> tuple[bytes, list[tuple[int, bytes]]]:
        info = VideoInfo(frames[0].width, frames[0].height, fps, len(frames))
        try:
            run = run_ffmpeg(self._output_args(desc, fps) + ["pipe:1"], [(info, frames)], capture_stdout=True,
                             timeout=_ENCODE_TIMEOUT_S)
        except ToolError as exc:
            raise type(exc)(f"{self.name}: {exc}") from None
        if run.frames_fed != (len(frames),):
            raise EncoderError(f"{self.name}: ffmpeg read {run.frames_fed[0]} of {len(frames)} frames")
        return b"", self._split(run.stdout)

    def _split(self, stream: bytes) -> list[bytes]:
        """The encoder's output as packets (one per temporal unit / access unit)."""
        raise NotImplementedError


_AOM_TILES = tuple(f"{c}x{r}" for c in (1, 2, 4, 8) for r in (1, 2, 4, 8))


@dataclass(frozen=True)
class AOMOptions:
    """libaom's options (good-quality usage); None: libaom's own choice, nothing passed."""

    cpu_used: int = option(6, int, "Speed: 0 slowest and best .. 8 fastest (also --preset).", range=(0, 8))
    tune: str | None = option(None, str, "Metric to tune for.", choices=("psnr", "ssim"))
    row_mt: bool = option(True, bool, "Row-based multithreading (changes the bytes; recorded).")
    tiles: str | None = option(None, str, "Tile columns x rows.", choices=_AOM_TILES)


class AOM(ToolStrategy):
    """AV1 with libaom (``libaom-av1``, good quality) in the bundled FFmpeg; decoded with libdav1d."""

    name = "aom"
    id = 4
    encoder = "libaom-av1"
    decoders = ("libdav1d", "av1")
    obu_packets = True
    Options = AOMOptions
    presets = tuple(str(c) for c in range(9))
    default_crf = 32
    crf_range = (0, 63)
    rd_crf_range = (24, 56)
    default_threads = 8
    muxer = "ivf"
    out_name = "out.ivf"
    # Against SVT-AV1 preset 6 on four development clips (docs/benchmarks.md), cpu-used 4 needed
    # 11 % fewer bits at about 4x its time, cpu-used 2 16 % at 9-22x; SVT-AV1 preset 2, the ``slow``
    # effort's own candidate, needed 13 % at 2.5-5x. So no effort tries it. Same PSNR-YUV as x265 at
    # CRF q: libaom CRF ~ 2.8 q - 31 (those clips), which --quality and quality targets use.
    quality_map = (2.8, -31.0)

    def preset_options(self, preset: str) -> dict[str, Any]:
        return {"cpu-used": preset}

    def _options(self, settings: StrategySettings, opts: Any) -> dict[str, str]:
        out = {"usage": "good", "cpu-used": str(opts.cpu_used), "row-mt": str(int(opts.row_mt))}
        if settings.bitrate is None:
            out |= {"crf": self._crf(settings), "b:v": "0"}
        if opts.tune is not None:
            out["tune"] = opts.tune
        if opts.tiles is not None:
            out["tiles"] = opts.tiles
        return out

    def _split(self, stream: bytes) -> list[bytes]:
        return [bytes(u) for u in parse_ivf(stream, self.name)]


@dataclass(frozen=True)
class VVCOptions:
    """VVenC's options."""

    preset: str = option("fast", str, "Encoder speed preset (also --preset).",
                         choices=("faster", "fast", "medium", "slow", "slower"))
    qpa: bool = option(False, bool, "Perceptual QP adaptation (VVenC's default is on; off tunes for PSNR).")


class VVC(ToolStrategy):
    """H.266/VVC with VVenC (``libvvenc``) in the bundled FFmpeg; decoded by FFmpeg's native VVC decoder.

    VVenC codes 10-bit 4:2:0 (FFmpeg converts the input); the decoded 10-bit
    samples become 8-bit by a rounding shift, ``min((v + 2) >> 2, 255)``.
    """

    name = "vvc"
    id = 5
    encoder = "libvvenc"
    decoders = ("vvc",)
    Options = VVCOptions
    presets = ("faster", "fast", "medium", "slow", "slower")
    default_crf = 32
    crf_range = (0, 63)
    rd_crf_range = (22, 47)
    default_threads = 4
    # Never an ``auto`` candidate: at the presets that save bits against SVT-AV1 preset 6 (medium,
    # slow) it took 5-52x its time on the development clips, and SVT-AV1 preset 2 saved as much at
    # 2.5-5x (docs/benchmarks.md).
    # VVenC fails below 16 lines (32x8) and below about 30 columns (24x16), with every preset.
    min_size = (32, 16)
    pix_fmt = "yuv420p10le"
    muxer = "vvc"
    out_name = "out.266"

    def _options(self, settings: StrategySettings, opts: Any) -> dict[str, str]:
        out = {"preset": opts.preset, "qpa": str(int(opts.qpa))}
        if settings.bitrate is None:
            out["qp"] = self._crf(settings)
        return out

    def _split(self, stream: bytes) -> list[bytes]:
        # FFmpeg's VVC parser splits the Annex B stream into access units (parameter sets go with the first).
        parser = av.CodecContext.create("vvc", "r")
        units = [bytes(p) for p in parser.parse(stream) + parser.parse(None)]
        if not units:
            raise EncoderError(f"{self.name}: libvvenc wrote no access units")
        return units

    def _from_av(self, frame: av.VideoFrame) -> Frame:
        if frame.format.name != "yuv420p10le":
            raise NcvFormatError(f"{self.name}: decoder gave {frame.format.name}, expected yuv420p10le")
        planes = []
        for plane in frame.planes[:3]:
            buf = np.frombuffer(plane, dtype="<u2").reshape(plane.height, plane.line_size // 2)[:, : plane.width]
            planes.append(np.minimum((buf.astype(np.uint16) + 2) >> 2, 255).astype(np.uint8))
        return Frame(*planes)
