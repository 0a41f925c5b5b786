"""Numeric answer equivalence (GSM8K and the arithmetic task).

A final answer is compared by value, not by text: ``18``, ``18.0``, ``$18``, ``18.00``,
``"18 dollars"``, ``"The answer is 18."`` are all 18, and ``1,800`` is 1800. The number read from
an answer (:func:`extract_number`) is the whole answer when it is a number (``"-3.5"``,
``"$1,200"``, ``"7/2"``, ``"25%"`` = 25), otherwise the *last* number in the text, the usual
GSM8K convention for free-form answers (``"16 - 3 - 4 = 9 eggs, so 18"`` reads 18). A whole
number followed by a fraction is a mixed number (``"3 1/2 cups"`` reads 3.5). Values are
equal when they agree within a relative tolerance of 1e-6 (absolute 1e-9 near zero).

Example:
    >>> numeric_match("$18.00", ["18"])["correct"]
    True
    >>> numeric_match("1,800 dollars", ["1800"])["correct"], numeric_match("17", ["18"])["correct"]
    (True, False)
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

__all__ = ["extract_number", "numeric_match"]

_NUMBER = re.compile(
    r"(?<![\w.])-?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+(?![\d.]))?|(?<![\w\d])-?\$?\.\d+"
)
_WHOLE = re.compile(
    r"\s*(?P<sign>[-+]?)\s*\$?\s*(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?\s*%?\s*\.?\s*"
)

#: the whole part of a mixed number, right before its fraction ("3 1/2", "-$2 3/4")
_MIXED_WHOLE = re.compile(r"(?<![\w.,/])(?P<sign>-?)\$?(?P<whole>\d+)[ \t]+$")


def _value(sign: str, num: str, den: str | None) -> float | None:
    x = float(num.replace(",", ""))
    if den is not None:
        d = float(den)
        if d == 0:
            return None
        x /= d
    x = -x if sign == "-" else x
    return x if math.isfinite(x) else None


def extract_number(text: Any) -> float | None:
    """The number an answer states (see the module docs), or ``None``.

    Example:
        >>> extract_number("18 dollars"), extract_number("1,018"), extract_number("7/2"), extract_number("none")
        (18.0, 1018.0, 3.5, None)
    """
    if text is None:
        return None
    s = unicodedata.normalize("NFKC", str(text)).replace("\u2212", "-").strip()
    m = _WHOLE.fullmatch(s)
    if m:
        return _value(m.group("sign"), m.group("num"), m.group("den"))
    found = list(_NUMBER.finditer(s))
    if not found:
        return None
    last = found[-1]
    raw = last.group(0).replace("$", "").replace(" ", "")
    sign = "-" if raw.startswith("-") else ""
    raw = raw.lstrip("-")
    num, _, den = raw.partition("/")
    value = _value(sign, num, den or None)
    whole = _MIXED_WHOLE.search(s, 0, last.start())
    if value is not None and den and "." not in num and whole:  # mixed number "3 1/2"
        w = float(whole.group("whole").replace(",", ""))
        value = -(w + value) if whole.group("sign") else w + value
    return value


def numeric_match(
    prediction: Any, golds: Sequence[Any] | Any, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9
) -> dict[str, Any]:
    """Whether ``prediction`` equals one of ``golds`` as a number.

    Returns ``{"correct": bool, "prediction": float | None, "gold": float | None}`` (``gold`` is the
    matched gold value, else the first readable one).

    Example:
        >>> numeric_match("18 dollars", ["18"])
        {'correct': True, 'prediction': 18.0, 'gold': 18.0}
    """
    if isinstance(golds, str | int | float):
        golds = [golds]
    pred = extract_number(prediction)
    values = [v for v in (extract_number(g) for g in golds) if v is not None]
    for v in values:
        if pred is not None and math.isclose(pred, v, rel_tol=rel_tol, abs_tol=abs_tol):
            return {"correct": True, "prediction": pred, "gold": v}
    return {"correct": False, "prediction": pred, "gold": values[0] if values else None}
