"""Resampling 4:2:0 frames (the ``hybrid`` strategy's reduced-resolution base layer).

Bicubic, with antialiasing when shrinking, done by PyTorch in float32 and
rounded to 8 bits. Used identically by the encoder (downscale before the
base encode, upscale of the decoded base) and the decoder (upscale), so the
enhancement network always sees what it was trained on.
"""

from __future__ import annotations

import numpy as np

from .frame import Frame

__all__ = ["resize_frame", "scaled_size"]


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """Even width and height of a frame scaled by ``scale`` (at least 16 x 16)."""
    return max(16, round(width * scale / 2) * 2), max(16, round(height * scale / 2) * 2)


def resize_frame(frame: Frame, width: int, height: int) -> Frame:
    """``frame`` resampled to ``width`` x ``height`` (both even)."""
    # heavy: torch loads only when a frame is actually resampled (hybrid strategy)
    import torch
    import torch.nn.functional as F

    if (frame.width, frame.height) == (width, height):
        return frame
    if width % 2 or height % 2:
        raise ValueError(f"resize target must be even, got {width}x{height}")
    out = []
    for plane, (w, h) in ((frame.y, (width, height)), (frame.u, (width // 2, height // 2)), (frame.v, (width // 2, height // 2))):
        t = torch.from_numpy(np.ascontiguousarray(plane)).float()[None, None]
        shrink = w < plane.shape[1] or h < plane.shape[0]
        r = F.interpolate(t, size=(h, w), mode="bicubic", align_corners=False, antialias=shrink)
        out.append(r[0, 0].round().clamp(0, 255).to(torch.uint8).numpy())
    return Frame(*out)
