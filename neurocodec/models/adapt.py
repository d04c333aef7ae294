"""What encode-time content adaptation of the enhancement network and its training share: the loss.

The ``hybrid`` encoder tunes the network's biases on each scene
(:func:`~neurocodec.models.enhance.adaptation_parameters`) with the loss
the network was trained with (:mod:`neurocodec.training.enhance`); it lives
here, beside the network, because strategies never import the training
code.
"""

from __future__ import annotations

import torch

__all__ = ["yuv_mse"]


def yuv_mse(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-sample YUV 6:1:1 weighted MSE of two (B,6,h,w) tensors (the weighting of PSNR-YUV)."""
    e = (out - ref) ** 2
    return (6 * e[:, :4].mean(dim=(1, 2, 3)) + e[:, 4].mean(dim=(1, 2)) + e[:, 5].mean(dim=(1, 2))) / 8
