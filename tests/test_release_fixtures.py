"""Files written by release 0.1 keep decoding to the same frames; classical encodes keep their bytes.

The fixtures (``tests/fixtures/release_0.1``, made by ``make_release_fixtures.py``
before the architecture changed) pin what later refactorings must not move.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import neurocodec
from neurocodec.bitstream import NcvReader

from .fixtures.make_release_fixtures import HERE, frames_sha256, make_clip, segments_sha256

EXPECTED = json.loads((HERE / "expected.json").read_text())
CLASSICAL = ("x264", "x265", "av1")


def test_fixtures_stay_small():
    assert sum(p.stat().st_size for p in HERE.glob("*.ncv")) < 100_000


@pytest.mark.parametrize("name", sorted(EXPECTED["files"]))
def test_release_file_decodes_to_the_same_frames(name):
    assert frames_sha256(HERE / f"{name}.ncv") == EXPECTED["files"][name]["frames_sha256"]


@pytest.mark.parametrize("name", CLASSICAL)
def test_classical_encode_is_byte_identical_to_the_release(name, tmp_path):
    want = EXPECTED["files"][name]
    clip = make_clip(tmp_path / "clip.y4m")
    out = tmp_path / "o.ncv"
    neurocodec.encode(clip, out, strategy=name, segment_frames=EXPECTED["segment_frames"], measure_quality=False,
                      **want["options"])
    strategy = neurocodec.strategies.get_strategy(name)
    with NcvReader(out) as reader, NcvReader(HERE / f"{name}.ncv") as old:
        ours, theirs = reader.segments(), old.segments()
        assert [s.params for s in ours] == [s.params for s in theirs]
        # The encoder's packets, not the payload: bitstream 1.1 dropped the per-packet flags byte.
        assert [strategy.packets(reader.payload(s)) for s in ours] == [strategy.packets(old.payload(s)) for s in theirs]
    assert segments_sha256(HERE / f"{name}.ncv") == want["segments"]  # the fixture itself is the release's
