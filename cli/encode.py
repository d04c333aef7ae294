"""``neurocodec encode``."""

from __future__ import annotations


import click

from .common import cluster_frames_option, fps_option, overwrite_option, progress_option, quiet_option, show_progress, size_option, strict_option


@click.command("encode")
@click.argument("input", type=click.Path(dir_okay=True))
@click.argument("output", type=click.Path())
@click.option("-s", "--strategy",
              help="auto (per scene: best measured candidate; the default), x264, x265, av1, ... "
                   "With --config: must be the file's.")
@click.option("--config", "config", type=click.Path(dir_okay=False), metavar="FILE.toml",
              help="A codec configuration (neurocodec.config/1: strategy, preset, options), e.g. one "
                   "'experiments export' wrote; --preset and --opt given here win over it.")
@click.option("--crf", type=float, help="Constant-quality factor (x264/x265: 0-51, av1: 0-63; with auto: as --quality).")
@click.option("--quality", type=float, help="Quality knob on an x265-CRF-like scale (default 28): one RD slope for all scenes.")
@click.option("--bitrate", metavar="RATE", help="Target bitrate for the whole video, e.g. 800k or 1.5M (shared by equal slope).")
@click.option("--target-psnr", type=float, help="Minimum mean PSNR-YUV (dB) per scene, verified on the final encode.")
@click.option("--target-ssim", type=float, help="Minimum mean SSIM per scene, verified on the final encode.")
@click.option("--target-vmaf", type=float, metavar="V",
              help="Minimum VMAF (0-100) per scene: probed on subsampled frames, verified on every frame of the "
                   "final encode (libvmaf in the bundled FFmpeg). Combines with --target-psnr/--target-ssim.")
@click.option("--vmaf-pool", type=click.Choice(["mean", "harmonic", "p5"]),
              help="How --target-vmaf pools per-frame scores (default mean; p5: 5th percentile).")
@click.option("--preset", help="auto: fast|medium|slow search effort; else the encoder preset (x26x: ultrafast..veryslow, av1: -1..13).")
@click.option("--opt", "opt", multiple=True, metavar="KEY=VALUE",
              help="A strategy option (repeatable; with --config merged over the file's, key by key); "
                   "'neurocodec strategies NAME' lists them (auto's too).")
@click.option("--keyint", type=int, help="Maximum keyframe interval in frames.")
@click.option("--threads", type=int, help="Encoder threads (default keeps bytes machine-independent).")
@click.option("--low-delay", is_flag=True, help="No B-frames / frame reordering.")
@click.option("--workers", type=int, default=1, show_default=True, help="Segments encoded in parallel processes.")
@click.option("--cluster", metavar="local:N|tcp://HOST:PORT",
              help="Encode the scenes on Dask: a LocalCluster of N processes, or a running scheduler (same bytes).")
@cluster_frames_option
@click.option("--parts", metavar="DIR|URL",
              help="Folder for the part store (default OUTPUT.parts/ beside OUTPUT); with --cluster, storage every "
                   "worker shares, so workers write their scenes there.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (neural strategies).")
@click.option("--intra-model", metavar="NAME|FILE",
              help="Learned intra model for neural strategies: shipped name (intra_yuv420, default), a weights file, "
                   "or compressai:mbt2018-mean:Q[:mse|ms-ssim] (CompressAI's pretrained weights; downloads once).")
@click.option("--segment-frames", type=int, help="Fixed-length segments instead of detected scenes.")
@click.option("--scenes", "scenes_file", type=click.Path(), help="Use these scenes (Av1an JSON) instead of detecting them.")
@click.option("--write-scenes", type=click.Path(), help="Save the scenes used (Av1an JSON with class and features).")
@click.option("--min-scene", "min_scene_frames", type=int, help="Shortest scene in frames (default 0.4 s).")
@click.option("--max-scene", "max_scene_frames", type=int, help="Longest scene in frames (default 10 s, at most 300).")
@click.option("--resume", is_flag=True, help="Continue an interrupted encode of the same job (OUTPUT.parts/).")
@click.option("--no-quality", is_flag=True, help="Skip measuring each segment's quality.")
@click.option("--stats-json", type=click.Path(), help="Write the full encode report as JSON.")
@click.option("--force", is_flag=True, help="Accept an OUTPUT name that does not end in .ncv.")
@strict_option
@size_option
@fps_option
@overwrite_option
@quiet_option
@progress_option
def command(input, output, strategy, config, crf, quality, bitrate, target_psnr, target_ssim, target_vmaf, vmaf_pool, preset, opt, keyint, threads, low_delay,
            workers, cluster, cluster_frames, parts, device, intra_model, segment_frames, scenes_file, write_scenes, min_scene_frames, max_scene_frames, resume,
            no_quality, stats_json, force, strict, size, fps, overwrite, quiet, progress):
    """Encode INPUT (video file, image folder or raw .yuv) to OUTPUT (.ncv)."""
    import neurocodec
    from neurocodec.errors import SettingsError
    from neurocodec.io.atomic import atomic_path, check_not_input, check_writable
    from neurocodec.strategies.options import parse_assignments

    if not output.lower().endswith(".ncv") and not force:
        raise SettingsError(f"{output}: an encode writes a .ncv file; name it *.ncv (or keep this name with --force)")
    if stats_json:
        check_not_input(stats_json, input, scenes_file, config, inside=True)
        check_writable(stats_json, overwrite)
    report = neurocodec.encode(
        input, output, strategy=strategy, config=config, crf=crf, bitrate=bitrate, target_psnr=target_psnr,
        target_ssim=target_ssim, target_vmaf=target_vmaf, vmaf_pool=vmaf_pool, preset=preset, device=device, workers=workers,
        progress=show_progress(quiet, progress), overwrite=overwrite, size=size, fps=fps, keyint=keyint,
        threads=threads, low_delay=low_delay, segment_frames=segment_frames, measure_quality=not no_quality,
        quality=quality, scenes_file=scenes_file, write_scenes=write_scenes, min_scene_frames=min_scene_frames,
        max_scene_frames=max_scene_frames, resume=resume, intra_model=intra_model, strict=strict,
        opts=parse_assignments(opt), cluster=cluster, parts=parts,
        cluster_frames=cluster_frames,
    )
    if stats_json:
        with atomic_path(stats_json, overwrite=overwrite) as tmp:
            tmp.write_text(report.to_json() + "\n")
    if not quiet:
        q = report.quality
        quality = f", PSNR-YUV {q['psnr_yuv']:.2f} dB, SSIM {q['ssim']:.4f}" if q else ""
        names = ",".join(sorted(set(report.strategies)))
        click.echo(
            f"{output}: {report.frames} frames, {report.bytes} bytes, {report.bitrate_kbps:.1f} kb/s"
            f"{quality} ({names}, {len(report.segments)} segment(s), {report.encode_seconds:.1f} s)"
        )
        if report.allocation:
            a = report.allocation
            click.echo(f"bitrate: target {a['target_bps'] / 1000:.1f} kb/s, predicted {a['predicted_bps'] / 1000:.1f}, "
                       f"achieved {report.bitrate_kbps:.1f}")
        if any(s.target_met is False for s in report.segments):
            missed = [str(s.index) for s in report.segments if s.target_met is False]
            click.echo(f"warning: target quality not reached in segment(s) {', '.join(missed)}", err=True)


__all__ = ["command"]
