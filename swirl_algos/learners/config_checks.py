"""Construction-time checks of the learner and suite configs: each field's type from its
annotation (``bool``, ``int``, ``float``, ``str``, ``list``, ``dict``, each optionally ``| None``;
a union of several types is not checked), each numeric field's range from the class's ``BOUNDS``.

A config is built from Python, from ``swirl train`` flags, from ``--set`` or from a saved JSON; a
value of the wrong type or out of range is an error that names the field there, not a failure deep
inside training (a ``temperature`` of 0 would make every log-prob NaN).

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Cfg:
    ...     temperature: float = 1.0
    ...     BOUNDS = {"temperature": Bound(low=0, low_open=True)}
    >>> check_fields(Cfg(temperature=0.7))
    >>> check_fields(Cfg(temperature=0))
    Traceback (most recent call last):
    ...
    ValueError: temperature must be > 0, got 0
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Bound", "check_fields"]


@dataclass(frozen=True)
class Bound:
    """The range of a numeric field (``None``: no bound on that side).

    Example:
        >>> Bound(low=0, high=1, low_open=True).describe()
        'in (0, 1]'
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def describe(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"


def _kind(annotation: Any) -> tuple[str | None, bool]:
    """``("bool" | "int" | "float" | "str" | "list" | "dict" | None, None allowed)`` of a field's
    (string) annotation; ``None`` for a union of several types or any other type."""
    parts = [p.strip() for p in str(annotation).split("|")]
    optional = "None" in parts
    rest = [p.split("[", 1)[0] for p in parts if p != "None"]
    known = ("bool", "int", "float", "str", "list", "dict")
    return (rest[0] if len(rest) == 1 and rest[0] in known else None), optional


_CONTAINERS: dict[str, tuple[type, ...]] = {"str": (str,), "list": (list, tuple), "dict": (Mapping,)}


def check_fields(config: Any) -> None:
    """Check every ``bool`` / ``int`` / ``float`` / ``str`` / ``list`` / ``dict`` field of the
    dataclass ``config`` (``X | None`` also takes ``None``): a bool is a bool, an int an integer
    (not a bool), a float a finite real number (an integer too), a str a string, a list a list or
    tuple, a dict a mapping; numbers within the class's ``BOUNDS`` (merged over its bases).
    Raises ``TypeError`` or ``ValueError`` naming the field."""
    bounds: dict[str, Bound] = {}
    for cls in reversed(type(config).__mro__):
        bounds.update(cls.__dict__.get("BOUNDS", {}))
    for f in dataclasses.fields(config):
        kind, optional = _kind(f.type)
        value = getattr(config, f.name)
        if kind is None or (optional and value is None):
            continue
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError(f"{f.name} must be True or False, got {value!r}")
            continue
        if kind in _CONTAINERS:
            if not isinstance(value, _CONTAINERS[kind]):
                what = {"str": "a string", "list": "a list", "dict": "a mapping"}[kind]
                raise TypeError(f"{f.name} must be {what}{' or None' if optional else ''}, got {value!r}")
            continue
        if isinstance(value, bool) or not isinstance(
            value, numbers.Integral if kind == "int" else numbers.Real
        ):
            what = "an integer" if kind == "int" else "a number"
            raise TypeError(f"{f.name} must be {what}{' or None' if optional else ''}, got {value!r}")
        if kind == "float" and not math.isfinite(float(value)):
            raise ValueError(f"{f.name} must be a finite number, got {value!r}")
        bound = bounds.get(f.name)
        if bound is not None and not bound.contains(value):
            raise ValueError(f"{f.name} must be {bound.describe()}, got {value!r}")
