"""The ``.ncv`` container: round trips, atomic writes, determinism, and a reader
that refuses every damaged or hostile file with :class:`NcvFormatError` only.

Files with specific defects are assembled by hand (``build``) with valid CRCs,
so the reader gets past the checksums to the field it must reject. The hand
assembler is independent of :class:`NcvWriter`; ``test_writer_matches_spec``
checks that both produce the same bytes, which pins the frozen format.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import zlib
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocodec.bitstream import (
    PRIVATE_ID_MIN,
    SIGNATURE,
    STRATEGY_IDS,
    VERSION,
    NcvHeader,
    NcvReader,
    NcvWriter,
    SegmentInfo,
    name_for_id,
    read_header,
)
from neurocodec.bitstream.bases import PARAMS_BASES
from neurocodec.bitstream.chunks import CHUNK_OVERHEAD, Cursor, encode_varint, is_critical, pack_chunk
from neurocodec.errors import NcvFormatError, NeurocodecError, OutputExistsError, SourceNotFoundError

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Format constants, written out so that a change to the frozen format fails here.
PREAMBLE = 10  # signature (8) + version major, minor
HEAD_SIZE = 32
NEND_CHUNK = CHUNK_OVERHEAD + 8
FIRST_CHUNK = PREAMBLE + CHUNK_OVERHEAD + HEAD_SIZE  # offset of the chunk after HEAD
SLOW_S = 2.0  # generous bound on reading one small fuzzed file


def h32(tag: str) -> bytes:
    return hashlib.sha256(tag.encode()).digest()


# ---------------------------------------------------------------- fixtures ---

FPS = Fraction(30000, 1001)
COLOR = (1, 1, 1, True)  # BT.709, full range
META = {"writer": "tests", "version": "0.0"}
SEGMENTS = [
    dict(strategy_id=1, strategy="x264", frame_count=7, payload=bytes(range(256)) * 3,
         params={"crf": 23, "preset": "medium"}),
    dict(
        strategy_id=16,
        strategy="semantic_latent",
        frame_count=5,
        payload=b"\x00" * 17 + b"\xff" * 900,
        params={"lambda": 0.013, "nested": {"a": [1, 2, 3], "b": None}, "ünïcode": "✓"},
        weight_hashes=(h32("encoder"), h32("decoder")),
    ),
    dict(
        strategy_id=PRIVATE_ID_MIN + 5,
        strategy="my_private",
        frame_count=1,
        payload=b"",  # an empty payload is legal
        weight_hashes=(h32("private"),),
    ),
    dict(strategy_id=3, strategy="av1", frame_count=12, payload=b"AV1" * 1000, params={"crf": 35}),
]


def write_sample(path, segments=SEGMENTS, *, width=75, height=47, fps=FPS, color=COLOR, meta=META, **kw):
    """Write ``segments``; return the (closed) writer and the chunk sizes add_segment() reported."""
    sizes = []
    w = NcvWriter(path, width=width, height=height, fps=fps, color=color, meta=meta, **kw)
    with w:
        for s in segments:
            sizes.append(w.add_segment(**s))
    return w, sizes


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "sample.ncv"
    w, sizes = write_sample(path)
    return path, w, sizes


@pytest.fixture(scope="module")
def small_file(tmp_path_factory) -> bytes:
    """A small valid file (3 segments, meta chunk) for exhaustive and fuzz tests."""
    path = tmp_path_factory.mktemp("small") / "small.ncv"
    with NcvWriter(path, width=33, height=17, fps=FPS, meta={"w": 1}) as w:
        w.add_segment(strategy_id=1, strategy="x264", frame_count=2, payload=b"first", params={"crf": 20})
        w.add_segment(strategy_id=16, strategy="semantic_latent", frame_count=3, payload=b"\x01\x02",
                      weight_hashes=(h32("w"),))
        w.add_segment(strategy_id=3, strategy="av1", frame_count=1, payload=b"z" * 40)
    return path.read_bytes()


# -------------------------------------------------------- hand assembly ---


def head_payload(width=75, height=47, num=30000, den=1001, frames=1, segs=1, chroma=1, depth=8,
                 prim=2, trc=2, mat=2, rng=0, flags=0) -> bytes:
    return struct.pack(">IIIIIIBBBBBBH", width, height, num, den, frames, segs, chroma, depth, prim, trc, mat, rng,
                       flags)


def segm_payload(s: dict) -> bytes:
    """SEGM payload from a spec dict; ``*_raw`` keys override an encoded field."""
    if "raw" in s:
        return s["raw"]
    name = s.get("name_raw", s.get("name", "x264").encode())
    hashes = s.get("hashes", ())
    params_raw = s.get("params_raw", json.dumps(s.get("params", {}), sort_keys=True, separators=(",", ":")).encode())
    params_len = s.get("params_len", len(params_raw))
    return b"".join([
        s.get("index_raw", encode_varint(s["index"])),
        encode_varint(s.get("sid", 1)),
        encode_varint(len(name)), name,
        encode_varint(s["start"]),
        encode_varint(s["count"]),
        encode_varint(s.get("n_hashes", len(hashes))), *hashes,
        encode_varint(params_len), params_raw,
        s.get("payload", b""),
    ])


def indx_payload(entries) -> bytes:
    out = [encode_varint(len(entries))]
    for off, start, count in entries:
        out += [encode_varint(off), encode_varint(start), encode_varint(count)]
    return b"".join(out)


def seg(count=1, **fields) -> dict:
    return dict(count=count, **fields)


def build(items=None, *, head=None, version=VERSION, entries=None, indx=True, nend=True, offsets_out=None) -> bytes:
    """Assemble a file: preamble, HEAD, ``items`` (segment dicts or raw chunk bytes), INDX, NEND.

    Segment index and start frame default to the next expected values; the
    header defaults to the totals of the segments; ``entries`` overrides the index.
    """
    items = [seg(2), seg(3)] if items is None else items
    specs, start, n = [], 0, 0
    for it in items:
        if isinstance(it, dict):
            it = dict(it)
            it.setdefault("index", n)
            it.setdefault("start", start)
            start, n = it["start"] + it["count"], n + 1
        specs.append(it)
    if not isinstance(head, bytes):
        head = head_payload(**{"frames": start, "segs": n, **(head or {})})
    out = bytearray(SIGNATURE + bytes(version)) + pack_chunk(b"HEAD", head)
    offsets = []
    for it in specs:
        if isinstance(it, dict):
            offsets.append((len(out), it["start"], it["count"]))
            out += pack_chunk(b"SEGM", segm_payload(it))
        else:
            out += it
    if offsets_out is not None:
        offsets_out.extend(offsets)
    if indx:
        indx_off = len(out)
        out += pack_chunk(b"INDX", indx_payload(offsets if entries is None else entries))
        if nend:
            out += pack_chunk(b"NEND", struct.pack(">Q", indx_off))
    return bytes(out)


def walk_chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, payload length) of every chunk of a well-formed file."""
    out, off = [], PREAMBLE
    while off < len(data):
        ctype = data[off : off + 4]
        (n,) = struct.unpack(">I", data[off + 4 : off + 8])
        out.append((off, ctype, n))
        off += CHUNK_OVERHEAD + n
    assert off == len(data)
    return out


def read_all(data):
    """Open and fully validate; return (reader, segments, index, payloads)."""
    with NcvReader(data) as r:
        segs = r.segments()
        return r, segs, r.index(), [r.payload(s) for s in segs]


def format_error(data) -> NcvFormatError:
    with pytest.raises(NcvFormatError) as info:
        read_all(data)
    return info.value


def exercise(data: bytes) -> bool:
    """Drive every public read path; only NcvFormatError may come out. True if the file was accepted.

    When the file is accepted, its promises must hold: segments numbered
    0..N-1, contiguous frames adding up to the header, payloads of the
    announced size, and an index (if readable) that agrees with the segments.
    """
    t0 = time.perf_counter()
    try:
        r = NcvReader(data)
    except NcvFormatError:
        return False
    with r:
        assert r.version[0] == VERSION[0]
        idx = r.index()  # never raises: None when missing or damaged
        assert idx is None or isinstance(idx, list)
        for off, _, _ in idx or []:
            try:
                r.segment_at(off)
            except NcvFormatError:
                pass
        try:
            segs = r.segments()
        except NcvFormatError:
            segs = None
        if segs is not None:
            assert [s.index for s in segs] == list(range(r.header.segment_count))
            assert sum(s.frame_count for s in segs) == r.header.frame_count
            frame = 0
            for s in segs:
                assert s.start_frame == frame
                frame = s.end_frame
                assert len(r.payload(s)) == s.payload_size
            if idx is not None:
                assert idx == [(s.chunk_offset, s.start_frame, s.frame_count) for s in segs]
    assert time.perf_counter() - t0 < SLOW_S
    return segs is not None


# ----------------------------------------------------------- round trip ---


def test_round_trip_header(sample):
    path, w, _ = sample
    with NcvReader(path) as r:
        h = r.header
        assert isinstance(h, NcvHeader)
        assert r.version == VERSION == (1, 2)
        assert (h.width, h.height) == (75, 47)
        assert h.fps == Fraction(30000, 1001) and isinstance(h.fps, Fraction)
        assert h.frame_count == 25 == w.frames_written
        assert h.segment_count == 4
        assert (h.primaries, h.transfer, h.matrix, h.full_range) == COLOR
        assert (h.chroma_format, h.bit_depth) == (1, 8)
        assert h.duration == pytest.approx(25 * 1001 / 30000)
        r.segments()
        assert r.meta == META
    assert read_header(path) == h


@pytest.mark.parametrize("full_range", [None, False, True])
def test_round_trip_colour_range(tmp_path, full_range):
    path = tmp_path / "c.ncv"
    write_sample(path, SEGMENTS[:1], color=(9, 16, 9, full_range), meta=None)
    h = read_header(path)
    assert (h.primaries, h.transfer, h.matrix, h.full_range) == (9, 16, 9, full_range)


def test_round_trip_segments_and_payloads(sample):
    path, _, _ = sample
    with NcvReader(path) as r:
        segs = r.segments()
        assert len(segs) == len(SEGMENTS)
        start = 0
        for i, (info, spec) in enumerate(zip(segs, SEGMENTS)):
            assert isinstance(info, SegmentInfo)
            assert info.index == i
            assert info.strategy_id == spec["strategy_id"]
            assert info.strategy == spec["strategy"]
            assert (info.start_frame, info.frame_count) == (start, spec["frame_count"])
            assert info.end_frame == start + spec["frame_count"]
            assert info.weight_hashes == tuple(spec.get("weight_hashes", ()))
            assert info.params == spec.get("params", {})
            assert info.payload_size == len(spec["payload"])
            assert r.payload(info) == spec["payload"]
            start = info.end_frame
        # Payloads can be read again, in any order.
        assert [r.payload(s) for s in reversed(segs)] == [s["payload"] for s in reversed(SEGMENTS)]


def test_index_matches_segments_and_segment_at(sample):
    path, _, _ = sample
    with NcvReader(path) as r:
        idx = r.index()  # usable before (without) the front-to-back walk
        segs = r.segments()
        assert idx == [(s.chunk_offset, s.start_frame, s.frame_count) for s in segs]
        for (off, start, count), s in zip(idx, segs):
            assert r.segment_at(off) == s
            assert r.payload(r.segment_at(off)) == r.payload(s)
        with pytest.raises(NcvFormatError):
            r.segment_at(0)  # inside the preamble
        with pytest.raises(NcvFormatError):
            r.segment_at(r.size)
        with pytest.raises(NcvFormatError):
            r.segment_at(segs[0].chunk_offset + 1)  # not a chunk boundary


def test_chunk_sizes_add_up_to_file_size(sample):
    path, w, sizes = sample
    data = path.read_bytes()
    meta_chunk = CHUNK_OVERHEAD + len(json.dumps(META, sort_keys=True, separators=(",", ":")).encode())
    with NcvReader(path) as r:
        segs = r.segments()
        entries = r.index()
    assert [s.chunk_size for s in segs] == sizes
    assert segs[0].chunk_offset == FIRST_CHUNK + meta_chunk
    for a, b in zip(segs, segs[1:]):
        assert a.chunk_offset + a.chunk_size == b.chunk_offset
    indx_chunk = CHUNK_OVERHEAD + len(indx_payload(entries))
    total = FIRST_CHUNK + meta_chunk + sum(sizes) + indx_chunk + NEND_CHUNK
    assert total == len(data) == os.path.getsize(path)
    # payload_offset/size locate the payload bytes in the file.
    for s, spec in zip(segs, SEGMENTS):
        assert data[s.payload_offset : s.payload_offset + s.payload_size] == spec["payload"]


def test_close_returns_file_size(tmp_path):
    path = tmp_path / "x.ncv"
    w = NcvWriter(path, width=2, height=2, fps=Fraction(25))
    w.add_segment(strategy_id=1, strategy="x264", frame_count=1, payload=b"abc")
    assert not path.exists()  # nothing under the output name until close()
    assert w.close() == path.stat().st_size
    with pytest.raises(ValueError):
        w.close()


def test_reader_accepts_bytes_bytearray_memoryview(sample):
    path, _, _ = sample
    data = path.read_bytes()
    for src in (data, bytearray(data), memoryview(data)):
        with NcvReader(src) as r:
            assert r.path == "<bytes>"
            assert [r.payload(s) for s in r.segments()] == [s["payload"] for s in SEGMENTS]


def test_reader_closes_file(sample):
    path, _, _ = sample
    with NcvReader(path) as r:
        pass
    assert r._fh.closed


def test_writer_matches_spec(sample):
    """The writer's bytes equal the hand-assembled file: the layout is frozen."""
    path, _, _ = sample
    items = [pack_chunk(b"meta", json.dumps(META, sort_keys=True, separators=(",", ":")).encode())]
    # 1.1 stores each segment's params as a merge patch over the previous segment's, or whole as [params]
    # where that is shorter or the params hold a null (which a merge patch cannot set); 1.2 patches the first
    # over its strategy's base params (x264's here, which share nothing with these: stored whole).
    stored = [[SEGMENTS[0]["params"]], [SEGMENTS[1]["params"]], [{}], SEGMENTS[3]["params"]]
    for s, params in zip(SEGMENTS, stored, strict=True):
        items.append(seg(s["frame_count"], sid=s["strategy_id"], name=s["strategy"], payload=s["payload"],
                         params=params, hashes=s.get("weight_hashes", ())))
    expected = build(items, head={"width": 75, "height": 47, "prim": 1, "trc": 1, "mat": 1, "rng": 2, "flags": 3})
    assert path.read_bytes() == expected


def test_chunk_layout():
    chunk = pack_chunk(b"SEGM", b"hello")
    assert chunk[:4] == b"SEGM"
    assert chunk[4:8] == struct.pack(">I", 5)
    assert chunk[8:13] == b"hello"
    assert chunk[13:] == struct.pack(">I", zlib.crc32(b"SEGMhello"))
    assert len(pack_chunk(b"meta", b"")) == CHUNK_OVERHEAD
    assert is_critical(b"SEGM") and is_critical(b"HEAD")
    assert not is_critical(b"meta") and not is_critical(b"zZZZ")
    for bad in (b"SEG", b"SEGMX", b"SE1M", b"SE M"):
        with pytest.raises(ValueError):
            pack_chunk(bad, b"")


def test_signature_is_png_style():
    assert SIGNATURE == b"\x89NCV\r\n\x1a\n"


def test_strategy_ids_are_frozen():
    assert {"x264": 1, "x265": 2, "av1": 3, "semantic_latent": 16, "i_frame_interpolation": 17,
            "hybrid": 18}.items() <= STRATEGY_IDS.items()
    assert len(set(STRATEGY_IDS.values())) == len(STRATEGY_IDS)
    assert all(0 < sid < PRIVATE_ID_MIN for sid in STRATEGY_IDS.values())
    assert PRIVATE_ID_MIN == 0x4000
    for name, sid in STRATEGY_IDS.items():
        assert name_for_id(sid) == name
    assert name_for_id(0) is None
    assert name_for_id(PRIVATE_ID_MIN) is None


# -------------------------------------------------------- atomic writes ---


def test_exception_inside_writer_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    path = out / "a.ncv"
    with pytest.raises(KeyError):
        with NcvWriter(path, width=8, height=8, fps=Fraction(25)) as w:
            w.add_segment(strategy_id=1, strategy="x264", frame_count=3, payload=b"x" * 1000)
            raise KeyError("boom")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    "bad",
    [
        dict(strategy_id=0),
        dict(strategy_id=0x10000),
        dict(strategy=""),
        dict(strategy="x" * 65),
        dict(frame_count=0),
        dict(weight_hashes=(b"short",)),
        dict(weight_hashes=(h32("a"),) * 17),
        dict(params={"x": object()}),
    ],
)
def test_invalid_segment_is_refused_and_leaves_nothing(tmp_path, bad):
    out = tmp_path / "out"
    out.mkdir()
    spec = dict(dict(strategy_id=1, strategy="x264", frame_count=1, payload=b"p"), **bad)
    with pytest.raises((ValueError, TypeError)):
        with NcvWriter(out / "a.ncv", width=8, height=8, fps=Fraction(25)) as w:
            w.add_segment(strategy_id=1, strategy="x264", frame_count=1, payload=b"ok")
            w.add_segment(**spec)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    "kw",
    [
        dict(meta={"x": object()}),  # not JSON-serialisable
        dict(fps=Fraction(-25)),
        dict(color=(2, 2, 2, "yes")),
        dict(width=1 << 32),
    ],
)
def test_writer_constructor_failure_leaves_nothing(tmp_path, kw):
    out = tmp_path / "out"
    out.mkdir()
    args = dict(dict(width=8, height=8, fps=Fraction(25)), **kw)
    with pytest.raises(Exception) as info:
        NcvWriter(out / "a.ncv", **args)
    # Checked while the exception (and its traceback) is still alive.
    assert list(out.iterdir()) == [], info.value


def test_zero_segments_fails_and_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match="at least one segment"):
        with NcvWriter(out / "a.ncv", width=8, height=8, fps=Fraction(25), meta={"a": 1}):
            pass
    assert list(out.iterdir()) == []
    w = NcvWriter(out / "b.ncv", width=8, height=8, fps=Fraction(25))
    with pytest.raises(ValueError):
        w.close()
    assert list(out.iterdir()) == []


def test_abort_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    w = NcvWriter(out / "a.ncv", width=8, height=8, fps=Fraction(25))
    w.add_segment(strategy_id=1, strategy="x264", frame_count=1, payload=b"p")
    w.abort()
    w.abort()  # idempotent
    assert list(out.iterdir()) == []
    with pytest.raises(ValueError):
        w.close()
    assert list(out.iterdir()) == []


def test_existing_file_is_refused_without_overwrite(tmp_path):
    path = tmp_path / "a.ncv"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError) as info:
        NcvWriter(path, width=8, height=8, fps=Fraction(25))
    assert isinstance(info.value, FileExistsError)
    assert isinstance(info.value, NeurocodecError)
    assert str(path) in str(info.value)
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ncv"]


def test_existing_file_is_replaced_with_overwrite(tmp_path):
    path = tmp_path / "a.ncv"
    path.write_bytes(b"precious")
    with NcvWriter(path, width=8, height=8, fps=Fraction(25), overwrite=True) as w:
        w.add_segment(strategy_id=1, strategy="x264", frame_count=1, payload=b"new")
        assert path.read_bytes() == b"precious"  # replaced only once complete
    with NcvReader(path) as r:
        assert [r.payload(s) for s in r.segments()] == [b"new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ncv"]


def test_failed_overwrite_keeps_old_file(tmp_path):
    path = tmp_path / "a.ncv"
    path.write_bytes(b"precious")
    with pytest.raises(RuntimeError):
        with NcvWriter(path, width=8, height=8, fps=Fraction(25), overwrite=True) as w:
            w.add_segment(strategy_id=1, strategy="x264", frame_count=1, payload=b"new")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ncv"]


def test_missing_output_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        NcvWriter(tmp_path / "nope" / "a.ncv", width=8, height=8, fps=Fraction(25))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------- determinism ---


def test_same_inputs_give_identical_files(tmp_path):
    write_sample(tmp_path / "a.ncv")
    write_sample(tmp_path / "b.ncv")
    assert (tmp_path / "a.ncv").read_bytes() == (tmp_path / "b.ncv").read_bytes()


def test_dict_order_does_not_change_the_file(tmp_path):
    reordered = [dict(s, params=dict(reversed(list(s.get("params", {}).items())))) for s in SEGMENTS]
    write_sample(tmp_path / "a.ncv")
    write_sample(tmp_path / "b.ncv", reordered, meta=dict(reversed(list(META.items()))))
    assert (tmp_path / "a.ncv").read_bytes() == (tmp_path / "b.ncv").read_bytes()


def test_different_inputs_give_different_files(tmp_path):
    write_sample(tmp_path / "a.ncv")
    changed = [dict(SEGMENTS[0], payload=SEGMENTS[0]["payload"][:-1] + b"!"), *SEGMENTS[1:]]
    write_sample(tmp_path / "b.ncv", changed)
    assert (tmp_path / "a.ncv").read_bytes() != (tmp_path / "b.ncv").read_bytes()


# ------------------------------------------------------- error messages ---


def test_format_error_is_value_error():
    assert issubclass(NcvFormatError, ValueError)
    assert issubclass(NcvFormatError, NeurocodecError)
    e = NcvFormatError("bad thing", offset=42, path="x.ncv")
    assert str(e) == "x.ncv: offset 42: bad thing"
    assert (e.offset, e.path, e.reason) == (42, "x.ncv", "bad thing")
    assert str(NcvFormatError("bad")) == "bad"


def test_error_message_names_path_and_offset(tmp_path, sample):
    path, _, _ = sample
    data = bytearray(path.read_bytes())
    with NcvReader(path) as r:
        seg1 = r.segments()[1]
    data[seg1.payload_offset + 10] ^= 0x04
    bad = tmp_path / "bad.ncv"
    bad.write_bytes(bytes(data))
    with NcvReader(bad) as r:
        with pytest.raises(NcvFormatError) as info:
            r.segments()
    e = info.value
    assert e.path == str(bad)
    assert e.offset == seg1.chunk_offset
    assert str(bad) in str(e)
    assert f"offset {seg1.chunk_offset}" in str(e)
    assert "CRC" in str(e)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(SourceNotFoundError) as info:
        NcvReader(tmp_path / "missing.ncv")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(NcvFormatError):
        NcvReader(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_header(tmp_path / "missing.ncv")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.ncv"
    path.write_bytes(b"")
    with pytest.raises(NcvFormatError, match="signature") as info:
        NcvReader(path)
    assert info.value.offset == 0 and info.value.path == str(path)
    with pytest.raises(NcvFormatError):
        read_header(path)


@pytest.mark.parametrize(
    "prefix",
    [b"\x89PNG\r\n\x1a\n\x01\x00", b"RIFF\x00\x00\x00\x00WEBP", b"\x89NCV\r\n\x1a\x00", b"\x89ncv\r\n\x1a\n", b"x"],
)
def test_wrong_signature(prefix, small_file):
    with pytest.raises(NcvFormatError, match="signature") as info:
        NcvReader(prefix + small_file[len(prefix):])
    assert info.value.offset == 0


def test_signature_without_version():
    with pytest.raises(NcvFormatError, match="signature") as info:
        NcvReader(SIGNATURE[:7])
    assert info.value.offset == 0
    with pytest.raises(NcvFormatError, match="version") as info:
        NcvReader(SIGNATURE + b"\x01")
    assert info.value.offset == 8


@pytest.mark.parametrize("major", [0, 2, 255])
def test_unsupported_major_version(small_file, major):
    data = bytearray(small_file)
    data[8] = major
    with pytest.raises(NcvFormatError, match=rf"version {major}\.{VERSION[1]} ") as info:
        NcvReader(bytes(data))
    assert info.value.offset == 8


def test_newer_minor_version_still_reads(small_file):
    data = bytearray(small_file)
    data[9] = 7
    with NcvReader(bytes(data)) as r:
        assert r.version == (1, 7)
        assert len(r.segments()) == 3


# ------------------------------------------------------------ truncation ---


@pytest.mark.parametrize("cut", [PREAMBLE, PREAMBLE + 4, PREAMBLE + 8, PREAMBLE + 20, FIRST_CHUNK - 1])
def test_truncated_inside_header(small_file, cut):
    with pytest.raises(NcvFormatError) as info:
        NcvReader(small_file[:cut])
    assert 0 <= info.value.offset <= cut


def test_truncated_inside_segment(small_file):
    with NcvReader(small_file) as r:
        seg1 = r.segments()[1]
    for cut in (seg1.chunk_offset + 3, seg1.chunk_offset + 8, seg1.payload_offset, seg1.payload_offset + 1,
                seg1.chunk_offset + seg1.chunk_size - 1):
        with NcvReader(small_file[:cut]) as r:  # the header alone is intact
            assert r.header.segment_count == 3
            assert r.index() is None
            with pytest.raises(NcvFormatError) as info:
                r.segments()
            assert seg1.chunk_offset <= info.value.offset <= cut


def test_truncated_between_segments(small_file):
    """Whole segments missing: the header's promise catches it."""
    with NcvReader(small_file) as r:
        segs = r.segments()
    for s in segs:
        with pytest.raises(NcvFormatError, match="promises") as info:
            read_all(small_file[: s.chunk_offset])
        assert info.value.offset == s.chunk_offset


def test_losing_index_and_trailer_keeps_file_readable(small_file):
    with NcvReader(small_file) as r:
        segs = r.segments()
        payloads = [r.payload(s) for s in segs]
    end_of_segments = segs[-1].chunk_offset + segs[-1].chunk_size
    for cut in (end_of_segments, len(small_file) - NEND_CHUNK):  # no INDX+NEND; no NEND
        with NcvReader(small_file[:cut]) as r:
            assert r.index() is None
            assert r.segments() == segs
            assert [r.payload(s) for s in segs] == payloads


def test_every_truncation_is_detected(small_file):
    """Each proper prefix is refused, except those that lose only INDX/NEND."""
    _, segs, _, _ = read_all(small_file)
    readable = readable_cuts(small_file)
    assert len(readable) == 3
    for cut in range(len(small_file)):
        if cut in readable:
            assert read_all(small_file[:cut])[1] == segs
        else:
            e = format_error(small_file[:cut])
            assert 0 <= e.offset <= cut, (cut, e)


# ------------------------------------------------------------ corruption ---


def test_crc_mismatch_in_payload(small_file):
    with NcvReader(small_file) as r:
        segs = r.segments()
    data = bytearray(small_file)
    data[segs[2].payload_offset + 5] ^= 0x80
    with NcvReader(bytes(data)) as r:
        assert r.segment_at(segs[0].chunk_offset) == segs[0]  # undamaged segments still readable
        with pytest.raises(NcvFormatError, match="CRC") as info:
            r.segment_at(segs[2].chunk_offset)
        assert info.value.offset == segs[2].chunk_offset
        with pytest.raises(NcvFormatError, match="CRC"):
            r.payload(segs[2])
        with pytest.raises(NcvFormatError, match="CRC"):
            r.segments()


def test_every_single_bit_flip_is_detected(small_file):
    """CRC32 catches any one-bit error; only the minor version byte is free to change."""
    for pos in range(len(small_file)):
        if pos == 9:
            continue
        for bit in range(8):
            data = bytearray(small_file)
            data[pos] ^= 1 << bit
            format_error(bytes(data))


def test_forged_chunk_length_beyond_file(small_file):
    with NcvReader(small_file) as r:
        seg1 = r.segments()[1]
    for length in (0x7FFFFFFF, 0xFFFFFFFF, len(small_file)):
        data = bytearray(small_file)
        data[seg1.chunk_offset + 4 : seg1.chunk_offset + 8] = struct.pack(">I", length)
        with NcvReader(bytes(data)) as r:
            with pytest.raises(NcvFormatError, match="claims") as info:
                r.segments()
            assert info.value.offset == seg1.chunk_offset + 4
    data = bytearray(small_file)
    data[PREAMBLE + 4 : PREAMBLE + 8] = struct.pack(">I", 0xFFFFFFFF)
    with pytest.raises(NcvFormatError, match="claims"):
        NcvReader(bytes(data))


def test_unknown_ancillary_chunks_are_skipped():
    extra = [pack_chunk(b"zzzz", b"future data"), pack_chunk(b"tIME", b""), pack_chunk(b"meta", b"[1, 2]")]
    offsets = []
    data = build([extra[0], seg(2, payload=b"a"), extra[1], seg(3, payload=b"b"), extra[2]], offsets_out=offsets)
    r, segs, idx, payloads = read_all(data)
    assert payloads == [b"a", b"b"]
    assert idx == offsets == [(s.chunk_offset, s.start_frame, s.frame_count) for s in segs]
    assert r.meta == {}  # a meta chunk that is not an object is ignored


def test_unknown_critical_chunk_is_refused():
    offsets = []
    data = build([seg(2), seg(3)], offsets_out=offsets)
    chunk = pack_chunk(b"ZZZZ", b"future data")
    at = offsets[1][0]
    with pytest.raises(NcvFormatError, match="unknown critical chunk ZZZZ") as info:
        read_all(data[:at] + chunk + data[at:])
    assert info.value.offset == at


@pytest.mark.parametrize("meta", [b"[" * 100_000, b"{" * 5000, b"not json", b"\xff\xfe\x00", b"42", b""])
def test_bad_meta_is_ignored(meta):
    r, segs, idx, payloads = read_all(build([pack_chunk(b"meta", meta), seg(4, payload=b"p")]))
    assert r.meta == {}
    assert payloads == [b"p"]


def raw_chunk(ctype: bytes, payload: bytes) -> bytes:
    """A chunk with any type bytes (pack_chunk refuses non-letters) and a valid CRC."""
    return ctype + struct.pack(">I", len(payload)) + payload + struct.pack(">I", zlib.crc32(payload, zlib.crc32(ctype)))


# Each case: (id, file, message fragment, expected offset or None for "within the file").
def _cases():
    off = []
    base = build([seg(2), seg(3)], offsets_out=off)
    seg1 = off[1][0]
    seg1_payload = seg1 + 8
    no_nend = build([seg(2), seg(3)], nend=False)
    no_indx = build([seg(2), seg(3)], indx=False)
    head_payload_off = PREAMBLE + 8
    cases = [
        # HEAD fields
        ("width 0", build(head={"width": 0}), "frame size", head_payload_off),
        ("height too big", build(head={"height": 16385}), "frame size", head_payload_off),
        ("fps den 0", build(head={"den": 0}), "frame rate", head_payload_off),
        ("fps num 0", build(head={"num": 0}), "frame rate", head_payload_off),
        ("fps too high", build(head={"num": 1001, "den": 1}), "frame rate", head_payload_off),
        ("frames 0", build(head={"frames": 0, "segs": 0}), "frame count", head_payload_off),
        ("segs 0", build(head={"segs": 0}), "segment count", head_payload_off),
        ("segs > frames", build([seg(1)], head={"segs": 2}), "segment count", head_payload_off),
        ("chroma 4:4:4", build(head={"chroma": 3}), "chroma", head_payload_off),
        ("10 bit", build(head={"depth": 10}), "bit depth", head_payload_off),
        ("range code", build(head={"rng": 3}), "range", head_payload_off),
        ("flags", build(head={"flags": 4}), "flags", head_payload_off),
        ("base without delta", build(head={"flags": 2}), "PARAMS_BASE needs PARAMS_DELTA", head_payload_off),
        ("HEAD short", build(head=head_payload(frames=5, segs=2)[:-1]), "HEAD chunk must be 32", head_payload_off),
        ("HEAD long", build(head=head_payload(frames=5, segs=2) + b"\0"), "HEAD chunk must be 32", head_payload_off),
        ("no HEAD", SIGNATURE + b"\x01\x00" + pack_chunk(b"SEGM", b""), "expected a HEAD", PREAMBLE),
        ("second HEAD", build([pack_chunk(b"HEAD", head_payload()), seg(1)]), "second HEAD", FIRST_CHUNK),
        # chunk framing
        ("bad chunk type", build([raw_chunk(b"SE1M", b""), seg(1)]), "invalid chunk type", FIRST_CHUNK),
        ("bad chunk type 2", build([raw_chunk(b"\x00\x00\x00\x00", b""), seg(1)]), "invalid chunk type",
         FIRST_CHUNK),
        ("non-ascii type", build([raw_chunk("Ä".encode("latin-1") * 4, b""), seg(1)]), "invalid chunk type",
         FIRST_CHUNK),
        ("trailing garbage", no_nend + b"\0" * 5, "file ends", len(no_nend)),
        ("trailing chunk after NEND", base + pack_chunk(b"zzzz", b""), "NEND", len(base) - NEND_CHUNK),
        # segment order and coverage
        ("index gap", build([seg(2), seg(3, index=2)]), "segment 2 found where segment 1", seg1),
        ("index repeated", build([seg(2), seg(3, index=0)]), "segment 0 found where segment 1", seg1),
        ("first index 1", build([seg(2, index=1), seg(3, index=2)]), "segment 1 found where segment 0",
         FIRST_CHUNK),
        ("frame gap", build([seg(2), seg(3, start=3)]), "starts at frame 3, expected 2", seg1),
        ("frame overlap", build([seg(2), seg(3, start=1)]), "starts at frame 1, expected 2", seg1),
        ("beyond header frames", build([seg(2), seg(3)], head={"frames": 4}), "exceeds the header", seg1),
        ("beyond header segments", build([seg(2), seg(3), seg(1)], head={"segs": 2, "frames": 6}),
         "exceeds the header", None),
        ("fewer segments than promised", build([seg(2), seg(3)], head={"segs": 3}), "promises", len(base)),
        ("fewer frames than promised", build([seg(2), seg(3)], head={"frames": 6}), "promises", len(base)),
        # segment fields
        ("strategy id 0", build([seg(2), seg(3, sid=0)]), "strategy id 0", None),
        ("strategy id too big", build([seg(2), seg(3, sid=0x10000)]), "exceeds the limit", seg1_payload + 1),
        ("empty name", build([seg(2), seg(3, name_raw=b"")]), "strategy name", None),
        ("unprintable name", build([seg(2), seg(3, name_raw=b"a\nb")]), "strategy name", None),
        ("name not utf-8", build([seg(2), seg(3, name_raw=b"\xff\xfe")]), "UTF-8", None),
        ("name too long", build([seg(2), seg(3, name_raw=b"n" * 65)]), "exceeds the limit 64", seg1_payload + 2),
        ("zero frames", build([seg(2), seg(0)], head={"frames": 3}), "no frames", None),
        ("too many hashes", build([seg(2), seg(3, n_hashes=17)]), "exceeds the limit 16", None),
        ("missing hash", build([seg(2), seg(3, n_hashes=2, hashes=(h32("a"),))]), "weight hash", None),
        ("params not json", build([seg(2), seg(3, params_raw=b"{")]), "JSON", None),
        ("params not utf-8", build([seg(2), seg(3, params_raw=b'{"\xff":1}')]), "JSON", None),
        ("params a list", build([seg(2), seg(3, params_raw=b"[1]")]), "JSON object", None),
        ("params deeply nested", build([seg(2), seg(3, params_raw=b'{"a":' * 100_000)]), "JSON", None),
        ("params length beyond chunk", build([seg(2), seg(3, params_raw=b"{}", params_len=50)]),
         "params: needs 50 bytes but only 2 remain", None),
        ("empty SEGM", build([seg(2), seg(3, raw=b"")]), "truncated varint", seg1_payload),
        ("overlong index varint", build([seg(2), seg(3, index_raw=b"\x81" + b"\x80" * 10 + b"\x00")]),
         "varint longer", seg1_payload),
        # INDX / NEND
        ("index disagrees", build([seg(2), seg(3)], entries=[(off[0][0], 0, 2), (off[1][0], 2, 4)]),
         "INDX does not match", len(no_indx)),
        ("index wrong offset", build([seg(2), seg(3)], entries=[(off[0][0], 0, 2), (off[1][0] + 1, 2, 3)]),
         "INDX does not match", len(no_indx)),
        ("index too many entries", build([seg(2), seg(3)], entries=off * 2), "index entry count", None),
        ("index trailing bytes", no_indx + pack_chunk(b"INDX", indx_payload(off) + b"\0"), "trailing", None),
        ("second INDX", no_nend + pack_chunk(b"INDX", indx_payload(off)), "second INDX", len(no_nend)),
        ("SEGM after INDX", build([seg(2)], head={"segs": 2, "frames": 5}, nend=False)
         + pack_chunk(b"SEGM", segm_payload(dict(index=1, start=2, count=3))), "after INDX", None),
        ("NEND points elsewhere", no_nend + pack_chunk(b"NEND", struct.pack(">Q", 12345)), "NEND points",
         len(no_nend) + 8),
        ("NEND without INDX", no_indx + pack_chunk(b"NEND", struct.pack(">Q", len(no_indx))), "NEND points", None),
        ("NEND short", no_nend + pack_chunk(b"NEND", b"\0" * 4), "NEND chunk must be", len(no_nend)),
    ]
    return cases


CASES = _cases()


@pytest.mark.parametrize("data, fragment, offset", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_file_is_refused(data, fragment, offset):
    e = format_error(data)
    assert fragment in e.reason, e
    assert e.path == "<bytes>"
    if offset is None:
        assert PREAMBLE <= e.offset <= len(data), e
    else:
        assert e.offset == offset, e
    assert f"offset {e.offset}" in str(e)
    assert exercise(data) is False


def test_hand_built_file_is_valid():
    """Sanity check of the assembler used by the error cases."""
    offsets = []
    data = build([seg(2, payload=b"a", params={"k": 1}), seg(3, sid=PRIVATE_ID_MIN, name="mine", payload=b"")],
                 offsets_out=offsets)
    r, segs, idx, payloads = read_all(data)
    assert idx == offsets
    assert [(s.strategy_id, s.strategy, s.params) for s in segs] == [
        (1, "x264", {"k": 1}),
        (PRIVATE_ID_MIN, "mine", {}),
    ]
    assert payloads == [b"a", b""]
    assert exercise(data) is True


def test_index_ignores_a_malformed_trailer():
    """A short NEND at the trailer's position must give None, not a crash."""
    data = build([seg(2), seg(3)], nend=False) + pack_chunk(b"NEND", b"\0" * 4) + b"\0" * 4
    with NcvReader(data) as r:
        assert r.index() is None
        with pytest.raises(NcvFormatError):
            r.segments()
    # NEND pointing outside the file or at a non-INDX chunk.
    no_nend = build([seg(2), seg(3)], nend=False)
    for target in (0, FIRST_CHUNK, len(no_nend) + 5, 1 << 63):
        with NcvReader(no_nend + pack_chunk(b"NEND", struct.pack(">Q", target))) as r:
            assert r.index() is None


# --------------------------------------------------------------- fuzzing ---


def readable_cuts(data: bytes) -> set[int]:
    """Lengths at which a valid file is still complete: all of it, without NEND, without INDX and NEND."""
    _, segs, _, _ = read_all(data)
    return {len(data), len(data) - NEND_CHUNK, segs[-1].chunk_offset + segs[-1].chunk_size}


@FUZZ
@given(st.data())
def test_fuzz_truncation(small_file, data):
    cut = data.draw(st.integers(0, len(small_file)))
    assert exercise(small_file[:cut]) == (cut in readable_cuts(small_file))


@FUZZ
@given(st.data())
def test_fuzz_bit_flips(small_file, data):
    flips = data.draw(st.lists(st.integers(0, len(small_file) * 8 - 1), min_size=1, max_size=8))
    buf = bytearray(small_file)
    for bit in flips:
        buf[bit // 8] ^= 1 << (bit % 8)
    accepted = exercise(bytes(buf))
    if accepted:
        # CRC32 lets no random damage through; only the minor version byte (or no net change) may differ.
        assert all(a == b for i, (a, b) in enumerate(zip(buf, small_file)) if i != 9)


@FUZZ
@given(st.binary(max_size=4096))
def test_fuzz_random_bytes(blob):
    assert exercise(blob) is False


@FUZZ
@given(st.binary(max_size=4096), st.integers(0, 255))
def test_fuzz_random_bytes_after_signature(blob, minor):
    exercise(SIGNATURE + bytes([1, minor]) + blob)


@FUZZ
@given(st.data())
def test_fuzz_random_bytes_after_valid_header(small_file, data):
    """Garbage after an intact HEAD reaches the chunk walker."""
    blob = data.draw(st.binary(max_size=2048))
    exercise(small_file[:FIRST_CHUNK] + blob)


@FUZZ
@given(st.data())
def test_fuzz_forged_fields(small_file, data):
    """Mutate a chunk payload, then fix its CRC (and length) so the fields themselves are tested."""
    chunks = walk_chunks(small_file)
    off, ctype, n = data.draw(st.sampled_from(chunks))
    payload = bytearray(small_file[off + 8 : off + 8 + n])
    for _ in range(data.draw(st.integers(0, 6))):
        if payload:
            payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
    edit = data.draw(st.sampled_from(["none", "truncate", "append", "insert"]))
    if edit == "truncate":
        del payload[data.draw(st.integers(0, len(payload))) :]
    elif edit == "append":
        payload += data.draw(st.binary(max_size=64))
    elif edit == "insert":
        at = data.draw(st.integers(0, len(payload)))
        payload[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    if data.draw(st.booleans()):
        ctype = data.draw(st.sampled_from([b"HEAD", b"SEGM", b"INDX", b"NEND", b"meta", b"zzzz", b"ABCD"]))
    forged = small_file[:off] + pack_chunk(ctype, bytes(payload)) + small_file[off + CHUNK_OVERHEAD + n :]
    exercise(forged)


def _segm_fields():
    return st.fixed_dictionaries(
        {
            "count": st.integers(0, 5),
            "sid": st.integers(0, 0x10001),
            "name_raw": st.sampled_from([b"x264", b"", b"a\x00", b"\xff", b"n" * 64, b"n" * 65]),
            "params_raw": st.sampled_from([b"{}", b'{"a":1}', b"[]", b"{", b"", b'{"a":' * 2000, b"null"]),
            "payload": st.binary(max_size=32),
        },
        optional={"index": st.integers(0, 4), "start": st.integers(0, 12), "n_hashes": st.integers(0, 17),
                  "hashes": st.lists(st.binary(min_size=32, max_size=32), max_size=3).map(tuple)},
    )


@FUZZ
@given(
    st.lists(
        st.one_of(
            _segm_fields(),
            st.builds(pack_chunk, st.sampled_from([b"SEGM", b"INDX", b"NEND", b"HEAD", b"meta", b"zzzz", b"QQQQ"]),
                      st.binary(max_size=48)),
        ),
        max_size=6,
    ),
    st.fixed_dictionaries({}, optional={"frames": st.integers(0, 20), "segs": st.integers(0, 6)}),
    st.booleans(),
    st.booleans(),
)
def test_fuzz_chunk_sequences(items, head, indx, nend):
    """Random sequences of well-checksummed chunks: structural validation only."""
    exercise(build(items, head=head, indx=indx, nend=nend))


# ---------------------------------------------------------- varint/cursor ---


@pytest.mark.parametrize(
    "value, encoded",
    [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"),
     (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01"), ((1 << 64) - 1, b"\xff" * 9 + b"\x01")],
)
def test_varint_encoding(value, encoded):
    assert encode_varint(value) == encoded
    cur = Cursor(encoded)
    assert cur.varint("v", 1 << 64) == value
    assert cur.remaining == 0


@FUZZ
@given(st.lists(st.integers(0, (1 << 70) - 1), max_size=20))
def test_varint_round_trip(values):
    data = b"".join(encode_varint(v) for v in values)
    cur = Cursor(data)
    assert [cur.varint("v", (1 << 70) - 1) for _ in values] == values
    cur.expect_end("end")


def test_varint_negative_refused():
    with pytest.raises(ValueError):
        encode_varint(-1)


def test_varint_limit():
    cur = Cursor(b"\x05" + encode_varint(300), base=100, path="f.ncv")
    assert cur.varint("a", 5) == 5
    with pytest.raises(NcvFormatError, match="exceeds the limit 299") as info:
        cur.varint("b", 299)
    assert info.value.offset == 101 and info.value.path == "f.ncv"
    assert cur.pos == 1  # position restored for the error offset
    assert cur.varint("b", 300) == 300


@pytest.mark.parametrize(
    "data",
    [b"\x80" * 10 + b"\x00", b"\xff" * 11, b"\xff" * 10 + b"\x01", b"\x80" * 40],
)
def test_varint_overlong_refused(data):
    cur = Cursor(b"\x00" + data, base=7)
    cur.u8("skip")
    with pytest.raises(NcvFormatError, match="longer than 10") as info:
        cur.varint("v", 1 << 80)
    assert info.value.offset == 8
    assert cur.pos == 1


def test_varint_largest_ten_byte_value():
    enc = b"\xff" * 9 + b"\x7f"
    assert Cursor(enc).varint("v", 1 << 70) == (1 << 70) - 1
    assert encode_varint((1 << 70) - 1) == enc
    with pytest.raises(NcvFormatError):
        Cursor(encode_varint(1 << 70)).varint("v", 1 << 80)


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff\xff\xff"])
def test_varint_truncated(data):
    cur = Cursor(data, base=3)
    with pytest.raises(NcvFormatError, match="truncated varint") as info:
        cur.varint("v", 1 << 64)
    assert info.value.offset == 3 and cur.pos == 0


def test_cursor_bounds():
    cur = Cursor(b"\x03abc\x10xy", base=1000)
    assert cur.text("name", 8) == "abc"
    with pytest.raises(NcvFormatError, match="needs 16 bytes but only 2 remain") as info:
        cur.blob("blob", 64)  # the length is checked before anything is read
    assert info.value.offset == 1005
    with pytest.raises(NcvFormatError, match="exceeds the limit"):
        Cursor(b"\x10" + b"x" * 16).blob("blob", 15)
    with pytest.raises(NcvFormatError, match="UTF-8"):
        Cursor(b"\x01\xff").text("t", 8)
    with pytest.raises(NcvFormatError):
        Cursor(b"ab").take(-1, "neg")
    c = Cursor(b"\x00\x01\x02")
    assert c.struct(">H", "h") == (1,)
    with pytest.raises(NcvFormatError, match="needs 2 bytes"):
        c.struct(">H", "h")
    with pytest.raises(NcvFormatError, match="1 unexpected trailing"):
        c.expect_end("x")
    assert c.u8("b") == 2
    c.expect_end("x")
    with pytest.raises(NcvFormatError):
        c.u8("b")


# -- 1.1: params as patches over the previous segment's, binary scene rows ------------------------------

_AV1 = {"encoder": "libsvtav1", "gop_size": 250, "options": {"crf": "50", "preset": "6"}, "threads": 0}


def test_params_repeat_nothing_from_the_previous_segment_and_read_back_whole(tmp_path):
    params = [_AV1, _AV1, _AV1 | {"options": {"crf": "57", "preset": "6"}},
              {"crf": 40, "opts": {"scale": 0.5}},  # another strategy: keys removed and added
              {"crf": 40, "opts": {"scale": 0.5}, "note": None}]  # a null: stored whole
    segs = [dict(strategy_id=3, strategy="av1", frame_count=2, payload=b"x", params=p) for p in params]
    path = tmp_path / "d.ncv"
    write_sample(path, segs)
    with NcvReader(path) as r:
        got = r.segments()
        assert [s.params for s in got] == params
        assert r.segment_at(got[3].chunk_offset).params == params[3]  # seeking resolves the patches before it
    stored = [json.loads(json.dumps(p)) for p in params]
    raw = path.read_bytes()
    # 1.2: the first segment stores what differs from SVT-AV1's base params; the second "{}"; the third its CRF.
    assert b'"encoder"' not in raw and b'{"gop_size":250,"options":{"crf":"50"}}' in raw
    assert b'{"options":{"crf":"57"}}' in raw
    assert b'[{"crf":40,"note":null,"opts":{"scale":0.5}}]' in raw and stored[4]["note"] is None


def test_a_1_0_file_may_not_store_params_as_a_list():
    data = build([seg(2, params=[{"crf": 1}])])
    assert "params must be a JSON object" in str(format_error(data))
    assert read_all(build([seg(2, params=[{"crf": 1}])], head={"flags": 1}))[1][0].params == {"crf": 1}


def test_patches_may_not_grow_the_params_without_bound():
    big = "x" * 700_000
    data = build([seg(1, params={"a": big}), seg(1, params={"b": big})], head={"flags": 1})
    assert "exceed" in str(format_error(data))


def test_scene_rows_pack_to_six_bytes_a_segment_and_read_back():
    from neurocodec.analysis.classify import CLASSES
    from neurocodec.analysis.scenes import TRANSITION_KINDS
    from neurocodec.bitstream.ancillary import SCENE_CLASSES, TRANSITIONS, pack_scene_rows, parse_scene_rows

    assert set(CLASSES) <= set(SCENE_CLASSES) and set(TRANSITION_KINDS) <= set(TRANSITIONS)
    rows = [{"class": "talking_head", "transition": "start", "psnr_yuv": 38.4567, "ssim": 0.95432},
            {"class": "a_new_class", "transition": "cut", "psnr_yuv": float("inf"), "ssim": None}]
    raw = pack_scene_rows(rows)
    assert len(raw) == 1 + 6 * len(rows)
    assert parse_scene_rows(raw, 2) == [
        {"class": "talking_head", "transition": "start", "psnr_yuv": 38.46, "ssim": 0.9543},
        {"class": None, "transition": "cut", "psnr_yuv": None, "ssim": None}]
    assert parse_scene_rows(raw, 1) == [] and parse_scene_rows(raw[:-1], 2) == [] and parse_scene_rows(b"", 2) == []


# -- 1.2: the first segment's params are a patch over its strategy's base params -----------------------


def test_the_first_segment_patches_over_its_strategy_base_only_in_a_1_2_file():
    av1 = dict(sid=3, name="av1")
    assert read_all(build([seg(2, params={}, **av1)], head={"flags": 1}))[1][0].params == {}  # 1.1
    assert read_all(build([seg(2, params={}, **av1)], head={"flags": 3}))[1][0].params == PARAMS_BASES[3]
    patched = read_all(build([seg(2, params={"options": {"crf": "50"}}, **av1)], head={"flags": 3}))[1][0].params
    assert patched == PARAMS_BASES[3] | {"options": {"crf": "50", "preset": "6"}}
    # A strategy without a base patches over {}; so does every later segment, over the one before it.
    _, segs, _, _ = read_all(build([seg(1, sid=18, name="hybrid", params={"a": 1}), seg(1, params={})],
                                   head={"flags": 3}))
    assert [s.params for s in segs] == [{"a": 1}, {"a": 1}]


def test_bases_are_frozen():
    """Old files decode through these bases: editing one would change what they mean."""
    canonical = json.dumps(PARAMS_BASES, sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(canonical).hexdigest()[:16] == "354c150a94e0597c"
