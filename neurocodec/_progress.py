"""A minimal stderr progress line, drawn only when the caller asks for one."""

from __future__ import annotations

import sys
import time

__all__ = ["StderrProgress"]


class StderrProgress:
    """Callable ``(done_frames, total_frames_or_None)`` that redraws one stderr line."""

    def __init__(self, label: str, stream=None, unit: str = "frames"):
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        rate = done / max(time.perf_counter() - self.t0, 1e-6)
        if total:
            width = 30
            fill = int(width * min(done, total) / total)
            text = f"{self.label} [{'#' * fill}{'.' * (width - fill)}] {done}/{total} {self.unit}, {rate:.1f}/s"
        else:
            text = f"{self.label} {done} {self.unit}, {rate:.1f}/s"
        self.stream.write("\r" + text)
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
