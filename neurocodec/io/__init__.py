"""Video input and output: readers, writers, and the frame model."""

from .frame import ColorInfo, Frame, VideoInfo, chroma_size, crop, frame_nbytes, pad_to_even
from .readers import VideoSource, open_source, parse_fps, parse_size
from .writers import VideoWriter, open_writer, write_video

__all__ = [
    "ColorInfo",
    "Frame",
    "VideoInfo",
    "VideoSource",
    "VideoWriter",
    "chroma_size",
    "crop",
    "frame_nbytes",
    "open_source",
    "open_writer",
    "pad_to_even",
    "parse_fps",
    "parse_size",
    "write_video",
]
