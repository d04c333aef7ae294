"""Coding strategies (one per way of coding a scene) and their registry."""

from .base import (
    ENTRY_POINT_GROUP,
    DecodeContext,
    Strategy,
    StrategySettings,
    available_strategies,
    get_strategy,
    get_strategy_by_id,
    register,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "DecodeContext",
    "Strategy",
    "StrategySettings",
    "available_strategies",
    "get_strategy",
    "get_strategy_by_id",
    "register",
]
