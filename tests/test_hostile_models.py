"""Model references in a ``.ncv`` are names, never paths; a whole file is checked before any frame is decoded.

Hostile files are written with the library's writer: valid-looking
``semantic_latent`` and ``hybrid`` segments whose params differ only in
``model`` (or in one other field), with the hashes of the shipped weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import neurocodec  # noqa: E402
from neurocodec.bitstream import NcvWriter  # noqa: E402
from neurocodec.bitstream.chunks import encode_varint  # noqa: E402
from neurocodec.errors import ModelMismatchError, NcvFormatError, SettingsError  # noqa: E402
from neurocodec.io.synthetic import pan_zoom  # noqa: E402
from neurocodec.models.registry import check_name, file_sha256  # noqa: E402
from neurocodec.models.names import resolve_file  # noqa: E402
from neurocodec.strategies import StrategySettings, get_strategy  # noqa: E402

from .conftest import make_clip  # noqa: E402

HOSTILE = ["/etc/passwd", "/proc/self/mem", "/dev/zero", "../../etc/passwd", "weights/../../x",
           "http://example.com/x.pt"]
W = H = 64
WEIGHTS_DIR = Path(neurocodec.__file__).parent / "weights"
INTRA_SHA = file_sha256(resolve_file("intra", "intra_yuv420"))
ENHANCE_SHA = file_sha256(WEIGHTS_DIR / "enhance_yuv420.pt")
HYBRID_PARAMS = {"preset": "av1/scale=1/adapt=40", "crf": 35.0}


def _frame(w=W, h=H):
    return next(iter(pan_zoom(w, h, 1, image="chelsea")))


@pytest.fixture(scope="module")
def keyframe_payload():
    """A real one-frame semantic_latent payload (64x64, shipped weights)."""
    return get_strategy("semantic_latent").encode([_frame()], StrategySettings(crf=40), 25)


def _refreshes(one: bytes, n: int) -> bytes:
    """A semantic_latent payload of ``n`` copies of a one-frame payload's keyframe (each decoded in full)."""
    return one[:2] + encode_varint(n) + one[3:] * n


def _write(path, segments, w=W, h=H):
    with NcvWriter(path, width=w, height=h, fps=25) as writer:
        for s in segments:
            writer.add_segment(**s)
    return path


def _latent(payload, model="intra_yuv420", frames=1, hashes=(INTRA_SHA,), **params):
    return dict(strategy_id=16, strategy="semantic_latent", frame_count=frames, payload=payload,
                params={"crf": 40, "keyint": None, "model": model} | params, weight_hashes=hashes)


def _hybrid(model="enhance_yuv420", hashes=(ENHANCE_SHA,)):
    # Rejected before the payload is read: a stand-in payload keeps the test free of a base encoder.
    return dict(strategy_id=18, strategy="hybrid", frame_count=1, payload=b"\x01\x03",
                params=HYBRID_PARAMS | {"model": model}, weight_hashes=hashes)


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory, keyframe_payload):
    d = tmp_path_factory.mktemp("hostile")
    files = []
    for i, name in enumerate(HOSTILE):
        files.append(_write(d / f"latent{i}.ncv", [_latent(keyframe_payload, name)]))
        files.append(_write(d / f"hybrid{i}.ncv", [_hybrid(name)]))
    valid = [_write(d / "latent_ok.ncv", [_latent(keyframe_payload)]), _write(d / "hybrid_ok.ncv", [_hybrid()])]
    return files, valid


_AUDIT = r"""
import json, sys
import neurocodec
from neurocodec.errors import NcvFormatError

job = json.loads(sys.argv[1])
for f in job["valid"]:  # the same code paths once, so lazy imports and the weights' hashes are done
    try:
        neurocodec.info(f)
        neurocodec.decode(f, job["warm_out"], overwrite=True)
    except NcvFormatError:
        pass  # hybrid_ok's stand-in payload
events = []
recording = True

def hook(event, args):
    if recording and event in ("open", "os.listdir", "os.scandir"):
        events.append([event, repr(args[0]) if not isinstance(args[0], (str, bytes)) else str(args[0])])

sys.addaudithook(hook)
results = {}
for f in job["files"]:
    neurocodec.info(f)  # shows the params as stored, derives nothing from the model they name
    try:
        neurocodec.decode(f, job["out"], overwrite=True)
        results[f] = "decoded"
    except NcvFormatError as exc:
        results[f] = f"{type(exc).__name__}: {exc}"
    except BaseException as exc:
        results[f] = f"unexpected {type(exc).__name__}: {exc}"
recording = False  # audit hooks cannot be removed
print(json.dumps({"events": events, "results": results}))
"""


def test_no_byte_of_a_file_makes_the_decoder_open_a_path(hostile_files, tmp_path):
    files, valid = hostile_files
    job = {"files": [str(f) for f in files], "valid": [str(f) for f in valid], "out": str(tmp_path / "out.y4m"),
           "warm_out": str(tmp_path / "warm.y4m")}
    proc = subprocess.run([sys.executable, "-c", _AUDIT, json.dumps(job)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for event, path in report["events"]:
        assert event == "open", (event, path)
        assert path in job["files"] or Path(path).resolve().is_relative_to(WEIGHTS_DIR.resolve()), path
    assert {path for _, path in report["events"]} == set(job["files"])  # each file was read, nothing else
    assert proc.stderr.count("Traceback") == 0
    for f, outcome in report["results"].items():
        assert outcome.startswith("NcvFormatError: ") and "is not a model name" in outcome, (f, outcome)
        assert f in outcome and "offset " in outcome and "\n" not in outcome
    assert not (tmp_path / "out.y4m").exists()


def test_hostile_model_is_exit_2_one_line_no_traceback(hostile_files, tmp_path):
    from click.testing import CliRunner

    from neurocodec_cli.main import cli

    files, _ = hostile_files
    for f in files:
        res = CliRunner().invoke(cli, ["decode", str(f), str(tmp_path / "o.y4m")])
        assert res.exit_code == 2, (f, res.output)
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in res.output, res.output
        assert str(f) in lines[0] and "is not a model name" in lines[0]


@pytest.mark.parametrize("name", ["intra_yuv420", "my-model.v2", "a", "A_b-c.d", "compressai:mbt2018-mean:3:ms-ssim"])
def test_model_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", HOSTILE + ["", ".hidden", "..", "a/b", "a\\b", "x" * 65, "C:evil", "nul\0", 3, None,
                                            ["intra_yuv420"], "compressai:../../x:3", "compressai:mbt2018-mean:9"])
def test_not_model_names(name):
    with pytest.raises(NcvFormatError, match="model reference"):
        check_name(name)


def _spy_decode(monkeypatch):
    from neurocodec.strategies.semantic_latent import SemanticLatent

    calls = []
    real = SemanticLatent.decode

    def spy(self, payload, ctx):
        calls.append(ctx.frame_count)
        return real(self, payload, ctx)

    monkeypatch.setattr(SemanticLatent, "decode", spy)
    return calls


def _bad_index(data: bytes) -> bytes:
    """The file with its INDX chunk's last value (the last segment's frame count) changed, CRC recomputed."""
    pos = 10  # signature and version
    while pos < len(data):
        ctype, length = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "big")
        if ctype == b"INDX":
            payload = bytearray(data[pos + 8 : pos + 8 + length])
            payload[-1] ^= 1
            crc = zlib.crc32(bytes(payload), zlib.crc32(ctype)).to_bytes(4, "big")
            return data[: pos + 8] + bytes(payload) + crc + data[pos + 12 + length :]
        pos += 12 + length
    raise AssertionError("no INDX chunk")


@pytest.mark.parametrize("defect", ["model", "crf", "keyint", "hash", "index"])
def test_corrupt_later_segment_is_refused_before_decoding(tmp_path, keyframe_payload, monkeypatch, defect):
    """A valid first segment of 8 full keyframes, a defective second one: refused in well under a second."""
    many = _refreshes(keyframe_payload, 8)
    second = {
        "model": _latent(keyframe_payload, "/etc/passwd"),
        "crf": _latent(keyframe_payload, crf=400),
        "keyint": _latent(keyframe_payload, keyint="1; rm"),
        "hash": _latent(keyframe_payload, hashes=(INTRA_SHA[:-1] + bytes([INTRA_SHA[-1] ^ 1]),)),
        "index": _latent(keyframe_payload, frames=1),
    }[defect]
    path = _write(tmp_path / "two.ncv", [_latent(many, frames=8), second])
    if defect == "index":
        path.write_bytes(_bad_index(path.read_bytes()))
    neurocodec.open(_write(tmp_path / "ok.ncv", [_latent(keyframe_payload)])).check()  # warm: imports, weights' hash
    calls = _spy_decode(monkeypatch)
    t0 = time.perf_counter()
    with pytest.raises(NcvFormatError) as err:
        next(neurocodec.open(path).frames())
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.5, elapsed
    assert calls == []  # no frame of the valid first segment was decoded
    assert str(path) in str(err.value) and err.value.offset is not None
    if defect == "hash":
        assert isinstance(err.value, ModelMismatchError)
        # The two hashes share all but their last hex digit: both are printed in full.
        assert INTRA_SHA.hex() in str(err.value) and second["weight_hashes"][0].hex() in str(err.value)


def test_the_valid_file_still_decodes(tmp_path, keyframe_payload):
    path = _write(tmp_path / "ok.ncv", [_latent(_refreshes(keyframe_payload, 2), frames=2), _latent(keyframe_payload)])
    frames = list(neurocodec.open(path).frames())
    assert len(frames) == 3 and frames[0].y.shape == (H, W)


def _tiny_weights(path):
    from neurocodec.models.intra import IntraCodec
    from neurocodec.models.weights import pack_weights

    torch.manual_seed(0)
    path.write_bytes(pack_weights(IntraCodec(N=16, M=24, Nz=8, lambdas=(0.01, 0.04)), {}))
    return path


def test_encode_with_a_weights_file_stores_its_name_and_decode_needs_the_user(tmp_path):
    mine = tmp_path / "models"
    mine.mkdir()
    weights = _tiny_weights(mine / "tiny_v1.pt")
    clip = make_clip(tmp_path / "c.y4m", W, H, 2, image="coffee")
    ncv = tmp_path / "c.ncv"
    neurocodec.encode(clip, ncv, strategy="semantic_latent", crf=40, intra_model=str(weights))
    seg = neurocodec.info(ncv)["segments"][0]
    assert seg["params"]["model"] == "tiny_v1" and str(tmp_path) not in json.dumps(seg)
    assert seg["weight_hashes"] == [file_sha256(weights).hex()]

    from click.testing import CliRunner

    from neurocodec_cli.main import cli

    res = CliRunner().invoke(cli, ["decode", str(ncv), str(tmp_path / "a.y4m")])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert "'tiny_v1'" in res.output and "--intra-model FILE" in res.output and "--model-dir DIR" in res.output
    for option in (["--model-dir", str(mine)], ["--intra-model", str(weights)]):
        res = CliRunner().invoke(cli, ["decode", str(ncv), str(tmp_path / "a.y4m"), "-y", "-q", *option])
        assert res.exit_code == 0, res.output
    b = tmp_path / "b.y4m"
    neurocodec.decode(ncv, b, model_dir=mine)
    assert b.read_bytes() == (tmp_path / "a.y4m").read_bytes()


def test_hash_is_checked_before_weights_are_loaded(tmp_path, keyframe_payload):
    """A model-folder file of the right name but other bytes is refused by hash, never unpickled."""
    mine = tmp_path / "models"
    mine.mkdir()
    (mine / "other.pt").write_bytes(b"not a weights file")
    path = _write(tmp_path / "x.ncv", [_latent(keyframe_payload, "other")])
    with pytest.raises(ModelMismatchError, match="'other' of weights sha256 " + INTRA_SHA.hex()) as err:
        neurocodec.open(path, model_dir=mine).check()
    assert str(mine / "other.pt") in str(err.value)  # the file it refused, not a load error
    with pytest.raises(ModelMismatchError, match="needs the intra model 'other'"):
        neurocodec.open(path).check()


def test_user_model_options_are_checked(tmp_path, keyframe_payload):
    path = _write(tmp_path / "x.ncv", [_latent(keyframe_payload)])
    with pytest.raises(SettingsError, match="no such model folder"):
        neurocodec.open(path, model_dir=tmp_path / "missing")
    with pytest.raises(SettingsError, match="no such weights file"):
        neurocodec.open(path, intra_model=tmp_path / "missing.pt")
    assert len(neurocodec.open(path, intra_model="intra_yuv420").check()) == 1


def test_a_file_cannot_make_the_decoder_download_a_pretrained_model(tmp_path, keyframe_payload, monkeypatch):
    from neurocodec.models import pretrained

    def no_network(*args, **kwargs):
        raise AssertionError("the decoder tried to fetch CompressAI weights")

    monkeypatch.setattr(pretrained, "_download", no_network)
    path = _write(tmp_path / "pre.ncv", [_latent(keyframe_payload, "compressai:mbt2018-mean:3")])
    with pytest.raises(ModelMismatchError, match="allow it with --intra-model compressai:mbt2018-mean:3"):
        neurocodec.decode(path, tmp_path / "o.y4m")
    assert not (tmp_path / "o.y4m").exists()
