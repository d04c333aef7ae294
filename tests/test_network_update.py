"""hybrid's per-scene network update: the rANS coder, the update's wire form, folding, and overfitting."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from neurocodec.bitstream.chunks import Cursor  # noqa: E402
from neurocodec.errors import NcvFormatError  # noqa: E402
from neurocodec.models import rans  # noqa: E402
from neurocodec.models.adapt import one_thread, overfit, spread  # noqa: E402
from neurocodec.models.enhance import EnhanceNet  # noqa: E402
from neurocodec.models.update import GROUPS, apply_update, forward_with, quantize, read_update, write_update  # noqa: E402


def test_priors_are_exact_integer_tables():
    for i in range(len(rans.PRIORS)):
        freqs, starts = rans.prior(i)
        assert sum(freqs) == 1 << rans.PROB_BITS and min(freqs) >= 1
        assert freqs[rans.LIMIT] == max(freqs) and freqs[rans.LIMIT - 1] == freqs[rans.LIMIT + 1]
        assert starts[0] == 0 and starts[-1] + freqs[-1] == 1 << rans.PROB_BITS
    with pytest.raises(ValueError):
        rans.prior(len(rans.PRIORS))


def test_rans_round_trip_codes_near_the_entropy():
    import math
    from collections import Counter

    rng = random.Random(3)
    values = [max(-63, min(63, round(rng.gauss(0, 2.5)))) for _ in range(4000)] + [63, -63]
    priors = [rans.best_prior(values)] * len(values)
    data = rans.encode(values, priors)
    assert rans.decode(data, priors) == values
    counts = Counter(values)
    entropy_bytes = -sum(n * math.log2(n / len(values)) for n in counts.values()) / 8
    assert entropy_bytes < len(data) < 1.05 * entropy_bytes + 8
    mixed = [0, 1, -1, 5] * 10
    assert rans.decode(rans.encode(mixed, [0, 11] * 20), [0, 11] * 20) == mixed
    with pytest.raises(ValueError, match="outside"):
        rans.encode([64], [0])


def test_rans_rejects_short_long_and_corrupt_streams():
    values = [random.Random(1).randint(-5, 5) for _ in range(500)]
    priors = [4] * len(values)
    data = rans.encode(values, priors)
    for bad, what in ((data[:3], "shorter than"), (data[:-1], "ends early|corrupt"), (data + b"\0", "corrupt"),
                      (bytes([data[0] ^ 0x40]) + data[1:], "ends early|corrupt")):
        with pytest.raises(NcvFormatError, match=what):
            rans.decode(bad, priors)


def _net():
    torch.manual_seed(0)
    return EnhanceNet(8, 2)


def _deltas(net, scale=0.01):
    from neurocodec.models.update import group_tensors

    g = torch.Generator().manual_seed(1)
    return {k: [torch.randn(t.shape, generator=g) * scale for t in group_tensors(net, k)] for k in GROUPS}


def test_update_round_trip_and_folding_matches_the_differentiable_form():
    net = _net()
    q = quantize(_deltas(net), {"bias": 9, "gain": 7, "tail": 9, "head": 9})
    data = write_update(q)
    back = read_update(Cursor(data + b"rest"), net)
    assert back.exponents == q.exponents
    for g in GROUPS:
        assert all(torch.equal(a, b) for a, b in zip(back.values[g], q.values[g]))
    x = torch.rand(2, 6, 12, 10)
    folded = apply_update(net, back.deltas())
    assert folded is not net and not torch.equal(folded.tail.weight, net.tail.weight)
    with torch.no_grad():
        assert torch.allclose(folded(x, 1), forward_with(net, x, 1, back.deltas()), atol=1e-5)
    assert apply_update(net, None) is net


@pytest.mark.parametrize("mutate, message", [
    (lambda d: bytes([0]) + d[1:], "group mask"),
    (lambda d: bytes([0x10 | d[0]]) + d[1:], "group mask"),
    (lambda d: d[:1] + bytes([21]) + d[2:], "exponent 21"),
    (lambda d: d[:2] + bytes([len(rans.PRIORS)]) + d[3:], "prior"),
    (lambda d: d[:-1], "remain"),
    (lambda d: d[:-3] + bytes([d[-3] ^ 1]) + d[-2:], "ends early|corrupt"),
])
def test_hostile_updates_are_format_errors(mutate, message):
    net = _net()
    data = write_update(quantize({k: v for k, v in _deltas(net).items() if k in ("bias", "gain")}, {"bias": 9, "gain": 7}))
    with pytest.raises(NcvFormatError, match=message):
        read_update(Cursor(mutate(data)), net)


def test_overfitting_lowers_the_scene_error_and_is_deterministic_across_threads():
    """Each stage's change makes the network fit the scene better; the same inputs give the same change."""
    from neurocodec.models.adapt import yuv_mse

    net = _net()
    g = torch.Generator().manual_seed(2)
    ref = torch.rand(4, 6, 24, 24, generator=g)
    x = ref * 0.8 + 0.1  # a contrast loss that per-channel gains and biases can undo
    before = torch.get_num_threads()
    try:
        runs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with one_thread():
                runs.append(overfit(net, x, ref, 0, 60))
    finally:
        torch.set_num_threads(before)
    stages = runs[0]
    assert [sorted(s) for s in stages] == [["bias", "gain"], ["bias", "gain", "head", "tail"]]
    for a, b in zip(*runs):
        assert all(torch.equal(u, v) for k in a for u, v in zip(a[k], b[k]))
    with torch.no_grad():
        plain = float(yuv_mse(net(x, 0), ref).mean())
        tuned = float(yuv_mse(apply_update(net, stages[1])(x, 0), ref).mean())
    assert tuned < 0.9 * plain
    assert torch.get_num_threads() == before


def test_spread_picks_evenly_spaced_frames():
    assert spread(1, 8) == [0]
    assert spread(5, 8) == [0, 1, 2, 3, 4]
    assert spread(100, 4) == [0, 33, 66, 99]
    assert spread(100, 4, 0.5) == [16, 50, 82, 99]
