"""End to end through the public API: encode -> .ncv -> decode, reports, segments, workers, targets."""

from __future__ import annotations

import hashlib
import os
from fractions import Fraction

import pytest

import neurocodec
from neurocodec.errors import ModelMismatchError, NcvFormatError, OutputExistsError, SettingsError
from neurocodec.io import Frame, open_source
from neurocodec.strategies import Strategy, register

from .conftest import make_clip


def _frames(path):
    with open_source(path) as src:
        return list(src.frames())


@pytest.mark.parametrize("strategy", ["x264", "x265", "av1", "semantic_latent"])
def test_encode_decode_odd_size(strategy, odd_clip, tmp_path):
    ncv, out = tmp_path / "a.ncv", tmp_path / "a.y4m"
    report = neurocodec.encode(odd_clip, ncv, strategy=strategy)
    assert report.bytes == os.path.getsize(ncv)
    assert report.bitrate_kbps == pytest.approx(report.bytes * 8 / (6 / 25) / 1000)
    assert (report.width, report.height, report.frames) == (75, 47, 6)
    dec = neurocodec.decode(ncv, out)
    assert dec.frames == 6
    frames = _frames(out)
    assert all((f.width, f.height) == (75, 47) for f in frames)
    # The encoder's reported quality is measured on exactly what the decoder produces.
    q = neurocodec.compare(odd_clip, out)
    assert q.psnr_yuv == pytest.approx(report.quality["psnr_yuv"], abs=1e-9)
    assert q.ssim == pytest.approx(report.quality["ssim"], abs=1e-9)
    assert q.psnr_yuv > (27 if strategy == "semantic_latent" else 32)


def test_segments_cover_the_video(small_clip, tmp_path):
    ncv = tmp_path / "s.ncv"
    report = neurocodec.encode(small_clip, ncv, strategy="x264", segment_frames=3)
    assert [(s.start_frame, s.end_frame) for s in report.segments] == [(0, 3), (3, 6), (6, 8)]
    info = neurocodec.info(ncv)
    assert [(s["start_frame"], s["end_frame"], s["strategy"]) for s in info["segments"]] == [
        (0, 3, "x264"),
        (3, 6, "x264"),
        (6, 8, "x264"),
    ]
    assert [s["bytes"] for s in info["segments"]] == [s.bytes for s in report.segments]
    assert info["bytes"] == report.bytes and info["frames"] == 8
    assert len(list(neurocodec.open(ncv).frames())) == 8


@pytest.mark.parametrize("strategy", ["x264", "x265", "av1", "semantic_latent", "auto"])
def test_same_input_same_bytes_any_worker_count(strategy, det_clip, tmp_path):
    a, b, c = tmp_path / "a.ncv", tmp_path / "b.ncv", tmp_path / "c.ncv"
    kw = dict(strategy=strategy, segment_frames=3, preset={"x264": "fast", "x265": "fast", "av1": "10", "auto": "fast"}.get(strategy))
    neurocodec.encode(det_clip, a, workers=1, **kw)
    neurocodec.encode(det_clip, b, workers=1, **kw)
    neurocodec.encode(det_clip, c, workers=2, **kw)
    assert a.read_bytes() == b.read_bytes() == c.read_bytes()


def test_target_quality_met_on_every_segment(small_clip, tmp_path):
    ncv, out = tmp_path / "t.ncv", tmp_path / "t.y4m"
    report = neurocodec.encode(small_clip, ncv, strategy="x265", target_psnr=40, target_ssim=0.97, segment_frames=4)
    neurocodec.decode(ncv, out)
    src, dec = _frames(small_clip), _frames(out)
    for seg in report.segments:
        assert seg.target_met is True
        assert seg.probes and seg.tries
        # Verified on the final decode, not on the probes.
        q = neurocodec.metrics.compare_frames(src[seg.start_frame : seg.end_frame], dec[seg.start_frame : seg.end_frame])
        assert q.psnr_yuv >= 40 and q.ssim >= 0.97
        assert q.psnr_yuv == pytest.approx(seg.quality["psnr_yuv"], abs=1e-9)
        # The kept encode is the smallest real encode that met the targets.
        kept = int(seg.params["options"]["crf"])
        ok = [t for t in seg.tries if t["meets"]]
        assert kept in [t["crf"] for t in ok]
        assert min(ok, key=lambda t: t["bytes"])["crf"] == kept


def test_unreachable_target_is_reported(small_clip, tmp_path):
    # x264 crf 0 is lossless and would meet any target; x265 crf 0 is not.
    report = neurocodec.encode(small_clip, tmp_path / "u.ncv", strategy="x265", target_psnr=99)
    assert report.segments[0].target_met is False


def test_refuses_overwrite_and_bad_options(small_clip, tmp_path):
    ncv = tmp_path / "x.ncv"
    ncv.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        neurocodec.encode(small_clip, ncv, strategy="x264")
    assert ncv.read_bytes() == b"keep me"
    neurocodec.encode(small_clip, ncv, strategy="x264", overwrite=True)
    assert ncv.read_bytes()[:4] == b"\x89NCV"
    with pytest.raises(SettingsError, match="one rate control"):
        neurocodec.encode(small_clip, tmp_path / "y.ncv", crf=20, bitrate="1M")
    with pytest.raises(SettingsError, match="device"):
        neurocodec.encode(small_clip, tmp_path / "y.ncv", device="tpu")
    assert not (tmp_path / "y.ncv").exists()


class _StopAt:
    """A progress callback that interrupts the final encodes once ``frames`` frames were taken."""

    def __init__(self, frames):
        self.frames, self.label, self.seen = frames, None, []

    def phase(self, label):
        self.label = label

    def __call__(self, done, total):
        if self.label.startswith("encode"):
            self.seen.append(done)
            if done >= self.frames:
                raise KeyboardInterrupt


def test_interrupted_encode_leaves_no_output_and_resumes(det_clip, tmp_path):
    out = tmp_path / "k.ncv"
    kw = dict(strategy="x264", preset="fast", segment_frames=3)
    with pytest.raises(KeyboardInterrupt):
        neurocodec.encode(det_clip, out, progress=_StopAt(7), **kw)  # in the third scene's encode
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["k.ncv.parts"]
    assert len(list((tmp_path / "k.ncv.parts").glob("*.seg"))) == 2
    resumed = _StopAt(99)
    report = neurocodec.encode(det_clip, out, resume=True, progress=resumed, **kw)
    assert resumed.seen == [6, 7, 8, 9]  # two scenes came from the part store, one was encoded frame by frame
    assert [p.name for p in tmp_path.iterdir()] == ["k.ncv"]
    fresh = tmp_path / "fresh.ncv"
    neurocodec.encode(det_clip, fresh, **kw)
    assert out.read_bytes() == fresh.read_bytes()
    assert report.bytes == len(fresh.read_bytes())


def test_resume_ignores_parts_of_another_job(det_clip, tmp_path):
    out = tmp_path / "j.ncv"
    with pytest.raises(KeyboardInterrupt):
        neurocodec.encode(det_clip, out, strategy="x264", crf=30, segment_frames=3, progress=_StopAt(4))
    assert len(list((tmp_path / "j.ncv.parts").glob("*.seg"))) == 1
    neurocodec.encode(det_clip, out, strategy="x264", crf=20, segment_frames=3, resume=True)
    fresh = tmp_path / "f.ncv"
    neurocodec.encode(det_clip, fresh, strategy="x264", crf=20, segment_frames=3)
    assert out.read_bytes() == fresh.read_bytes()


def test_decode_to_mkv_is_lossless(small_clip, tmp_path):
    ncv = tmp_path / "m.ncv"
    neurocodec.encode(small_clip, ncv, strategy="x264")
    neurocodec.decode(ncv, tmp_path / "m.y4m")
    neurocodec.decode(ncv, tmp_path / "m.mkv")
    a, b = _frames(tmp_path / "m.y4m"), _frames(tmp_path / "m.mkv")
    assert all((x.tobytes() == y.tobytes()) for x, y in zip(a, b, strict=True))


def test_raw_yuv_input(small_clip, tmp_path):
    raw = tmp_path / "in.yuv"
    frames = _frames(small_clip)
    raw.write_bytes(b"".join(f.tobytes() for f in frames))
    report = neurocodec.encode(raw, tmp_path / "r.ncv", strategy="x264", size="96x64", fps="30000/1001")
    assert report.fps == "30000/1001" and report.frames == 8
    assert neurocodec.open(tmp_path / "r.ncv").header.fps == Fraction(30000, 1001)


def test_compare_accepts_ncv(small_clip, tmp_path):
    ncv = tmp_path / "c.ncv"
    report = neurocodec.encode(small_clip, ncv, strategy="av1", preset="10")
    q = neurocodec.compare(small_clip, ncv)
    assert q.psnr_yuv == pytest.approx(report.quality["psnr_yuv"], abs=1e-9)


def test_compare_rejects_mismatch(small_clip, odd_clip, clip_dir):
    with pytest.raises(neurocodec.InputError, match="differs"):
        neurocodec.compare(small_clip, odd_clip)
    longer = make_clip(clip_dir / "longer.y4m", frames=10)
    with pytest.raises(neurocodec.InputError, match="frame counts differ"):
        neurocodec.compare(small_clip, longer)


# -- a third-party strategy with model weights --------------------------------


@register
class _RawWithWeights(Strategy):
    """Stores frames uncompressed; pretends to need a weights file (for the hash check)."""

    name = "test_raw"
    id = 0x4001
    hashes = (hashlib.sha256(b"weights v1").digest(),)

    def encode(self, frames, settings, fps):
        return b"".join(f.tobytes() for f in frames)

    def decode(self, payload, ctx):
        n = len(payload) // ctx.frame_count
        for i in range(ctx.frame_count):
            yield Frame.frombuffer(payload[i * n : (i + 1) * n], ctx.width, ctx.height)

    def describe(self, settings, width, height, fps):
        return {"raw": True}

    def weight_hashes(self, params=None):
        return type(self).hashes


def test_private_strategy_and_weight_hash_check(odd_clip, tmp_path, monkeypatch):
    ncv = tmp_path / "w.ncv"
    report = neurocodec.encode(odd_clip, ncv, strategy="test_raw")
    assert report.quality["psnr_yuv"] == 100.0  # lossless
    info = neurocodec.info(ncv)
    assert info["segments"][0]["strategy_id"] == 0x4001
    assert info["segments"][0]["weight_hashes"] == [_RawWithWeights.hashes[0].hex()]
    monkeypatch.setattr(_RawWithWeights, "hashes", (hashlib.sha256(b"weights v2").digest(),))
    with pytest.raises(ModelMismatchError, match="model weights") as err:
        list(neurocodec.open(ncv).frames())
    assert isinstance(err.value, NcvFormatError) and str(ncv) in str(err.value)
