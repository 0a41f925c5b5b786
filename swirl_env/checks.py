"""Argument checks shared by the environments, tools and retrieval: one message per kind of error.

Example:
    >>> int_at_least("max_tool_calls", 5, 0)
    5
    >>> int_at_least("max_tool_calls", 2.5, 0)
    Traceback (most recent call last):
    ...
    ValueError: max_tool_calls must be an integer >= 0, got 2.5
    >>> one_of("display", "exact", ("float", "exact"))
    'exact'
    >>> fraction("top_p", float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: top_p must be in [0, 1], got nan
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

__all__ = ["MAX_SECONDS", "finite", "fraction", "int_at_least", "one_of", "seconds"]

#: the longest wait any timeout may name (11.6 days): beyond it a deadline overflows clocks
MAX_SECONDS = 1e6


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


def one_of(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` when it is one of ``choices``; else ``ValueError`` naming ``name`` and listing them
    (``"mode must be 'generate' or 'score', got 'x'"``)."""
    if not any(isinstance(value, type(c)) and value == c for c in choices):
        listed = " or ".join(filter(None, [", ".join(map(repr, choices[:-1])), repr(choices[-1])]))
        raise ValueError(f"{name} must be {listed}, got {value!r}")
    return value


def fraction(name: str, value: Any) -> float:
    """``value`` as a ``float`` when it is a real number in ``[0, 1]`` (not a bool, not NaN);
    else ``ValueError`` naming ``name``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or math.isnan(value)
        or not 0.0 <= value <= 1.0
    ):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def finite(name: str, value: Any) -> float:
    """``value`` as a ``float`` when it is a finite real number (not a bool); else ``ValueError``
    naming ``name``.

    Example:
        >>> finite("weight", 2)
        2.0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def seconds(name: str, value: Any, *, zero: bool = False) -> float:
    """``value`` as a ``float`` when it is a number of seconds: real, not a bool, finite, > 0 (``>= 0``
    with ``zero=True``) and at most :data:`MAX_SECONDS`; else ``ValueError`` naming ``name``.

    Example:
        >>> seconds("timeout", 30)
        30.0
    """
    low = ">= 0" if zero else "> 0"
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or math.isnan(value)
        or not (value >= 0 if zero else value > 0)
        or value > MAX_SECONDS
    ):
        raise ValueError(f"{name} must be a number of seconds {low} and <= {MAX_SECONDS:g}, got {value!r}")
    return float(value)
