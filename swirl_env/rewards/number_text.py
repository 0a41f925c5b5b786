"""Numbers mentioned in text, for the rule-based math judge.

A word problem states its numbers in many forms: digits (``16``, ``$1,200.50``, ``3.5``), words
(``three``, ``twenty-five``, ``a dozen``), fractions (``1/4``, ``half``, ``a third``), percentages
(``20%``) and multipliers (``twice``, ``triple``). :func:`numbers_in_text` returns every value a
solver may legitimately take from such a text, including the derived forms a solution writes in an
expression (``20%`` gives ``20`` and ``0.2``; ``1/4`` gives ``1``, ``4`` and ``0.25``; ``half``
gives ``0.5`` and ``2``). :func:`expression_operands` returns the numeric literals of a calculator
expression, and :func:`contains_number` compares values (whole numbers exactly, others with a
relative tolerance).

Example:
    >>> sorted(numbers_in_text("She eats three eggs and sells 20% of the rest for $1,200."))
    [0.01, 0.2, 0.8, 3.0, 20.0, 80.0, 100.0, 1200.0]
    >>> expression_operands("(16 - 3 - 4) * 2")
    [16.0, 3.0, 4.0, 2.0]
    >>> contains_number({0.25, 7.0}, 0.250000001)
    True
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

__all__ = [
    "UNIT_CONSTANTS",
    "contains_number",
    "expression_operands",
    "first_number",
    "numbers_in_text",
    "parse_number",
    "unit_constants",
]

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
}
#: words that stand for numbers (each gives every listed value)
_SPECIAL: dict[str, tuple[float, ...]] = {
    "half": (0.5, 2),
    "halves": (0.5, 2),
    "twice": (2,),
    "double": (2,),
    "doubled": (2,),
    "doubles": (2,),
    "triple": (3,),
    "tripled": (3,),
    "triples": (3,),
    "thrice": (3,),
    "quadruple": (4,),
    "quadrupled": (4,),
    "once": (1,),
    "quarter": (0.25, 0.75, 4),
    "quarters": (0.25, 0.75, 4),
    "dozen": (12,),
    "dozens": (12,),
    "pair": (2,),
    "pairs": (2,),
    "couple": (2,),
    "twins": (2,),
    "percent": (100,),
    "single": (1,),
}
_PLURAL_ORDINALS = {w + "s": v for w, v in _ORDINALS.items() if v >= 3}  # "two thirds"

#: conversion factors a solver may use without their being stated, keyed by a regex of the unit
#: words that make them relevant (``"How many hours ..."`` allows 60; ``"per week"`` allows 7 and 52).
UNIT_CONSTANTS: dict[str, tuple[float, ...]] = {
    r"\b(?:hours?|minutes?|seconds?|hourly)\b": (60,),
    r"\b(?:days?|daily|nights?)\b": (24, 7, 30, 365),
    r"\b(?:weeks?|weekly|weekend|weekdays?)\b": (7, 52, 4, 5),
    r"\b(?:months?|monthly)\b": (12, 30, 4),
    r"\b(?:years?|yearly|annual(?:ly)?|per annum)\b": (12, 52, 365),
    r"\b(?:decades?)\b": (10,),
    r"\b(?:century|centuries)\b": (100,),
    r"\$|\b(?:cents?|dollars?|percent(?:age)?)\b|%": (100, 0.01),
    r"\b(?:feet|foot|inch(?:es)?)\b": (12,),
    r"\b(?:yards?)\b": (3,),
    r"\b(?:gallons?|quarts?)\b": (4,),
    r"\b(?:kilo\w*|grams?|meters?|km|liters?|litres?|ml|milliliters?)\b": (1000,),
    r"\b(?:pounds?|ounces?|oz|lbs?)\b": (16,),
    r"\b(?:dozens?)\b": (12,),
}

_NUM_RE = re.compile(
    r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\d])|(?<![\w.\d])\.\d+"
)
_FRACTION_RE = re.compile(r"(?<![\w.])(\d+)\s*/\s*(\d+)(?![\d.])")
_PERCENT_RE = re.compile(r"((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\s*(?:%|percent\b)", re.IGNORECASE)
_WORD_RE = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
_OPERAND_RE = re.compile(r"(?<![A-Za-z_])(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(text: str) -> float | None:
    """A number written with digits (``"1,200"``, ``"$3.50"``, ``"-2"``, ``"7/2"``), else ``None``.

    Example:
        >>> parse_number("$1,200.50"), parse_number("7/2"), parse_number("abc")
        (1200.5, 3.5, None)
    """
    s = text.strip().replace("$", "").replace(",", "").strip()
    s = s.rstrip("%").strip()
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)", s)
    if m:
        den = float(m.group(2))
        return float(m.group(1)) / den if den else None
    try:
        value = float(s)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def first_number(text: str) -> float | None:
    """The first number written with digits in ``text`` (sign and fraction aware), else ``None``.

    Used to read a final answer (``"$18"``, ``"18 dollars"``, ``"-3"``, ``"7/2"``).

    Example:
        >>> first_number("She makes $1,018 a day"), first_number("-3.5 degrees"), first_number("7/2")
        (1018.0, -3.5, 3.5)
    """
    m = re.search(r"-?\$?\s*(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?|-?\$?\.\d+", text)
    if not m:
        return None
    return parse_number(m.group(0).replace(" ", ""))


def _words_value(words: list[str]) -> list[float]:
    """Values of a run of number words (``["twenty", "five"]`` -> 25; ``["two", "hundred"]`` -> 200)."""
    out: list[float] = []
    total, current, seen = 0, 0, False
    for w in words:
        if w in _UNITS:
            current += _UNITS[w]
            seen = True
        elif w in _TENS:
            current += _TENS[w]
            seen = True
        elif w in _SCALES:
            current = max(current, 1) * _SCALES[w]
            if _SCALES[w] >= 1000:
                total += current
                current = 0
            seen = True
    if seen:
        out.append(float(total + current))
    return out


def numbers_in_text(text: str, *, derived: bool = True) -> set[float]:
    """Every number stated in ``text`` (digits, words, fractions, percentages, multipliers).

    Args:
        text: any text (a question, a tool result).
        derived: also add the forms a solution may write (``20%`` -> ``0.2``, ``1/4`` -> ``0.25``,
            ``two thirds`` -> ``2/3``, ``half`` -> ``0.5`` and ``2``).

    Example:
        >>> sorted(numbers_in_text("twenty-five apples, a quarter of them, 1/2 of 3.5"))
        [0.25, 0.5, 0.75, 1.0, 2.0, 3.5, 4.0, 25.0]
    """
    found: set[float] = set()
    for m in _NUM_RE.finditer(text):
        v = parse_number(m.group(0))
        if v is not None:
            found.add(v)
    if derived:
        for m in _FRACTION_RE.finditer(text):
            num, den = float(m.group(1)), float(m.group(2))
            if den:
                found.update((num / den, (den - num) / den))  # "1/4 of them" and the other 3/4
        for m in _PERCENT_RE.finditer(text):
            v = parse_number(m.group(1))
            if v is not None:
                found.update((v / 100, 100.0, 0.01))
                if 0 < v < 100:  # "25% are at the surface": the rest is 75% / 0.75
                    found.update((100 - v, (100 - v) / 100))
    # number words: runs of unit/tens/scale words, then special words and ordinals
    tokens = [w.lower() for m in _WORD_RE.finditer(text) for w in m.group(0).split("-")]
    run: list[str] = []
    prev_count: float | None = None
    for i, w in enumerate([*tokens, ""]):
        if w in _UNITS or w in _TENS or w in _SCALES or (w == "and" and run and i + 1 < len(tokens)):
            if w != "and":
                run.append(w)
            continue
        if run:
            values = _words_value(run)
            found.update(values)
            prev_count = values[-1] if values else None
            run = []
        else:
            prev_count = None if w not in ("a", "an") else 1.0
        if w in _SPECIAL:
            found.update(float(v) for v in _SPECIAL[w])
        if w in _ORDINALS or w in _PLURAL_ORDINALS:
            n = _ORDINALS.get(w) or _PLURAL_ORDINALS[w]
            found.add(float(n))
            if derived and n >= 3 and prev_count is not None:  # "a third", "two thirds"
                found.update((prev_count / n, (n - prev_count) / n))
        if w == "percent" and derived:
            found.add(0.01)
    return found


def unit_constants(text: str, table: dict[str, tuple[float, ...]] | None = None) -> set[float]:
    """Conversion factors made relevant by the unit words of ``text`` (see :data:`UNIT_CONSTANTS`).

    Example:
        >>> sorted(unit_constants("How many minutes does she walk per week?"))
        [4.0, 5.0, 7.0, 52.0, 60.0]
    """
    out: set[float] = set()
    for pattern, values in (UNIT_CONSTANTS if table is None else table).items():
        if re.search(pattern, text, re.IGNORECASE):
            out.update(float(v) for v in values)
    return out


def expression_operands(expression: str) -> list[float]:
    """The numeric literals of a calculator expression, unsigned (``"2*-3"`` -> ``[2.0, 3.0]``).

    Example:
        >>> expression_operands("1.5e3 + .5 - 2**3")
        [1500.0, 0.5, 2.0, 3.0]
    """
    out = []
    for m in _OPERAND_RE.finditer(expression):
        try:
            out.append(float(m.group(0)))
        except ValueError:  # pragma: no cover - the regex only matches floats
            continue
    return out


def contains_number(
    values: Iterable[float], x: float, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9
) -> bool:
    """Whether ``x`` equals one of ``values``: exactly between integers, else up to a tolerance.

    Two whole numbers compare exactly (``1450001`` is not ``1450000``). The relative tolerance
    applies only when a value has a fractional part, i.e. where a float is genuinely involved
    (a calculator result such as ``0.333333333333333`` against ``1/3``).

    Example:
        >>> contains_number([1450000.0], 1450001.0), contains_number([1 / 3], 0.333333333333333)
        (False, True)
    """
    x_whole = float(x).is_integer()
    for v in values:
        if x_whole and float(v).is_integer():
            if x == v:
                return True
        elif math.isclose(x, v, rel_tol=rel_tol, abs_tol=abs_tol):
            return True
    return False
