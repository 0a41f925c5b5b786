"""Argument checks shared by the environments, tools and retrieval: one message per kind of error.

Example:
    >>> int_at_least("max_tool_calls", 5, 0)
    5
    >>> int_at_least("max_tool_calls", 2.5, 0)
    Traceback (most recent call last):
    ...
    ValueError: max_tool_calls must be an integer >= 0, got 2.5
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["int_at_least"]


def int_at_least(name: str, value: Any, low: int | None = None) -> int:
    """``value`` as an ``int`` when it is an integer (not a bool; numpy integers too) and at least
    ``low`` (``None``: any integer); else ``ValueError`` naming ``name``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or (low is not None and value < low)
    ):
        need = "an integer" if low is None else f"an integer >= {low}"
        raise ValueError(f"{name} must be {need}, got {value!r}")
    return int(value)
