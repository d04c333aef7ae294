"""neurocodec: scene-adaptive video compression mixing learned and classical codecs.

The public API is small::

    import neurocodec
    report = neurocodec.encode("in.mp4", "out.ncv", strategy="av1", crf=35)
    neurocodec.decode("out.ncv", "out.y4m")
    for frame in neurocodec.open("out.ncv").frames(): ...

Heavy modules load on first use, so ``import neurocodec`` stays cheap.
"""

from importlib import import_module

from ._version import __version__
from .errors import (
    EncoderError,
    InputError,
    ModelMismatchError,
    NcvFormatError,
    NeurocodecError,
    OutputExistsError,
    OutputIsInputError,
    SettingsError,
    SourceNotFoundError,
    UnknownStrategyError,
)

__all__ = [
    "__version__",
    "encode",
    "decode",
    "open",
    "info",
    "compare",
    "EncodingAgent",
    "DecodingAgent",
    "EncodeOptions",
    "EncodeReport",
    "Frame",
    "EncoderError",
    "InputError",
    "ModelMismatchError",
    "NcvFormatError",
    "NeurocodecError",
    "OutputExistsError",
    "OutputIsInputError",
    "SettingsError",
    "SourceNotFoundError",
    "UnknownStrategyError",
]

_LAZY = {
    "encode": ".api",
    "decode": ".api",
    "open": ".api",
    "info": ".api",
    "compare": ".api",
    "EncodingAgent": ".agents.encoder",
    "DecodingAgent": ".agents.decoder",
    "EncodeOptions": ".settings",
    "EncodeReport": ".report",
    "Frame": ".io.frame",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
