"""The model registry: every kind registered once (names, format, loader, hash, cost), and light to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from neurocodec.errors import SettingsError  # noqa: E402
from neurocodec.models.registry import INSTALLED, KINDS, kind_for, load, pack  # noqa: E402

BUDGET = {"intra": 50_000, "enhance": 30_000}  # decoder MACs per luma pixel


@pytest.mark.parametrize("kind", ["intra", "enhance"])
def test_shipped_weights_load_through_their_kind(kind):
    entry = KINDS[kind]
    assert entry.shipped
    for name in entry.shipped:
        ref = INSTALLED.resolve(kind, name)
        assert ref.model_kind is entry
        assert torch.load(ref.path, weights_only=True)["format"] == entry.format
        loaded = load(kind, name, expect_sha256=ref.sha256())
        assert loaded.sha256 == entry.sha256(ref)
        assert load(kind, ref.path) is loaded  # by name or by file: one cached load
        assert 1_000 < entry.macs_per_pixel(loaded) < BUDGET[kind]


def test_pretrained_names_are_their_own_kind():
    assert kind_for("intra", "compressai:mbt2018-mean:3") is KINDS["compressai"]
    assert kind_for("intra", "intra_yuv420") is KINDS["intra"]
    assert kind_for("enhance", "compressai:mbt2018-mean:3") is KINDS["enhance"]  # no pretrained enhancement
    with pytest.raises(SettingsError, match="no compressai weights files"):
        pack("compressai", None, {})


def test_checking_names_imports_no_torch():
    code = ("import sys; from neurocodec.models.registry import INSTALLED, check_name; "
            "check_name('compressai:mbt2018-mean:3'); INSTALLED.resolve('intra', check_name('intra_yuv420')); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
