"""The start of a ``.ncv`` file: the preamble (signature, version) and the HEAD chunk's payload.

Also the stream-wide limits (frame size, frame and segment counts) that the
header, the segments and the index are all checked against.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

from ..errors import NcvFormatError
from .chunks import Cursor

__all__ = [
    "SIGNATURE",
    "VERSION",
    "PREAMBLE_SIZE",
    "HEAD_SIZE",
    "MAX_DIM",
    "MAX_FRAMES",
    "MAX_SEGMENTS",
    "CHROMA_420",
    "FLAG_PARAMS_DELTA",
    "FLAG_PARAMS_BASE",
    "KNOWN_FLAGS",
    "NcvHeader",
    "pack_preamble",
    "parse_preamble",
]

SIGNATURE = b"\x89NCV\r\n\x1a\n"
#: 1.1 added the header flag :data:`FLAG_PARAMS_DELTA` and the ancillary ``scnb`` chunk; 1.2 the flag
#: :data:`FLAG_PARAMS_BASE` and the compacted AV1 packets of classical payload format 3. It reads 1.0 and 1.1.
VERSION = (1, 2)
PREAMBLE_SIZE = len(SIGNATURE) + 2  # signature, version major, minor
_HEAD = struct.Struct(">IIIIIIBBBBBBH")
HEAD_SIZE = _HEAD.size

MAX_DIM = 16384
MAX_FRAMES = (1 << 31) - 1
MAX_SEGMENTS = 1 << 20
CHROMA_420 = 1
_RANGE_CODES = {None: 0, False: 1, True: 2}
#: HEAD flag (1.1): each SEGM's params are a JSON merge patch (RFC 7386) over the previous segment's.
#: A 1.0 reader refuses such a file ("unknown header flags") instead of misreading it.
FLAG_PARAMS_DELTA = 0x0001
#: HEAD flag (1.2, only with :data:`FLAG_PARAMS_DELTA`): the first SEGM's params are a patch over its strategy's
#: base params (:mod:`.bases`), not over ``{}``. A 1.1 reader refuses the file at its header.
FLAG_PARAMS_BASE = 0x0002
KNOWN_FLAGS = FLAG_PARAMS_DELTA | FLAG_PARAMS_BASE


def pack_preamble() -> bytes:
    """The signature and this writer's version: the first :data:`PREAMBLE_SIZE` bytes of every file."""
    return SIGNATURE + bytes(VERSION)


def parse_preamble(pre: bytes, path: str | None = None) -> tuple[int, int]:
    """Check a file's first bytes (at most :data:`PREAMBLE_SIZE`, fewer if the file is shorter).

    Args:
        pre: The bytes at offset 0.
        path: File name for error messages.

    Returns:
        The file's ``(major, minor)`` version.

    Raises:
        NcvFormatError: Not a ``.ncv`` file, truncated, or a major version this reader does not read.
    """
    if len(pre) < len(SIGNATURE) or pre[: len(SIGNATURE)] != SIGNATURE:
        raise NcvFormatError("not a .ncv file (bad signature)", offset=0, path=path)
    if len(pre) < PREAMBLE_SIZE:
        raise NcvFormatError("file ends inside the version field (truncated)", offset=len(SIGNATURE), path=path)
    major, minor = pre[8], pre[9]
    if major != VERSION[0]:
        raise NcvFormatError(
            f"bitstream version {major}.{minor} is not supported by this neurocodec (reads {VERSION[0]}.x)",
            offset=len(SIGNATURE),
            path=path,
        )
    return major, minor


@dataclass(frozen=True)
class NcvHeader:
    """The stream header (HEAD chunk).

    Colour fields are ITU-T H.273 code points; ``full_range`` is None when unknown;
    ``flags`` is a set of ``FLAG_*`` bits.
    """

    width: int
    height: int
    fps: Fraction
    frame_count: int
    segment_count: int
    chroma_format: int = CHROMA_420
    bit_depth: int = 8
    primaries: int = 2
    transfer: int = 2
    matrix: int = 2
    full_range: bool | None = None
    flags: int = 0

    @property
    def duration(self) -> float:
        """Length of the stream in seconds."""
        return float(self.frame_count / self.fps)

    def pack(self) -> bytes:
        """The HEAD chunk's :data:`HEAD_SIZE`-byte payload."""
        return _HEAD.pack(
            self.width,
            self.height,
            self.fps.numerator,
            self.fps.denominator,
            self.frame_count,
            self.segment_count,
            self.chroma_format,
            self.bit_depth,
            self.primaries,
            self.transfer,
            self.matrix,
            _RANGE_CODES[self.full_range],
            self.flags,
        )

    @classmethod
    def unpack(cls, cur: Cursor) -> "NcvHeader":
        """Parse and validate a HEAD payload.

        Args:
            cur: A cursor over exactly the HEAD chunk's payload.

        Raises:
            NcvFormatError: A wrong size or any field outside its limits.
        """
        if cur.remaining != HEAD_SIZE:
            raise cur.error(f"HEAD chunk must be {HEAD_SIZE} bytes, got {cur.remaining}")
        (w, h, num, den, frames, segs, chroma, depth, prim, trc, mat, rng, flags) = cur.struct(
            _HEAD.format, "HEAD"
        )
        cur.pos = 0  # errors below are about the header as a whole: name its start
        if not (1 <= w <= MAX_DIM and 1 <= h <= MAX_DIM):
            raise cur.error(f"frame size {w}x{h} is outside 1..{MAX_DIM}")
        if num == 0 or den == 0 or Fraction(num, den) > 1000:
            raise cur.error(f"invalid frame rate {num}/{den}")
        if not 1 <= frames <= MAX_FRAMES:
            raise cur.error(f"invalid frame count {frames}")
        if not 1 <= segs <= min(frames, MAX_SEGMENTS):
            raise cur.error(f"invalid segment count {segs} for {frames} frames")
        if chroma != CHROMA_420 or depth != 8:
            raise cur.error(f"unsupported chroma format {chroma} / bit depth {depth} (only 4:2:0, 8-bit)")
        if rng > 2:
            raise cur.error(f"invalid colour range code {rng}")
        if flags & ~KNOWN_FLAGS:
            raise cur.error(f"unknown header flags 0x{flags & ~KNOWN_FLAGS:04x} (written by a newer neurocodec?)")
        if flags & FLAG_PARAMS_BASE and not flags & FLAG_PARAMS_DELTA:
            raise cur.error("header flag PARAMS_BASE needs PARAMS_DELTA")
        full = {0: None, 1: False, 2: True}[rng]
        return cls(w, h, Fraction(num, den), frames, segs, chroma, depth, prim, trc, mat, full, flags)
