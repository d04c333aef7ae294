"""Options and helpers shared by several commands."""

from __future__ import annotations

import sys

import click

overwrite_option = click.option("-y", "--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
size_option = click.option("--size", metavar="WxH", help="Frame size of raw .yuv input.")
fps_option = click.option("--fps", metavar="RATE", help="Frame rate (e.g. 25, 29.97, 30000/1001); required for raw .yuv.")
strict_option = click.option("--strict", is_flag=True,
                             help="Refuse a y4m or raw .yuv input cut short mid-frame (default: warn, drop it).")


def show_progress(quiet: bool) -> bool:
    """Progress goes to stderr only when a person is watching it."""
    return not quiet and sys.stderr.isatty()
