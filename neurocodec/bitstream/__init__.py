"""The ``.ncv`` bitstream: chunk format, container reader/writer, frozen strategy ids."""

from .container import SIGNATURE, VERSION, NcvHeader, NcvReader, NcvWriter, SegmentInfo, read_header
from .ids import PRIVATE_ID_MIN, STRATEGY_IDS, name_for_id

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
