"""AV1 temporal units packed without their delimiter and last size (payload format 3) come back byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurocodec
from neurocodec.bitstream import NcvReader
from neurocodec.bitstream.chunks import encode_varint
from neurocodec.errors import NcvFormatError
from neurocodec.strategies import get_strategy
from neurocodec.strategies.base import DecodeContext
from neurocodec.strategies.obu import TEMPORAL_DELIMITER, compact, expand

# A keyframe-like unit: delimiter, sequence header (3 payload bytes), frame OBU with an extension byte.
_SEQ = bytes([0x0A, 0x03, 1, 2, 3])
_FRAME_EXT = bytes([0x36, 0x08, 0x82, 0x01]) + bytes(range(130))  # type 6, extension, has_size; size 130 in 2 bytes
UNIT = TEMPORAL_DELIMITER + _SEQ + _FRAME_EXT


def test_compact_drops_the_delimiter_and_the_last_size_and_expand_restores_them():
    packed = compact(UNIT)
    assert len(packed) == len(UNIT) - 2 - 2
    assert packed[:5] == _SEQ and packed[5] == 0x34 and packed[6] == 0x08  # has_size cleared, extension kept
    assert expand(packed) == UNIT


@pytest.mark.parametrize("unit", [
    _SEQ + _FRAME_EXT,  # no delimiter
    TEMPORAL_DELIMITER,  # nothing after it
    TEMPORAL_DELIMITER + bytes([0x0A, 0x83, 0x00, 1, 2, 3]),  # a padded size field would not come back the same
    TEMPORAL_DELIMITER + bytes([0x08]) + b"xyz",  # an OBU without a size field
    TEMPORAL_DELIMITER + bytes([0x0A, 0x09, 1]),  # size past the end
    TEMPORAL_DELIMITER + bytes([0x8A, 0x01, 1]),  # forbidden bit
], ids=["no-delimiter", "empty", "padded-size", "unsized", "overrun", "forbidden"])
def test_units_compact_cannot_restore_exactly_are_left_alone(unit):
    assert compact(unit) is None


@pytest.mark.parametrize("data", [b"", _SEQ, bytes([0x0A, 0x09, 1]), bytes([0x0A]) + b"\xff" * 9, bytes([0xB4, 1])],
                         ids=["empty", "all-sized", "overrun", "long-size", "forbidden"])
def test_expand_refuses_what_compact_cannot_have_written(data):
    with pytest.raises(ValueError):
        expand(data)


def test_svt_av1_segments_store_compacted_units_and_give_back_the_encoders_packets(tmp_path, small_clip):
    out = tmp_path / "a.ncv"
    neurocodec.encode(small_clip, out, strategy="av1", crf=50, preset="8", measure_quality=False)
    with NcvReader(out) as reader:
        seg = reader.segments()[0]
        payload = reader.payload(seg)
    assert payload[0] == 3
    units = get_strategy("av1").packets(payload)
    assert all(u.startswith(TEMPORAL_DELIMITER) for u in units)
    plain = 3 + sum(len(encode_varint(len(u))) + len(u) for u in units)  # what format 2 would have stored
    assert 3 * len(units) <= plain - len(payload) <= 5 * len(units)  # the delimiter and a 1-3 byte size each
    assert len(list(neurocodec.open(out).frames())) == seg.frame_count


def test_a_damaged_compacted_unit_is_a_format_error():
    av1 = get_strategy("av1")
    bad = bytes([3, 0, 1, 2, 0x0A, 0x09])  # format 3, no extradata, one packet of 2 bytes: an OBU overrunning it
    with pytest.raises(NcvFormatError, match="OBU"):
        list(av1.decode(bad, DecodeContext(width=64, height=64, frame_count=1, params={})))


def _obu(obu_type: int, payload: bytes, extension: bool) -> bytes:
    header = bytes([obu_type << 3 | (0x04 if extension else 0) | 0x02]) + (b"\x08" if extension else b"")
    return header + encode_varint(len(payload)) + payload


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 3, 4, 5, 6, 8]), st.binary(max_size=300), st.booleans()),
                min_size=1, max_size=5))
def test_any_unit_of_sized_obus_comes_back_byte_for_byte(obus):
    unit = TEMPORAL_DELIMITER + b"".join(_obu(*o) for o in obus)
    packed = compact(unit)
    assert packed is not None and len(packed) < len(unit) - 2
    assert expand(packed) == unit


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_expand_of_arbitrary_bytes_is_a_unit_or_a_value_error(data):
    try:
        out = expand(data)
    except ValueError:
        return
    assert out.startswith(TEMPORAL_DELIMITER) and len(out) > len(data)
