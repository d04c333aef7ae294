"""Reading one scene's span of a source, as a cluster worker does: the same pixels as a full read, or an error."""

from __future__ import annotations

from dataclasses import replace

import av
import numpy as np
import pytest
from PIL import Image

from neurocodec.agents.remote import SourceRef, SpanLedger, read_span
from neurocodec.errors import InputError
from neurocodec.io.frame import frame_crc
from neurocodec.io.readers import open_source
from neurocodec.io.synthetic import pan_zoom

W, H, N = 96, 64, 23


def _frames():
    return list(pan_zoom(W, H, N, image="coffee", pan=(1.5, 0.5)))


def _mp4(path):
    """x264 with a keyframe every 5 frames and B-frames: seeking must land before the span and skip ahead."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"g": "5", "keyint_min": "5", "bf": "2", "sc_threshold": "0"}
        for f in _frames():
            frame = av.VideoFrame.from_ndarray(np.concatenate([f.y.ravel(), f.u.ravel(), f.v.ravel()])
                                               .reshape(H * 3 // 2, W), format="yuv420p")
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


def _source(kind, tmp_path):
    if kind == "mp4":
        return open_source(_mp4(tmp_path / "c.mp4"))
    if kind == "y4m":
        from neurocodec.io import write_video
        from neurocodec.io.synthetic import pan_zoom_info

        write_video(tmp_path / "c.y4m", pan_zoom_info(W, H, N, 25), _frames())
        return open_source(tmp_path / "c.y4m")
    if kind == "yuv":
        (tmp_path / "c.yuv").write_bytes(b"".join(p.tobytes() for f in _frames() for p in f.planes()))
        return open_source(tmp_path / "c.yuv", size=(W, H), fps=25)
    folder = tmp_path / "png"
    folder.mkdir()
    for i, f in enumerate(_frames()):
        Image.fromarray(f.y).convert("RGB").save(folder / f"f{i}.png")
    return open_source(folder)


@pytest.mark.parametrize("kind", ["mp4", "y4m", "yuv", "png"])
def test_a_span_read_gives_the_frames_of_a_full_read(kind, tmp_path):
    src = _source(kind, tmp_path)
    ledger = SpanLedger(src)
    full = [frame_crc(f) for f in ledger.frames()]
    assert len(full) == N
    for start in (0, 1, 4, 5, 6, 13, N - 3):
        span = ledger.span(start, 3)
        got = [frame_crc(f) for f in src.read(start, 3, pts=span.pts)]
        assert got == full[start : start + 3], start
        ref = SourceRef.of(src)
        assert [frame_crc(f) for f in read_span(ref, span)] == full[start : start + 3]
    assert len(list(src.read(N - 2, 5))) == 2  # a span past the end is cut at the end


def test_a_container_span_seeks_instead_of_decoding_from_the_start(tmp_path):
    src = open_source(_mp4(tmp_path / "c.mp4"))
    list(src.frames())
    assert src.frame_pts[0] is not None and len(set(src.frame_pts)) == N
    decoded = []
    original = src._decode
    src._decode = lambda seek: (decoded.append(1) or f for f in original(seek))
    list(src.read(16, 3, pts=src.frame_pts[16]))
    assert len(decoded) <= 5 + 3  # from the keyframe at 15 (B-frames may add one), not the 19 frames up to 18


def test_a_span_whose_pixels_changed_fails_with_the_file_and_frames(tmp_path):
    src = _source("yuv", tmp_path)
    ledger = SpanLedger(src)
    list(ledger.frames())
    span = replace(ledger.span(4, 3), crc=ledger.span(5, 3).crc)
    with pytest.raises(InputError, match=r"c\.yuv: frames 4-6 differ from those the encode analysed"):
        read_span(SourceRef.of(src), span)


def test_a_wrong_seek_hint_falls_back_to_decoding_from_the_start(tmp_path, caplog):
    src = open_source(_mp4(tmp_path / "c.mp4"))
    ledger = SpanLedger(src)
    full = [frame_crc(f) for f in ledger.frames()]
    span = replace(ledger.span(12, 3), pts=ledger.span(2, 1).pts)  # a hint for another frame
    assert [frame_crc(f) for f in read_span(SourceRef.of(src), span)] == full[12:15]
    assert "decoding from the first" in caplog.text


def test_a_source_and_a_part_store_behind_fsspec_urls_give_the_same_bytes(tmp_path):
    """memory:// stands in for s3:// and the like: the encode reads the clip and keeps its parts through fsspec."""
    fsspec = pytest.importorskip("fsspec")
    import neurocodec
    from neurocodec.errors import SourceNotFoundError

    clip = _mp4(tmp_path / "c.mp4")
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/clips/c.mp4", clip.read_bytes())
    kw = {"strategy": "x264", "crf": 30, "segment_frames": 8, "measure_quality": False}
    neurocodec.encode(clip, tmp_path / "local.ncv", **kw)
    seen = []
    original = fs.pipe_file
    fs.pipe_file = lambda path, data, **k: (seen.append(path), original(path, data, **k))[1]
    neurocodec.encode("memory://clips/c.mp4", tmp_path / "url.ncv", parts="memory://parts", **kw)
    assert (tmp_path / "local.ncv").read_bytes() == (tmp_path / "url.ncv").read_bytes()
    assert sum(".seg" in p for p in seen) == 3  # each scene's part went to memory://parts
    assert all(p.startswith("/parts/url.ncv-") for p in seen) and not fs.ls("/parts")  # and was removed at the end
    with pytest.raises(SourceNotFoundError, match="memory://clips/gone.mp4: no such file"):
        neurocodec.encode("memory://clips/gone.mp4", tmp_path / "gone.ncv", **kw)


def test_parts_may_not_go_inside_the_input_folder(tmp_path):
    import neurocodec
    from neurocodec.errors import OutputIsInputError

    src = _source("png", tmp_path)
    with pytest.raises(OutputIsInputError):
        neurocodec.encode(src.path, tmp_path / "o.ncv", strategy="x264", parts=str(tmp_path / "png" / "parts"))
    assert not (tmp_path / "png" / "parts").exists()
