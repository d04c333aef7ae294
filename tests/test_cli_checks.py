"""Input and output checks of the command line: outputs never replace inputs, one range per option,
strict JSON, truncated inputs, and one-line errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from neurocodec_cli.main import cli

from .conftest import make_clip


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def strict_loads(text: str):
    """json.loads that refuses NaN and Infinity, as browsers, jq and Go do."""

    def refuse(word):
        raise ValueError(f"not JSON: {word}")

    return json.loads(text, parse_constant=refuse)


def assert_clean_error(res, *fragments, code=2):
    assert res.exit_code == code, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A 96x64 clip, its x264 .ncv, and a 17x9 two-frame clip whose SSIM is undefined."""
    d = tmp_path_factory.mktemp("checks")
    clip = make_clip(d / "clip.y4m", frames=4)
    ncv = d / "clip.ncv"
    assert run("encode", clip, ncv, "-s", "x264", "--crf", "30", "--no-quality", "-q").exit_code == 0
    tiny = make_clip(d / "tiny.y4m", 17, 9, 2)
    return d, clip, ncv, tiny


# --------------------------------------------------------------------------- outputs never replace inputs


def test_encode_refuses_its_input_even_with_y(work, tmp_path):
    _, clip, _, _ = work
    src = tmp_path / "same.y4m"
    src.write_bytes(clip.read_bytes())
    before = src.read_bytes()
    assert_clean_error(run("encode", src, src, "-y"), "same.y4m", ".ncv", "--force")
    assert_clean_error(run("encode", src, src, "-y", "--force"), "same.y4m", "is the input")
    hard = tmp_path / "hard.ncv"
    os.link(src, hard)
    assert_clean_error(run("encode", src, hard, "-y"), "hard.ncv", "is the input")
    sym = tmp_path / "sym.ncv"
    sym.symlink_to(src)
    assert_clean_error(run("encode", src, sym, "-y"), "sym.ncv", "is the input")
    assert_clean_error(run("encode", src, tmp_path / "o.ncv", "--stats-json", src, "-y"), "is the input")
    assert_clean_error(run("encode", src, tmp_path / "o.ncv", "--write-scenes", src, "-y"), "is the input")
    assert src.read_bytes() == before and not (tmp_path / "o.ncv").exists()


def test_encode_refuses_output_inside_frame_folder(work, tmp_path):
    from PIL import Image

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        Image.new("RGB", (32, 16), (10 * i, 80, 160)).save(frames / f"f{i}.png")
    assert_clean_error(run("encode", frames, frames / "out.ncv"), "out.ncv", "inside the input folder")
    assert sorted(p.name for p in frames.iterdir()) == ["f0.png", "f1.png"]


def test_decode_refuses_its_input(work, tmp_path):
    _, _, ncv, _ = work
    before = ncv.read_bytes()
    assert_clean_error(run("decode", ncv, ncv, "-y"), "is the input")
    link = tmp_path / "link.y4m"
    os.link(ncv, link)
    assert_clean_error(run("decode", ncv, link, "-y"), "link.y4m", "is the input")
    assert ncv.read_bytes() == before


def test_api_refuses_output_is_input(work):
    import neurocodec

    _, clip, ncv, _ = work
    with pytest.raises(neurocodec.OutputIsInputError):
        neurocodec.encode(clip, clip, overwrite=True)
    with pytest.raises(FileExistsError):  # also the builtin
        neurocodec.decode(ncv, ncv, overwrite=True)


def test_other_commands_refuse_their_inputs(work, tmp_path):
    from PIL import Image

    _, clip, _, _ = work
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.new("RGB", (32, 16)).save(frames / "f0.png")
    assert_clean_error(run("bench", clip, "--json", clip, "-y"), "is the input")
    assert_clean_error(run("bench", frames, "--plot", frames / "rd.png"), "inside the input folder")
    assert_clean_error(run("train", "intra", "--data", frames, "--out", frames), "is the input")
    assert_clean_error(run("train", "intra", "--data", frames, "--out", tmp_path / "run", "--init", clip,
                           "--export", clip), "is the input")
    pairs = tmp_path / "pairs.npz"
    pairs.write_bytes(b"")
    assert_clean_error(run("train", "enhance", "--pairs", pairs, "--out", tmp_path / "run", "--export", pairs),
                       "is the input")
    assert_clean_error(run("experiments", "run", "--storage", f"sqlite:///{tmp_path / 'e.db'}", "--study", "s",
                           "--space", clip, "--clips", frames, "--artifacts", frames), "is the input")
    assert_clean_error(run("worker", "--storage", "postgresql+psycopg://u@h:1/db", "--study", "s",
                           "--clips", frames, "--artifacts", frames), "is the input")
    assert not (tmp_path / "run").exists() and not (tmp_path / "e.db").exists()


def test_check_not_input(tmp_path):
    from neurocodec.errors import OutputExistsError, OutputIsInputError
    from neurocodec.io.atomic import check_not_input

    a, b = tmp_path / "a.y4m", tmp_path / "b.y4m"
    a.write_bytes(b"x")
    check_not_input(b, a, None)  # a new file
    check_not_input(None, a)
    check_not_input(tmp_path / "sub" / "o.ncv", tmp_path)  # inside a folder is only refused when asked
    with pytest.raises(OutputIsInputError, match="inside the input folder"):
        check_not_input(tmp_path / "sub" / "o.ncv", tmp_path, inside=True)
    with pytest.raises(OutputExistsError, match="is the input"):
        check_not_input(tmp_path / "." / "a.y4m", a)


# --------------------------------------------------------------------------- one range per option, from the strategy


@pytest.mark.parametrize(("args", "message"), [
    (["--crf", "500"], "crf 500 (with auto: the quality knob) is outside 0..51"),
    (["--quality", "500"], "quality 500 is outside 0..51"),
    (["-s", "x264", "--crf", "99"], "x264: crf 99 is outside 0..51"),
    (["-s", "x264", "--crf", "52"], "x264: crf 52 is outside 0..51"),
    (["-s", "x265", "--crf", "52"], "x265: crf 52 is outside 0..51"),
    (["-s", "av1", "--crf", "64"], "av1: crf 64 is outside 0..63"),
])
def test_crf_range_is_the_strategys(tmp_path, args, message):
    # The input is not a video: the option is refused before any input is read.
    bad = tmp_path / "text.mp4"
    bad.write_text("not a video\n")
    assert_clean_error(run("encode", bad, tmp_path / "o.ncv", *args), message)


def test_decode_crf_is_the_output_codecs(work, tmp_path):
    _, _, ncv, _ = work
    assert_clean_error(run("decode", ncv, tmp_path / "o.mp4", "--crf", "99"), "o.mp4", "x264 crf 99 is outside 0..51")
    assert_clean_error(run("decode", ncv, tmp_path / "o.mkv", "--crf", "20"), "o.mkv", "FFV1", "--crf")
    assert run("decode", ncv, tmp_path / "o.mp4", "--crf", "30", "-q").exit_code == 0
    assert list(tmp_path.iterdir()) == [tmp_path / "o.mp4"]


def test_encode_output_must_be_ncv_unless_forced(work, tmp_path):
    _, clip, _, _ = work
    assert_clean_error(run("encode", clip, tmp_path / "o.bin", "-s", "x264"), "o.bin", ".ncv", "--force")
    assert not (tmp_path / "o.bin").exists()
    res = run("encode", clip, tmp_path / "o.bin", "-s", "x264", "--no-quality", "--force", "-q")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o.bin").read_bytes()[:4] == (work[2]).read_bytes()[:4]


def test_raw_yuv_size_without_fps(tmp_path):
    raw = tmp_path / "in.yuv"
    raw.write_bytes(bytes(16 * 8 * 3 // 2 * 2))
    assert_clean_error(run("encode", raw, tmp_path / "o.ncv", "--size", "16x8"), "in.yuv", "no frame rate", "--fps")


# --------------------------------------------------------------------------- strict JSON


def test_json_outputs_are_strict(work, tmp_path):
    _, _, _, tiny = work
    res = run("compare", tiny, tiny, "--json")
    assert res.exit_code == 0, res.output
    q = strict_loads(res.output)
    assert q["ssim"] is None and q["psnr_yuv"] == 100  # a 17x9 frame has no SSIM window
    ncv, stats = tmp_path / "t.ncv", tmp_path / "stats.json"
    res = run("encode", tiny, ncv, "-s", "x264", "--stats-json", stats, "-q")
    assert res.exit_code == 0, res.output
    assert strict_loads(stats.read_text())["quality"]["ssim"] is None
    res = run("info", ncv, "--json")
    assert res.exit_code == 0, res.output
    assert strict_loads(res.output)["segments"][0]["quality"]["ssim"] is None


def test_bench_json_is_strict(tmp_path):
    from neurocodec.bench import write_json

    write_json({"x": [float("nan"), float("inf"), 1.5], "y": {"z": -math.inf}}, tmp_path / "b.json")
    assert strict_loads((tmp_path / "b.json").read_text()) == {"x": [None, None, 1.5], "y": {"z": None}}


# --------------------------------------------------------------------------- truncated inputs


def _cut(src, dst, drop):
    data = src.read_bytes()
    dst.write_bytes(data[:-drop])
    return dst


def test_truncated_y4m_warns_or_is_refused(work, tmp_path, caplog):
    d, clip, _, _ = work
    cut = _cut(clip, tmp_path / "cut.y4m", 1000)  # inside the 4th of 4 frames (9216 bytes each)
    with caplog.at_level("WARNING"):
        res = run("encode", cut, tmp_path / "o.ncv", "-s", "x264", "--no-quality")  # -q would hide the warning
    assert res.exit_code == 0, res.output
    assert "cut.y4m" in caplog.text and "reading the 3 whole frames" in caplog.text
    assert run("info", tmp_path / "o.ncv", "--json").output.count('"frames": 3') == 1
    assert_clean_error(run("encode", cut, tmp_path / "s.ncv", "--strict"), "cut.y4m", "truncated", "--strict")
    assert_clean_error(run("compare", clip, cut, "--strict"), "cut.y4m", "truncated")
    assert not (tmp_path / "s.ncv").exists()


def test_truncated_raw_yuv_warns_or_is_refused(tmp_path, caplog):
    raw = tmp_path / "in.yuv"
    raw.write_bytes(bytes(192 * 3 - 7))
    with caplog.at_level("WARNING"):
        res = run("compare", raw, raw, "--size", "16x8", "--fps", "25", "--json")
    assert res.exit_code == 0 and strict_loads(res.output)["frames"] == 2
    assert "in.yuv" in caplog.text and "reading the 2 whole frames" in caplog.text
    assert_clean_error(run("encode", raw, tmp_path / "o.ncv", "--size", "16x8", "--fps", "25", "--strict"),
                       "in.yuv", "not a whole number", "--strict")


def test_stderr_of_a_real_run(tmp_path, small_clip):
    """The console script: the truncation warning shows without -v (-q would hide it), torch's own warnings do not."""
    cut = _cut(make_clip(tmp_path / "c.y4m", 64, 64, 3), tmp_path / "cut.y4m", 100)
    exe = [sys.executable, "-c", "from neurocodec_cli.main import main; main()"]
    res = subprocess.run([*exe, "encode", str(cut), str(tmp_path / "o.ncv"), "-s", "semantic_latent"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [
        f"neurocodec: WARNING: {cut}: truncated: 6050 bytes after frame 2 are less than a frame (6144 bytes); "
        "reading the 2 whole frames"
    ]


# --------------------------------------------------------------------------- one-line errors


def test_errors_are_one_line(work, tmp_path):
    _, clip, ncv, _ = work
    assert_clean_error(run("decode", tmp_path, tmp_path / "o.y4m"), str(tmp_path), "is a folder, not a .ncv file")
    assert_clean_error(run("info", tmp_path), str(tmp_path), "is a folder")
    assert_clean_error(run("decode", ncv, tmp_path), str(tmp_path), "is a folder")
    assert_clean_error(run("encode", clip, tmp_path / "o.ncv", "--bogus"), "--bogus", "encode -h")


def test_an_undefined_ssim_is_stored_as_absent_in_the_scene_rows(tmp_path):
    """SSIM is undefined on a 17x9 frame: the scnb row says absent, not NaN, and the PSNR survives."""
    import numpy as np

    import neurocodec
    from neurocodec.bitstream import NcvReader
    from neurocodec.bitstream.mutate import split_chunks
    from neurocodec.io import write_video
    from neurocodec.io.frame import Frame, VideoInfo

    rng = np.random.default_rng(0)
    frames = [Frame(rng.integers(0, 256, (9, 17), np.uint8), rng.integers(0, 256, (5, 9), np.uint8),
                    rng.integers(0, 256, (5, 9), np.uint8)) for _ in range(3)]
    src = tmp_path / "tiny.y4m"
    write_video(src, VideoInfo(17, 9, 25, 3), frames)
    out = tmp_path / "tiny.ncv"
    report = neurocodec.encode(src, out, strategy="x264", crf=30)
    _, chunks = split_chunks(out.read_bytes())
    assert [c.ctype for c in chunks if c.ctype.islower()] == [b"meta", b"scnb"]
    with NcvReader(out) as reader:
        reader.segments()
        rows = reader.scene_info
    assert rows[0]["ssim"] is None
    assert abs(rows[0]["psnr_yuv"] - report.segments[0].quality["psnr_yuv"]) <= 0.005
