"""What executors run and hand back: a :class:`Task` (small plain data) and, for a failed one, :class:`TaskFailed`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import NeurocodecError

__all__ = ["Task", "TaskFailed"]


@dataclass(frozen=True)
class Task:
    """One job: ``fn(*args)`` (with ``progress=`` when reported), tagged with its scene index.

    ``fn`` must be a module-level function and ``args`` picklable plain data. ``index``
    orders results finished together (an int, or a tuple such as ``(file, scene)``);
    ``name`` is how errors name the job (default ``scene INDEX``).
    """

    index: Any
    fn: Callable[..., Any]
    args: tuple
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"scene {self.index}"


@dataclass(frozen=True)
class TaskFailed:
    """What an executor built with ``capture=True`` hands back for a task that raised: its label and the reason."""

    label: str
    reason: str

    @classmethod
    def of(cls, task: Task, exc: BaseException) -> TaskFailed:
        text = str(exc).splitlines()[0] if str(exc) else ""
        return cls(task.label, text if isinstance(exc, NeurocodecError) else f"{type(exc).__name__}: {text}")
