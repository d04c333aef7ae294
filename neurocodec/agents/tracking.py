"""Progress of an encode: frames read by the analysis, then frames taken by the final encodes.

The executors pass each scene job's reports, ``(index, phase, frames)``, to
:meth:`EncodeTracker.scene`; the coordinator tells it when a scene is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .._progress import counted, set_phase
from ..analysis.scenes import Scene
from ..io.frame import Frame
from ..io.readers import VideoSource

__all__ = ["ProgressCallback", "CountedSource", "EncodeTracker"]

ProgressCallback = Callable[[int, int | None], None]


class CountedSource(VideoSource):
    """``source`` whose frame iteration reports how many frames were read."""

    def __init__(self, source: VideoSource, report: Callable[[int], None]):
        self.source, self.path, self.info, self.report = source, source.path, source.info, report

    def frames(self) -> Iterator[Frame]:
        return counted(self.source.frames(), self.report)


class EncodeTracker:
    """Per-scene reports folded into the encode's progress: frames taken by the final encodes, and a phase label.

    A scene's count only grows (a target search re-encoding it does not move
    the count back) and is complete once the scene is stored. The label names
    what the earliest unfinished scene, the one the output waits for, is doing.
    """

    def __init__(self, progress: ProgressCallback, scenes: list[Scene], finished: set[int]):
        self.progress = progress
        self.sizes = [s.frames for s in scenes]
        self.done = [n if i in finished else 0 for i, n in enumerate(self.sizes)]
        self.phases = ["done" if i in finished else "encode" for i in range(len(scenes))]
        self.total = sum(self.sizes)
        self.count = sum(self.done)
        self.first = 0
        self.label: str | None = None
        self._last: int | None = None
        self._advance()
        self._emit()

    def scene(self, index: int, phase: str, frames: int) -> None:
        if self.phases[index] == "done":
            return  # a late report from a worker
        self.phases[index] = phase
        self._add(index, min(frames, self.sizes[index]))
        self._emit()

    def finished(self, index: int) -> None:
        self._add(index, self.sizes[index])
        self.phases[index] = "done"
        self._advance()
        self._emit()

    def _add(self, index: int, frames: int) -> None:
        if frames > self.done[index]:
            self.count += frames - self.done[index]
            self.done[index] = frames

    def _advance(self) -> None:
        while self.first < len(self.phases) and self.phases[self.first] == "done":
            self.first += 1

    def _emit(self) -> None:
        phase = self.phases[self.first] if self.first < len(self.phases) else "encode"
        label = "encode" if phase == "encode" else f"encode [{phase}]"
        if label != self.label:
            self.label = label
            set_phase(self.progress, label)
        if self.count != self._last:
            self._last = self.count
            self.progress(self.count, self.total)
