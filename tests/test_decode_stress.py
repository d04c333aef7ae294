"""One process decodes hundreds of valid and corrupt classical segments, one after the other, without hanging.

Regression: packets built with ``av.Packet(bytes)`` lend the Python object to
FFmpeg, and libdav1d's worker threads dropped the last reference (which takes
the GIL) while holding dav1d's lock, as the main thread waited for that lock
with the GIL held while closing the decoder: a deadlock in about half the
runs. The decode loop runs in a child process whose watchdog is faulthandler's
(a C thread that needs no GIL): 30 s without progress dumps every thread's
stack and ends the child, so a hang fails the test instead of hanging CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_CHILD = r'''
import faulthandler
import random
import sys

from neurocodec.errors import NcvFormatError
from neurocodec.io.synthetic import pan_zoom
from neurocodec.strategies import DecodeContext, StrategySettings, get_strategy

count, specs = int(sys.argv[1]), sys.argv[2:]
segments = []
for spec in specs:  # NAME=PRESET
    name, _, preset = spec.partition("=")
    strategy = get_strategy(name)
    for i, (w, h, n) in enumerate(((64, 48, 3), (64, 48, 6), (48, 32, 5))):
        frames = list(pan_zoom(w, h, n, pan=(1.5 + i, 0.5)))
        payload = strategy.encode(frames, StrategySettings(crf=40, preset=preset), 25)
        segments.append((strategy, payload, DecodeContext(w, h, n, {})))
rng = random.Random(0)
valid = rejected = 0
for k in range(count):
    faulthandler.dump_traceback_later(30, exit=True)  # re-armed per segment: 30 s without progress ends the child
    strategy, payload, ctx = segments[k % len(segments)]
    data = bytearray(payload)
    kind = k // len(segments) % 4
    if kind == 1:  # truncated
        data = data[: rng.randrange(1, len(data))]
    elif kind == 2:  # a few bits flipped
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 3:  # garbage from some offset on
        at = rng.randrange(2, len(data))
        data[at:] = rng.randbytes(len(data) - at)
    try:
        frames = list(strategy.decode(bytes(data), ctx))
    except NcvFormatError:
        rejected += 1
        continue
    if len(frames) != ctx.frame_count or any((f.width, f.height) != (ctx.width, ctx.height) for f in frames):
        sys.exit(f"{strategy.name}: decoded {len(frames)} frames of the wrong count or size without an error")
    valid += 1
faulthandler.cancel_dump_traceback_later()
print(valid, rejected)
'''


@pytest.mark.parametrize(
    "specs",
    [
        ("av1=12", "i_frame_interpolation=av1:12/gap=2"),
        ("x264=ultrafast",),
        ("x265=ultrafast", "i_frame_interpolation=x265:ultrafast/gap=2"),
    ],
    ids=["av1", "x264", "x265"],
)
def test_many_segments_decode_without_hanging(specs, tmp_path):
    count = 240
    script = tmp_path / "stress.py"
    script.write_text(_CHILD)
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    try:
        done = subprocess.run([sys.executable, str(script), str(count), *specs], capture_output=True, text=True,
                              timeout=300, env=env)
    except subprocess.TimeoutExpired as exc:  # only if faulthandler itself failed
        pytest.fail(f"decode loop made no exit within 300 s:\n{exc.stderr}")
    assert done.returncode == 0, f"decode loop failed (a hang shows as 'Timeout' and stacks):\n{done.stderr[-6000:]}"
    valid, rejected = map(int, done.stdout.split())
    assert valid + rejected == count
    # Every untouched segment decodes; most damaged ones are refused.
    assert valid >= count // 4 and rejected >= count // 4
