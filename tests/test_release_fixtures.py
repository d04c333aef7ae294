"""Files written by earlier releases keep decoding to the same frames; classical encodes keep their packets.

The fixtures pin what later changes must not move: ``tests/fixtures/release_0.1``
(bitstream 1.0, made by ``make_release_fixtures.py`` before the architecture
changed) and ``tests/fixtures/bitstream_1.1`` (the classical files of the last
1.1 writer, before 1.2 packed AV1 packets tighter and gave params a base).
"""

from __future__ import annotations

import json

import pytest

import neurocodec
from neurocodec.bitstream import NcvReader

from .fixtures.make_release_fixtures import HERE, frames_sha256, make_clip, segments_sha256

FIXTURES = {d: json.loads((HERE.parent / d / "expected.json").read_text()) for d in ("release_0.1", "bitstream_1.1")}
CLASSICAL = ("x264", "x265", "av1")


def _cases(classical_only: bool = False) -> list[tuple[str, str]]:
    return [(d, name) for d, exp in FIXTURES.items() for name in sorted(exp["files"])
            if not classical_only or name in CLASSICAL]


def test_fixtures_stay_small():
    assert sum(p.stat().st_size for p in HERE.parent.glob("*/*.ncv")) < 100_000


@pytest.mark.parametrize("folder,name", _cases())
def test_old_file_decodes_to_the_same_frames(folder, name):
    path = HERE.parent / folder / f"{name}.ncv"
    assert frames_sha256(path) == FIXTURES[folder]["files"][name]["frames_sha256"]


@pytest.mark.parametrize("folder,name", _cases(classical_only=True))
def test_classical_encode_gives_the_old_files_packets_and_params(folder, name, tmp_path):
    expected = FIXTURES[folder]
    want = expected["files"][name]
    clip = make_clip(tmp_path / "clip.y4m")
    out = tmp_path / "o.ncv"
    neurocodec.encode(clip, out, strategy=name, segment_frames=expected["segment_frames"], measure_quality=False,
                      **want["options"])
    strategy = neurocodec.strategies.get_strategy(name)
    old_path = HERE.parent / folder / f"{name}.ncv"
    with NcvReader(out) as reader, NcvReader(old_path) as old:
        ours, theirs = reader.segments(), old.segments()
        assert [s.params for s in ours] == [s.params for s in theirs]
        # The encoder's packets, not the payload: 1.1 dropped the per-packet flags byte, 1.2 packs AV1 tighter.
        assert [strategy.packets(reader.payload(s)) for s in ours] == [strategy.packets(old.payload(s)) for s in theirs]
    assert segments_sha256(old_path) == want["segments"]  # the fixture itself is the old writer's
