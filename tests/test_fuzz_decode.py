"""A fast sample of the decoder fuzzing that ``benchmarks/fuzz_ncv.py`` runs at scale.

Mutants of real multi-segment files of every strategy (payload damage behind
recomputed CRCs, params and header edits, forged lengths, concatenations)
must decode or be refused with a neurocodec error, quickly, and never hang.
"""

from __future__ import annotations

import faulthandler
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocodec.agents.decoder import DecodingAgent, describe
from neurocodec.bitstream.mutate import OPERATORS, mutate
from neurocodec.errors import NeurocodecError

from .conftest import make_clip

STRATEGIES = ("x264", "x265", "av1", "semantic_latent", "hybrid", "i_frame_interpolation", "aom", "vvc")


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    import neurocodec

    work = tmp_path_factory.mktemp("fuzz")
    clip = make_clip(work / "clip.y4m", 96, 64, 8, image="chelsea", pan=(1.5, 0.5))
    out = {}
    for name in STRATEGIES:
        path = work / f"{name}.ncv"
        neurocodec.encode(clip, path, strategy=name, segment_frames=4, measure_quality=False)
        out[name] = path.read_bytes()
    return out


def test_mutator_keeps_unmutated_files_valid(seeds, tmp_path):
    from neurocodec.bitstream.mutate import join_chunks, split_chunks

    for name, data in seeds.items():
        assert join_chunks(*split_chunks(data)) == data, name


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(strategy=st.sampled_from(STRATEGIES), op=st.sampled_from(sorted(OPERATORS)), seed=st.integers(0, 2**32))
def test_mutants_decode_or_fail_cleanly(seeds, tmp_path_factory, strategy, op, seed):
    others = [v for k, v in seeds.items() if k != strategy]
    _, data = mutate(seeds[strategy], random.Random(seed), op=op, others=others)
    path = tmp_path_factory.getbasetemp() / "mutant.ncv"
    path.write_bytes(data)
    faulthandler.dump_traceback_later(60, exit=True)  # a deadlock in a codec library must fail the run, not hang it
    t0 = time.perf_counter()
    try:
        describe(path)
        for _ in DecodingAgent(path).frames():
            pass
    except NeurocodecError:
        pass
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert time.perf_counter() - t0 < 10, f"{strategy}/{op}/{seed}: slow to decode or refuse"
