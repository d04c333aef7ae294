"""Options and helpers shared by several commands."""

from __future__ import annotations

import logging
import os
import sys
from functools import partial

import click

__all__ = ["library_logs", "quiet_encoders", "overwrite_option", "quiet_option", "progress_option", "size_option",
           "fps_option", "show_progress", "cluster_frames_option"]

#: ``ctx.meta`` key: the CLI chose SVT_LOG itself (the user did not set it), so ``-q`` may lower it.
_SVT_LOG_DEFAULTED = "neurocodec.svt_log_defaulted"


def library_logs(ctx: click.Context, verbose: int) -> None:
    """Keep the encoder libraries' own stderr logs at warnings (info with ``-v``) unless SVT_LOG is set.

    SVT-AV1 reads ``SVT_LOG`` when an encoder is created, and spawned workers
    inherit the environment, so this runs before any command starts work.
    """
    # Dask's distributed logs every worker start and connection at INFO; it reads this when first imported
    # (a --cluster run), and LocalCluster workers inherit it.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "info" if verbose >= 2 else "warning")
    if "SVT_LOG" not in os.environ:
        os.environ["SVT_LOG"] = "3" if verbose else "2"  # SVT levels: 1 errors, 2 warnings, 3 info
        ctx.meta[_SVT_LOG_DEFAULTED] = True
        ctx.call_on_close(lambda: os.environ.pop("SVT_LOG", None))  # for callers that run the CLI in-process


def quiet_encoders(ctx: click.Context, param: click.Parameter, quiet: bool) -> bool:
    """Option callback: with the flag, the encoder libraries log errors only (unless the user set SVT_LOG)."""
    # Runs while the command's options are parsed: before it encodes or spawns a worker.
    if quiet and ctx.meta.get(_SVT_LOG_DEFAULTED):
        os.environ["SVT_LOG"] = "1"
    return quiet


def _quiet(ctx: click.Context, param: click.Parameter, quiet: bool) -> bool:
    if quiet:
        quiet_encoders(ctx, param, quiet)
        root = logging.getLogger()
        ctx.call_on_close(partial(root.setLevel, root.level))
        root.setLevel(max(root.level, logging.ERROR))
    return quiet


overwrite_option = click.option("-y", "--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
quiet_option = click.option("-q", "--quiet", is_flag=True, callback=_quiet,
                            help="Print nothing but errors (no progress, summary, warnings or encoder banners).")
progress_option = click.option("--progress/--no-progress", default=None,
                               help="Progress line on stderr: frames, fps, ETA "
                                    "(default: when stderr is a terminal and not -q).")
size_option = click.option("--size", metavar="WxH", help="Frame size of raw .yuv input.")
fps_option = click.option("--fps", metavar="RATE", help="Frame rate (e.g. 25, 29.97, 30000/1001); required for raw .yuv.")
strict_option = click.option("--strict", is_flag=True,
                             help="Refuse a y4m or raw .yuv input cut short mid-frame (default: warn, drop it).")


def show_progress(quiet: bool, progress: bool | None = None) -> bool:
    """An explicit ``--progress``/``--no-progress`` wins; by default progress shows when a person watches stderr."""
    if progress is not None:
        return progress
    return not quiet and sys.stderr.isatty()


#: ``--cluster-frames`` (encode and batch): how a cluster's jobs get their scene's frames.
cluster_frames_option = click.option(
    "--cluster-frames", type=click.Choice(["auto", "read", "send"]), default="auto", show_default=True,
    help="With --cluster: read (each worker reads its scene from the input), send (this process sends each "
         "scene's frames) or auto (send when every worker is on this machine, else read).")
