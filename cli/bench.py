"""``neurocodec bench``: rate-distortion curves and BD-rates against reproducible anchors."""

from __future__ import annotations

import os

import click

from .common import fps_option, overwrite_option, quiet_encoders, show_progress, size_option


@click.command("bench")
@click.argument("inputs", nargs=-1, required=True, metavar="CLIP_OR_DIR...")
@click.option("--codecs", default="x264,x265,av1,auto", show_default=True, help="Comma-separated codecs; NAME@PRESET measures one preset of a strategy (av1@4,av1@6).")
@click.option("--points", type=int, default=5, show_default=True, help="Rate points per codec (at least 4).")
@click.option("--frames", type=int, default=64, show_default=True, help="Frames from the start of each clip.")
@click.option("--anchor", default="x265", show_default=True, help="Codec the BD-rates are computed against.")
@click.option("--preset", "presets", metavar="CODEC=P,...", help="Preset overrides (defaults: x264 medium, x265 medium, av1 6).")
@click.option("--config", "configs", multiple=True, metavar="CODEC=FILE.toml",
              help="Measure codec label CODEC (one of --codecs, any name) with a configuration file's strategy, "
                   "preset and options (repeatable); recorded in the results JSON.")
@click.option("--low-delay", is_flag=True, help="Low-delay configuration: no B-frames for every codec.")
@click.option("--workers", type=int, default=1, show_default=True, help="Rate points measured in parallel (timings then share the CPU).")
@click.option("--json", "json_path", type=click.Path(), help="Write the results JSON here.")
@click.option("--plot", "plot_path", type=click.Path(), help="Write RD curves (PNG) here.")
@click.option("--metric", type=click.Choice(["psnr_yuv", "psnr_y", "ssim", "vmaf"]), default="psnr_yuv", show_default=True,
              help="Quality axis of the plot (vmaf needs --vmaf).")
@click.option("--vmaf", "with_vmaf", is_flag=True,
              help="Also VMAF per point (libvmaf in the bundled FFmpeg) and BD-rate on VMAF.")
@click.option("--vmaf-floor", type=float, default=95.0, show_default=True,
              help="With --vmaf: report each codec's lowest rate whose mean VMAF reaches this.")
@click.option("--vmaf-scale", type=click.Choice(["native", "1080p"]), default="native", show_default=True,
              help="With --vmaf: score at native size, or both videos resized to 1920x1080 first.")
@click.option("--verify-anchors", is_flag=True,
              help="Rerun each x264/x265/av1 point's recorded ffmpeg command with the bundled FFmpeg and compare streams.")
@click.option("--compressai-dir", type=click.Path(file_okay=False), help="Also write CompressAI-format result files here.")
@size_option
@fps_option
@overwrite_option
@click.option("-q", "--quiet", is_flag=True, callback=quiet_encoders,
              help="Print only the final tables (no per-point lines or encoder banners).")
def command(inputs, codecs, points, frames, anchor, presets, configs, low_delay, workers, json_path, plot_path, metric,
            with_vmaf, vmaf_floor, vmaf_scale, verify_anchors, compressai_dir, size, fps, overwrite, quiet):
    """Measure codecs on clips: rate points, PSNR/SSIM (VMAF with --vmaf), speed, memory, BD-rate against an anchor.

    Each CLIP_OR_DIR is a video, a folder of videos or of frames, a raw .yuv
    (with --size/--fps), or a clip-set file (.toml/.json: local paths, or URLs
    with sha256, downloaded to the user cache).
    """
    from neurocodec.bench import BenchConfig, format_tables, plot_rd, run_bench, write_compressai, write_json
    from neurocodec.bench.clipset import expand_inputs
    from neurocodec.bench.config import parse_configs, parse_presets
    from neurocodec.errors import SettingsError
    from neurocodec.io.atomic import check_not_input, check_writable

    if metric == "vmaf" and not with_vmaf:
        raise SettingsError("--metric vmaf needs --vmaf")
    outputs = (json_path, plot_path, compressai_dir)
    for out in outputs:
        check_not_input(out, *inputs, *(c.partition("=")[2].strip() or None for c in configs))
    for out in (json_path, plot_path):
        if out:
            check_writable(out, overwrite)
    config = BenchConfig(
        codecs=tuple(c.strip() for c in codecs.split(",") if c.strip()), points=points, frames=frames,
        anchor=anchor, presets=parse_presets(presets), configs=parse_configs(configs), low_delay=low_delay, workers=workers,
        vmaf=with_vmaf, vmaf_floor=vmaf_floor, vmaf_scale=vmaf_scale, verify_anchors=verify_anchors,
    )
    from neurocodec._progress import StderrProgress

    bar = StderrProgress("download", unit="bytes") if show_progress(quiet) else None
    clips = expand_inputs(list(inputs), size=size, fps=fps, progress=bar)
    if bar:
        bar.close()
    for out in outputs:  # clips named in clip-set files; a plot inside a frame folder would become a frame
        check_not_input(out, *(c.path for c in clips if not os.path.isdir(c.path)))
        check_not_input(out, *(c.path for c in clips if os.path.isdir(c.path)), inside=True)
    say = None if quiet else (lambda line: click.echo(line, err=True))
    results = run_bench(clips, config, progress=say)
    click.echo(format_tables(results))
    if json_path:
        write_json(results, json_path, overwrite=overwrite)
    if plot_path:
        plot_rd(results, plot_path, metric=metric)
    if compressai_dir:
        write_compressai(results, compressai_dir)


__all__ = ["command"]
