"""Writing benchmark results: the JSON document, CompressAI-format curves, RD plots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import SettingsError
from ..io.atomic import atomic_path
from ..strict_json import dumps

__all__ = ["PLOT_METRICS", "write_json", "write_compressai", "plot_rd"]

#: Quality axes :func:`plot_rd` draws, with their labels (``vmaf``: only for results measured with VMAF).
PLOT_METRICS = {"psnr_yuv": "PSNR-YUV 6:1:1 [dB]", "psnr_y": "PSNR-Y [dB]", "ssim": "SSIM (Y)",
                "vmaf": "VMAF (vmaf_v0.6.1, mean)"}


def write_json(results: dict[str, Any], path: str | os.PathLike, *, overwrite: bool = True) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(dumps(results, indent=2) + "\n")


def write_compressai(results: dict[str, Any], folder: str | os.PathLike) -> list[Path]:
    """One JSON per clip and codec in CompressAI's results format.

    Plot them with ``python -m compressai.utils.plot --results-file F1 F2 ... --metric psnr-yuv``
    (or ``ssim``, ``psnr-y``, and ``vmaf`` when the bench measured it). ``bpp`` is bits per luma pixel of the measured rate.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for clip in results["clips"]:
        for name, entry in clip["codecs"].items():
            pts = entry["points"]
            doc = {
                "name": f"{name} ({clip['name']})",
                "description": f"neurocodec bench, {results['config']['mode']}, preset {entry['preset']}, "
                f"rate basis {entry['rate_basis']}",
                "results": {
                    "bpp": [p["bpp"] for p in pts],
                    "bitrate_kbps": [p["bitrate_kbps"] for p in pts],
                    "psnr-y": [p["psnr_y"] for p in pts],
                    "psnr-yuv": [p["psnr_yuv"] for p in pts],
                    "ssim": [p["ssim"] for p in pts],
                    "ms-ssim-y": [p["ms_ssim"] for p in pts],
                    "encoding_time": [p["encode_seconds"] for p in pts],
                    "decoding_time": [p["decode_seconds"] for p in pts],
                },
            }
            if results["config"].get("vmaf"):
                doc["results"]["vmaf"] = [p["vmaf"] for p in pts]
            path = out / f"{Path(clip['name']).stem}__{name}.json"
            with atomic_path(path, overwrite=True) as tmp:
                tmp.write_text(dumps(doc, indent=2) + "\n")
            written.append(path)
    return written


def plot_rd(results: dict[str, Any], path: str | os.PathLike, *, metric: str = "psnr_yuv") -> None:
    """Rate-distortion curves: one panel per clip, plus the ladder-averaged curves."""
    import matplotlib  # heavy: only plotting needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display needed

    clips = results["clips"]
    panels = len(clips) + (1 if len(clips) > 1 else 0)
    cols = min(3, panels)
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)
    if metric not in PLOT_METRICS:
        raise SettingsError(f"plot metric must be one of {', '.join(PLOT_METRICS)}, got {metric!r}")
    if metric == "vmaf" and not results["config"].get("vmaf"):
        raise SettingsError("plot metric vmaf: these results have no VMAF (run the bench with --vmaf)")
    label = PLOT_METRICS[metric]
    anchor = results["config"]["anchor"]
    for ax, clip in zip(axes.flat, clips):
        for name, entry in clip["codecs"].items():
            xs = [p["bitrate_kbps"] for p in entry["points"]]
            ys = [p[metric] for p in entry["points"]]
            bd = clip["bd_rate"].get(name, {}).get(metric if metric in clip["bd_rate"].get(name, {}) else "psnr_yuv", {})
            suffix = " (anchor)" if name == anchor else (f" ({bd['value']:+.1f}%)" if bd.get("value") is not None else "")
            ax.plot(xs, ys, marker="o", label=name + suffix)
        _finish(ax, f"{clip['name']} ({clip['width']}x{clip['height']}, {clip['frames']} f)", label)
    if len(clips) > 1:
        ax = axes.flat[len(clips)]
        for name, c in results["average"]["curves"].items():
            if metric in c:
                ax.plot(c["bitrate_kbps"], c[metric], marker="o", label=name)
        _finish(ax, f"average of {len(clips)} clips (per ladder step)", label)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    fig.suptitle(f"neurocodec bench: {results['config']['mode'].replace('_', ' ')}, anchor {anchor}", fontsize=10)
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)


def _finish(ax, title: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("bitrate [kb/s]")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
