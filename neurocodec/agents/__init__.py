"""The two agents: a heavy encoder and a light decoder.

Imported lazily so that decoding (and ``neurocodec info``) never loads the
encoder's analysis and metric code.
"""

from importlib import import_module

__all__ = ["AUTO_STRATEGY", "DecodeReport", "DecodingAgent", "EncodingAgent", "describe"]

_WHERE = {
    "AUTO_STRATEGY": "encoder",
    "EncodingAgent": "encoder",
    "DecodeReport": "decoder",
    "DecodingAgent": "decoder",
    "describe": "decoder",
}


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
