"""Coding strategies (one per way of coding a scene) and their registry."""

from .base import (
    ENTRY_POINT_GROUP,
    AutoCapability,
    DecodeContext,
    Strategy,
    StrategySettings,
    available_strategies,
    get_strategy,
    get_strategy_by_id,
    register,
)
from .options import OptionSpec, option

__all__ = [
    "ENTRY_POINT_GROUP",
    "AutoCapability",
    "DecodeContext",
    "OptionSpec",
    "Strategy",
    "StrategySettings",
    "available_strategies",
    "get_strategy",
    "get_strategy_by_id",
    "option",
    "register",
]
