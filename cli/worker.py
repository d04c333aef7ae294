"""``neurocodec worker``: take queued experiment proposals from a PostgreSQL study and measure them."""

from __future__ import annotations

import click


@click.command("worker")
@click.option("--storage", required=True, metavar="URL", help="postgresql+psycopg://USER@HOST:PORT/DB.")
@click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")
@click.option("--clips", "clips", multiple=True, metavar="CLIPSET_OR_PATH",
              help="Local clips, overriding the clip set stored on the study (e.g. another mount point).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--artifacts", default="artifacts", show_default=True, type=click.Path(file_okay=False),
              help="Artifact folder (a shared mount, so every host sees every bitstream).")
@click.option("--keep-bitstreams/--no-keep-bitstreams", default=False, show_default=True,
              help="Store every measured .ncv as an artifact (points x clips per trial).")
@click.option("--max-trials", type=int, help="Stop after this many trials (default: run until stopped).")
@click.option("--idle-exit", type=float, metavar="SECONDS", help="Stop after this long with nothing queued.")
@click.option("--heartbeat", type=int, default=10, show_default=True, metavar="SECONDS",
              help="Heartbeat interval; a trial silent for 3 intervals is re-queued.")
def command(storage, study_name, clips, device, artifacts, keep_bitstreams, max_trials, idle_exit, heartbeat):
    """Distributed set-up: run queued proposals one at a time, with heartbeats."""
    from neurocodec.errors import SettingsError
    from neurocodec.experiments.worker import WorkerConfig, run_worker
    from neurocodec.io.atomic import check_not_input

    if heartbeat < 1:
        raise SettingsError("--heartbeat must be at least 1 second")
    check_not_input(artifacts, *clips)
    config = WorkerConfig(device=device, artifacts=artifacts, max_trials=max_trials, idle_exit_s=idle_exit,
                          heartbeat_interval=heartbeat, grace_period=3 * heartbeat,
                          keep_bitstreams=keep_bitstreams)
    n = run_worker(storage, study_name, config, list(clips) or None,
                   progress=lambda line: click.echo(line, err=True))
    click.echo(f"worker finished {n} trials")


__all__ = ["command"]
