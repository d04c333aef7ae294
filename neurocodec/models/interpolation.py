"""Motion-compensated frame interpolation between two decoded anchor frames (no learned parts).

Bidirectional optical flow between the anchors (OpenCV's DIS: T. Kroeger
et al., "Fast optical flow using dense inverse search", ECCV 2016), the
linear-motion approximation of the flow from the intermediate time to each
anchor (as in H. Jiang et al., "Super SloMo", CVPR 2018, without its
learned refinement), backward warping of both anchors, and a blend weighted
by temporal distance and by each flow's forward-backward consistency (a
pixel whose flow does not come back to itself is likely occluded on that
side, so the other anchor is trusted there).

Cost per output pixel, estimated from DIS's parameters rather than counted
by a tool (DIS is not a network). The "fast" preset works from 1/4
resolution down (finest scale 2: the flow is upsampled to full size), with
8x8 patches every 4 pixels, 16 gradient-descent iterations per patch and
5 variational refinement iterations: about 600 operations per pixel of a
pyramid level, and the levels together hold 1/12 of the full-size pixels,
so about 50 per output pixel, plus about 40 for the pyramid, gradients and
flow upsampling. Two flows, then the warps (bilinear, 8 multiply-adds per
sample, two anchors, 1.5 samples per pixel in 4:2:0), the consistency
check (two more warps of the flow) and the blend: about 300 operations per
interpolated pixel in all (:data:`OPS_PER_PIXEL`), far below the 50k
multiply-accumulate budget. Flows are computed once per anchor pair and
shared by the frames between them; the estimate charges them to every
interpolated frame.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..io.frame import Frame

__all__ = ["FlowPair", "estimate_flows", "interpolate", "OPS_PER_PIXEL"]

#: Estimated operations per output luma pixel of :func:`interpolate` (see the module docstring).
OPS_PER_PIXEL = 300


@contextmanager
def _one_thread():
    # OpenCV's thread pool is process-wide; DIS splits work by patches, and one thread guarantees that the
    # decoder's pixels do not depend on the machine's core count.
    import cv2  # why: OpenCV is heavy; imported when frames are interpolated

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


class FlowPair:
    """Flows between two anchors' luma planes, forward (a -> b) and backward (b -> a), float32 (H, W, 2)."""

    def __init__(self, forward: np.ndarray, backward: np.ndarray):
        self.forward, self.backward = forward, backward


def estimate_flows(a: Frame, b: Frame) -> FlowPair:
    import cv2  # why: OpenCV is heavy; imported when frames are interpolated

    with _one_thread():
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        fwd = dis.calc(a.y, b.y, None)
        bwd = dis.calc(b.y, a.y, None)
    return FlowPair(fwd, bwd)


def _warp(plane: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``plane`` at (x, y) + flow (bilinear, borders replicated), float32."""
    import cv2  # why: OpenCV is heavy; imported when frames are interpolated

    h, w = plane.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(plane.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _consistency(flow: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Weight in (0, 1]: 1 where following ``flow`` then ``back`` returns to the start."""
    bx = _warp(back[..., 0], flow)
    by = _warp(back[..., 1], flow)
    err = (flow[..., 0] + bx) ** 2 + (flow[..., 1] + by) ** 2
    return 1.0 / (1.0 + err)


def interpolate(a: Frame, b: Frame, alpha: float, flows: FlowPair | None = None) -> Frame:
    """The frame at fraction ``alpha`` (0 < alpha < 1) of the way from anchor ``a`` to anchor ``b``."""
    import cv2  # why: OpenCV is heavy; imported when frames are interpolated

    flows = flows or estimate_flows(a, b)
    # Linear motion: from time alpha, a pixel came from -alpha * F_ab in a and goes to (1 - alpha) * F_ba in b.
    to_a = -alpha * flows.forward
    to_b = -(1 - alpha) * flows.backward
    wa = (1 - alpha) * _consistency(flows.forward, flows.backward)
    wb = alpha * _consistency(flows.backward, flows.forward)
    out = []
    for plane_a, plane_b, sub in ((a.y, b.y, 1), (a.u, b.u, 2), (a.v, b.v, 2)):
        fa, fb, ka, kb = to_a, to_b, wa, wb
        if sub == 2:
            size = (plane_a.shape[1], plane_a.shape[0])
            fa = cv2.resize(to_a, size, interpolation=cv2.INTER_AREA) / 2
            fb = cv2.resize(to_b, size, interpolation=cv2.INTER_AREA) / 2
            ka = cv2.resize(wa, size, interpolation=cv2.INTER_AREA)
            kb = cv2.resize(wb, size, interpolation=cv2.INTER_AREA)
        mixed = (ka * _warp(plane_a, fa) + kb * _warp(plane_b, fb)) / np.maximum(ka + kb, 1e-6)
        out.append(np.clip(np.round(mixed), 0, 255).astype(np.uint8))
    return Frame(*out)
