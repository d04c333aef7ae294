"""The ``.ncv`` bitstream: chunk format, header, segment and index codecs, reader, writer, frozen strategy ids."""

from .header import SIGNATURE, VERSION, NcvHeader
from .ids import PRIVATE_ID_MIN, STRATEGY_IDS, name_for_id
from .reader import NcvReader, read_header
from .segment import SegmentInfo
from .writer import NcvWriter

__all__ = [
    "SIGNATURE",
    "VERSION",
    "NcvHeader",
    "NcvReader",
    "NcvWriter",
    "SegmentInfo",
    "read_header",
    "STRATEGY_IDS",
    "PRIVATE_ID_MIN",
    "name_for_id",
]
