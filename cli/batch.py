"""``neurocodec batch``."""

from __future__ import annotations

import click

from .common import cluster_frames_option, progress_option, quiet_option, show_progress


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


@click.command("batch")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the .ncv files and their OUTPUT.status.json files.")
@click.option("--workers", type=int, default=1, show_default=True, help="Scene jobs in parallel local processes.")
@click.option("--cluster", metavar="local:N|tcp://HOST:PORT",
              help="Run the scene jobs of all files on Dask instead (a LocalCluster of N processes, or a scheduler).")
@cluster_frames_option
@click.option("--parts", metavar="DIR|URL",
              help="Folder (or fsspec URL) for the part stores (default beside each output); on a cluster, storage "
                   "the workers share.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (neural strategies).")
@quiet_option
@progress_option
def command(manifest, out_dir, workers, cluster, cluster_frames, parts, device, quiet, progress):
    """Encode every file MANIFEST lists (.csv with a header row, or .jsonl) into --out.

    Columns: input (required), output (a .ncv name; default the input's stem), and per-file settings
    named as encode's options: strategy, crf, quality, target_psnr, target_ssim, target_vmaf, vmaf_pool,
    preset, keyint, low_delay, segment_frames, min_scene_frames, max_scene_frames, measure_quality,
    size, fps, opts ("KEY=VALUE KEY=VALUE" in CSV, an object in JSON). A rerun skips files already
    done and continues the others from their stored scenes. Exits 1 if a file failed, 2 if the
    manifest is wrong (checked before any file is read).
    """
    import sys
    import time

    from neurocodec.agents.batch import run_batch
    from neurocodec.agents.manifest import read_manifest
    from neurocodec.errors import SettingsError
    from neurocodec.settings import check_cluster

    if not 1 <= workers <= 256:
        raise SettingsError(f"workers {workers} is outside 1..256")
    if cluster is not None:
        check_cluster(cluster)
    items = read_manifest(manifest)
    show = show_progress(quiet, progress)

    tty = sys.stderr.isatty()
    last = {"t": 0.0, "files": -1}

    def report(p):
        now = time.monotonic()
        files = p.files_done + p.files_failed
        if not tty and files == last["files"] and now - last["t"] < 10:
            return  # a log file gets a line per finished file, or every 10 s
        last.update(t=now, files=files)
        line = (f"batch: files {p.files_done + p.files_skipped}/{p.files} done"
                f"{f', {p.files_failed} failed' if p.files_failed else ''}; scenes {p.scenes_done}/{p.scenes_known}+; "
                f"{p.fps:.1f} fps; ETA {_duration(p.eta_s)}")
        click.echo(f"\r{line}\x1b[K" if tty else line, err=True, nl=not tty)

    try:
        result = run_batch(items, out_dir, workers=workers, cluster=cluster, parts=parts,
                           cluster_frames=cluster_frames, device=device, progress=report if show else None)
    except KeyboardInterrupt:
        if show and tty:
            click.echo("", err=True)  # end the progress line
        click.echo(f"neurocodec: interrupted; finished files and scenes are kept in {out_dir}: run the same command "
                   "again to continue", err=True)
        raise SystemExit(130) from None
    if show and tty:
        click.echo("", err=True)
    p = result.progress
    done = sum(s["state"] == "done" for s in result.statuses)
    if not quiet:
        click.echo(f"{out_dir}: {done} of {p.files} files done ({p.files_skipped} before this run), "
                   f"{len(result.failed)} failed; {p.frames_done} frames encoded in {_duration(p.elapsed_s)}")
    if result.failed:  # each was logged as it failed; its status file keeps the reason
        click.echo(f"neurocodec: error: {len(result.failed)} file(s) failed; the reasons are in their "
                   f"{out_dir}/OUTPUT.status.json", err=True)
        raise SystemExit(1)


__all__ = ["command"]
