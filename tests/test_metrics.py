"""Quality metrics checked against independent implementations.

PSNR is checked against a by-hand numpy formula and scikit-image, SSIM against
``skimage.metrics.structural_similarity`` with the Wang et al. settings, and
MS-SSIM against ``pytorch_msssim``.
"""

from __future__ import annotations

import importlib
import io
import math

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from neurocodec.io.frame import Frame
from neurocodec.io.synthetic import pan_zoom
from neurocodec.metrics import (
    MS_SSIM_MIN_SIDE,
    PSNR_CAP,
    QualityAccumulator,
    VideoQuality,
    compare_frames,
    frame_quality,
    ms_ssim,
    mse,
    psnr,
    psnr_yuv,
    ssim,
)

# --------------------------------------------------------------------------- helpers


def _gray(name: str) -> np.ndarray:
    img = getattr(data, name)()
    if img.ndim == 3:
        img = np.rint(img[..., :3] @ np.array([0.299, 0.587, 0.114])).clip(0, 255)
    return np.ascontiguousarray(img.astype(np.uint8))


PHOTOS = {name: _gray(name) for name in ("camera", "astronaut", "coffee", "chelsea")}


def _noise(a: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(a + rng.normal(0.0, sigma, a.shape)), 0, 255).astype(np.uint8)


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    return np.clip(np.rint(gaussian_filter(a.astype(np.float64), sigma)), 0, 255).astype(np.uint8)


def _jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("L")).copy()


DISTORTIONS = {
    "noise3": lambda a: _noise(a, 3.0),
    "noise25": lambda a: _noise(a, 25.0),
    "blur1": lambda a: _blur(a, 1.0),
    "blur2.5": lambda a: _blur(a, 2.5),
    "jpeg10": lambda a: _jpeg(a, 10),
    "jpeg60": lambda a: _jpeg(a, 60),
}


def _crop(name: str, h: int, w: int, y0: int = 17, x0: int = 23) -> np.ndarray:
    return np.ascontiguousarray(PHOTOS[name][y0 : y0 + h, x0 : x0 + w])


def _distort_frame(frame: Frame, sigma: float, seed: int) -> Frame:
    return Frame(*(_noise(p, sigma, seed + i) for i, p in enumerate(frame.planes())))


# --------------------------------------------------------------------------- PSNR


@pytest.mark.parametrize("sigma", [0.5, 2.0, 10.0, 40.0])
@pytest.mark.parametrize("shape", [(64, 96), (47, 75), (1, 1), (3, 200)])
def test_psnr_matches_numpy_and_skimage(shape, sigma):
    rng = np.random.default_rng(int(sigma * 10) + shape[0])
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = _noise(a, sigma, seed=shape[1])
    if np.array_equal(a, b):
        b = a.copy()
        b.flat[0] ^= 1
    diff = a.astype(np.float64) - b.astype(np.float64)
    by_hand = 10.0 * math.log10(255.0**2 / np.mean(diff**2))
    assert mse(a, b) == pytest.approx(np.mean(diff**2), rel=1e-12)
    assert psnr(a, b) == pytest.approx(by_hand, rel=1e-12)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), rel=1e-12)


@pytest.mark.parametrize("name", sorted(PHOTOS))
@pytest.mark.parametrize("kind", sorted(DISTORTIONS))
def test_psnr_on_photos_matches_skimage(name, kind):
    a = _crop(name, 120, 160)
    b = DISTORTIONS[kind](a)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), rel=1e-12)


def test_psnr_does_not_wrap_uint8():
    a = np.zeros((8, 8), np.uint8)
    b = np.full((8, 8), 255, np.uint8)
    assert mse(a, b) == 255.0**2
    assert psnr(a, b) == pytest.approx(0.0, abs=1e-12)
    assert psnr(b, a) == pytest.approx(0.0, abs=1e-12)


def test_psnr_identical_planes_capped_at_100():
    assert PSNR_CAP == 100.0
    a = PHOTOS["camera"]
    assert psnr(a, a.copy()) == 100.0
    assert math.isfinite(psnr(a, a))
    # A difference so small that the true PSNR exceeds the cap is capped too:
    # 512x512 pixels, one off by 1 -> 10*log10(255^2 * 262144) = 102.3 dB.
    b = a.copy()
    b[0, 0] ^= 1
    assert 10 * math.log10(255.0**2 * a.size) > 100
    assert psnr(a, b) == 100.0
    # ...while a slightly larger one is not.
    b = a.copy()
    b[:4, :4] ^= 1
    assert psnr(a, b) == pytest.approx(10 * math.log10(255.0**2 * a.size / 16), rel=1e-12)
    assert psnr(a, b) < 100.0


def test_mse_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        mse(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8))


def test_psnr_yuv_weights_6_1_1():
    assert psnr_yuv(40.0, 30.0, 20.0) == pytest.approx((6 * 40 + 30 + 20) / 8)
    assert psnr_yuv(40.0, 40.0, 40.0) == pytest.approx(40.0)
    # Luma counts six times as much as each chroma plane.
    assert psnr_yuv(41.0, 40.0, 40.0) - 40.0 == pytest.approx(6 / 8)
    assert psnr_yuv(40.0, 41.0, 40.0) - 40.0 == pytest.approx(1 / 8)
    assert psnr_yuv(40.0, 40.0, 41.0) - 40.0 == pytest.approx(1 / 8)


@pytest.mark.parametrize("size", [(96, 64), (75, 47)])
def test_frame_quality_psnr_planes_and_yuv(size):
    ref = next(pan_zoom(*size, 1))
    dist = Frame(_noise(ref.y, 3.0, 3), _noise(ref.u, 6.0, 1), _noise(ref.v, 1.5, 2))
    q = frame_quality(ref, dist)
    py, pu, pv = (peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(ref.planes(), dist.planes()))
    assert (q.psnr_y, q.psnr_u, q.psnr_v) == pytest.approx((py, pu, pv), rel=1e-12)
    assert q.psnr_yuv == pytest.approx((6 * py + pu + pv) / 8, rel=1e-12)
    # The planes differ, so the weighting is visible.
    assert q.psnr_yuv != pytest.approx((py + pu + pv) / 3, rel=1e-6)
    assert q.ssim == pytest.approx(ssim(ref.y, dist.y), rel=1e-12)
    assert q.ms_ssim is None  # frames under 161 pixels


# --------------------------------------------------------------------------- SSIM


def _sk_ssim(a, b):
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )


@pytest.mark.parametrize("kind", sorted(DISTORTIONS))
@pytest.mark.parametrize(
    "name, h, w",
    [
        ("camera", 200, 300),
        ("astronaut", 157, 201),
        ("coffee", 64, 96),
        ("chelsea", 47, 75),
        ("camera", 11, 11),
        ("coffee", 11, 40),
    ],
)
def test_ssim_matches_skimage(name, h, w, kind):
    a = _crop(name, h, w)
    b = DISTORTIONS[kind](a)
    ours, ref = ssim(a, b), _sk_ssim(a, b)
    assert ours == pytest.approx(ref, abs=1e-8)
    assert ssim(b, a) == pytest.approx(ours, abs=1e-12)  # symmetric


def test_ssim_orders_distortions_sensibly():
    a = _crop("astronaut", 160, 200)
    assert ssim(a, _noise(a, 3.0)) > ssim(a, _noise(a, 25.0))
    assert ssim(a, _blur(a, 1.0)) > ssim(a, _blur(a, 2.5))
    assert ssim(a, _jpeg(a, 60)) > ssim(a, _jpeg(a, 10))


def test_ssim_of_unrelated_or_inverted_content():
    a = _crop("camera", 100, 120)
    b = _crop("coffee", 100, 120)
    assert ssim(a, b) == pytest.approx(_sk_ssim(a, b), abs=1e-8)
    inv = (255 - a).astype(np.uint8)
    assert ssim(a, inv) == pytest.approx(_sk_ssim(a, inv), abs=1e-8)
    texture = np.random.default_rng(5).integers(0, 256, (40, 50), dtype=np.uint8)
    anti = (255 - texture).astype(np.uint8)
    assert ssim(texture, anti) == pytest.approx(_sk_ssim(texture, anti), abs=1e-8)
    assert ssim(texture, anti) < 0  # structure anti-correlated


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_ssim_identical_is_one(name):
    a = _crop(name, 99, 131)
    assert ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)
    flat = np.full((20, 20), 77, np.uint8)
    assert ssim(flat, flat) == pytest.approx(1.0, abs=1e-12)


def test_ssim_rejects_bad_shapes():
    a = np.zeros((32, 32), np.uint8)
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(a, np.zeros((32, 33), np.uint8))
    with pytest.raises(ValueError, match="2-D"):
        ssim(np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="11"):
        ssim(np.zeros((10, 40), np.uint8), np.zeros((10, 40), np.uint8))


# --------------------------------------------------------------------------- MS-SSIM
#
# pytorch_msssim computes the same quantities (Gaussian 11x11 window, sigma 1.5,
# valid-region means, cs clamped at 0, 2x2 average pooling, same exponents) but
#   * builds its window in float32, so even on float64 input the result moves
#     by up to ~1e-5; with an exactly computed float64 window passed as ``win``
#     the two agree to ~1e-14 (measured) on sizes that stay even through the
#     four halvings (multiples of 16);
#   * pools odd sides with ``avg_pool2d(padding=1)``, i.e. a zero row/column on
#     both sides counted in the average, where neurocodec repeats the last
#     row/column (as the reference MATLAB code does). That moves values by up to
#     ~2e-2 (measured 1.7e-2 for a 161x161 crop blurred with sigma 2); emulating
#     its pooling inside neurocodec's ms_ssim brings the agreement back to ~1e-14.


def _float64_window():
    import torch

    x = np.arange(11, dtype=np.float64) - 5
    g = np.exp(-(x**2) / (2 * 1.5**2))
    return torch.from_numpy(g / g.sum()).reshape(1, 1, 1, 11)


def _torch_ms_ssim(a, b, *, exact_window=True, dtype=None):
    torch = pytest.importorskip("torch")
    pm = pytest.importorskip("pytorch_msssim")
    dtype = dtype or torch.float64
    x = torch.from_numpy(a.astype(np.float64)).to(dtype)[None, None]
    y = torch.from_numpy(b.astype(np.float64)).to(dtype)[None, None]
    kw = {"win": _float64_window()} if exact_window else {}
    # One thread: these images are small, and torch's thread pool crawls on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return float(pm.ms_ssim(x, y, data_range=255, win_size=11, win_sigma=1.5, **kw))
    finally:
        torch.set_num_threads(threads)


def _torch_like_halve(p):
    """pytorch_msssim's pooling: avg_pool2d(kernel 2, padding=side % 2), zeros counted."""
    h, w = p.shape
    p = np.pad(p, ((h % 2, h % 2), (w % 2, w % 2)))
    h2, w2 = (p.shape[0] // 2) * 2, (p.shape[1] // 2) * 2
    return p[:h2, :w2].reshape(h2 // 2, 2, w2 // 2, 2).mean(axis=(1, 3))


MS_CASES_EVEN = [("camera", 176, 176), ("astronaut", 288, 352), ("coffee", 192, 256), ("chelsea", 256, 176)]
MS_CASES_ODD = [("camera", 161, 161), ("astronaut", 177, 181), ("coffee", 170, 250), ("chelsea", 199, 211)]


@pytest.mark.parametrize("kind", sorted(DISTORTIONS))
@pytest.mark.parametrize("name, h, w", MS_CASES_EVEN)
def test_ms_ssim_matches_pytorch_msssim(name, h, w, kind):
    a = _crop(name, h, w, 5, 7)
    b = DISTORTIONS[kind](a)
    ours = ms_ssim(a, b)
    assert ours is not None and 0 < ours <= 1
    assert ours == pytest.approx(_torch_ms_ssim(a, b), abs=1e-9)
    # pytorch_msssim's own float32 window (the default call) moves it by ~1e-5.
    assert ours == pytest.approx(_torch_ms_ssim(a, b, exact_window=False), abs=5e-5)


def test_ms_ssim_matches_pytorch_msssim_in_float32():
    torch = pytest.importorskip("torch")
    a = _crop("astronaut", 288, 352, 5, 7)
    for kind in ("noise3", "blur1", "jpeg10"):
        b = DISTORTIONS[kind](a)
        assert ms_ssim(a, b) == pytest.approx(_torch_ms_ssim(a, b, exact_window=False, dtype=torch.float32), abs=1e-4)


def test_ms_ssim_on_video_frames_matches_pytorch_msssim():
    ref, nxt = list(pan_zoom(192, 176, 2, image="chelsea", pan=(1.5, 0.5)))
    ours = ms_ssim(ref.y, nxt.y)
    assert ours == pytest.approx(_torch_ms_ssim(ref.y, nxt.y), abs=1e-9)
    assert frame_quality(ref, nxt).ms_ssim == pytest.approx(ours, abs=1e-15)


@pytest.mark.parametrize("kind", ["noise3", "noise25", "blur2.5", "jpeg10"])
@pytest.mark.parametrize("name, h, w", MS_CASES_ODD)
def test_ms_ssim_odd_sizes_differ_from_pytorch_only_by_pooling(monkeypatch, name, h, w, kind):
    ssim_module = importlib.import_module("neurocodec.metrics.ssim")

    a = _crop(name, h, w, 5, 7)
    b = DISTORTIONS[kind](a)
    ours = ms_ssim(a, b)
    theirs = _torch_ms_ssim(a, b)
    assert ours is not None and math.isfinite(ours)
    assert ours == pytest.approx(theirs, abs=3e-2)  # measured up to 1.7e-2, see above
    monkeypatch.setattr(ssim_module, "_halve", _torch_like_halve)
    assert ms_ssim(a, b) == pytest.approx(theirs, abs=1e-9)


def test_ms_ssim_identical_is_one():
    a = _crop("coffee", 200, 300)
    assert ms_ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ms_ssim_none_below_161_pixels():
    assert MS_SSIM_MIN_SIDE == 161
    for h, w in [(160, 400), (400, 160), (144, 176), (64, 96), (11, 11)]:
        a = PHOTOS["camera"][:h, :w]
        assert ms_ssim(a, _noise(a, 5.0)) is None, (h, w)


@pytest.mark.parametrize("h, w", [(161, 161), (161, 400), (175, 175), (163, 207), (176, 176)])
def test_ms_ssim_defined_from_161_pixels(h, w):
    """Every size from 161 up gives a finite value (161..175 used to give NaN)."""
    a = PHOTOS["camera"][:h, :w]
    v = ms_ssim(a, _noise(a, 8.0))
    assert v is not None and math.isfinite(v) and 0 < v < 1


def test_ms_ssim_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        ms_ssim(np.zeros((200, 200), np.uint8), np.zeros((200, 201), np.uint8))
    with pytest.raises(ValueError):
        ms_ssim(np.zeros((20, 20), np.uint8), np.zeros((21, 20), np.uint8))


# --------------------------------------------------------------------------- compare_frames / accumulator


@pytest.fixture(scope="module")
def clip_pair():
    ref = list(pan_zoom(96, 64, 6, image="chelsea", pan=(1.7, 0.6)))
    dist = [_distort_frame(f, 2.0 + 2 * i, seed=10 * i) for i, f in enumerate(ref)]
    return ref, dist


@pytest.fixture(scope="module")
def big_clip_pair():
    ref = list(pan_zoom(176, 176, 4, image="coffee", pan=(1.1, 0.9)))
    dist = [_distort_frame(f, 1.0 + 3 * i, seed=7 * i) for i, f in enumerate(ref)]
    return ref, dist


@pytest.mark.parametrize(
    "n_ref, n_dist, longer", [(4, 3, "reference"), (3, 4, "distorted"), (0, 2, "distorted"), (1, 0, "reference")]
)
def test_compare_frames_unequal_lengths(clip_pair, n_ref, n_dist, longer):
    ref, dist = clip_pair
    shorter = min(n_ref, n_dist)
    with pytest.raises(ValueError, match=rf"the {longer} video has more than {shorter} frames"):
        compare_frames(iter(ref[:n_ref]), iter(dist[:n_dist]))


def test_compare_frames_empty_and_size_mismatch(clip_pair):
    with pytest.raises(ValueError, match="no frames"):
        compare_frames([], [])
    other = next(pan_zoom(75, 47, 1))
    with pytest.raises(ValueError, match="sizes differ"):
        compare_frames([clip_pair[0][0]], [other])


def test_compare_frames_means(clip_pair):
    ref, dist = clip_pair
    per_frame = [frame_quality(a, b) for a, b in zip(ref, dist)]
    q = compare_frames((f for f in ref), (f for f in dist))
    assert isinstance(q, VideoQuality)
    assert q.frames == len(ref)
    for key in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ssim"):
        assert getattr(q, key) == pytest.approx(np.mean([getattr(p, key) for p in per_frame]), rel=1e-12), key
    # Independent recomputation of the plane PSNRs and the weighting.
    sk = np.array(
        [
            [peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(a.planes(), b.planes())]
            for a, b in zip(ref, dist)
        ]
    )
    assert (q.psnr_y, q.psnr_u, q.psnr_v) == pytest.approx(tuple(sk.mean(axis=0)), rel=1e-12)
    assert q.psnr_yuv == pytest.approx(np.mean((6 * sk[:, 0] + sk[:, 1] + sk[:, 2]) / 8), rel=1e-12)
    assert q.min_psnr_yuv == pytest.approx(min(p.psnr_yuv for p in per_frame), rel=1e-15)
    assert q.ssim == pytest.approx(np.mean([_sk_ssim(a.y, b.y) for a, b in zip(ref, dist)]), abs=1e-8)
    assert q.ms_ssim is None  # 64-pixel frames
    assert q.psnr_yuv_weights == "6:1:1"
    d = q.to_dict()
    assert d["frames"] == len(ref) and d["psnr_yuv"] == q.psnr_yuv and "ms_ssim" in d


def test_compare_frames_identical_is_capped(clip_pair):
    ref = clip_pair[0][:2]
    q = compare_frames(ref, [Frame(f.y.copy(), f.u.copy(), f.v.copy()) for f in ref])
    assert (q.psnr_y, q.psnr_u, q.psnr_v, q.psnr_yuv, q.min_psnr_yuv) == (100.0,) * 5
    assert q.ssim == pytest.approx(1.0, abs=1e-12)


def test_compare_frames_ms_ssim_mean(big_clip_pair):
    ref, dist = big_clip_pair
    q = compare_frames(ref, dist)
    expect = np.mean([ms_ssim(a.y, b.y) for a, b in zip(ref, dist)])
    assert q.ms_ssim == pytest.approx(expect, rel=1e-12)
    assert compare_frames(ref, dist, with_ms_ssim=False).ms_ssim is None


def test_compare_frames_ms_ssim_matches_pytorch_msssim(big_clip_pair):
    ref, dist = big_clip_pair
    expect = np.mean([_torch_ms_ssim(a.y, b.y) for a, b in zip(ref, dist)])
    assert compare_frames(ref, dist).ms_ssim == pytest.approx(expect, abs=1e-9)


def _assert_same_quality(a: VideoQuality, b: VideoQuality):
    assert a.frames == b.frames
    for key in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ssim", "min_psnr_yuv"):
        assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-12), key
    if b.ms_ssim is None:
        assert a.ms_ssim is None
    else:
        assert a.ms_ssim == pytest.approx(b.ms_ssim, rel=1e-12)


@pytest.mark.parametrize("split", [[1, 5], [2, 2, 2], [5, 1], [1, 1, 1, 3]])
def test_accumulator_add_video_equals_single_pass(clip_pair, split):
    ref, dist = clip_pair
    whole = QualityAccumulator()
    for a, b in zip(ref, dist):
        whole.add(a, b)
    merged = QualityAccumulator()
    start = 0
    for n in split:
        part = QualityAccumulator()
        for a, b in zip(ref[start : start + n], dist[start : start + n]):
            part.add(a, b)
        start += n
        merged.add_video(part.result())
    assert merged.frames == whole.frames == len(ref)
    _assert_same_quality(merged.result(), whole.result())
    _assert_same_quality(merged.result(), compare_frames(ref, dist))


def test_accumulator_add_video_with_ms_ssim(big_clip_pair):
    ref, dist = big_clip_pair
    whole = compare_frames(ref, dist)
    merged = QualityAccumulator()
    merged.add_video(compare_frames(ref[:1], dist[:1]))
    merged.add_video(compare_frames(ref[1:], dist[1:]))
    _assert_same_quality(merged.result(), whole)
    assert merged.result().ms_ssim is not None
    # One part without MS-SSIM makes the merged MS-SSIM unknown, not a wrong mean.
    merged.add_video(compare_frames(ref[:1], dist[:1], with_ms_ssim=False))
    assert merged.result().ms_ssim is None
    assert merged.frames == len(ref) + 1


def test_accumulator_mixes_add_and_add_video(clip_pair):
    ref, dist = clip_pair
    acc = QualityAccumulator()
    acc.add(ref[0], dist[0])
    acc.add_video(compare_frames(ref[1:4], dist[1:4]))
    acc.add_quality(frame_quality(ref[4], dist[4]))
    acc.add(ref[5], dist[5])
    _assert_same_quality(acc.result(), compare_frames(ref, dist))


def test_accumulator_empty_result_raises():
    with pytest.raises(ValueError, match="no frames"):
        QualityAccumulator().result()
