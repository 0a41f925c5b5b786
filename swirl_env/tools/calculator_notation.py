"""Friendly calculator notation rewritten to plain Python arithmetic (before any parsing).

Unicode NFKC, zero-width characters removed, ``^``/``×``/``÷``/``−``, superscript powers,
vulgar fractions, ``√``, digits of any script, ``%`` and thousands separators (outside function
arguments); a GSM8K-style ``=`` tail is dropped. The result is still only text: it is parsed
and checked by :mod:`swirl_env.tools.calculator_eval`, never executed.

Example:
    >>> normalize_expression("2² × 1,000 ÷ 4%")
    '2**(2) * 1000 / (4/100)'
    >>> normalize_expression("48/2=24")
    '48/2'
"""

from __future__ import annotations

import re
import unicodedata

from swirl_env.tools.calculator_grammar import CalculatorError

__all__ = ["normalize_expression"]

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_REPLACE = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",
    "\u2014": "-",
    "\u00d7": "*",  # multiplication sign
    "\u22c5": "*",
    "\u00b7": "*",
    "\u2217": "*",
    "\u00f7": "/",  # division sign
    "\u2215": "/",
    "\u2044": "/",  # fraction slash
    "^": "**",
    "$": "",
}
_SUPERSCRIPT_DIGITS = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
_SUPERSCRIPT = re.compile(  # "2²", "10⁻³", "2³⁻¹" (one exponent: 3 - 1)
    f"[\u207a\u207b]?[{_SUPERSCRIPT_DIGITS}]+(?:[\u207a\u207b][{_SUPERSCRIPT_DIGITS}]+)*"
)
_VULGAR = re.compile(r"(\d+(?:\.\d+)?)?\s*([\u00bc-\u00be\u2150-\u215e\u2189])")  # "½", "3½"
_ROOT = re.compile(r"\u221a\s*([-\u2212]?\d+(?:\.\d+)?|\()")  # "√16", "√(2 + 7)", "√-4" (an error later)
_STRAY = re.compile("[\u207a-\u207e\u221a]")  # a superscript sign or "√" left after the rewrites
_CALL_OPEN = re.compile(r"[A-Za-z_]\w*\s*\(")  # a name then "(": the argument list of a call
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
# "20%" and "50 %", not "7 % 3" nor "7 % -3" (a spaced % before a signed number is a remainder)
_PERCENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(?:%|\s+%(?!\s*[-+]))(?!\s*[\w.(])")
_ANNOTATION_TAIL = re.compile(r"(?P<expr>[^=]+)=\s*-?[\d.,]+\s*")


def normalize_expression(expression: str) -> str:
    """Unicode NFKC, zero-width characters removed, friendly notation rewritten (the body of
    :meth:`swirl_env.tools.calculator.Calculator.normalize`, which documents the rules).

    Raises:
        CalculatorError: a number character that is not a plain digit (``₂``, ``①``).
    """
    text = expression.translate(_ZERO_WIDTH)
    text = _SUPERSCRIPT.sub(lambda m: "**(" + unicodedata.normalize("NFKC", m.group(0)) + ")", text)
    text = _VULGAR.sub(_vulgar_fraction, text)
    text = _ROOT.sub(_root, text)
    stray = _STRAY.search(text)
    if stray:  # NFKC would turn "2⁻3" into "2-3", a different expression
        raise CalculatorError(
            "√ must be followed by a number or '(' (√(√16))"
            if stray.group(0) == "\u221a"
            else f"the superscript {stray.group(0)!r} must be followed by superscript digits (10⁻³)"
        )
    for ch in set(text):
        if ch.isascii():
            continue
        kind = unicodedata.category(ch)
        if kind == "Nd":  # digits of any script: full-width, Arabic-Indic, mathematical bold...
            text = text.replace(ch, str(unicodedata.digit(ch)))
        elif kind == "No":
            raise CalculatorError(
                f"the character {ch!r} (U+{ord(ch):04X}) is not a plain digit; write the number with 0-9"
            )
    text = unicodedata.normalize("NFKC", text)
    for a, b in _REPLACE.items():
        text = text.replace(a, b)
    tail = _ANNOTATION_TAIL.fullmatch(text)
    if tail:  # GSM8K annotation style "48/2=24": the expression is the left side
        text = tail.group("expr")
    text = _remove_thousands_separators(text)
    text = _PERCENT.sub(r"(\1/100)", text)
    return " ".join(text.split())


def _remove_thousands_separators(text: str) -> str:
    """``1,000`` -> ``1000`` where a person reads a thousands separator: outside the argument
    list of a function call (``max(3,500)`` has two arguments). One linear pass."""
    calls = {m.end() - 1 for m in _CALL_OPEN.finditer(text)}
    in_arguments = [False] * (len(text) + 1)
    stack: list[bool] = []
    for i, ch in enumerate(text):
        if ch in "([{":
            stack.append(ch == "(" and i in calls)
        elif ch in ")]}" and stack:
            stack.pop()
        in_arguments[i] = bool(stack) and stack[-1]
    return _THOUSANDS.sub(
        lambda m: m.group(0) if in_arguments[m.start()] else m.group(0).replace(",", ""), text
    )


def _root(m: re.Match[str]) -> str:
    """``"√16"`` -> ``"sqrt(16)"``, ``"√−4"`` -> ``"sqrt(-4)"``, ``"√("`` -> ``"sqrt("``."""
    arg = m.group(1)
    return "sqrt(" if arg == "(" else "sqrt(" + arg.replace("\u2212", "-") + ")"


def _vulgar_fraction(m: re.Match[str]) -> str:
    """``"3½"`` -> ``"(3+1/2)"``, ``"¾"`` -> ``"(3/4)"`` (Unicode writes the slash as U+2044)."""
    fraction = unicodedata.normalize("NFKC", m.group(2)).replace("\u2044", "/")
    return f"({m.group(1)}+{fraction})" if m.group(1) else f"({fraction})"
