"""Numeric answer equivalence (GSM8K and the arithmetic task).

A final answer is compared by value, not by text, and values are **exact rationals**
(:class:`fractions.Fraction`): ``18``, ``18.0``, ``$18``, ``18.00``, ``"18 dollars"``,
``"The answer is 18."`` are all 18, ``1,800`` is 1800, and ``1,450,001`` is not ``1,450,000``.

**Reading the answer's number** (:func:`read_number`), as a person reads it:

* the number is the whole answer when it is one (``"-3.5"``, ``"$1,200"``, ``"7/2"``, ``"25%"`` =
  25, ``"1.5e3"``), otherwise the *last* number of the text, the usual GSM8K convention for
  free-form answers (``"16 - 3 - 4 = 9 eggs, so 18"`` reads 18);
* a fraction is its value (``"36/2"`` and ``"\\frac{36}{2}"`` are 18); a whole number right before
  a proper fraction is a mixed number (``"3 1/2"``, ``"3½"`` and ``"3 ½"`` are 3.5); a slash
  before a word is "per" (``"$2/hour"`` reads 2);
* a minus sign is a sign only where it cannot be subtraction: ``"-3"``, ``"x = -3"``, ``"from 5 to
  -3"`` read -3; a hyphen after a word is not a sign (``"COVID-19"`` reads 19);
* an exponent of a unit is not a number (``"18 cm^2"``, ``"18 cm²"``, ``"18 m**2"`` read 18);
  ``"1.5 × 10^6"`` is scientific notation (1500000);
* Markdown emphasis and LaTeX wrappers are read through (``**18**``, ``\\boxed{18}``, ``\\$18``, ``18\\%``, ``\\text{ dollars}``,
  ``1\\,000``, ``1{,}000``);
* **refused** (no number, so the answer is wrong) when the reading is ambiguous: the number is an
  operand of an unevaluated expression (``"5 - 3"``, ``"x = 2 * 9"``, ``"2^10"``, ``"√16"``,
  ``"3 x 4"``), or it is malformed or a list (``"3,5"``, ``"1.2.3"``, ``"12/25/2020"``,
  ``"3:30"``), or a fraction has a zero denominator, or it has more than 300 digits or an exponent
  beyond ±300.

**Equality**: two numbers are equal when their exact values are. A tolerance exists only where a
rounded repeating decimal is genuinely involved: when one side is a rational with no finite
decimal expansion (``1/3``, ``10/3``) and the other is a decimal written with at least two places,
they match if the decimal is that value rounded (half away from zero) or truncated to its own
places (``0.33``, ``0.333``, ``0.67``, ``0.66`` for ``1/3`` and ``2/3``), or is the nearest binary
float's shortest form (``3.3333333333333335`` for ``10/3``). Integers and finite decimals always
compare exactly.

Example:
    >>> numeric_match("$18.00", ["18"])["correct"]
    True
    >>> numeric_match("1,800 dollars", ["1800"])["correct"], numeric_match("17", ["18"])["correct"]
    (True, False)
    >>> numeric_match("1,450,001", ["1450000"])["correct"]
    False
    >>> extract_number("3½"), extract_number("\\\\frac{36}{2}"), extract_number("18 cm^2"), extract_number("5 - 3")
    (3.5, 18.0, 18.0, None)
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = ["extract_number", "numbers_equal", "numeric_match", "read_number"]

#: longest digit string read as a number, and largest decimal exponent
MAX_DIGITS = 300
MAX_EXPONENT = 300

# --- characters mapped before NFKC (which would glue them to neighbouring digits) -------------
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUPER_RUN = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+")
_SUB_RUN = re.compile(r"[₀₁₂₃₄₅₆₇₈₉₋₊]+")


def _vulgar_fractions() -> dict[str, str]:
    out = {}
    for cp in list(range(0xA0, 0x100)) + list(range(0x2150, 0x2190)):
        c = chr(cp)
        if unicodedata.decomposition(c).startswith("<fraction>"):
            m = re.fullmatch(r"([0-9]+)\u2044([0-9]+)", unicodedata.normalize("NFKC", c))
            if m:
                out[c] = f"{m.group(1)}/{m.group(2)}"
    return out


_VULGAR = _vulgar_fractions()
_VULGAR_RE = re.compile("(?P<pre>[0-9]?)(?P<f>[" + "".join(_VULGAR) + "])")

# --- LaTeX ----------------------------------------------------------------------------------------
_LATEX_NUM = r"\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*"
_LATEX_FRAC = re.compile(
    r"\\[dt]?frac\s*(?:\{" + _LATEX_NUM + r"\}|([0-9]))\s*(?:\{" + _LATEX_NUM + r"\}|([0-9]))"
)
_LATEX_WRAP = re.compile(
    r"\\(?:boxed|fbox|text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"
)
_LATEX_SUBS = (
    ("\\$", "$"),
    ("\\%", "%"),
    ("{,}", ","),
    ("\\left", ""),
    ("\\right", ""),
    ("\\times", "×"),
    ("\\cdot", "·"),
    ("\\div", "÷"),
    ("\\ast", "*"),
    ("\\,", " "),
    ("\\;", " "),
    ("\\:", " "),
    ("\\!", ""),
    ("\\ ", " "),
    ("\\(", " "),
    ("\\)", " "),
    ("\\[", " "),
    ("\\]", " "),
)
_LATEX_THIN_SEP = re.compile(r"(?<=[0-9])\\[,;!:](?=[0-9]{3}(?![0-9]))")
_LATEX_CMD = re.compile(r"\\[A-Za-z]+")
_LATEX_CMD_ARGS = re.compile(r"\\[A-Za-z]+\s*(?:\{[^{}]*\}\s*)+")

# --- numbers ------------------------------------------------------------------------------------
_DIGITS = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)"
_TOKEN = re.compile(
    r"(?<![\w.])(?<![0-9][,:/])(?P<num>" + _DIGITS + r"(?:\.[0-9]+)?|\.[0-9]+)(?P<exp>[eE][-+]?[0-9]+)?"
    r"(?:\s*/\s*(?P<den>" + _DIGITS + r"(?:\.[0-9]+)?)(?P<dexp>[eE][-+]?[0-9]+)?)?"
)
_SCI = re.compile(
    r"(?<![\w.])(?P<m>" + _DIGITS + r"(?:\.[0-9]+)?)\s*(?:×|\*|·|x|X)\s*10\s*(?:\^|\*\*)\s*"
    r"(?:\{\s*(?P<e1>[-+]?[0-9]+)\s*\}|\(\s*(?P<e2>[-+]?[0-9]+)\s*\)|(?P<e3>[-+]?[0-9]+))"
)
_MIXED_WHOLE = re.compile(r"(?<![\w.,/])(?P<sign>-?)\$?(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)[ \t]+$")
_MARKDOWN_EMPHASIS = re.compile(r"(?<![\w*])(\*{1,2}|_{1,2})(?=\S)([^*_\n]+?)(?<=\S)\1(?![\w*])")
_TIMES_X = re.compile(r"(?<=[0-9])\s*[xX]\s*(?=[0-9.$])")
_BINARY_OPS = frozenset("+-*/×·÷")
_UNARY_OPS = frozenset("√∛∜\\")
_OPENERS = frozenset("([{")


@dataclass(frozen=True)
class _Reading:
    value: Fraction
    #: digits after the decimal point of a plain decimal (``None`` for fractions and exponents)
    places: int | None


def _to_ascii_digits(s: str) -> str:
    if s.isascii():
        return s
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in s)


def _prepare(text: str) -> str:
    s = text
    if not s.isascii():
        s = _VULGAR_RE.sub(
            lambda m: (m.group("pre") + " " if m.group("pre") else "") + _VULGAR[m.group("f")], s
        )
        s = _SUPER_RUN.sub(lambda m: "^" + m.group(0).translate(_SUPERSCRIPTS), s)
        s = _SUB_RUN.sub("_", s)
        s = unicodedata.normalize("NFKC", s)
        s = _to_ascii_digits(s)
        s = s.replace("\u2212", "-").replace("\u2013", "-").replace("\u2044", "/").replace("\u2009", " ")
    if "\\" in s or "{," in s:
        s = _LATEX_THIN_SEP.sub(",", s)
        s = _LATEX_FRAC.sub(lambda m: f" {m.group(1) or m.group(2)}/{m.group(3) or m.group(4)} ", s)
        for _ in range(3):  # nested wrappers: \boxed{\text{18}}
            s = _LATEX_WRAP.sub(r" \1 ", s)
        for a, b in _LATEX_SUBS:
            s = s.replace(a, b)
        # any other command (\sqrt{16}, \frac{x}{2}): an operator whose arguments are not answers
        s = _LATEX_CMD_ARGS.sub(" √ ", s)
        s = _LATEX_CMD.sub(" √ ", s).replace("{", " ").replace("}", " ")
    if "*" in s or "_" in s:
        s = _MARKDOWN_EMPHASIS.sub(r" \2 ", s)  # **18**, _18_
    s = _SCI.sub(lambda m: f"{m.group('m')}e{m.group('e1') or m.group('e2') or m.group('e3')}", s)
    return _TIMES_X.sub(" × ", s)


def _decimal(num: str, exp: str | None) -> tuple[Fraction, int | None] | None:
    digits = num.replace(",", "")
    if len(digits) > MAX_DIGITS + 1:  # (+1: the decimal point)
        return None
    whole, _, frac = digits.partition(".")
    value = Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))
    if exp is not None:
        e = int(exp[1:])
        if abs(e) > MAX_EXPONENT:
            return None
        value *= Fraction(10) ** e
        return value, None
    return value, len(frac) if "." in digits else 0


def _prev_char(s: str, i: int) -> tuple[str, int]:
    """The last non-space character before ``i`` (skipping opening brackets), and its index."""
    i -= 1
    while i >= 0 and (s[i].isspace() or s[i] in _OPENERS):
        i -= 1
    return (s[i], i) if i >= 0 else ("", -1)


def _next_char(s: str, i: int) -> tuple[str, int]:
    while i < len(s) and s[i].isspace():
        i += 1
    return (s[i], i) if i < len(s) else ("", len(s))


def _reads_as_value(ch: str) -> bool:
    """Whether ``ch`` ends something a binary operator can take as its left operand."""
    return ch != "" and (ch.isdigit() or ch in ")]}%.")


def _token_reading(s: str, m: re.Match[str]) -> _Reading | str | None:
    """The reading of one number token, ``"skip"`` (a unit's exponent) or ``None`` (ambiguous)."""
    start, end = m.start(), m.end()
    if end < len(s) and (s[end].isdigit() or (s[end] in ",.:/" and s[end + 1 : end + 2].isdigit())):
        return None  # "1,0000", "3,5", "1.2.3", "3:30", "12/25/2020": malformed or a list
    first = _decimal(m.group("num"), m.group("exp"))
    if first is None:
        return None
    value, places = first
    if m.group("den") is not None:
        den = _decimal(m.group("den"), m.group("dexp"))
        if den is None or den[0] == 0:
            return None
        value, places = value / den[0], None
    # what stands before the number: a currency sign, a sign or hyphen, an operator, an exponent mark
    j = start
    while j > 0 and s[j - 1] in " \t$":
        j -= 1
    negative = False
    if j > 0 and s[j - 1] in "+-":
        k = j - 1
        before, _ = _prev_char(s, k)
        if _reads_as_value(before):
            return None  # "5 - 3", "5-3", "2+2": an unevaluated sum or difference
        if not (k > 0 and s[k - 1].isalpha()):  # not the hyphen of "COVID-19"
            negative = s[k] == "-"
        j = k
    prev, pi = _prev_char(s, j)
    if prev == "^" or (prev == "*" and pi > 0 and s[pi - 1] == "*"):
        base, _ = _prev_char(s, pi if prev == "^" else pi - 1)
        if base.isalpha():
            return "skip"  # "cm^2", "m**2": the exponent of a unit
        return None  # "2^10": a power
    if prev in _BINARY_OPS or prev in _UNARY_OPS:
        return None  # "2 * 9", "√16", "\\sqrt{2}": an operand
    nxt, ni = _next_char(s, end)
    if nxt == "%":
        nxt, ni = _next_char(s, ni + 1)
    if nxt == "^" or s.startswith("**", ni):
        return None  # "2^n": a power
    if nxt in _BINARY_OPS:
        after, _ = _next_char(s, ni + 1)
        if after and (after.isdigit() or after in "($.√\\" or (nxt in "*×·÷" and after.isalpha())):
            return None  # "18 / 3x", "4 * (2)", "2 * x": the left operand (but "$2/hour" is a rate)
    if prev.isdigit() and m.group("den") is None:
        return None  # "1 000", "2 3": two bare numbers side by side
    if negative:
        value = -value
    # a mixed number: a whole number, blanks, then this proper fraction ("3 1/2", "-$2 3/4")
    if m.group("den") is not None and "." not in m.group("num") and 0 < value < 1 and not negative:
        w = _MIXED_WHOLE.search(s, 0, start)
        if w and len(w.group("whole")) <= MAX_DIGITS:
            value = int(w.group("whole").replace(",", "")) + value
            if w.group("sign"):
                before, _ = _prev_char(s, w.start())
                if _reads_as_value(before):
                    return None
                value = -value
    if value and not Fraction(1, 10**MAX_EXPONENT) <= abs(value) < 10**MAX_EXPONENT:
        return None  # beyond any answer (and beyond a float)
    return _Reading(value, places)


def _read(text: Any) -> _Reading | None:
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int):
        return _Reading(Fraction(text), 0) if len(str(abs(text))) <= MAX_DIGITS else None
    if isinstance(text, float):
        if not math.isfinite(text):
            return None
        text = repr(text)
    s = _prepare(str(text))
    for m in reversed(list(_TOKEN.finditer(s))):  # the last number that is not a unit's exponent
        r = _token_reading(s, m)
        if r != "skip":
            return r if isinstance(r, _Reading) else None
    return None


def read_number(text: Any) -> Fraction | None:
    """The exact number an answer states (see the module docs), or ``None`` when it states none.

    Example:
        >>> read_number("$1,018.50"), read_number("3 1/2 cups"), read_number("x = 5 - 3")
        (Fraction(2037, 2), Fraction(7, 2), None)
    """
    r = _read(text)
    return None if r is None else r.value


def extract_number(text: Any) -> float | None:
    """The number an answer states, as a float (see :func:`read_number`), or ``None``.

    Example:
        >>> extract_number("18 dollars"), extract_number("1,018"), extract_number("7/2"), extract_number("none")
        (18.0, 1018.0, 3.5, None)
    """
    v = read_number(text)
    return None if v is None else float(v)


def _terminates(q: Fraction) -> bool:
    d = q.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _cut(q: Fraction, places: int, *, rounded: bool) -> Fraction:
    scaled = abs(q) * 10**places
    n = math.floor(scaled + Fraction(1, 2)) if rounded else math.floor(scaled)
    return Fraction(n if q >= 0 else -n, 10**places)


def _equal(a: _Reading, b: _Reading) -> bool:
    if a.value == b.value:
        return True
    for dec, rep in ((a, b), (b, a)):
        if dec.places is not None and dec.places >= 2 and not _terminates(rep.value):
            if dec.value in (
                _cut(rep.value, dec.places, rounded=True),
                _cut(rep.value, dec.places, rounded=False),
            ):
                return True
            if float(dec.value) == float(rep.value):  # the shortest form of the nearest double
                return True
    return False


def numbers_equal(a: Any, b: Any) -> bool:
    """Whether two answers state the same number (exactly; see the module docs for the one tolerance).

    Example:
        >>> numbers_equal("1,450,001", 1450000), numbers_equal("0.33", "1/3"), numbers_equal("0.3", "1/3")
        (False, True, False)
    """
    ra, rb = _read(a), _read(b)
    return ra is not None and rb is not None and _equal(ra, rb)


def numeric_match(prediction: Any, golds: Sequence[Any] | Any) -> dict[str, Any]:
    """Whether ``prediction`` states the same number as one of ``golds``.

    Returns ``{"correct": bool, "prediction": float | None, "gold": float | None}`` (``gold`` is the
    matched gold value, else the first readable one; the values are floats for reporting, the
    comparison is exact).

    Example:
        >>> numeric_match("18 dollars", ["18"])
        {'correct': True, 'prediction': 18.0, 'gold': 18.0}
    """
    if isinstance(golds, str | int | float):
        golds = [golds]
    pred = _read(prediction)
    values = [v for v in (_read(g) for g in golds) if v is not None]
    out_pred = None if pred is None else float(pred.value)
    for v in values:
        if pred is not None and _equal(pred, v):
            return {"correct": True, "prediction": out_pred, "gold": float(v.value)}
    return {"correct": False, "prediction": out_pred, "gold": float(values[0].value) if values else None}
