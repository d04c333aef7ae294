"""The learned intra codec: exact integer entropy path, round trips, shipped weights, cross-process decoding."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurocodec.errors import ModelMismatchError  # noqa: E402
from neurocodec.metrics import psnr, psnr_yuv  # noqa: E402
from neurocodec.models.integer import ACT_LIMIT, FRAC, IntegerHyperSynthesis, build_tables  # noqa: E402
from neurocodec.models.intra import IntraCodec, decoder_macs_per_pixel  # noqa: E402


def _picture(w=128, h=96, image="astronaut"):
    from neurocodec.io.synthetic import pan_zoom

    f = next(iter(pan_zoom(w, h, 1, image=image)))
    return f.y, f.u, f.v


@pytest.fixture(scope="module")
def shipped():
    from neurocodec.models.registry import load_intra

    return load_intra()


@pytest.fixture(scope="module")
def coder(shipped):
    from neurocodec.models.coder import IntraCoder

    return IntraCoder(shipped)


def _int64_reference(tables, z_fixed):
    """The hyper-synthesis with int64 arithmetic only (im2col by hand): what float64 must equal exactly."""
    hs = IntegerHyperSynthesis(tables)
    x = z_fixed.long().clamp(-ACT_LIMIT, ACT_LIMIT)
    for layer in hs.layers:
        transposed, stride, pad, out_pad, act = (int(v) for v in layer["geom"])
        w = layer["weight"].long()
        if transposed:
            # A transposed convolution is a convolution of the zero-upsampled input with the flipped kernel.
            b, c, h, ww = x.shape
            up = torch.zeros(b, c, (h - 1) * stride + 1, (ww - 1) * stride + 1, dtype=torch.int64)
            up[:, :, ::stride, ::stride] = x
            k = w.shape[-1]
            p = k - 1 - pad
            up = torch.nn.functional.pad(up, (p, p + out_pad, p, p + out_pad))
            w = w.flip(-1, -2).transpose(0, 1)
            stride_c, pad_c = 1, 0
        else:
            up, stride_c, pad_c = x, stride, pad
        cols = torch.nn.functional.unfold(up.double(), w.shape[-1], padding=pad_c, stride=stride_c).long()
        out = w.reshape(w.shape[0], -1) @ cols  # int64 matmul
        oh = (up.shape[2] + 2 * pad_c - w.shape[-1]) // stride_c + 1
        acc = out.reshape(x.shape[0], w.shape[0], oh, -1) + layer["bias"][None, :, None, None]
        shift = layer["shift"][None, :, None, None]
        x = (acc + (1 << (shift - 1))) >> shift
        if act == 2:  # LeakyReLU, slope 655 / 2**16
            x = torch.where(x < 0, (x * 655 + (1 << 15)) >> 16, x)
        x = x.clamp(0 if act == 1 else -ACT_LIMIT, ACT_LIMIT)
    return x


def test_float64_hyper_synthesis_equals_int64_arithmetic(shipped):
    torch.manual_seed(0)
    z = torch.randint(-20, 21, (1, shipped.model.Nz, 3, 4)) << FRAC
    fast = IntegerHyperSynthesis(shipped.tables)(z)
    assert torch.equal(fast, _int64_reference(shipped.tables, z))


def test_hyper_synthesis_is_independent_of_threads_batch_and_backend(shipped):
    torch.manual_seed(1)
    z = torch.randint(-8, 9, (3, shipped.model.Nz, 2, 3)) << FRAC
    hs = IntegerHyperSynthesis(shipped.tables)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = torch.cat([hs(z[i : i + 1]) for i in range(3)])
        torch.set_num_threads(2)
        batch = hs(z)
        # Another convolution backend (oneDNN on or off) stands in for another machine's kernels.
        with torch.backends.mkldnn.flags(enabled=not torch.backends.mkldnn.enabled):
            other = hs(z)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, batch) and torch.equal(batch, other)


def test_tables_are_integer_and_built_from_float16_weights():
    torch.manual_seed(0)
    m = IntraCodec(N=16, M=24, Nz=8)
    t = build_tables(m)
    for k, v in t.items():
        assert not v.is_floating_point() or k == "gain.inverse", k
    assert t["gain.log"].shape == (64, 24)
    # CRF 0 is the highest trained level, CRF 63 the lowest.
    assert torch.allclose(t["gain.log"][0].double() / 2**FRAC, m.log_gain[-1].detach().double(), atol=1e-4)
    assert torch.allclose(t["gain.log"][63].double() / 2**FRAC, m.log_gain[0].detach().double(), atol=1e-4)


def _tiny_weights(path, lambdas, rows):
    from neurocodec.models.weights import pack_weights

    torch.manual_seed(0)
    m = IntraCodec(N=16, M=24, Nz=8, lambdas=lambdas)
    with torch.no_grad():
        for i, r in enumerate(rows):
            m.log_gain[i] = r
            m.log_inv_gain[i] = -r
    path.write_bytes(pack_weights(m, {}))
    return m


def test_warm_start_maps_gains_onto_new_levels_in_log_lambda(tmp_path):
    from neurocodec.training.intra import warm_start

    src = _tiny_weights(tmp_path / "w.pt", (0.01, 0.04), (0.0, 2.0))
    m = IntraCodec(N=16, M=24, Nz=8, lambdas=(0.005, 0.02, 0.08))
    warm_start(m, tmp_path / "w.pt")
    # 0.005 and 0.08 lie half the 0.01..0.04 span (in log-lambda) outside it: extrapolated; 0.02 in its middle.
    assert torch.allclose(m.log_gain[:, 0], torch.tensor([-1.0, 1.0, 3.0]))
    assert torch.allclose(m.log_inv_gain[:, 5], torch.tensor([1.0, -1.0, -3.0]))
    assert torch.equal(m.g_s[0].weight, src.g_s[0].weight.half().float())


def test_format_2_weights_files_still_load(tmp_path):
    import io

    from neurocodec.models.registry import load_intra

    _tiny_weights(tmp_path / "w.pt", (0.0009, 0.0018), (0.0, 1.0))
    state = torch.load(tmp_path / "w.pt", weights_only=True)
    state["format"] = "neurocodec.intra/2"
    state["config"] = {k: v for k, v in state["config"].items() if k != "lambdas"} | {"levels": 2}
    buf = io.BytesIO()
    torch.save(state, buf)
    (tmp_path / "old.pt").write_bytes(buf.getvalue())
    assert load_intra(tmp_path / "old.pt").model.lambdas == (0.0009, 0.0018)
    state["format"] = "neurocodec.intra/9"
    torch.save(state, tmp_path / "future.pt")
    from neurocodec.errors import NeurocodecError

    with pytest.raises(NeurocodecError, match="future.pt: weights format 'neurocodec.intra/9'"):
        load_intra(tmp_path / "future.pt")


def test_round_trip_latents_identical_and_quality_rises_with_rate(coder):
    planes = _picture()
    rows = []
    for crf in (0, 30, 63):
        data, latent = coder.compress(planes, crf)
        rec, back = coder.decompress(data, 96, 128)
        assert torch.equal(latent.symbols, back.symbols) and torch.equal(latent.indexes, back.indexes)
        assert torch.equal(latent.means, back.means)
        assert [p.shape for p in rec] == [p.shape for p in planes]
        rows.append((len(data), psnr_yuv(*[psnr(a, b) for a, b in zip(planes, rec)])))
    sizes, quality = zip(*rows)
    assert sizes[0] > sizes[1] > sizes[2]
    assert quality[0] > quality[1] > quality[2]
    assert quality[0] > 30  # measured 32.0 dB at 128x96 on the astronaut picture (CPU, shipped weights)


def test_shipped_weights_beat_untrained(coder):
    from neurocodec.models.coder import IntraCoder
    from neurocodec.models.weights import LoadedIntra

    torch.manual_seed(0)
    raw = IntraCodec().eval()
    untrained = IntraCoder(LoadedIntra(raw, build_tables(raw), b"\0" * 32, None, {}))
    planes = _picture(image="coffee")
    q = {}
    for name, c in (("trained", coder), ("untrained", untrained)):
        data, _ = c.compress(planes, 20)
        rec, _ = c.decompress(data, 96, 128)
        q[name] = psnr_yuv(*[psnr(a, b) for a, b in zip(planes, rec)])
    assert q["trained"] > q["untrained"] + 15, q


def test_decoder_budget(shipped):
    assert decoder_macs_per_pixel(shipped.model) < 50_000


def test_corrupt_picture_is_a_clear_error(coder):
    data, _ = coder.compress(_picture(), 30)
    with pytest.raises(ValueError, match="crf"):
        coder.decompress(bytes([99]) + data[1:], 96, 128)
    with pytest.raises(ValueError, match="z stream"):
        coder.decompress(data[:3], 96, 128)


def test_wrong_weights_are_refused(shipped):
    from neurocodec.models.registry import load_intra

    with pytest.raises(ModelMismatchError, match="weights sha256"):
        load_intra(expect_sha256=b"\1" * 32)
    assert load_intra(expect_sha256=shipped.sha256) is shipped


_ENCODE = """
import sys, torch
torch.set_num_threads(2)
from neurocodec.models.coder import IntraCoder
from neurocodec.models.registry import load_intra
from neurocodec.io.synthetic import pan_zoom
f = next(iter(pan_zoom(192, 128, 1, image="chelsea")))
data, _ = IntraCoder(load_intra()).compress((f.y, f.u, f.v), 25)
sys.stdout.buffer.write(data)
"""

_DECODE = """
import sys, torch, hashlib
torch.set_num_threads(1)
from neurocodec.models.coder import IntraCoder
from neurocodec.models.registry import load_intra
(y, u, v), lat = IntraCoder(load_intra()).decompress(sys.stdin.buffer.read(), 128, 192)
print(hashlib.sha256(y.tobytes() + u.tobytes() + v.tobytes()).hexdigest(),
      hashlib.sha256(lat.symbols.numpy().tobytes() + lat.indexes.numpy().tobytes()).hexdigest())
"""


def test_encode_two_threads_decode_one_thread_in_fresh_processes(coder):
    data = subprocess.run([sys.executable, "-c", _ENCODE], capture_output=True, check=True).stdout
    out = subprocess.run([sys.executable, "-c", _DECODE], input=data, capture_output=True, check=True).stdout.split()
    import hashlib

    from neurocodec.io.synthetic import pan_zoom

    f = next(iter(pan_zoom(192, 128, 1, image="chelsea")))
    here, lat = coder.decompress(data, 128, 192)
    mine = hashlib.sha256(b"".join(p.tobytes() for p in here)).hexdigest()
    assert out[0].decode() == mine
    assert out[1].decode() == hashlib.sha256(lat.symbols.numpy().tobytes() + lat.indexes.numpy().tobytes()).hexdigest()
    again, _ = coder.compress((f.y, f.u, f.v), 25)
    assert again == data  # same bytes in this process with its own thread count


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_decode_matches_cpu(shipped):  # pragma: no cover - run whenever a GPU is present
    from neurocodec.models.coder import IntraCoder

    cpu = IntraCoder(shipped)
    gpu = IntraCoder(shipped, "cuda")
    planes = _picture(256, 192)
    data, _ = gpu.compress(planes, 20)
    (a, lat_a), (b, lat_b) = cpu.decompress(data, 192, 256), gpu.decompress(data, 192, 256)
    assert torch.equal(lat_a.symbols, lat_b.symbols) and torch.equal(lat_a.indexes, lat_b.indexes)
    assert max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(a, b)) <= 2


def test_onnx_synthesis_matches_pytorch(coder, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from click.testing import CliRunner

    from neurocodec_cli.main import cli

    res = CliRunner().invoke(cli, ["export-onnx", str(tmp_path)])
    assert res.exit_code == 0, res.output
    import json

    meta = json.loads((tmp_path / "intra_synthesis.json").read_text())
    assert meta["weights_sha256"] == coder.loaded.sha256.hex()
    planes = _picture(192, 128, image="coffee")
    data, latent = coder.compress(planes, 17)
    sess = ort.InferenceSession(str(tmp_path / "intra_synthesis.onnx"), providers=["CPUExecutionProvider"])
    luma, chroma = sess.run(None, {"latent": latent.gained_latent().numpy(), "crf": np.array([17], dtype=np.int64)})
    ref = coder.synthesise(latent, (128, 192))
    got = [np.round(luma[0, 0] * 255), np.round(chroma[0, 0] * 255), np.round(chroma[0, 1] * 255)]
    for r, g in zip(ref, got):
        assert np.abs(r.astype(int) - g[: r.shape[0], : r.shape[1]].astype(int)).max() <= 1


def _stand_in(arch, quality, metric):
    """An untrained mbt2018-mean in place of the download (tests need no network)."""
    from compressai.zoo import mbt2018_mean

    torch.manual_seed(0)
    return mbt2018_mean(quality=1, pretrained=False)


def test_pretrained_model_decodes_exactly_with_integer_tables():
    from neurocodec.models.coder import IntraCoder
    from neurocodec.models.pretrained import load_pretrained

    loaded = load_pretrained("compressai:mbt2018-mean:1", fetch=_stand_in)
    z = torch.randint(-6, 7, (1, loaded.model.Nz, 2, 3)) << FRAC
    assert torch.equal(IntegerHyperSynthesis(loaded.tables)(z), _int64_reference(loaded.tables, z))  # LeakyReLU path
    coder = IntraCoder(loaded)
    data, latent = coder.compress(_picture(), 5)
    rec, back = coder.decompress(data, 96, 128)
    assert torch.equal(latent.symbols, back.symbols) and [p.shape for p in rec] == [(96, 128), (48, 64), (48, 64)]
    again = load_pretrained("compressai:mbt2018-mean:1", fetch=_stand_in)
    assert again.sha256 == loaded.sha256


def test_pretrained_offline_is_one_clear_error(small_clip, tmp_path, monkeypatch):
    from click.testing import CliRunner

    import neurocodec.models.pretrained as pretrained
    from neurocodec.models import registry
    from neurocodec_cli.main import cli

    def offline(*args):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(pretrained, "_download", offline)
    monkeypatch.setattr(pretrained.load_pretrained, "__kwdefaults__", {"fetch": offline})
    registry._load_named.cache_clear()
    out = tmp_path / "x.ncv"
    res = CliRunner().invoke(cli, ["encode", str(small_clip), str(out), "-s", "semantic_latent",
                                   "--intra-model", "compressai:mbt2018-mean:2"])
    assert res.exit_code == 2, res.output
    assert "could not get CompressAI's pretrained weights" in res.output and "internet" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not out.exists()
