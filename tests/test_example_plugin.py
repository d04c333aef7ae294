"""The example plugin (examples/plugin): found through its entry point, round-trips losslessly, refuses bad payloads.

The plugin is not pip-installed: a minimal ``*.dist-info`` folder (METADATA and
the entry points its pyproject.toml declares) on the path of a subprocess
stands for the installed distribution, so the registry discovers it exactly as
it would after ``pip install -e examples/plugin`` (and this process's registry,
already loaded, is left alone).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurocodec.errors import NcvFormatError, SettingsError
from neurocodec.strategies import DecodeContext, StrategySettings

from .conftest import make_clip

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugin"
SRC = PLUGIN / "src"

ROUND_TRIP = """
import sys
import numpy as np
import neurocodec
from neurocodec.io import open_source
src, ncv, out = sys.argv[1:]
neurocodec.encode(src, ncv, strategy="zlib", opts={"level": 9})
neurocodec.decode(ncv, out)
pairs = list(zip(open_source(src).frames(), open_source(out).frames(), strict=True))
assert pairs and all(np.array_equal(getattr(a, p), getattr(b, p)) for a, b in pairs for p in "yuv")
segments = neurocodec.info(ncv)["segments"]
print("frames", len(pairs), "segments", [(s["strategy"], s["strategy_id"], s["params"]) for s in segments])
"""


def _plugin_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a Python that sees the plugin as installed: its sources and its dist-info on the path."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    site = tmp_path / "site"
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = [f"{name} = {value}" for name, value in project["entry-points"]["neurocodec.strategies"].items()]
    (info / "entry_points.txt").write_text("[neurocodec.strategies]\n" + "\n".join(lines) + "\n")
    path = [str(SRC), str(site), *sys.path]  # this process's path keeps neurocodec (and its CLI) importable
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def test_plugin_registers_and_round_trips(tmp_path):
    """``strategy="zlib"`` through the public API returns the input exactly; ``neurocodec strategies zlib`` lists it."""
    env = _plugin_env(tmp_path)
    clip = make_clip(tmp_path / "in.y4m", 75, 47, 6, image="coffee", pan=(1.3, 0.4))  # odd size: padded and cropped
    res = subprocess.run([sys.executable, "-c", ROUND_TRIP, str(clip), str(tmp_path / "out.ncv"),
                          str(tmp_path / "out.y4m")],
                         check=False, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == f"frames 6 segments [('zlib', {0x7A6C}, {{'opts': {{'level': 9}}}})]".split()
    cli = [sys.executable, "-c", "from neurocodec_cli.main import main; main()", "strategies", "zlib"]
    res = subprocess.run(cli, check=False, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"zlib (id {0x7A6C}): no crf; not an auto candidate" in res.stdout
    assert "--opt level=<int>  1..9, default 6." in res.stdout and "--opt delta=<bool>" in res.stdout


@pytest.fixture
def zlib_strategy(monkeypatch):
    """An instance of the plugin's class, imported from its sources (not registered in this process)."""
    monkeypatch.syspath_prepend(str(SRC))
    from neurocodec_zlib import ZlibStrategy

    return ZlibStrategy()


def _frames(n=3, w=8, h=6):
    from neurocodec.io.frame import Frame

    rng = np.random.default_rng(1)

    def planes(*shape):
        return rng.integers(0, 256, shape, dtype=np.uint8)

    return [Frame(planes(h, w), planes(h // 2, w // 2), planes(h // 2, w // 2)) for _ in range(n)]


@pytest.mark.parametrize("delta", [True, False])
def test_round_trip_with_and_without_differences(zlib_strategy, delta):
    frames = _frames()
    payload = zlib_strategy.encode(frames, StrategySettings(options={"delta": delta, "level": "1"}), 25)
    out = list(zlib_strategy.decode(payload, DecodeContext(8, 6, 3, {})))
    assert all(np.array_equal(getattr(a, p), getattr(b, p)) for a, b in zip(frames, out, strict=True) for p in "yuv")


def test_options_are_checked(zlib_strategy):
    with pytest.raises(SettingsError, match="level=0"):
        zlib_strategy.validate(StrategySettings(options={"level": 0}))
    with pytest.raises(SettingsError, match="no crf"):
        zlib_strategy.validate(StrategySettings(crf=20))
    with pytest.raises(NcvFormatError, match="level"):
        zlib_strategy.validate_params({"opts": {"level": 99}}, DecodeContext(8, 6, 3, {}))


def test_hostile_payloads_are_format_errors(zlib_strategy):
    """Truncation, trailing bytes, unknown format or flags, and a frame of the wrong size: one NcvFormatError each."""
    import zlib

    from neurocodec.bitstream.chunks import encode_varint

    ctx = DecodeContext(8, 6, 3, {})
    good = zlib_strategy.encode(_frames(), StrategySettings(), 25)
    short = zlib.compress(bytes(10))
    big = zlib.compress(bytes(8 * 6 * 3 // 2 + 1))
    for bad, why in [
        (good[:-1], "needs"), (good + b"\0", "trailing"), (b"\x02" + good[1:], "format 2"),
        (good[:1] + b"\x03" + good[2:], "unknown bits"), (good[:2] + b"\x05abcde", "zlib frame 0"),
        (good[:2] + encode_varint(len(short)) + short, "exactly 72 bytes"),
        (good[:2] + encode_varint(len(big)) + big, "exactly 72 bytes"),
        (good[:2] + encode_varint(10**6), "exceeds the limit"),
    ]:
        with pytest.raises(NcvFormatError, match=why):
            list(zlib_strategy.decode(bad, ctx))
