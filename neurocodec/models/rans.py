"""A small static-model rANS coder with integer priors: the entropy coder of ``hybrid``'s network updates.

Range asymmetric numeral systems (J. Duda, "Asymmetric numeral systems:
entropy coding combining speed of Huffman coding with compression rate of
arithmetic coding", arXiv:1311.2540, 2013), in the byte-wise form of
F. Giesen's ``rans_byte``: a 32-bit state kept in ``[2**23, 2**31)``,
renormalised a byte at a time, probabilities in units of ``2**-15``.

The priors are symmetric geometric distributions (a discretised Laplacian)
over the symbols ``-LIMIT..LIMIT``, built with integer arithmetic only, so
encoder and decoder derive identical frequency tables on any machine.
Values are few (hundreds to a few thousand per scene), so this is plain
Python; the decoder reads a bounded number of symbols, checks every byte
it needs is there, and checks the final state, which catches corrupt
streams.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

from ..errors import NcvFormatError

__all__ = ["LIMIT", "PRIORS", "prior", "encode", "decode", "best_prior"]

PROB_BITS = 15
_TOTAL = 1 << PROB_BITS
_LOW = 1 << 23
#: Symbols are integers in -LIMIT..LIMIT (the encoder clamps to this range before coding).
LIMIT = 63
#: Decay of each prior, as (numerator, denominator): P(|v| = k+1) / P(|v| = k). Index 0 is the sharpest.
PRIORS = ((1, 32), (1, 8), (1, 4), (3, 8), (1, 2), (5, 8), (11, 16), (3, 4), (13, 16), (7, 8), (15, 16), (31, 32))


@cache
def prior(index: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Frequencies and cumulative starts (``2**15`` in all) of prior ``index`` over ``-LIMIT..LIMIT``.

    Raises:
        ValueError: ``index`` is not one of :data:`PRIORS`.
    """
    if not 0 <= index < len(PRIORS):
        raise ValueError(f"rANS prior {index} is not one of 0..{len(PRIORS) - 1}")
    num, den = PRIORS[index]
    mags, m = [], 1 << 40
    for _ in range(LIMIT + 1):
        mags.append(m)
        m = m * num // den
    raw = [mags[abs(v)] for v in range(-LIMIT, LIMIT + 1)]
    spare = _TOTAL - len(raw)  # every symbol keeps at least 1 (a clamped outlier stays codable)
    whole = sum(raw)
    freqs = [1 + r * spare // whole for r in raw]
    freqs[LIMIT] += _TOTAL - sum(freqs)  # rounding remainder to the zero symbol
    starts, acc = [], 0
    for f in freqs:
        starts.append(acc)
        acc += f
    return tuple(freqs), tuple(starts)


def encode(values: Sequence[int], priors: Sequence[int]) -> bytes:
    """rANS stream of ``values`` (each in ``-LIMIT..LIMIT``), value ``i`` coded with prior ``priors[i]``."""
    if len(values) != len(priors):
        raise ValueError("one prior per value")
    out = bytearray()
    x = _LOW
    for v, p in zip(reversed(values), reversed(priors)):
        if not -LIMIT <= v <= LIMIT:
            raise ValueError(f"rANS value {v} is outside -{LIMIT}..{LIMIT}")
        freqs, starts = prior(p)
        f, s = freqs[v + LIMIT], starts[v + LIMIT]
        x_max = ((_LOW >> PROB_BITS) << 8) * f
        while x >= x_max:
            out.append(x & 0xFF)
            x >>= 8
        x = ((x // f) << PROB_BITS) + (x % f) + s
    out += x.to_bytes(4, "little")
    return bytes(reversed(out))


@cache
def _slots(index: int) -> bytes:
    """Symbol (offset by LIMIT) of every one of the 2**15 slots of prior ``index``."""
    freqs, _ = prior(index)
    return bytes(s for s, f in enumerate(freqs) for _ in range(f))


def decode(data: bytes, priors: Sequence[int], what: str = "rANS stream") -> list[int]:
    """The values :func:`encode` coded (one per prior in ``priors``).

    Raises:
        NcvFormatError: The stream is too short, too long or corrupt.
    """
    if len(data) < 4:
        raise NcvFormatError(f"{what} is {len(data)} bytes, shorter than a rANS state")
    x, pos, out = int.from_bytes(data[3::-1], "little"), 4, []
    for p in priors:
        freqs, starts = prior(p)
        slot = x & (_TOTAL - 1)
        sym = _slots(p)[slot]
        out.append(sym - LIMIT)
        x = freqs[sym] * (x >> PROB_BITS) + slot - starts[sym]
        while x < _LOW:
            if pos >= len(data):
                raise NcvFormatError(f"{what} ends early")
            x = (x << 8) | data[pos]
            pos += 1
    if pos != len(data) or x != _LOW:
        raise NcvFormatError(f"{what} is corrupt (its final state or length does not match)")
    return out


def best_prior(values: Sequence[int]) -> int:
    """The prior that codes ``values`` (one group sharing a prior) in the fewest bits (ties: the lower index)."""
    counts: dict[int, int] = {}
    for v in values:
        counts[abs(v)] = counts.get(abs(v), 0) + 1
    best, best_bits = 0, math.inf
    for i in range(len(PRIORS)):
        freqs, _ = prior(i)
        bits = sum(-n * math.log2(freqs[LIMIT + k] / _TOTAL) for k, n in counts.items())
        if bits < best_bits - 1e-9:
            best, best_bits = i, bits
    return best
