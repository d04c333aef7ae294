"""Exception classes.

Every error neurocodec raises on purpose derives from :class:`NeurocodecError`
and also from the builtin a caller would naturally catch (the PyAV convention),
so ``except ValueError`` keeps working for code that does not know neurocodec.
Messages are one line that names the file (and offset, for bitstream errors)
and what was wrong.
"""

from __future__ import annotations

__all__ = [
    "NeurocodecError",
    "InputError",
    "SourceNotFoundError",
    "OutputExistsError",
    "OutputIsInputError",
    "NcvFormatError",
    "UnknownStrategyError",
    "ModelMismatchError",
    "SettingsError",
    "EncoderError",
    "ToolError",
    "ToolMissingError",
]


class NeurocodecError(Exception):
    """Base class of all neurocodec errors."""


class InputError(NeurocodecError, ValueError):
    """An input (video, frame folder, raw YUV) cannot be read as video."""


class SourceNotFoundError(InputError, FileNotFoundError):
    """An input path does not exist."""


class OutputExistsError(NeurocodecError, FileExistsError):
    """The output path exists and overwriting was not requested."""


class OutputIsInputError(OutputExistsError):
    """The output path is an input (the same file, a link to it, or inside an input folder); overwriting is no help."""


class SettingsError(NeurocodecError, ValueError):
    """An option or setting is out of range or inconsistent."""


class UnknownStrategyError(NeurocodecError, LookupError):
    """No strategy is registered under a name or id."""


class EncoderError(NeurocodecError, RuntimeError):
    """A codec library failed while encoding."""


class ToolError(NeurocodecError, RuntimeError):
    """An external tool (the bundled FFmpeg binary) failed, timed out or was given bad arguments."""


class ToolMissingError(ToolError):
    """An external tool is not installed (``pip install imageio-ffmpeg`` provides FFmpeg)."""


class NcvFormatError(NeurocodecError, ValueError):
    """A ``.ncv`` file is truncated, corrupt, hostile or of an unsupported version.

    Args:
        message: What was wrong.
        offset: Byte offset in the file where the problem was found, if known.
        path: The file, if known.
    """

    def __init__(self, message: str, *, offset: int | None = None, path: str | None = None):
        self.offset = offset
        self.path = path
        self.reason = message
        parts = []
        if path is not None:
            parts.append(str(path))
        if offset is not None:
            parts.append(f"offset {offset}")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ModelMismatchError(NcvFormatError):
    """A segment needs model weights that are not available: none by its name, or of another hash."""
