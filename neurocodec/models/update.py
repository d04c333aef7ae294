"""A scene's update of the enhancement network: its parts, quantisation, rANS coding, and folding it in.

The ``hybrid`` encoder overfits the shipped network to each scene and sends
the change, in the spirit of overfitted and content-adaptive post-filters
(e.g. Y.-H. Lam et al., "Efficient adaptation of neural network filter for
video compression", ACM MM 2020; M. Santamaria et al., "Overfitting
multiplicative parameters for content-adaptive post-filtering in video
coding", ICASSP 2023). An update is made of *groups*, which the encoder
picks per scene by rate-distortion:

- ``bias``: an additive change of every layer's biases;
- ``gain``: a per-output-channel multiplicative change of every layer's
  weights (``w * (1 + g)``);
- ``tail``: an additive change of the output layer's weights;
- ``head``: an additive change of the input layer's weights.

Every group is folded into a copy of the network before it runs
(:func:`apply_update`), so the decoder's cost in MACs per pixel does not
change. Values are integers (``value * 2**-exponent``) coded with
:mod:`.rans` under a geometric prior per group, so both sides fold exactly
the same numbers.

Wire form (inside the hybrid payload)::

    u8      groups present (bit 0 bias, 1 gain, 2 tail, 3 head)
    per group present, in that order: u8 step exponent, u8 prior index
    varint  length, then the rANS stream of all values (group order,
            each group's tensors in :func:`group_tensors` order, row-major)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..bitstream.chunks import Cursor, encode_varint
from . import rans
from .enhance import EnhanceNet

__all__ = ["GROUPS", "NetworkUpdate", "group_tensors", "apply_update", "forward_with", "quantize",
           "write_update", "read_update"]

GROUPS = ("bias", "gain", "tail", "head")
_MAX_EXPONENT = 20
_MAX_STREAM = 1 << 20


def _layers(net: EnhanceNet):
    return [net.head, *net.body, net.tail]


def group_tensors(net: EnhanceNet, group: str) -> list[torch.Tensor]:
    """The shapes an update's ``group`` has for ``net``, as zero tensors (one per tensor it changes)."""
    if group in ("bias", "gain"):
        return [torch.zeros(conv.out_channels) for conv in _layers(net)]
    if group == "tail":
        return [torch.zeros_like(net.tail.weight)]
    if group == "head":
        return [torch.zeros_like(net.head.weight)]
    raise ValueError(f"unknown update group {group!r}")


@dataclass
class NetworkUpdate:
    """A quantised update: per group, its step exponent and integer values (int64 tensors)."""

    exponents: dict[str, int]
    values: dict[str, list[torch.Tensor]]

    def deltas(self) -> dict[str, list[torch.Tensor]]:
        """The float changes the values stand for (exact: integers times a power of two)."""
        return {g: [v.float() / (1 << self.exponents[g]) for v in vs] for g, vs in self.values.items()}

    def count(self) -> int:
        return sum(v.numel() for vs in self.values.values() for v in vs)


def quantize(deltas: dict[str, list[torch.Tensor]], exponents: dict[str, int]) -> NetworkUpdate:
    """Round float changes to steps of ``2**-exponent`` per group, clamped to the coder's range."""
    values = {g: [torch.round(d.detach() * (1 << exponents[g])).clamp(-rans.LIMIT, rans.LIMIT).long() for d in ds]
              for g, ds in deltas.items()}
    return NetworkUpdate({g: exponents[g] for g in deltas}, values)


def _weights_and_biases(net: EnhanceNet, deltas: dict[str, list[torch.Tensor]] | None):
    """Each layer's effective (weight, bias) with ``deltas`` folded in (differentiable in the deltas)."""
    deltas = deltas or {}
    out = []
    last = len(_layers(net)) - 1
    for i, conv in enumerate(_layers(net)):
        w, b = conv.weight, conv.bias
        if "head" in deltas and i == 0:
            w = w + deltas["head"][0]
        if "tail" in deltas and i == last:
            w = w + deltas["tail"][0]
        if "gain" in deltas:
            w = w * (1 + deltas["gain"][i])[:, None, None, None]
        if "bias" in deltas:
            b = b + deltas["bias"][i]
        out.append((w, b))
    return out


def apply_update(net: EnhanceNet, deltas: dict[str, list[torch.Tensor]] | None) -> EnhanceNet:
    """A copy of ``net`` with ``deltas`` folded into its weights and biases (``net`` itself is shared: unchanged)."""
    if not deltas:
        return net
    work = copy.deepcopy(net)
    with torch.no_grad():
        for conv, (w, b) in zip(_layers(work), _weights_and_biases(net, deltas)):
            conv.weight.copy_(w)
            conv.bias.copy_(b)
    return work


def forward_with(net: EnhanceNet, x: torch.Tensor, scale_index: int, deltas: dict[str, list[torch.Tensor]]):
    """``net(x, scale_index)`` as :func:`apply_update` would make it, differentiable in ``deltas`` (fine-tuning)."""
    c = net.channels
    sb = net.scale_bias[scale_index]
    layers = _weights_and_biases(net, deltas)
    h = x - 0.5
    for i, (w, b) in enumerate(layers):
        h = F.conv2d(h, w, b + sb[c * i : c * i + w.shape[0]], padding=1)
        if i < len(layers) - 1:
            h = F.relu(h)
    return x + h


def write_update(update: NetworkUpdate) -> bytes:
    """The wire form of an update (see the module docstring); each group gets the prior that codes it best."""
    mask, head, values, priors = 0, b"", [], []
    for bit, g in enumerate(GROUPS):
        if g not in update.values:
            continue
        flat = [int(v) for t in update.values[g] for v in t.reshape(-1).tolist()]
        p = rans.best_prior(flat)
        mask |= 1 << bit
        head += bytes([update.exponents[g], p])
        values += flat
        priors += [p] * len(flat)
    stream = rans.encode(values, priors)
    return bytes([mask]) + head + encode_varint(len(stream)) + stream


def read_update(cur: Cursor, net: EnhanceNet) -> NetworkUpdate:
    """Read an update for ``net`` (its shapes say how many values each group holds).

    Raises:
        NcvFormatError: Unknown groups, an exponent or prior out of range, or a bad stream.
    """
    mask = cur.u8("update groups")
    if mask == 0 or mask >> len(GROUPS):
        raise cur.error(f"hybrid update group mask {mask:#x} is not a non-empty set of {len(GROUPS)} groups")
    present = [g for bit, g in enumerate(GROUPS) if mask >> bit & 1]
    exponents, priors, shapes = {}, [], {}
    for g in present:
        e, p = cur.u8(f"{g} step exponent"), cur.u8(f"{g} prior")
        if e > _MAX_EXPONENT:
            raise cur.error(f"hybrid update {g} step exponent {e} is above {_MAX_EXPONENT}")
        if p >= len(rans.PRIORS):
            raise cur.error(f"hybrid update {g} prior {p} is not one of 0..{len(rans.PRIORS) - 1}")
        exponents[g] = e
        shapes[g] = [t.shape for t in group_tensors(net, g)]
        priors += [p] * sum(s.numel() for s in shapes[g])
    stream = bytes(cur.blob("update stream", _MAX_STREAM))
    flat = torch.tensor(rans.decode(stream, priors, "hybrid update stream"), dtype=torch.int64)
    values, pos = {}, 0
    for g in present:
        values[g] = []
        for s in shapes[g]:
            values[g].append(flat[pos : pos + s.numel()].reshape(s))
            pos += s.numel()
    return NetworkUpdate(exponents, values)
