"""Encode-time content adaptation of the enhancement network: the loss, and overfitting it to a scene.

The ``hybrid`` encoder tunes a copy of the shipped network on the scene it
codes (it has the originals) and sends the change
(:mod:`neurocodec.models.update`). The loss is the one the network was
trained with (:mod:`neurocodec.training.enhance`); both live here, beside
the network, because strategies never import the training code.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from .enhance import EnhanceNet
from .update import forward_with, group_tensors

__all__ = ["yuv_mse", "overfit", "one_thread", "spread", "STAGES"]

#: What each half of the fine-tuning tunes: first the cheap groups, then the output and input layers as well.
STAGES = (("bias", "gain"), ("bias", "gain", "tail", "head"))
_LR = 1e-3
_BATCH = 8
_CROP = 64  # half-resolution crop (128 luma pixels)


def yuv_mse(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-sample YUV 6:1:1 weighted MSE of two (B,6,h,w) tensors (the weighting of PSNR-YUV)."""
    e = (out - ref) ** 2
    return (6 * e[:, :4].mean(dim=(1, 2, 3)) + e[:, 4].mean(dim=(1, 2)) + e[:, 5].mean(dim=(1, 2))) / 8


def overfit(net: EnhanceNet, x: torch.Tensor, ref: torch.Tensor, scale_index: int, steps: int,
            seed: int = 0) -> list[dict[str, list[torch.Tensor]]]:
    """Fine-tune changes of ``net`` on one scene, in :data:`STAGES`; the changes reached at the end of each stage.

    Args:
        net: The shipped network (not modified).
        x: The scene's upscaled base decode, (N,6,h,w) in 0..1 (a few frames spread over the scene).
        ref: The matching originals, same shape.
        scale_index: The base scale the network serves.
        steps: Adam steps in all, split evenly between the stages (cosine learning rate in each).
        seed: Of the random crops: the same inputs and seed give the same changes.

    Returns:
        Per stage, the float changes of its groups (:func:`neurocodec.models.update.group_tensors` shapes).
    """
    if x.shape != ref.shape or x.ndim != 4 or x.shape[1] != 6:
        raise ValueError(f"overfit wants two (N,6,h,w) tensors of one shape, got {tuple(x.shape)} and {tuple(ref.shape)}")
    gen = torch.Generator().manual_seed(seed)
    ch, cw = min(_CROP, x.shape[-2]), min(_CROP, x.shape[-1])
    deltas: dict[str, list[torch.Tensor]] = {}
    out = []
    for s, groups in enumerate(STAGES):
        for g in groups:
            deltas.setdefault(g, [t.requires_grad_(True) for t in group_tensors(net, g)])
        opt = _Adam([t for g in groups for t in deltas[g]])
        n = steps // len(STAGES) + (1 if s < steps % len(STAGES) else 0)
        for k in range(n):
            i = torch.randint(len(x), (_BATCH,), generator=gen)
            oy = int(torch.randint(x.shape[-2] - ch + 1, (1,), generator=gen))
            ox = int(torch.randint(x.shape[-1] - cw + 1, (1,), generator=gen))
            xb, rb = x[i, :, oy : oy + ch, ox : ox + cw], ref[i, :, oy : oy + ch, ox : ox + cw]
            loss = yuv_mse(forward_with(net, xb, scale_index, deltas), rb).mean()
            loss.backward()
            opt.step(_LR * 0.5 * (1 + math.cos(math.pi * k / n)))
        out.append({g: [t.detach().clone() for t in deltas[g]] for g in groups})
    return out


class _Adam:
    """Adam (D. P. Kingma and J. Ba, ICLR 2015) for a few tensors.

    ``torch.optim`` imports TorchDynamo on its first step, which took 5-25 s
    in a fresh encoder process here; this is the same update in a few lines.
    """

    def __init__(self, params: list[torch.Tensor], betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.betas, self.eps, self.t = params, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, lr: float) -> None:
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.sub_(lr / c1 * m / ((v / c2).sqrt() + self.eps))
            p.grad = None


@contextmanager
def one_thread() -> Iterator[None]:
    """PyTorch on one CPU thread for the block (restored after).

    Training steps are not thread-count independent, even with PyTorch's
    native convolutions (their gradients differed in the 5th digit between 1
    and 2 threads here), and the fine-tuned update is part of the bytes.
    oneDNN on one thread was the fastest deterministic choice here (229 ms a
    step against 655 with the native convolutions); scenes run in parallel
    on workers instead.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def spread(n: int, count: int, offset: float = 0.0) -> Sequence[int]:
    """At most ``count`` evenly spaced indexes of ``0..n-1`` (``offset`` in steps shifts them, e.g. 0.5: between)."""
    k = min(count, n)
    if k <= 1:
        return [0]
    step = (n - 1) / (k - 1)
    return sorted({min(n - 1, round(i * step + offset * step)) for i in range(k)})
