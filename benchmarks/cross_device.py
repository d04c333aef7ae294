"""Cross-device agreement of the neural parts: CPU against a CUDA GPU.

    python benchmarks/cross_device.py OUT.json

Needs PyTorch with a CUDA device. Pictures are pans over scikit-image photos
(no data files). Measured:

- learned intra (``intra_yuv420``): whether a CUDA encode writes the same bytes
  as a CPU encode; the stream encoded on one device decoded on both: the
  entropy-decoded latents (symbols, scale indexes) must be identical, and the
  pixels differ by at most a few levels (float synthesis);
- ``hybrid``'s enhancement networks (``enhance_yuv420``, ``enhance_light_yuv420``) at every scale index:
  8-bit output on CPU against CUDA, largest difference and share of samples
  that differ;
- speed of the intra analysis + synthesis on each device (informative).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch


def _planes(w: int, h: int, image: str):
    from neurocodec.io.synthetic import pan_zoom

    f = next(iter(pan_zoom(w, h, 1, image=image)))
    return f.y, f.u, f.v


def _diff(a, b) -> dict:
    d = [np.abs(x.astype(np.int16) - y.astype(np.int16)) for x, y in zip(a, b)]
    return {"max": int(max(x.max() for x in d)), "share_differing": float(sum((x > 0).sum() for x in d) / sum(x.size for x in d))}


def _timed(fn, repeat: int = 3) -> float:
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeat


def intra(out: dict) -> None:
    from neurocodec.models.coder import IntraCoder
    from neurocodec.models.registry import load_intra

    loaded = load_intra()
    cpu, gpu = IntraCoder(loaded, "cpu"), IntraCoder(loaded, "cuda")
    rows = []
    for (w, h, image) in ((256, 192, "astronaut"), (768, 512, "chelsea"), (1280, 720, "coffee")):
        planes = _planes(w, h, image)
        for crf in (5, 20, 40):
            from_cpu, _ = cpu.compress(planes, crf)
            from_gpu, _ = gpu.compress(planes, crf)
            row = {"size": f"{w}x{h}", "image": image, "crf": crf, "bytes_cpu": len(from_cpu),
                   "bytes_gpu": len(from_gpu), "same_bytes": from_cpu == from_gpu}
            for name, data in (("cpu_stream", from_cpu), ("gpu_stream", from_gpu)):
                (a, la), (b, lb) = cpu.decompress(data, h, w), gpu.decompress(data, h, w)
                row[name] = {"latents_identical": bool(torch.equal(la.symbols, lb.symbols)
                                                       and torch.equal(la.indexes, lb.indexes)
                                                       and torch.equal(la.means, lb.means)),
                             "pixels": _diff(a, b)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    out["intra"] = rows
    planes = _planes(1280, 720, "coffee")
    data, _ = cpu.compress(planes, 20)
    out["intra_seconds_1280x720"] = {
        dev: {"compress": _timed(lambda c=c: c.compress(planes, 20)), "decompress": _timed(lambda c=c: c.decompress(data, 720, 1280))}
        for dev, c in (("cpu", cpu), ("cuda", gpu))}


def enhance(out: dict) -> None:
    import copy

    from neurocodec.models.enhance import output_to_planes, planes_to_input
    from neurocodec.models.registry import load_enhance

    y, u, v = _planes(1280, 720, "coffee")
    x = planes_to_input(*(torch.from_numpy(p).float()[None, None] / 255 for p in (y, u, v)))
    for name in ("enhance_yuv420", "enhance_light_yuv420"):
        net_cpu = load_enhance(name).net
        net_gpu = copy.deepcopy(net_cpu).to("cuda")
        rows = []
        for k in range(len(net_cpu.scales)):
            with torch.no_grad():
                a = [p[0, 0].clamp(0, 1).mul(255).round().byte().numpy() for p in output_to_planes(net_cpu(x, k))]
                b = [p[0, 0].clamp(0, 1).mul(255).round().byte().cpu().numpy()
                     for p in output_to_planes(net_gpu(x.to("cuda"), k))]
            rows.append({"model": name, "scale_index": k, "scale": net_cpu.scales[k], **_diff(a, b)})
            print(json.dumps(rows[-1]), flush=True)
        out[f"{name}_1280x720"] = rows


def main(path: str) -> None:
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    out = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "numpy": np.__version__,
           "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32}
    intra(out)
    enhance(out)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
