"""Assembling the ``.ncv``: finished scenes from the part store, in order, through the bitstream writer.

Also the part files' metadata (:func:`part_meta`), written as each scene
finishes and read back here, and the per-segment reports built from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import av

from .._version import __version__
from ..analysis.scenes import Scene
from ..bitstream import NcvWriter
from ..bitstream.ancillary import pack_scene_rows
from ..io.frame import VideoInfo, padded_size
from ..metrics.quality import QualityAccumulator, VideoQuality
from ..report import SegmentReport
from ..strategies.base import get_strategy
from .parts import PartStore
from .scene import SceneResult

__all__ = ["Parts", "Assembled", "assemble", "part_meta"]


@dataclass(frozen=True)
class Parts:
    """What the ``.ncv`` is assembled from: every scene of ``scenes`` finished in ``store``."""

    dst: str | os.PathLike
    info: VideoInfo
    scenes: list[Scene]
    store: PartStore
    overwrite: bool = False


@dataclass(frozen=True)
class Assembled:
    """The written file's size, its segments, and the quality over all of them (None: not measured)."""

    bytes: int
    segments: list[SegmentReport]
    quality: dict[str, Any] | None


def part_meta(r: SceneResult) -> dict[str, Any]:
    """What the part store keeps beside a finished scene's payload (plain JSON)."""
    return {
        "strategy": r.strategy,
        "strategy_id": r.strategy_id,
        "params": r.params,
        "weight_hashes": [h.hex() for h in r.weight_hashes],
        "seconds": round(r.seconds, 3),
        "quality": r.quality.to_dict() if r.quality else None,
        "target_met": r.target_met,
        "decision": r.decision,
        "probes": r.probes,
        "tries": r.tries,
        "vmaf": r.vmaf,
    }


def assemble(parts: Parts) -> Assembled:
    """Write ``parts.dst`` (atomically) from the stored scenes; nothing is left behind if it fails."""
    info, scenes = parts.info, parts.scenes
    color = info.color
    writer = NcvWriter(
        parts.dst, width=info.width, height=info.height, fps=info.fps,
        color=(color.primaries, color.transfer, color.matrix, color.full_range),
        overwrite=parts.overwrite, meta=_writer_meta(),
    )
    padded = padded_size(info.width, info.height)
    reports: list[SegmentReport] = []
    overall = QualityAccumulator()
    have_quality = True
    try:
        for i, scene in enumerate(scenes):
            meta, payload = parts.store.get(i)
            size = writer.add_segment(
                strategy_id=meta["strategy_id"], strategy=meta["strategy"], frame_count=scene.frames,
                payload=payload, params=meta["params"],
                weight_hashes=tuple(bytes.fromhex(h) for h in meta["weight_hashes"]),
            )
            q = meta.get("quality")
            if q is None:
                have_quality = False
            else:
                overall.add_video(VideoQuality(**q))
            strategy = get_strategy(meta["strategy"])
            reports.append(SegmentReport(
                index=i, start_frame=scene.start_frame, end_frame=scene.end_frame, strategy=meta["strategy"],
                params=meta["params"] | strategy.reproduce(meta["params"], *padded, info.fps),
                bytes=size, encode_seconds=meta["seconds"], quality=q, target_met=meta.get("target_met"),
                probes=meta.get("probes", []), scene_class=scene.scene_class, transition=scene.transition,
                decision=meta.get("decision"), tries=meta.get("tries", []), vmaf=meta.get("vmaf"),
            ))
        writer.add_ancillary(b"scnb", _scenes_chunk(scenes, reports))
        nbytes = writer.close()
    except BaseException:
        writer.abort()
        raise
    return Assembled(nbytes, reports, overall.result().to_dict() if have_quality and overall.frames else None)


def _scenes_chunk(scenes: list[Scene], reports: list[SegmentReport]) -> bytes:
    """The ancillary ``scnb`` chunk: per segment, its class, transition and measured quality."""
    return pack_scene_rows([
        {"class": s.scene_class, "transition": s.transition,
         "psnr_yuv": (r.quality or {}).get("psnr_yuv"), "ssim": (r.quality or {}).get("ssim")}
        for s, r in zip(scenes, reports)
    ])


def _writer_meta() -> dict[str, str]:
    """Written once per file: who wrote it, with which FFmpeg (the classical encoders' version)."""

    return {"writer": f"neurocodec {__version__}", "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))}
