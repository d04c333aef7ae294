"""The command line: happy paths, stable JSON keys, and errors a user can act on (exit 2, one line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from neurocodec_cli.main import cli

INFO_KEYS = {"width", "height", "fps", "frames", "bytes", "bitrate_kbps", "segments"}
SEGMENT_KEYS = {"index", "start_frame", "end_frame", "strategy", "bytes"}
COMPARE_KEYS = {"frames", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ssim", "ms_ssim"}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def encoded(small_clip, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    ncv = d / "a.ncv"
    res = run("encode", small_clip, ncv, "--strategy", "x264", "--crf", "28", "--segment-frames", "5",
              "--stats-json", d / "stats.json")
    assert res.exit_code == 0, res.output
    return ncv, d


def test_encode_prints_summary_and_stats(encoded):
    ncv, d = encoded
    stats = json.loads((d / "stats.json").read_text())
    assert stats["schema"] == "neurocodec.encode_report/1"
    assert stats["bytes"] == os.path.getsize(ncv)
    assert [s["strategy"] for s in stats["segments"]] == ["x264", "x264"]
    assert stats["segments"][0]["params"]["ffmpeg_args"][0] == "ffmpeg"


def test_info_json_keys(encoded):
    ncv, _ = encoded
    res = run("info", ncv, "--json")
    assert res.exit_code == 0
    d = json.loads(res.output)
    assert INFO_KEYS <= d.keys()
    assert all(SEGMENT_KEYS <= s.keys() for s in d["segments"])
    assert d["bytes"] == os.path.getsize(ncv)
    assert d["bitrate_kbps"] == pytest.approx(d["bytes"] * 8 / (8 / 25) / 1000)
    text = run("info", ncv)
    assert "x264" in text.output and "2 segment(s)" in text.output


def test_decode_then_compare_json(encoded, small_clip):
    ncv, d = encoded
    out = d / "out.y4m"
    assert run("decode", ncv, out).exit_code == 0
    res = run("compare", small_clip, out, "--json")
    assert res.exit_code == 0
    q = json.loads(res.output)
    assert COMPARE_KEYS <= q.keys()
    assert q["frames"] == 8 and q["psnr_yuv"] > 30 and q["ms_ssim"] is None  # 64 px is too small for MS-SSIM
    assert q["psnr_yuv_weights"] == "6:1:1"


def _assert_clean_error(res, *fragments):
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output
    for f in fragments:
        assert f in lines[0]


def test_missing_input(tmp_path):
    _assert_clean_error(run("encode", tmp_path / "nope.mp4", tmp_path / "o.ncv"), "nope.mp4", "no such file")
    assert not (tmp_path / "o.ncv").exists()


def test_not_a_video(tmp_path):
    bad = tmp_path / "text.mp4"
    bad.write_text("hello, I am not a video\n" * 10)
    _assert_clean_error(run("encode", bad, tmp_path / "o.ncv"), "text.mp4")
    assert not (tmp_path / "o.ncv").exists()


def test_corrupt_and_truncated_ncv(encoded, tmp_path):
    ncv, _ = encoded
    data = ncv.read_bytes()
    trunc = tmp_path / "trunc.ncv"
    trunc.write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    corrupt = tmp_path / "corrupt.ncv"
    corrupt.write_bytes(bytes(flipped))
    for path in (trunc, corrupt):
        _assert_clean_error(run("info", path), path.name, "offset")
        _assert_clean_error(run("decode", path, tmp_path / "o.y4m"), path.name, "offset")
        assert not (tmp_path / "o.y4m").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_options(small_clip, tmp_path):
    _assert_clean_error(run("encode", small_clip, tmp_path / "o.ncv", "--strategy", "x264", "--crf", "99"), "crf")
    _assert_clean_error(run("encode", small_clip, tmp_path / "o.ncv", "--strategy", "nosuch"), "unknown strategy")
    _assert_clean_error(run("encode", small_clip, tmp_path / "o.ncv", "--bitrate", "fast"), "bitrate")
    res = run("encode", small_clip, tmp_path / "o.ncv", "--crf", "notanumber")
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_refuses_to_overwrite(encoded, small_clip):
    ncv, _ = encoded
    before = ncv.read_bytes()
    _assert_clean_error(run("encode", small_clip, ncv), "already exists")
    assert ncv.read_bytes() == before


def test_raw_yuv_needs_size(tmp_path):
    raw = tmp_path / "in.yuv"
    raw.write_bytes(bytes(96 * 64 * 3 // 2 * 2))
    _assert_clean_error(run("encode", raw, tmp_path / "o.ncv"), "--size")
    res = run("encode", raw, tmp_path / "o.ncv", "--size", "96x64", "--fps", "25", "--strategy", "x264", "-q")
    assert res.exit_code == 0 and res.output == ""


def test_version():
    res = run("--version")
    assert res.exit_code == 0 and "neurocodec" in res.output


def test_real_subprocess(small_clip, tmp_path):
    """The installed console script: fast --help, info without torch, exit codes."""
    exe = [sys.executable, "-c", "from neurocodec_cli.main import main; main()"]
    t0 = time.perf_counter()
    res = subprocess.run([*exe, "--help"], capture_output=True, text=True, check=True)
    assert "encode" in res.stdout and time.perf_counter() - t0 < 5
    ncv = tmp_path / "s.ncv"
    res = subprocess.run([*exe, "encode", str(small_clip), str(ncv), "--strategy", "av1", "--preset", "10"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    probe = ("import sys; from neurocodec_cli.main import cli; "
             "sys.argv=['neurocodec','info',sys.argv[1]]; "
             "import atexit; atexit.register(lambda: print('HEAVY', 'torch' in sys.modules or 'compressai' in sys.modules)); "
             "cli()")
    res = subprocess.run([sys.executable, "-c", probe, str(ncv)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "HEAVY False" in res.stdout
    bad = tmp_path / "bad.ncv"
    bad.write_bytes(b"garbage")
    res = subprocess.run([*exe, "decode", str(bad), str(tmp_path / "o.y4m")], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "bad.ncv" in res.stderr


def test_train_intra_smoke(tmp_path):
    """A tiny CPU training run writes a checkpoint, resumes from it, and exports hashed float16 weights."""
    from PIL import Image

    from neurocodec.io.synthetic import load_image

    data = tmp_path / "imgs"
    data.mkdir()
    Image.fromarray(load_image("astronaut")).save(data / "a.png")
    out = tmp_path / "run"
    args = ["train", "intra", "--data", data, "--out", out, "--steps", "2", "--batch", "2", "--crop", "64"]
    res = run(*args)
    assert res.exit_code == 0, res.output
    import torch

    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 2
    res = run(*args[:-6], "--steps", "3", "--batch", "2", "--crop", "64", "--resume", "--export", tmp_path / "w.pt")
    assert res.exit_code == 0, res.output
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 3
    import hashlib

    digest = hashlib.sha256((tmp_path / "w.pt").read_bytes()).hexdigest()
    assert digest in res.output
    w = torch.load(tmp_path / "w.pt", weights_only=False)["weights"]
    assert all(v.dtype == torch.float16 for v in w.values() if v.is_floating_point())
    # Fitting one level's gains on top of exported weights leaves every other weight as it was.
    res = run("train", "intra", "--data", data, "--out", tmp_path / "fit", "--steps", "2", "--batch", "2", "--crop", "64",
              "--init", tmp_path / "w.pt", "--levels", "0", "--only-gains", "--lr", "1e-2")
    assert res.exit_code == 0, res.output
    fit = torch.load(tmp_path / "fit" / "checkpoint.pt", weights_only=False)["model"]
    assert torch.equal(fit["g_s.0.weight"], w["g_s.0.weight"].float())
    assert not torch.equal(fit["log_gain"][0], w["log_gain"][0].float())
    assert torch.equal(fit["log_gain"][1:], w["log_gain"][1:].float())
    res = run("train", "intra", "--data", data, "--out", tmp_path / "x", "--levels", "0,99")
    assert res.exit_code == 2 and "--levels" in res.output
