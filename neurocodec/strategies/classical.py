"""Classical strategies through PyAV: ``x264`` (libx264), ``x265`` (libx265), ``av1`` (libsvtav1).

The payload is the codec's elementary stream, packet by packet::

    u8 format (2 or 3) | varint extradata size | extradata | varint packet count |
    per packet: varint size | packet bytes

Format 3 (bitstream 1.2, AV1 only) stores each temporal unit without its
temporal delimiter and its last OBU's size (:mod:`.obu`); readers restore the
encoder's bytes. Format 1 (written before bitstream 1.1, still read) also had a
flags byte before each packet's size (bit 0: keyframe); nothing read it, and on
short low-rate clips a byte per frame was a per cent of the file.

Each segment is an independent stream starting with a keyframe. The exact
encoder options, and an equivalent ``ffmpeg`` command line, are stored in the
segment's params so the encode can be reproduced by hand.

Frames smaller than an encoder handles safely are padded by edge
replication to its minimum (:attr:`ClassicalStrategy.min_size`); the decoder
crops back to the segment's size, so the padding follows from the segment's
size alone and needs no payload field.

Determinism: libx264's output depends on its thread count, so ``threads``
defaults to 1 for x264 (recorded). libx265 (frame threads, pools) and SVT-AV1
(``lp``) gave identical bytes for 1, 2 and 4 threads when measured here, so
they use all cores; the tests check this claim.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from ..bitstream.chunks import Cursor, encode_varint
from ..errors import EncoderError, NcvFormatError
from ..io.avframes import from_av, to_av, to_packet
from ..io.frame import Frame, crop, pad_edges
from . import obu
from .base import AutoCapability, DecodeContext, Strategy, StrategySettings
from .options import changed_options, option, option_specs

__all__ = ["ClassicalStrategy", "X264", "X265", "AV1"]

log = logging.getLogger(__name__)

_PAYLOAD_FORMAT = 2
_FLAGGED_FORMAT = 1  # format 1: a flags byte before each packet
_OBU_FORMAT = 3  # format 2 with AV1 temporal units compacted (obu.compact)
_MAX_EXTRADATA = 1 << 20


class ClassicalStrategy(Strategy):
    """Shared machinery: an FFmpeg encoder/decoder pair driven in memory."""

    encoder: str
    #: Packets are AV1 temporal units, stored compacted (payload format 3) where every one allows it.
    obu_packets: bool = False
    decoders: tuple[str, ...]
    presets: tuple[str, ...]
    default_crf: float
    #: CRF span a rate-distortion sweep covers (benchmarks); roughly 0.05-1 bpp on natural video.
    rd_crf_range: tuple[int, int]
    #: Encoder thread count when the settings give none: a value that keeps bytes machine-independent.
    default_threads: int = 0
    #: Smallest width and height the encoder handles with every preset; smaller frames are padded.
    min_size: tuple[int, int] = (2, 2)
    #: The private option (``x265-params`` etc.) that carries encoder parameters as ``key=value:...``.
    params_option: str

    #: Rank as a candidate of ``auto`` (same for every scene class: measurement decides).
    rank: int
    #: Encoder preset per ``auto`` effort; an effort missing here does not try the strategy (screening).
    speeds: dict[str, str]
    #: Faster preset the trial encodes of each effort run at (missing: as ``speeds``).
    probe_speeds: dict[str, str] = {}
    #: ``crf = a * quality + b``, fitted on the development clips (see docs/benchmarks.md).
    quality_map: tuple[float, float] = (1.0, 0.0)
    #: ... or piecewise linear through ``(qualities, crfs)`` where a line does not fit (wins over ``quality_map``).
    quality_points: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def auto_capability(self) -> AutoCapability:
        return AutoCapability(rank=self.rank, crf_range=self.crf_range, quality_line=self.quality_map,
                              quality_points=self.quality_points,
                              presets={effort: (preset,) for effort, preset in self.speeds.items()},
                              probe_presets={effort: (preset,) for effort, preset in self.probe_speeds.items()})

    # -- options -------------------------------------------------------------

    def _threads(self, settings: StrategySettings) -> int:
        return settings.threads if settings.threads is not None else self.default_threads

    def _base_params(self, settings: StrategySettings) -> list[str]:
        """Encoder parameters set whatever the options (``key=value``)."""
        return []

    def _options(self, settings: StrategySettings, opts: Any) -> dict[str, str]:
        """Codec private options (what ``ffmpeg -x264-params ...`` etc. set); an option at its default is not passed."""
        out = {"preset": str(opts.preset)}
        if settings.bitrate is None:
            out["crf"] = _num(settings.crf if settings.crf is not None else self.default_crf)
        params = self._base_params(settings)
        for spec in option_specs(self.Options):
            value = getattr(opts, spec.field)
            if spec.key != "preset" and value != spec.default:
                params.append(f"{spec.key}={_param(value)}")
        if params:
            out[self.params_option] = ":".join(params)
        return out

    def describe(self, settings: StrategySettings, width: int, height: int, fps: Any) -> dict[str, Any]:
        """The encoder options, kept small: they are stored in every segment."""
        opts = self.resolve_options(settings)
        params: dict[str, Any] = {
            "encoder": self.encoder,
            "options": self._options(settings, opts),
            "gop_size": settings.keyint or self._default_keyint(Fraction(fps)),
            "threads": self._threads(settings),
        }
        if settings.bitrate is not None:
            params["bit_rate"] = settings.bitrate
        changed = changed_options(opts, exclude=("preset",))  # the preset is in "options" already
        if changed:
            params["opts"] = changed
        return params

    def reproduce(self, params: dict[str, Any], width: int, height: int, fps: Any) -> dict[str, Any]:
        """An ``ffmpeg`` command line equivalent to the stored options (input: the segment's frames as y4m).

        Frames smaller than the encoder's minimum must be padded first (``input_padded_to``): ffmpeg's
        ``pad`` filter fills with a colour, not by repeating the last row and column.
        """
        fps = Fraction(fps)
        args = ["ffmpeg", "-f", "yuv4mpegpipe", "-i", "in.y4m", "-c:v", str(params.get("encoder"))]
        args += ["-pix_fmt", "yuv420p", "-r", f"{fps.numerator}/{fps.denominator}"]
        args += ["-g", str(params.get("gop_size")), "-threads", str(params.get("threads"))]
        if params.get("bit_rate") is not None:
            args += ["-b:v", str(params["bit_rate"])]
        options = params.get("options")
        for k, v in sorted(options.items() if isinstance(options, dict) else []):
            args += [f"-{k}", str(v)]
        out: dict[str, Any] = {"ffmpeg_args": args}
        if self.coded_size(width, height) != (width, height):
            out["input_padded_to"] = list(self.coded_size(width, height))
        return out

    def coded_size(self, width: int, height: int) -> tuple[int, int]:
        """The size the encoder codes a ``width`` x ``height`` segment at (padded up to :attr:`min_size`)."""
        return max(width, self.min_size[0]), max(height, self.min_size[1])

    def _default_keyint(self, fps: Fraction) -> int:
        # About 10 s: segments already start with keyframes, so long GOPs cost little seeking.
        return max(1, min(300, round(float(fps) * 10)))

    # -- encode --------------------------------------------------------------

    def encode(self, frames: Sequence[Frame], settings: StrategySettings, fps: Any) -> bytes:
        if not frames:
            raise ValueError("cannot encode an empty scene")
        w, h = frames[0].width, frames[0].height
        if w % 2 or h % 2:
            raise ValueError(f"{self.name}: frames must have even dimensions, got {w}x{h}")
        desc = self.describe(settings, w, h, fps)
        w, h = self.coded_size(w, h)
        # A float rate (29.97002997...) would become a huge exact fraction that FFmpeg's rationals cannot hold.
        fps = Fraction(fps).limit_denominator(1_000_000) if isinstance(fps, float) else Fraction(fps)
        extradata, packets = self._encode_packets([pad_edges(f, w, h) for f in frames], settings, desc, fps)
        fmt = _PAYLOAD_FORMAT
        if self.obu_packets:
            compacted = [obu.compact(p) for p in packets]
            if all(c is not None for c in compacted):
                fmt, packets = _OBU_FORMAT, compacted
        out = [bytes([fmt]), encode_varint(len(extradata)), extradata, encode_varint(len(packets))]
        for data in packets:
            out += [encode_varint(len(data)), data]
        return b"".join(out)

    def _encode_packets(self, frames: Sequence[Frame], settings: StrategySettings, desc: dict[str, Any],
                        fps: Fraction) -> tuple[bytes, list[bytes]]:
        """Encode frames already padded to the coded size: ``(extradata, [packet, ...])``."""
        w, h = frames[0].width, frames[0].height
        try:
            cc = av.CodecContext.create(self.encoder, "w")
        except av.FFmpegError as exc:
            raise EncoderError(f"{self.name}: encoder {self.encoder} unavailable in this FFmpeg ({exc})") from None
        cc.width, cc.height, cc.pix_fmt = w, h, "yuv420p"
        cc.time_base = 1 / fps
        cc.framerate = fps
        cc.gop_size = desc["gop_size"]
        cc.thread_count = desc["threads"]
        if settings.bitrate is not None:
            cc.bit_rate = settings.bitrate
        cc.options = dict(desc["options"])
        packets: list[bytes] = []
        try:
            for i, frame in enumerate(frames):
                avf = to_av(frame)
                avf.pts = i
                avf.time_base = cc.time_base
                packets += [bytes(p) for p in cc.encode(avf)]
            packets += [bytes(p) for p in cc.encode(None)]
        except av.FFmpegError as exc:
            raise EncoderError(f"{self.name}: {self.encoder} failed: {exc}") from None
        return bytes(cc.extradata or b""), packets

    # -- decode --------------------------------------------------------------

    @staticmethod
    def packets(payload: bytes) -> list[bytes]:
        """The encoder packets in a payload, as the encoder wrote them (their concatenation is the elementary
        stream)."""
        return [bytes(p) for p in _read_payload(payload, "payload", len(payload))[1]]

    def _decoder(self):
        for name in self.decoders:
            try:
                return av.CodecContext.create(name, "r")
            except (av.FFmpegError, ValueError):
                continue
        raise NcvFormatError(f"{self.name}: no decoder among {', '.join(self.decoders)} in this FFmpeg")

    def _from_av(self, frame: av.VideoFrame) -> Frame:
        """A decoded picture as an 8-bit frame (an override handles a decoder's other formats)."""
        return from_av(frame)

    def decode(self, payload: bytes, ctx: DecodeContext) -> Iterator[Frame]:
        # An empty packet would tell the decoder the stream has ended.
        extradata, packets = _read_payload(payload, f"{self.name} payload", 4 * ctx.frame_count + 64,
                                           empty=f"{self.name}: empty packet")
        dec = self._decoder()
        if extradata:
            dec.extradata = extradata
        produced = 0
        # Streams written before padding existed were coded at the segment's size.
        sizes = {(ctx.width, ctx.height), self.coded_size(ctx.width, ctx.height)}

        def emit(decoded):
            nonlocal produced
            for f in decoded:
                if (f.width, f.height) not in sizes:
                    raise NcvFormatError(
                        f"{self.name}: decoded {f.width}x{f.height}, segment is {ctx.width}x{ctx.height}"
                    )
                produced += 1
                if produced > ctx.frame_count:
                    raise NcvFormatError(f"{self.name}: stream holds more than the segment's {ctx.frame_count} frames")
                yield crop(self._from_av(f), ctx.width, ctx.height)

        try:
            for data in packets:
                yield from emit(dec.decode(to_packet(data)))
            yield from emit(dec.decode(None))
        except av.FFmpegError as exc:
            raise NcvFormatError(f"{self.name}: decoder error: {exc}") from None
        if produced != ctx.frame_count:
            raise NcvFormatError(f"{self.name}: stream decoded to {produced} frames, segment says {ctx.frame_count}")


def _read_payload(payload: bytes, what: str, max_packets: int,
                  empty: str | None = None) -> tuple[bytes, Iterator[bytes | memoryview]]:
    """A packet-stream payload's extradata, and the encoder's packets as they are read (then the end is checked).

    Raises:
        NcvFormatError: An unknown format, a field past its bound, bytes after the last packet, or (with
            ``empty``, the message) an empty packet.
    """
    cur = Cursor(payload)
    fmt = cur.u8("payload format")
    if fmt not in (_PAYLOAD_FORMAT, _FLAGGED_FORMAT, _OBU_FORMAT):
        raise cur.error(f"{what} format {fmt} is not supported")
    extradata = bytes(cur.blob("extradata", _MAX_EXTRADATA))
    count = cur.varint("packet count", max_packets)

    def packets() -> Iterator[bytes | memoryview]:
        for _ in range(count):
            if fmt == _FLAGGED_FORMAT:
                cur.u8("packet flags")
            data = cur.blob("packet", cur.remaining)
            if empty is not None and not len(data):
                raise cur.error(empty)
            if fmt == _OBU_FORMAT:
                try:
                    data = obu.expand(bytes(data))
                except ValueError as exc:
                    raise cur.error(f"{what}: {exc}") from None
            yield data
        cur.expect_end(what)

    return extradata, packets()


_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")


def _preset(default: str, presets: tuple[str, ...]) -> Any:
    return option(default, str, "Encoder speed preset (also --preset).", choices=presets)


@dataclass(frozen=True)
class X264Options:
    """libx264's options (None: the preset's own choice, nothing passed)."""

    preset: str = _preset("medium", _X26X_PRESETS)
    aq_mode: int | None = option(None, int, "Adaptive quantisation: 0 off, 1 variance, 2 auto-variance, 3 biased to dark scenes.",
                                 range=(0, 3))
    psy_rd: float | None = option(None, float, "Psycho-visual rate-distortion strength (x264 default 1.0).", range=(0, 10))


@dataclass(frozen=True)
class X265Options:
    """libx265's options (None: the preset's own choice, nothing passed)."""

    preset: str = _preset("medium", _X26X_PRESETS)
    aq_mode: int | None = option(None, int, "Adaptive quantisation: 0 off, 1 variance, 2 auto-variance, "
                                 "3 biased to dark scenes, 4 auto-variance with edge information.", range=(0, 4))
    psy_rd: float | None = option(None, float, "Psycho-visual rate-distortion strength (x265 default 2.0).", range=(0, 5))


_AV1_PRESETS = tuple(str(p) for p in range(-1, 14))


@dataclass(frozen=True)
class AV1Options:
    """SVT-AV1's options, passed through ``svtav1-params`` (None: the preset's own choice, nothing passed)."""

    preset: str = _preset("6", _AV1_PRESETS)
    tune: int | None = option(None, int, "What to tune for: 0 VQ, 1 PSNR, 2 SSIM, 3 IQ, 4 MS-SSIM (SVT-AV1 default 1).",
                              range=(0, 4))
    enable_qm: bool | None = option(None, bool, "Quantisation matrices.")
    qm_min: int | None = option(None, int, "Flattest quantisation matrix level (with enable-qm).", range=(0, 15))
    qm_max: int | None = option(None, int, "Steepest quantisation matrix level (with enable-qm).", range=(0, 15))
    enable_tf: int | None = option(None, int, "Temporal filtering of key and alt-ref frames: 0 off, 1 on, 2 adaptive.",
                                   range=(0, 2))
    hierarchical_levels: int | None = option(None, int, "Levels of the hierarchical prediction structure.", range=(2, 5))
    lookahead: int | None = option(None, int, "Frames of lookahead (-1: SVT-AV1 chooses).", range=(-1, 120))
    aq_mode: int | None = option(None, int, "Adaptive quantisation: 0 off, 1 variance, 2 delta-QP by prediction "
                                 "efficiency (SVT-AV1 default 2).", range=(0, 2))
    sharpness: int | None = option(None, int, "Loop filter and rate-distortion sharpness (SVT-AV1 default 0).",
                                   range=(-7, 7))
    enable_restoration: bool | None = option(None, bool, "Loop restoration filter.")
    enable_cdef: bool | None = option(None, bool, "Constrained directional enhancement filter.")
    enable_overlays: bool | None = option(None, bool, "Overlay frames after alt-refs.")
    tf_strength: int | None = option(None, int, "Temporal filtering strength (SVT-AV1 default 3).", range=(0, 4))
    scm: int | None = option(None, int, "Screen-content tools: 0 off, 1 on, 2 detected per frame (SVT-AV1 default 2).",
                             range=(0, 2))
    fast_decode: int | None = option(None, int, "Tools that speed up decoding: 0 off .. 2 (SVT-AV1 default 0).",
                                     range=(0, 2))


class X264(ClassicalStrategy):
    """H.264/AVC with libx264."""

    name = "x264"
    id = 1
    encoder = "libx264"
    decoders = ("h264",)
    Options = X264Options
    params_option = "x264-params"
    presets = _X26X_PRESETS
    default_crf = 23
    crf_range = (0, 51)
    rd_crf_range = (20, 40)
    default_threads = 1
    rank = 3
    # Not tried by any effort: SVT-AV1 at the effort's preset needs fewer bits in less time on every
    # development clip (docs/benchmarks.md, "Screening"); its quality map still serves --quality.
    speeds: dict[str, str] = {}
    # Same PSNR-YUV as x265 at CRF q (sam2_cups_720p, akiyo_cif): x264 CRF ~ 0.8 q + 5.
    quality_map = (0.8, 5.0)

    def _base_params(self, s):
        # cpu-independent=1: x264's C macroblock-tree propagation instead of its SIMD versions. The
        # AVX-512 one works on 8 macroblocks at a time and, when the width in macroblocks is not a
        # multiple of 8, adds in values from past the row's end (uninitialised heap memory), so bytes
        # varied from run to run; the SIMD versions also round unlike the C one (docs/determinism.md).
        return ["cpu-independent=1"] + (["bframes=0"] if s.low_delay else [])


class X265(ClassicalStrategy):
    """H.265/HEVC with libx265."""

    name = "x265"
    id = 2
    encoder = "libx265"
    decoders = ("hevc",)
    Options = X265Options
    params_option = "x265-params"
    presets = _X26X_PRESETS
    default_crf = 28
    crf_range = (0, 51)
    rd_crf_range = (22, 42)
    # avcodec_open2 fails below 16x16 (32x32 with preset placebo), and below 50 pixels wide the
    # lookahead's cuTree writes past a heap buffer (valgrind; crashes the process now and then).
    min_size = (64, 32)
    rank = 2
    # Not tried by any effort (as x264): SVT-AV1 preset 6 took about x265 medium's time and needed 25-28 %
    # fewer bits on natural video, 73 % on screen content; each effort's SVT-AV1 preset is slower and better.
    speeds: dict[str, str] = {}

    def _base_params(self, s):
        # info=0: x265 otherwise writes an SEI with its thread settings, so bytes would vary by machine.
        return ["log-level=error", "info=0"] + (["bframes=0"] if s.low_delay else [])


class AV1(ClassicalStrategy):
    """AV1 with SVT-AV1 (libsvtav1); decoded with libdav1d (FFmpeg's native AV1 decoder as fallback)."""

    name = "av1"
    id = 3
    encoder = "libsvtav1"
    decoders = ("libdav1d", "av1")
    obu_packets = True
    Options = AV1Options
    params_option = "svtav1-params"
    presets = _AV1_PRESETS
    default_crf = 35
    crf_range = (0, 63)
    # SVT-AV1's CRF scale is compressed at the low-rate end: CRF 56 still gave 39.7 dB on a
    # 720p clip where x265 CRF 42 gave 33.7 dB, so the sweep reaches up to the maximum.
    rd_crf_range = (30, 63)
    # Below 4 pixels avcodec_open2 fails, below 32 wide SVT-AV1 reads past a heap buffer (valgrind), and
    # with a side of 24 or less and the other of 72 or more (80x16, 320x24, 24x80) its flush never returns.
    min_size = (32, 32)
    rank = 1
    # Each effort's rival is SVT-AV1 at the preset of about its time budget (6, 4, 2: docs/benchmarks.md);
    # its trial encodes run at a faster preset, which keeps them a small share of that budget.
    speeds = {"fast": "6", "medium": "4", "slow": "2"}
    probe_speeds = {"fast": "10", "medium": "6", "slow": "4"}
    # Same PSNR-YUV (16 frames) as x265 medium at CRF q, SVT-AV1 preset 6 at this CRF; mean of sam2_cups_720p,
    # akiyo_cif and gym_basketball (2026-11-29; below 22 the 22-28 slope continued). SVT-AV1's CRF scale is
    # compressed at the low-rate end: its CRF 63 is above x265 CRF 42's quality on all three clips.
    quality_points = ((12.0, 22.0, 28.0, 34.0, 38.0, 42.0), (2.4, 29.6, 45.9, 58.5, 61.6, 63.0))

    def _base_params(self, s):
        return ["pred-struct=1"] if s.low_delay else []


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _param(value: Any) -> str:
    """An option's value as the encoders' ``key=value`` lists write it."""
    return str(int(value)) if isinstance(value, bool) else _num(value) if isinstance(value, float) else str(value)
