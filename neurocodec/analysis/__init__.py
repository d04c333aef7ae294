"""Scene analysis: shot boundaries, per-scene features and classes, scenes as data."""

from .scenes import Scene, Transition, load_scenes, save_scenes, split_scenes

__all__ = ["Scene", "Transition", "load_scenes", "save_scenes", "split_scenes"]
