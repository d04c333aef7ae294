"""Progress reporting: a stderr progress line, and frame counters for the code that does the work.

A progress callback is any callable ``(done, total_or_None)``. One that also
has a ``phase(label)`` method is told what is being counted (``analyze``,
``encode [trials]``, ...); :class:`StderrProgress` is such a callback.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

__all__ = ["StderrProgress", "CountingFrames", "counted", "set_phase"]

T = TypeVar("T")


def set_phase(progress, label: str) -> None:
    """Tell ``progress`` the phase, if it wants to know."""
    phase = getattr(progress, "phase", None)
    if callable(phase):
        phase(label)


def counted(items: Iterable[T], report: Callable[[int], None]) -> Iterator[T]:
    """Yield ``items``, reporting how many the consumer has finished with (each time it asks for the next)."""
    n = 0
    for item in items:
        report(n)
        yield item
        n += 1
    report(n)


class CountingFrames(Sequence[T]):
    """A read-only sequence that reports ``report(n)`` while it is iterated: ``n`` items taken and used.

    Indexing does not count: only a pass in order (as an encoder feeding frames
    one by one makes) measures progress.
    """

    def __init__(self, items: Sequence[T], report: Callable[[int], None]):
        self._items = items
        self._report = report

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index):
        return self._items[index]

    def __iter__(self) -> Iterator[T]:
        return counted(self._items, self._report)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class StderrProgress:
    """Callable ``(done, total_or_None)`` redrawing one stderr line: label, bar, count, rate and ETA.

    The rate is measured from the first advance of a stage, so that start-up
    time (workers starting, the first trial encodes) does not distort it; a
    count that goes back (a new stage starting from zero) starts measuring
    again. Redraws are
    limited to one every ``interval`` seconds, except the last of a stage. A
    log record written to the same stream (by a handler of the root logger)
    starts on a line of its own; the next redraw follows it.

    Args:
        label: Shown first (changed by :meth:`phase`).
        stream: Where to draw (default: ``sys.stderr``).
        unit: What is counted; ``frames`` shows the rate as fps.
        interval: Shortest time between redraws, in seconds.
    """

    def __init__(self, label: str, stream=None, unit: str = "frames", interval: float = 0.1):
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interval = interval
        self._open = False  # a line is drawn and not ended
        self._breaker: _LineBreak | None = None
        self._width = 0
        self._last_draw = float("-inf")
        self._first = 0  # the stage's first count
        self._start: tuple[float, int] | None = None  # time and count of its first advance
        self._last: tuple[int, int | None] | None = None
        self._stale = False

    def phase(self, label: str) -> None:
        if label != self.label:
            self.label = label
            if self._last is not None:
                self._draw(*self._last)

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if self._last is None or done < self._last[0]:
            self._first, self._start = done, None
        elif self._start is None and done > self._first:
            self._start = (now, done)
        self._last = (done, total)
        if now - self._last_draw >= self.interval or (total is not None and done >= total):
            self._draw(done, total)
        else:
            self._stale = True

    def _rate(self, done: int) -> float | None:
        if self._start is None:
            return None
        t0, d0 = self._start
        elapsed = time.perf_counter() - t0
        return (done - d0) / elapsed if done > d0 and elapsed > 0 else None

    def _draw(self, done: int, total: int | None) -> None:
        rate = self._rate(done)
        per_s = "fps" if self.unit == "frames" else f"{self.unit}/s"
        speed = f", {rate:.1f} {per_s}" if rate is not None else ""
        if total:
            width = 30
            fill = int(width * min(done, total) / total)
            eta = f", ETA {_clock((total - done) / rate)}" if rate and done < total else ""
            text = f"{self.label} [{'#' * fill}{'.' * (width - fill)}] {done}/{total} {self.unit}{speed}{eta}"
        else:
            text = f"{self.label} {done} {self.unit}{speed}"
        if self._breaker is None:
            self._breaker = _LineBreak(self)
        # Pad over the remains of a longer previous line.
        self.stream.write("\r" + text.ljust(self._width if self._open else 0))
        self.stream.flush()
        self._width = len(text)
        self._last_draw = time.perf_counter()
        self._stale = False
        self._open = True

    def end_line(self) -> None:
        """End the drawn line, so that what is written next starts a line of its own."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def close(self) -> None:
        if self._stale and self._last is not None:
            self._draw(*self._last)
        self.end_line()
        if self._breaker is not None:
            self._breaker.detach()
            self._breaker = None


class _LineBreak(logging.Filter):
    """Attached to the logging handlers that write to a progress line's stream: ends the line before a record."""

    def __init__(self, bar: StderrProgress):
        super().__init__()
        self.bar = bar
        root = logging.getLogger()
        # With no handler configured, warnings go to logging.lastResort (stderr).
        handlers = root.handlers or ([logging.lastResort] if logging.lastResort else [])
        self.handlers = [h for h in handlers if getattr(h, "stream", None) is bar.stream]
        for h in self.handlers:
            h.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        self.bar.end_line()
        return True

    def detach(self) -> None:
        for h in self.handlers:
            h.removeFilter(self)
