"""Frame model, PyAV conversion, readers, writers and atomic output."""

from __future__ import annotations

import os
import stat
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from neurocodec.errors import InputError, OutputExistsError, SettingsError, SourceNotFoundError
from neurocodec.io import (
    Frame,
    VideoInfo,
    chroma_size,
    crop,
    frame_nbytes,
    open_source,
    open_writer,
    pad_to_even,
    parse_fps,
    parse_size,
    write_video,
)
from neurocodec.io.avframes import from_av, to_av
from neurocodec.io.synthetic import load_image, pan_zoom, pan_zoom_info

# --------------------------------------------------------------------------- helpers


def rand_frame(width: int, height: int, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    cw, ch = chroma_size(width, height)
    return Frame(
        rng.integers(0, 256, (height, width), dtype=np.uint8),
        rng.integers(0, 256, (ch, cw), dtype=np.uint8),
        rng.integers(0, 256, (ch, cw), dtype=np.uint8),
    )


def assert_frames_equal(got, want) -> None:
    got, want = list(got), list(want)
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert (a.width, a.height) == (b.width, b.height), i
        for name, pa, pb in zip("yuv", a.planes(), b.planes()):
            assert pa.dtype == np.uint8 and pa.shape == pb.shape, (i, name)
            np.testing.assert_array_equal(pa, pb, err_msg=f"frame {i} plane {name}")


def read_all(path, **kw):
    with open_source(path, **kw) as src:
        return src.info, list(src.frames())


def dir_names(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


@pytest.fixture(scope="module")
def even_frames():
    return list(pan_zoom(96, 64, 5, image="astronaut"))


@pytest.fixture(scope="module")
def odd_frames():
    return list(pan_zoom(75, 47, 4, image="coffee", pan=(1.3, 0.4), zoom=-0.01))


# --------------------------------------------------------------------------- Frame model


def test_chroma_size_and_nbytes():
    assert chroma_size(96, 64) == (48, 32)
    assert chroma_size(75, 47) == (38, 24)
    assert chroma_size(1, 1) == (1, 1)
    assert frame_nbytes(96, 64) == 96 * 64 * 3 // 2
    assert frame_nbytes(75, 47) == 75 * 47 + 2 * 38 * 24


def test_frame_rejects_non_arrays_and_wrong_dtype():
    y, u, v = rand_frame(8, 6).planes()
    with pytest.raises(TypeError, match=r"Frame\.y must be a numpy array, got list"):
        Frame(y.tolist(), u, v)
    with pytest.raises(TypeError, match=r"Frame\.u must be uint8, got uint16"):
        Frame(y, u.astype(np.uint16), v)
    with pytest.raises(TypeError, match=r"Frame\.v must be uint8, got float32"):
        Frame(y, u, v.astype(np.float32))


def test_frame_rejects_wrong_shapes():
    y, u, v = rand_frame(8, 6).planes()
    with pytest.raises(ValueError, match=r"Frame\.y must be 2-D \(H, W\), got shape \(6, 8, 1\)"):
        Frame(y[..., None], u, v)
    with pytest.raises(ValueError, match=r"Frame\.y must be non-empty"):
        Frame(np.zeros((0, 8), np.uint8), np.zeros((0, 4), np.uint8), np.zeros((0, 4), np.uint8))


@pytest.mark.parametrize(
    "w, h, cw, ch",
    [(8, 6, 4, 4), (8, 6, 3, 3), (75, 47, 37, 23), (75, 47, 38, 23), (75, 47, 37, 24), (75, 47, 75, 47)],
)
def test_frame_rejects_wrong_chroma_size(w, h, cw, ch):
    y = np.zeros((h, w), np.uint8)
    good = np.zeros(chroma_size(w, h)[::-1], np.uint8)
    bad = np.zeros((ch, cw), np.uint8)
    want = chroma_size(w, h)[::-1]
    msg = rf"chroma planes must be \({want[0]}, {want[1]}\) for luma \({h}, {w}\)"
    with pytest.raises(ValueError, match=msg):
        Frame(y, bad, good)
    with pytest.raises(ValueError, match=msg):
        Frame(y, good, bad)


def test_frame_bytes_round_trip():
    f = rand_frame(75, 47, seed=3)
    data = f.tobytes()
    assert len(data) == frame_nbytes(75, 47)
    assert_frames_equal([Frame.frombuffer(data, 75, 47)], [f])
    with pytest.raises(ValueError, match=f"expected {frame_nbytes(75, 47)} bytes for 75x47, got {len(data) - 1}"):
        Frame.frombuffer(data[:-1], 75, 47)


@pytest.mark.parametrize("w, h", [(75, 47), (75, 48), (76, 47), (1, 1), (3, 5)])
def test_pad_to_even_and_crop_round_trip(w, h):
    f = rand_frame(w, h, seed=w * h)
    p = pad_to_even(f)
    assert (p.width, p.height) == (w + w % 2, h + h % 2)
    assert p.u.shape == f.u.shape and p.v.shape == f.v.shape  # ceil-sized chroma is already "even"
    # Padding replicates the last row / column.
    np.testing.assert_array_equal(p.y[:h, :w], f.y)
    if w % 2:
        np.testing.assert_array_equal(p.y[:h, w], f.y[:, w - 1])
    if h % 2:
        np.testing.assert_array_equal(p.y[h, :w], f.y[h - 1, :])
    back = crop(p, w, h)
    assert_frames_equal([back], [f])
    assert back.y.flags.c_contiguous and back.u.flags.c_contiguous


def test_pad_to_even_and_crop_are_noops_when_possible():
    f = rand_frame(96, 64)
    assert pad_to_even(f) is f
    assert crop(f, 96, 64) is f
    with pytest.raises(ValueError, match="cannot crop 96x64 to larger 98x64"):
        crop(f, 98, 64)
    smaller = crop(f, 33, 17)
    assert (smaller.width, smaller.height) == (33, 17)
    assert smaller.u.shape == (9, 17)
    np.testing.assert_array_equal(smaller.u, f.u[:9, :17])


def test_video_info_validation():
    info = VideoInfo(96, 64, 25)
    assert info.fps == Fraction(25) and isinstance(info.fps, Fraction)
    assert VideoInfo(96, 64, 29.97).fps == Fraction(2997, 100)
    with pytest.raises(SettingsError, match="outside 1..16384"):
        VideoInfo(0, 64, Fraction(25))
    with pytest.raises(SettingsError, match="frame rate must be positive"):
        VideoInfo(96, 64, Fraction(0))


# --------------------------------------------------------------------------- PyAV conversion


@pytest.mark.parametrize(
    "w, h", [(1, 1), (2, 2), (3, 5), (17, 1), (33, 17), (64, 64), (75, 47), (96, 64), (1920, 1080)]
)
def test_to_av_from_av_round_trip(w, h):
    f = rand_frame(w, h, seed=w + h)
    av_frame = to_av(f)
    assert (av_frame.width, av_frame.height) == (w, h)
    assert av_frame.format.name == "yuv420p"
    assert_frames_equal([from_av(av_frame)], [f])


def test_from_av_converts_rgb_bt601_limited():
    """swscale's default RGB -> YUV: BT.601, limited range (independent spot values)."""
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:2] = 255  # top half white, bottom half black
    f = from_av(av.VideoFrame.from_ndarray(rgb, format="rgb24"))
    assert (f.width, f.height) == (6, 4)
    assert np.all(np.abs(f.y[:2].astype(int) - 235) <= 1)
    assert np.all(np.abs(f.y[2:].astype(int) - 16) <= 1)
    assert np.all(np.abs(f.u.astype(int) - 128) <= 1) and np.all(np.abs(f.v.astype(int) - 128) <= 1)


# --------------------------------------------------------------------------- writers -> readers


@pytest.mark.parametrize("suffix", [".y4m", ".yuv", ".mkv", ".mp4"])
@pytest.mark.parametrize("fps", [Fraction(30000, 1001), Fraction(25)], ids=["ntsc", "25"])
def test_write_read_round_trip_even(tmp_path, even_frames, suffix, fps):
    path = tmp_path / f"out{suffix}"
    n = write_video(path, pan_zoom_info(96, 64, len(even_frames), fps), even_frames)
    assert n == len(even_frames)
    kw = {"size": "96x64", "fps": fps} if suffix == ".yuv" else {}
    info, got = read_all(path, **kw)
    assert (info.width, info.height) == (96, 64)
    assert info.fps == fps and isinstance(info.fps, Fraction)
    assert info.frame_count in (None, len(even_frames))
    assert_frames_equal(got, even_frames)
    assert dir_names(tmp_path) == [path.name]  # no temporary files left


@pytest.mark.parametrize("suffix", [".y4m", ".yuv", ".mkv"])
def test_write_read_round_trip_odd(tmp_path, odd_frames, suffix):
    fps = Fraction(30000, 1001)
    path = tmp_path / f"odd{suffix}"
    assert write_video(path, pan_zoom_info(75, 47, len(odd_frames), fps), odd_frames) == len(odd_frames)
    kw = {"size": (75, 47), "fps": "30000/1001"} if suffix == ".yuv" else {}
    info, got = read_all(path, **kw)
    assert (info.width, info.height, info.fps) == (75, 47, fps)
    assert_frames_equal(got, odd_frames)


def test_y4m_header_and_size(tmp_path, odd_frames):
    path = tmp_path / "odd.y4m"
    write_video(path, pan_zoom_info(75, 47, len(odd_frames), Fraction(30000, 1001)), odd_frames)
    raw = path.read_bytes()
    header = raw.split(b"\n", 1)[0].decode()
    assert header.startswith("YUV4MPEG2 W75 H47 F30000:1001 ")
    assert "C420" in header and "XCOLORRANGE=LIMITED" in header
    assert len(raw) == len(header) + 1 + len(odd_frames) * (len(b"FRAME\n") + frame_nbytes(75, 47))


def test_raw_yuv_is_plain_i420(tmp_path, odd_frames):
    path = tmp_path / "odd.yuv"
    write_video(path, pan_zoom_info(75, 47, len(odd_frames)), odd_frames)
    assert path.read_bytes() == b"".join(f.tobytes() for f in odd_frames)
    info, _ = read_all(path, size="75x47", fps=25)
    assert info.frame_count == len(odd_frames)


def test_y4m_fixture_clips(small_clip, odd_clip):
    info, frames = read_all(small_clip)
    assert (info.width, info.height, info.fps, len(frames)) == (96, 64, 25, 8)
    assert_frames_equal(frames, pan_zoom(96, 64, 8))
    info, frames = read_all(odd_clip)
    assert (info.width, info.height, len(frames)) == (75, 47, 6)
    assert_frames_equal(frames, pan_zoom(75, 47, 6, image="coffee", pan=(1.3, 0.4), zoom=-0.01))


def test_mp4_odd_size_refused(tmp_path, odd_frames):
    path = tmp_path / "odd.mp4"
    with pytest.raises(SettingsError, match="x264 needs even dimensions, video is 75x47"):
        write_video(path, pan_zoom_info(75, 47, 4), odd_frames)
    assert dir_names(tmp_path) == []


@pytest.mark.parametrize("name", ["out.avi", "out.webm", "out", "out.png"])
def test_unknown_output_suffix(tmp_path, name):
    with pytest.raises(SettingsError, match="unknown output type"):
        open_writer(tmp_path / name, VideoInfo(16, 16, Fraction(25)))
    assert dir_names(tmp_path) == []


def test_writer_option_errors(tmp_path):
    info = VideoInfo(16, 16, Fraction(25))
    with pytest.raises(SettingsError, match="FFV1 cannot be stored in mp4"):
        open_writer(tmp_path / "a.mp4", info, codec="ffv1")
    with pytest.raises(SettingsError, match="ffv1 or x264"):
        open_writer(tmp_path / "a.mkv", info, codec="vp9")
    with pytest.raises(SettingsError, match="apply to .mkv/.mp4 output only"):
        open_writer(tmp_path / "a.y4m", info, crf=20)
    assert dir_names(tmp_path) == []


def test_mkv_x264_lossless_round_trip(tmp_path, even_frames):
    path = tmp_path / "x.mkv"
    write_video(path, pan_zoom_info(96, 64, 5), even_frames, codec="x264")
    assert_frames_equal(read_all(path)[1], even_frames)


# --------------------------------------------------------------------------- atomic output


@pytest.mark.parametrize("suffix", [".y4m", ".yuv", ".mkv", ".mp4"])
def test_exception_inside_writer_leaves_nothing(tmp_path, even_frames, suffix):
    path = tmp_path / f"out{suffix}"
    with pytest.raises(KeyError, match="boom"):
        with open_writer(path, pan_zoom_info(96, 64, 5)) as w:
            w.write(even_frames[0])
            w.write(even_frames[1])
            assert dir_names(tmp_path) != []  # the temporary file exists meanwhile
            assert not path.exists()
            raise KeyError("boom")
    assert dir_names(tmp_path) == []


def test_wrong_frame_size_aborts_cleanly(tmp_path, even_frames, odd_frames):
    path = tmp_path / "out.y4m"
    with pytest.raises(ValueError, match="does not match 96x64"):
        write_video(path, pan_zoom_info(96, 64, 2), [even_frames[0], odd_frames[0]])
    assert dir_names(tmp_path) == []


@pytest.mark.parametrize("suffix", [".y4m", ".yuv", ".mkv", ".mp4"])
def test_existing_output_refused_unless_overwrite(tmp_path, even_frames, suffix):
    path = tmp_path / f"out{suffix}"
    path.write_bytes(b"precious")
    info = pan_zoom_info(96, 64, 2)
    with pytest.raises(OutputExistsError, match="already exists") as exc:
        write_video(path, info, even_frames[:2])
    assert isinstance(exc.value, FileExistsError)
    assert path.read_bytes() == b"precious"
    # A failed overwrite keeps the old file too.
    with pytest.raises(RuntimeError, match="interrupted"):
        with open_writer(path, info, overwrite=True) as w:
            w.write(even_frames[0])
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"precious"
    assert dir_names(tmp_path) == [path.name]
    # A successful one replaces it.
    assert write_video(path, info, even_frames[:2], overwrite=True) == 2
    kw = {"size": "96x64", "fps": 25} if suffix == ".yuv" else {}
    assert_frames_equal(read_all(path, **kw)[1], even_frames[:2])
    assert dir_names(tmp_path) == [path.name]


def test_output_into_missing_folder_or_folder_name(tmp_path):
    info = VideoInfo(16, 16, Fraction(25))
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        open_writer(tmp_path / "nope" / "a.y4m", info)
    (tmp_path / "d.y4m").mkdir()
    with pytest.raises(OutputExistsError, match="is a folder"):
        open_writer(tmp_path / "d.y4m", info, overwrite=True)


@pytest.mark.parametrize("suffix", [".y4m", ".yuv", ".mkv", ".mp4"])
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_output_permissions_follow_umask(tmp_path, even_frames, suffix, umask):
    old = os.umask(umask)
    try:
        path = tmp_path / f"out{suffix}"
        write_video(path, pan_zoom_info(96, 64, 1), even_frames[:1])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


# --------------------------------------------------------------------------- readers: frame folders


def _save_images(folder: Path, ext: str, n: int, size=(75, 47), image="coffee") -> list[Path]:
    folder.mkdir()
    w, h = size
    src = load_image(image)
    paths = []
    for i in range(n):
        p = folder / f"frame_{i:04d}.{ext}"
        Image.fromarray(np.ascontiguousarray(src[5 * i : 5 * i + h, 7 * i : 7 * i + w])).save(p)
        paths.append(p)
    return paths


def _expected_from_image(p: Path) -> Frame:
    with Image.open(p) as im:
        rgb = np.asarray(im.convert("RGB"))
    return from_av(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24"))


@pytest.mark.parametrize("ext", ["png", "jpg", "jpeg"])
@pytest.mark.parametrize("size", [(75, 47), (64, 48)])
def test_frame_folder(tmp_path, ext, size):
    paths = _save_images(tmp_path / "frames", ext, 4, size)
    (tmp_path / "frames" / "notes.txt").write_text("ignored")
    with open_source(tmp_path / "frames", fps="24000/1001") as src:
        assert (src.info.width, src.info.height) == size
        assert src.info.fps == Fraction(24000, 1001)
        assert src.info.frame_count == 4
        assert src.info.color.matrix == 6 and src.info.color.full_range is False
        frames = list(src.frames())
    assert_frames_equal(frames, [_expected_from_image(p) for p in paths])
    if ext == "png":  # lossless: compare with the photo converted directly
        w, h = size
        rgb = np.ascontiguousarray(load_image("coffee")[:h, :w])
        assert_frames_equal(frames[:1], [from_av(av.VideoFrame.from_ndarray(rgb, format="rgb24"))])


def test_frame_folder_default_fps_and_greyscale(tmp_path):
    folder = tmp_path / "grey"
    folder.mkdir()
    for i, level in enumerate((0, 128, 255)):
        Image.fromarray(np.full((10, 12), level, np.uint8), mode="L").save(folder / f"{i}.png")
    info, frames = read_all(folder)
    assert info.fps == 25
    assert [int(np.median(f.y)) for f in frames] == pytest.approx([16, 126, 235], abs=1)
    assert all(np.all(np.abs(f.u.astype(int) - 128) <= 1) for f in frames)


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_frame_folder_mismatched_size_names_file(tmp_path, ext):
    paths = _save_images(tmp_path / "frames", ext, 4)
    Image.fromarray(np.zeros((48, 75, 3), np.uint8)).save(paths[2])
    with open_source(tmp_path / "frames") as src:
        it = src.frames()
        next(it), next(it)
        msg = rf"{paths[2].name}: size 75x48 differs from the first image \(75x47\)"
        with pytest.raises(InputError, match=msg) as exc:
            next(it)
    assert str(paths[2]) in str(exc.value)


def test_frame_folder_unreadable_image_names_file(tmp_path):
    paths = _save_images(tmp_path / "frames", "png", 3)
    paths[1].write_bytes(b"not a png")
    with pytest.raises(InputError, match="frame_0001.png: not a readable image"):
        list(open_source(tmp_path / "frames").frames())
    paths[0].write_bytes(b"not a png")
    with pytest.raises(InputError, match="frame_0000.png: not a readable image"):
        open_source(tmp_path / "frames")


def test_empty_frame_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder holds no image files"):
        open_source(tmp_path / "empty")
    (tmp_path / "empty" / "readme.txt").write_text("x")
    (tmp_path / "empty" / "sub.png").mkdir()
    with pytest.raises(InputError, match="folder holds no image files"):
        open_source(tmp_path / "empty")


# --------------------------------------------------------------------------- readers: raw, errors


def test_raw_yuv_needs_size_and_fps(tmp_path):
    path = tmp_path / "a.yuv"
    path.write_bytes(rand_frame(16, 8).tobytes() * 3)
    with pytest.raises(InputError, match="raw YUV has no header"):
        open_source(path)
    with pytest.raises(InputError, match="raw YUV has no frame rate; give --fps"):
        open_source(path, size="16x8")
    with pytest.raises(InputError, match="raw YUV has no header"):
        open_source(path, fps=25)
    info, frames = read_all(path, size="16x8", fps="25")
    assert info.frame_count == 3 and len(frames) == 3


@pytest.mark.parametrize("suffix", [".yuv", ".i420", ".raw"])
def test_raw_yuv_wrong_size_mentions_bytes(tmp_path, suffix, caplog):
    path = tmp_path / f"a{suffix}"
    data = rand_frame(16, 8).tobytes() * 3  # 3 * 192 = 576 bytes
    path.write_bytes(data)
    with pytest.raises(InputError, match=r"576 bytes is not a whole number of 16x10 I420 frames \(240 bytes each\)"):
        open_source(path, size="16x10", fps=25, strict=True)
    path.write_bytes(data[:-1])
    with caplog.at_level("WARNING"):
        assert open_source(path, size="16x8", fps=25).info.frame_count == 2
    assert "575 bytes" in caplog.text and "reading the 2 whole frames" in caplog.text
    path.write_bytes(b"")
    with pytest.raises(InputError, match="0 bytes"):
        open_source(path, size="16x8", fps=25)


def test_size_only_for_raw(tmp_path, small_clip):
    with pytest.raises(InputError, match="--size only applies to raw .yuv input"):
        open_source(small_clip, size="96x64")


def test_missing_path(tmp_path):
    for p in (tmp_path / "nope.mp4", tmp_path / "nope.yuv", tmp_path / "nope"):
        with pytest.raises(SourceNotFoundError, match="no such file or folder") as exc:
            open_source(p)
        assert isinstance(exc.value, FileNotFoundError)
        assert isinstance(exc.value, InputError)
        assert str(p) in str(exc.value)


@pytest.mark.parametrize(
    "name, content",
    [("text.mp4", b"hello, this is not a video\n"), ("empty.mkv", b""), ("junk.y4m", b"\x00\x01" * 500)],
)
def test_non_video_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a readable video") as exc:
        open_source(path)
    assert str(path) in str(exc.value)


def test_audio_only_file_has_no_video(tmp_path):
    path = tmp_path / "tone.wav"
    with av.open(str(path), "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        samples = (np.sin(np.arange(800) / 5.0) * 8000).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(InputError, match="no video stream"):
        open_source(path)


def _encode_h264(path: Path, frames: list[Frame], rate, fmt=None) -> None:
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for i, f in enumerate(frames):
            af = to_av(f)
            af.pts = i
            container.mux(stream.encode(af))
        container.mux(stream.encode(None))


def _psnr_y(a: Frame, b: Frame) -> float:
    d = a.y.astype(np.float64) - b.y.astype(np.float64)
    return 10 * np.log10(255.0**2 / max(np.mean(d * d), 1e-12))


@pytest.mark.parametrize("rate", [25, 30, Fraction(30000, 1001)])
def test_mp4_written_by_pyav(tmp_path, even_frames, rate):
    path = tmp_path / "pyav.mp4"
    _encode_h264(path, even_frames, rate)
    info, frames = read_all(path)
    assert (info.width, info.height) == (96, 64)
    assert info.fps == Fraction(rate)
    assert info.frame_count == len(even_frames) == len(frames)
    assert all(_psnr_y(a, b) > 30 for a, b in zip(frames, even_frames))
    # --fps overrides the container's rate.
    with open_source(path, fps="12") as src:
        assert src.info.fps == 12


def test_raw_h264_stream(tmp_path, even_frames):
    path = tmp_path / "stream.h264"
    _encode_h264(path, even_frames, 25, fmt="h264")
    with open_source(path) as src:
        assert (src.info.width, src.info.height) == (96, 64)
        # An elementary stream has no container timing; FFmpeg's raw demuxer
        # (and so the reader) assumes 25 fps.
        assert src.info.fps == 25 and isinstance(src.info.fps, Fraction)
        assert src.info.frame_count is None
        frames = list(src.frames())
    assert len(frames) == len(even_frames)
    assert all(_psnr_y(a, b) > 30 for a, b in zip(frames, even_frames))
    with open_source(path, fps="30000/1001") as src:
        assert src.info.fps == Fraction(30000, 1001)


def test_frames_can_be_iterated_twice(tmp_path, small_clip, even_frames):
    raw = tmp_path / "a.yuv"
    write_video(raw, pan_zoom_info(96, 64, 5), even_frames)
    mkv = tmp_path / "a.mkv"
    write_video(mkv, pan_zoom_info(96, 64, 5), even_frames)
    _save_images(tmp_path / "folder", "png", 3)
    for path, kw in [(small_clip, {}), (raw, {"size": "96x64", "fps": 25}), (mkv, {}), (tmp_path / "folder", {})]:
        with open_source(path, **kw) as src:
            first = list(src.frames())
            second = list(src.frames())
            # A partly consumed iterator does not disturb a fresh one.
            it = src.frames()
            next(it)
            third = list(src.frames())
        assert len(first) > 0
        assert_frames_equal(second, first)
        assert_frames_equal(third, first)


# --------------------------------------------------------------------------- parse_size / parse_fps


@pytest.mark.parametrize(
    "text, want",
    [
        ("1280x720", (1280, 720)),
        ("75X47", (75, 47)),
        (" 64 x 48 ", (64, 48)),
        ("1x1", (1, 1)),
        ("16384x16384", (16384, 16384)),
    ],
)
def test_parse_size_accepts(text, want):
    assert parse_size(text) == want


@pytest.mark.parametrize(
    "text", ["1280", "1280x", "x720", "1280*720", "12.5x7", "-1x5", "0x10", "10x0", "16385x10", "axb", "", "1280x720x3"]
)
def test_parse_size_rejects(text):
    with pytest.raises(SettingsError):
        parse_size(text)


@pytest.mark.parametrize(
    "text, want",
    [
        ("25", Fraction(25)),
        ("29.97", Fraction(2997, 100)),
        ("30000/1001", Fraction(30000, 1001)),
        ("24000/1001", Fraction(24000, 1001)),
        (" 50 ", Fraction(50)),
        (59.94, Fraction(5994, 100)),
        (24, Fraction(24)),
        (Fraction(60000, 1001), Fraction(60000, 1001)),
        ("1000", Fraction(1000)),
        ("0.5", Fraction(1, 2)),
    ],
)
def test_parse_fps_accepts(text, want):
    got = parse_fps(text)
    assert got == want and isinstance(got, Fraction)


@pytest.mark.parametrize(
    "text", ["0", "-25", "1001", "abc", "", "30000/0", "30000/1001/1", "1/x", "nan", "inf", 0, -1.0, "0/1001"]
)
def test_parse_fps_rejects(text):
    with pytest.raises(SettingsError):
        parse_fps(text)


def test_open_source_parses_size_and_fps(tmp_path):
    path = tmp_path / "a.yuv"
    path.write_bytes(rand_frame(16, 8).tobytes() * 2)
    with pytest.raises(SettingsError):
        open_source(path, size="16by8", fps=25)
    with pytest.raises(SettingsError):
        open_source(path, size="16x8", fps="fast")
    info, _ = read_all(path, size="16x8", fps=29.97)
    assert info.fps == Fraction(2997, 100)


def test_frame_folder_natural_order(tmp_path):
    """f2.png comes before f10.png: numbers in names compare as numbers."""
    from PIL import Image

    from neurocodec.io import open_source

    for i in (1, 2, 10):
        Image.new("L", (16, 16), color=i * 10).save(tmp_path / f"f{i}.png")
    with open_source(tmp_path) as src:
        lumas = [int(f.y[0, 0]) for f in src.frames()]
    assert lumas == sorted(lumas)
