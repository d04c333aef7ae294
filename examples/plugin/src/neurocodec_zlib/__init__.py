"""An example third-party neurocodec strategy: ``zlib``, lossless (see ``examples/plugin/README.md``)."""

from .strategy import ZLIB_ID, ZlibOptions, ZlibStrategy

__all__ = ["ZLIB_ID", "ZlibOptions", "ZlibStrategy"]
