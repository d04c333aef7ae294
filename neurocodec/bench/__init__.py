"""The evaluation harness behind ``neurocodec bench``: rate points, BD-rates, reports, plots, clip sets."""

from .config import BenchConfig
from .export import plot_rd, write_compressai, write_json
from .runner import SCHEMA, ClipSpec, run_bench
from .summary import format_tables

__all__ = ["BenchConfig", "ClipSpec", "SCHEMA", "format_tables", "plot_rd", "run_bench", "write_compressai", "write_json"]
