"""The evaluation harness: BD-rate arithmetic, rate points, results JSON, plots, clip sets, downloads."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from neurocodec.bench import BenchConfig, format_tables, plot_rd, run_bench, write_compressai, write_json
from neurocodec.bench.clipset import download, load_clipset
from neurocodec.bench.point import crf_ladder
from neurocodec.errors import InputError, SettingsError
from neurocodec.metrics.bd import bd_rate, quality_overlap, rate_for_quality
from neurocodec_cli.main import cli

RATES = np.array([100.0, 180.0, 330.0, 600.0, 1100.0])
PSNR = np.array([31.0, 33.5, 36.0, 38.2, 40.1])


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.0, 1.25])
def test_bd_rate_of_a_scaled_curve(factor):
    """A curve needing `factor` times the anchor's rate everywhere has BD-rate (factor - 1)."""
    r = bd_rate(RATES, PSNR, RATES * factor, PSNR)
    assert r.value == pytest.approx((factor - 1) * 100, abs=1e-6)
    assert r.overlap == 1.0


def test_bd_rate_refuses_barely_overlapping_curves():
    r = bd_rate(RATES, PSNR, RATES, PSNR + 7.0)
    assert r.value is None and "overlap" in r.note
    assert quality_overlap(PSNR, PSNR + 7.0) == pytest.approx((40.1 - 38.0) / 9.1)
    assert bd_rate(RATES[:3], PSNR[:3], RATES[:3], PSNR[:3]).value is None


def test_rate_for_quality():
    mid = rate_for_quality(RATES, PSNR, 36.0)
    assert mid.how == "interpolated" and mid.rate == pytest.approx(330.0)
    between = rate_for_quality(RATES, PSNR, 35.0)
    assert 180 < between.rate < 330
    assert rate_for_quality(RATES, PSNR, 30.0).how == "measured_below"
    assert rate_for_quality(RATES, PSNR, 45.0).rate is None


def test_crf_ladders_are_distinct_and_ordered():
    for codec in ("x264", "x265", "av1", "auto"):
        ladder = crf_ladder(codec, 5)
        assert ladder == sorted(set(ladder)) and len(ladder) == 5


def test_config_validation():
    with pytest.raises(SettingsError, match="anchor"):
        BenchConfig(codecs=("x264",), anchor="x265")
    with pytest.raises(SettingsError, match="at least 4"):
        BenchConfig(points=3)
    with pytest.raises(SettingsError, match="not benchmarked"):
        BenchConfig(codecs=("x264", "x265"), presets={"av1": "8"})
    for bad in ("av1@", "@4", "av1@4@5"):
        with pytest.raises(SettingsError, match="NAME@PRESET"):
            BenchConfig(codecs=("x265", bad))
    with pytest.raises(SettingsError, match="given twice"):
        BenchConfig(codecs=("x265", "av1@4"), presets={"av1@4": "5"})


def test_codec_labels_name_a_preset():
    config = BenchConfig(codecs=("av1@4", "av1", "x265"), anchor="av1@4", presets={"av1": "8"})
    assert (config.preset("av1@4"), config.preset("av1"), config.preset("x265")) == ("4", "8", "medium")


@pytest.fixture(scope="module")
def results(det_clip, odd_clip):
    config = BenchConfig(codecs=("x264", "x265", "auto"), points=4, frames=6, presets={"x264": "fast"}, workers=2)
    return run_bench([det_clip, odd_clip], config)


def test_results_document(results, det_clip):
    assert results["schema"] == "neurocodec.bench/1"
    assert results["config"]["presets_used"] == {"x264": "fast", "x265": "medium", "auto": None}
    clip = results["clips"][0]
    assert (clip["width"], clip["height"], clip["frames"]) == (128, 96, 6)
    for name, entry in clip["codecs"].items():
        pts = entry["points"]
        assert [p["crf"] for p in pts] == crf_ladder(name, 4)
        assert entry["rate_basis"] == ("ncv_file" if name == "auto" else "elementary_stream")
        for p in pts:
            assert p["bitrate_kbps"] == pytest.approx(p["bytes"] * 8 / (6 / 25) / 1000)
            assert p["frames"] == 6 and p["encode_fps"] > 0 and p["decode_fps"] > 0 and p["peak_rss_mb"] > 10
            ep = p["encoder_params"]
            # auto's first segment may be a rung of its resolution ladder (hybrid: the base's command)
            assert (ep["ffmpeg_args"] if "ffmpeg_args" in ep else ep["base"]["ffmpeg_args"])[0] == "ffmpeg"
        # Higher CRF: fewer bits, lower quality.
        assert all(a["bytes"] > b["bytes"] for a, b in zip(pts, pts[1:]))
        assert all(a["psnr_yuv"] > b["psnr_yuv"] for a, b in zip(pts, pts[1:]))
    # auto is rated by its whole .ncv file, which is larger than the elementary streams inside it.
    auto = clip["codecs"]["auto"]["points"]
    assert all((p["stream_bytes"] or 0) < p["file_bytes"] == p["bytes"] for p in auto)
    assert set(clip["bd_rate"]) == {"x264", "auto"}
    assert results["average"]["bd_rate"]["auto"]["psnr_yuv"]["of"] == 2


def test_bd_rate_recomputes_from_json(results):
    clip = results["clips"][0]
    a, t = clip["codecs"]["x265"]["points"], clip["codecs"]["x264"]["points"]
    again = bd_rate([p["bitrate_kbps"] for p in a], [p["psnr_yuv"] for p in a],
                    [p["bitrate_kbps"] for p in t], [p["psnr_yuv"] for p in t])
    assert again.value == clip["bd_rate"]["x264"]["psnr_yuv"]["value"]


def test_outputs_written(results, tmp_path):
    text = format_tables(results)
    assert "BD-rate vs x265" in text and "det.y4m" in text and "average over 2 clips" in text
    write_json(results, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["schema"] == "neurocodec.bench/1"
    plot_rd(results, tmp_path / "rd.png")
    assert (tmp_path / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    files = write_compressai(results, tmp_path / "cai")
    assert len(files) == 6
    from compressai.utils.plot.__main__ import parse_json_file

    curve = parse_json_file(files[0], "psnr-yuv")
    assert len(curve["xs"]) == 4 and len(curve["ys"]) == 4


def test_anchor_options_reproduce_the_stream(results, det_clip):
    """Rerunning the stored options through FFmpeg's own muxing path gives the same bytes."""
    import av

    from neurocodec.io import open_source

    point = results["clips"][0]["codecs"]["x265"]["points"][1]
    params = point["encoder_params"]
    with open_source(det_clip) as src:
        frames = [f for _, f in zip(range(6), src.frames())]
    out = av.open(str(det_clip.parent / "rerun.hevc"), "w", format="hevc")
    stream = out.add_stream(params["encoder"], rate=Fraction(25))
    stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
    stream.codec_context.gop_size = params["gop_size"]
    stream.codec_context.thread_count = params["threads"]
    stream.options = params["options"]
    from neurocodec.io.avframes import to_av

    for i, f in enumerate(frames):
        vf = to_av(f)
        vf.pts = i
        out.mux(stream.encode(vf))
    out.mux(stream.encode(None))
    out.close()
    assert (det_clip.parent / "rerun.hevc").stat().st_size == point["stream_bytes"]


# -- clip sets and downloads --------------------------------------------------


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one payload with Range support; the first full request is cut short to test resume."""

    payload = b""
    cut_first = True
    requests: list[str] = []

    def do_GET(self):  # noqa: N802
        cls = type(self)
        rng = self.headers.get("Range")
        cls.requests.append(rng or "")
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = cls.payload[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cls.cut_first and not rng:
            cls.cut_first = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # drop the connection mid-transfer
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server(small_clip):
    _RangeHandler.payload = small_clip.read_bytes()
    _RangeHandler.cut_first = True
    _RangeHandler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/clip.y4m"
    httpd.shutdown()
    httpd.server_close()


def test_download_resumes_and_verifies(server, small_clip, tmp_path):
    sha = hashlib.sha256(small_clip.read_bytes()).hexdigest()
    with pytest.raises(InputError, match="rerun to resume"):
        download(server, sha, cache=tmp_path, timeout=5)
    partial = list(tmp_path.glob("*.part"))
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < len(_RangeHandler.payload)
    seen = []
    path = download(server, sha, cache=tmp_path, timeout=5, progress=lambda d, t: seen.append((d, t)))
    assert path.read_bytes() == small_clip.read_bytes()
    assert _RangeHandler.requests[-1].startswith("bytes=") and seen[-1][0] == seen[-1][1]
    assert download(server, sha, cache=tmp_path) == path  # cached: no new request
    assert len(_RangeHandler.requests) == 2


def test_download_rejects_wrong_hash(server, tmp_path):
    _RangeHandler.cut_first = False
    with pytest.raises(InputError, match="SHA-256 mismatch"):
        download(server, "0" * 64, cache=tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_clipset_file(server, small_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROCODEC_CACHE", str(tmp_path / "cache"))
    _RangeHandler.cut_first = False
    sha = hashlib.sha256(small_clip.read_bytes()).hexdigest()
    (tmp_path / "set.toml").write_text(
        f'[[clip]]\npath = "{small_clip}"\nname = "local"\n\n[[clip]]\nurl = "{server}"\nsha256 = "{sha}"\n'
    )
    clips = load_clipset(tmp_path / "set.toml")
    assert [c.name for c in clips] == ["local", "clip.y4m"]
    assert clips[1].path.startswith(str(tmp_path / "cache"))
    (tmp_path / "bad.toml").write_text('[[clip]]\nurl = "http://127.0.0.1:9/x.y4m"\n')
    with pytest.raises(InputError, match="needs a sha256"):
        load_clipset(tmp_path / "bad.toml")


def test_cli_bench(small_clip, tmp_path):
    res = CliRunner().invoke(cli, ["bench", str(small_clip), "--codecs", "x264,x265", "--points", "4", "--frames", "4",
                                   "--preset", "x264=ultrafast,x265=ultrafast", "--low-delay", "--json",
                                   str(tmp_path / "r.json"), "--plot", str(tmp_path / "rd.png"), "-q"])
    assert res.exit_code == 0, res.output
    assert "low-delay" in res.output and "BD-rate vs x265" in res.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["config"]["mode"] == "low_delay"
    assert "bframes=0" in doc["clips"][0]["codecs"]["x264"]["points"][0]["encoder_params"]["options"]["x264-params"]
    bad = CliRunner().invoke(cli, ["bench", str(small_clip), "--points", "2"])
    assert bad.exit_code == 2 and "at least 4" in bad.output


def test_cli_bench_one_strategy_at_two_presets(small_clip, tmp_path):
    res = CliRunner().invoke(cli, ["bench", str(small_clip), "--codecs", "av1@12,av1@8", "--anchor", "av1@12",
                                   "--points", "4", "--frames", "4", "--json", str(tmp_path / "r.json"), "-q"])
    assert res.exit_code == 0, res.output
    codecs = json.loads((tmp_path / "r.json").read_text())["clips"][0]["codecs"]
    assert [codecs[c]["preset"] for c in ("av1@12", "av1@8")] == ["12", "8"]
    assert all(p["encoder_params"]["options"]["preset"] == c[-2:].lstrip("@")
               for c in codecs for p in codecs[c]["points"])
    assert codecs["av1@8"]["rate_basis"] == "elementary_stream"
    bad = CliRunner().invoke(cli, ["bench", str(small_clip), "--codecs", "av1@,x265", "--anchor", "x265"])
    assert bad.exit_code == 2 and "NAME@PRESET" in bad.output
