"""Per-clip and average summaries: BD-rates against the anchor, seed-target rates, text tables."""

from __future__ import annotations

from statistics import mean
from typing import Any

from ..metrics.bd import bd_rate, rate_for_quality
from .config import BenchConfig

__all__ = ["summarize_clip", "summarize_average", "format_tables", "BD_METRICS", "bd_metrics"]

BD_METRICS = ("psnr_yuv", "ssim")


def bd_metrics(config: BenchConfig) -> tuple[str, ...]:
    """The quality metrics BD-rates are computed on: VMAF (mean) too when it was measured."""
    return BD_METRICS + (("vmaf",) if config.vmaf else ())


def _with_ratio(rates: dict[str, Any]) -> dict[str, Any]:
    ref = rates.get("x264", {}).get("bitrate_kbps")
    for entry in rates.values():
        rate = entry["bitrate_kbps"]
        entry["ratio_to_x264"] = rate / ref if (rate is not None and ref) else None
    return rates


def _curve(entry: dict[str, Any], metric: str) -> tuple[list[float], list[float]]:
    pts = entry["points"]
    return [p["bitrate_kbps"] for p in pts], [p[metric] for p in pts]


def summarize_clip(clip: dict[str, Any], config: BenchConfig) -> dict[str, Any]:
    codecs = clip["codecs"]
    anchor = codecs[config.anchor]
    bd: dict[str, Any] = {}
    for name, entry in codecs.items():
        if name == config.anchor:
            continue
        bd[name] = {}
        for metric in bd_metrics(config):
            ra, qa = _curve(anchor, metric)
            rt, qt = _curve(entry, metric)
            r = bd_rate(ra, qa, rt, qt, min_overlap=config.min_overlap)
            bd[name][metric] = {"value": r.value, "overlap": round(r.overlap, 3), "note": r.note}
    seed: dict[str, Any] = {}
    for name, entry in codecs.items():
        rp = rate_for_quality(*_curve(entry, "psnr_yuv"), config.seed_psnr)
        rs = rate_for_quality(*_curve(entry, "ssim"), config.seed_ssim)
        if rp.rate is None or rs.rate is None:
            seed[name] = {"bitrate_kbps": None, "how": "not_reached"}
            continue
        how = "interpolated" if "interpolated" in (rp.how, rs.how) else "measured_below"
        seed[name] = {"bitrate_kbps": max(rp.rate, rs.rate), "how": how}
    out = {"bd_rate": bd, "seed_target": _with_ratio(seed)}
    if config.vmaf:
        floor: dict[str, Any] = {}
        for name, entry in codecs.items():
            r = rate_for_quality(*_curve(entry, "vmaf"), config.vmaf_floor)
            floor[name] = {"bitrate_kbps": r.rate, "how": r.how if r.rate is not None else "not_reached"}
        out["vmaf_floor"] = _with_ratio(floor)
    return out


def summarize_average(clips: list[dict[str, Any]], config: BenchConfig) -> dict[str, Any]:
    """Mean BD-rate over the clips where it was computable, and ladder-averaged curves."""
    bd: dict[str, Any] = {}
    for name in config.codecs:
        if name == config.anchor:
            continue
        bd[name] = {}
        for metric in bd_metrics(config):
            vals = [c["bd_rate"][name][metric]["value"] for c in clips]
            ok = [v for v in vals if v is not None]
            bd[name][metric] = {"value": mean(ok) if ok else None, "clips": len(ok), "of": len(vals)}
    curves: dict[str, Any] = {}
    for name in config.codecs:
        per_clip = [c["codecs"][name]["points"] for c in clips]
        n = min(len(p) for p in per_clip)
        curves[name] = {
            "crf": [per_clip[0][i]["crf"] for i in range(n)],
            "bitrate_kbps": [mean(p[i]["bitrate_kbps"] for p in per_clip) for i in range(n)],
            "psnr_yuv": [mean(p[i]["psnr_yuv"] for p in per_clip) for i in range(n)],
            "ssim": [mean(p[i]["ssim"] for p in per_clip) for i in range(n)],
        }
        if config.vmaf:
            curves[name]["vmaf"] = [mean(p[i]["vmaf"] for p in per_clip) for i in range(n)]
    return {"bd_rate": bd, "curves": curves, "note": "BD-rate: mean of per-clip values; curves: mean per ladder step"}


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


_VMAF_KEYS = ("vmaf", "vmaf_harmonic_mean", "vmaf_p5", "vmaf_neg")


def _num(v: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}.{digits}f}"


def _rate_lines(rates: dict[str, Any]) -> list[str]:
    lines = []
    for name, s in rates.items():
        if s["bitrate_kbps"] is None:
            lines.append(f"  {name:<8} not reached in the measured range")
        else:
            ratio = "" if s["ratio_to_x264"] is None else f", {s['ratio_to_x264']:.2f}x x264"
            lines.append(f"  {name:<8} {s['bitrate_kbps']:.1f} kb/s ({s['how']}{ratio})")
    return lines


def _verification_line(name: str, p: dict[str, Any]) -> str:
    v = p["anchor_verification"]
    line = f"  {name:<8} crf {p['crf']:>3g}: {v['result'].replace('_', ' ')}"
    if v["result"] != "identical":
        line += (f" (rerun {v['tool_bytes']} vs {p['stream_bytes']} bytes, {v['size_difference']:+.2%};"
                 f" PSNR-YUV {v['psnr_yuv_difference_db']:+.3f} dB)")
    return line


def format_tables(results: dict[str, Any]) -> str:
    """The human-readable report printed by ``neurocodec bench``."""
    cfg = results["config"]
    vmaf = bool(cfg.get("vmaf"))
    lines: list[str] = []
    mode = "low-delay (no B-frames)" if cfg["mode"] == "low_delay" else "random access"
    presets = ", ".join(f"{c} {p}" for c, p in cfg["presets_used"].items() if p)
    lines.append(f"anchor: {cfg['anchor']}; configuration: {mode}; presets: {presets}")
    for clip in results["clips"]:
        lines.append("")
        lines.append(f"== {clip['name']} ({clip['width']}x{clip['height']}, {clip['fps']} fps, {clip['frames']} frames)")
        lines.append(
            f"{'codec':<8}{'crf':>5}{'kb/s':>11}{'PSNR-Y':>9}{'PSNR-YUV':>10}{'SSIM':>8}{'MS-SSIM':>9}"
            + (f"{'VMAF':>7}{'hm':>7}{'p5':>7}{'NEG':>7}" if vmaf else "")
            + f"{'enc fps':>9}{'dec fps':>9}{'MB':>7}{'MAC/px':>8}"
        )
        for name, entry in clip["codecs"].items():
            for p in entry["points"]:
                ms = "-" if p["ms_ssim"] is None else f"{p['ms_ssim']:.4f}"
                v = "".join(_num(p[k], 7, 2) for k in _VMAF_KEYS) if vmaf else ""
                lines.append(
                    f"{name:<8}{p['crf']:>5g}{p['bitrate_kbps']:>11.1f}{p['psnr_y']:>9.2f}{p['psnr_yuv']:>10.2f}"
                    f"{p['ssim']:>8.4f}{ms:>9}{v}{p['encode_fps']:>9.1f}{p['decode_fps']:>9.1f}"
                    f"{p['peak_rss_mb']:>7.0f}{p['decoder_macs_per_pixel']:>8.0f}"
                )
        lines.append(f"BD-rate vs {cfg['anchor']} (negative = fewer bits):")
        for name, m in clip["bd_rate"].items():
            notes = "; ".join(f"{k}: {v['note']}" for k, v in m.items() if v["note"])
            lines.append(
                f"  {name:<8} PSNR-YUV {_pct(m['psnr_yuv']['value']):>8}   SSIM {_pct(m['ssim']['value']):>8}"
                + (f"   VMAF {_pct(m['vmaf']['value']):>8}" if vmaf else "")
                + (f"   ({notes})" if notes else "")
            )
        lines.append(f"Lowest rate with PSNR-YUV >= {cfg['seed_psnr']} dB and SSIM >= {cfg['seed_ssim']}:")
        lines += _rate_lines(clip["seed_target"])
        if vmaf:
            lines.append(f"Lowest rate with VMAF >= {cfg['vmaf_floor']:g}:")
            lines += _rate_lines(clip["vmaf_floor"])
        verified = [(name, p) for name, e in clip["codecs"].items() for p in e["points"] if "anchor_verification" in p]
        if verified:
            lines.append("Anchor verification (recorded ffmpeg command rerun with the bundled FFmpeg):")
            lines += [_verification_line(name, p) for name, p in verified]
    avg = results["average"]["bd_rate"]
    if len(results["clips"]) > 1:
        lines.append("")
        lines.append(f"== average over {len(results['clips'])} clips, BD-rate vs {cfg['anchor']}")
        for name, m in avg.items():
            lines.append(
                f"  {name:<8} PSNR-YUV {_pct(m['psnr_yuv']['value']):>8} ({m['psnr_yuv']['clips']}/{m['psnr_yuv']['of']} clips)"
                f"   SSIM {_pct(m['ssim']['value']):>8} ({m['ssim']['clips']}/{m['ssim']['of']} clips)"
                + (f"   VMAF {_pct(m['vmaf']['value']):>8} ({m['vmaf']['clips']}/{m['vmaf']['of']} clips)" if vmaf else "")
            )
    return "\n".join(lines)
