"""The SymPy calculator tool (``<math_exp> EXPR </math_exp>``), safe on any input.

The model's text is never evaluated as Python: no ``eval``, no ``sympify``/``parse_expr`` on raw
text (both call ``eval``). The expression is parsed with :func:`ast.parse` into a syntax tree, and
the tree is walked with an allow-list:

* numbers (int and float literals; ``True``/``False``, strings, complex literals are rejected);
* ``+ - * / // % **``, unary ``+``/``-``, parentheses;
* calls of the functions in :data:`FUNCTIONS` by bare name, positional arguments only;
* the names in :data:`CONSTANTS` (``pi``, ``e``).

Anything else (attributes, subscripts, lambdas, comprehensions, keyword arguments, names such as
``__import__`` or ``open``) is refused with a clear error. Values are exact SymPy numbers
(integers and rationals stay exact: ``0.1 + 0.2`` is exactly ``3/10``), and every operation is
guarded *before* it runs: input length, nesting depth (a long ``1 + 2 + ... + n`` chain is one
level), digits of every literal and intermediate value, exponent size and estimated digits of a
power, factorial size. Number literals are read exactly as written (``1e-400`` is refused as too
many digits, never silently 0). Division by zero, NaN and infinities are errors.

Every evaluation finishes within ``timeout_s``, by two mechanisms. A cost model keeps every
operation SymPy performs small: an exact root ``(p/q) ** (m/n)`` is left to SymPy only when
``n`` and the sizes involved are small, any other non-integer power (``(1/99999) ** (1/99999)``,
``18 ** (999998/999999)``) is computed numerically at fixed precision, and an exact irrational
value that grows past ``max_terms`` nodes is replaced by its numerical value. And a hard
deadline interrupts SymPy itself: a per-thread trace function raises once the time is up
(valid in any thread, unlike ``signal.alarm``). Internal errors are never shown: every failure
is a short ``Error: ...`` for the model.

Friendly input is accepted: thousands separators (``1,000``; only outside function arguments,
where a comma separates arguments: ``max(3,500)`` is 500), ``$``, ``%`` (``20%`` is ``20/100``),
``^`` for power, ``×``/``·``/``÷``/``−``, superscript powers (``5²`` is 25, never 52), vulgar
fractions (``3½``), ``√``, digits of any script (full-width ``１２``, Arabic-Indic ``٣``) and
zero-width characters (Unicode NFKC normalisation); number characters that would silently merge
into a neighbouring number (subscripts, circled digits) are refused. A GSM8K-style ``=`` tail
(``48/2=24``) is dropped.

The result text follows the paper: the environment shows ``48 / 2 -> 24.0`` (``display="float"``,
the default: Python's float repr, except integers of 16 digits or more, which stay exact so that
no digit is lost). ``display="exact"`` shows integers as ``24`` and other rationals as decimals.
``ToolResult.value`` always holds ``{"exact": "24", "numeric": 24.0, "text": "24.0"}``.

Example:
    >>> calc = Calculator()
    >>> calc("48 / 2").text
    '24.0'
    >>> calc("1,000 * 20%").value["exact"]
    '200'
    >>> calc("__import__('os')").text
    "Error: the function '__import__' is not allowed (allowed: abs, ceil, exp, factorial, floor, gcd, lcm, log, max, min, round, sqrt)"
"""

from __future__ import annotations

import ast
import contextlib
import fractions
import itertools
import logging
import math
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

import mpmath
import sympy

from swirl_env.tools.base import Tool, ToolResult

logger = logging.getLogger(__name__)

__all__ = ["CONSTANTS", "FUNCTIONS", "Calculator", "CalculatorError"]


class CalculatorError(ValueError):
    """A rejected or failed expression; the message is what the model sees after ``Error:``."""


def _round(x: sympy.Expr, ndigits: sympy.Expr | None = None) -> sympy.Expr:
    if ndigits is None:
        return sympy.Integer(round(x))
    if not ndigits.is_Integer or abs(int(ndigits)) > 50:
        raise CalculatorError("round(x, n) needs an integer n with |n| <= 50")
    return sympy.Rational(str(round(sympy.Float(x, 60), int(ndigits))))


def _factorial(x: sympy.Expr) -> sympy.Expr:
    if not x.is_Integer or x < 0:
        raise CalculatorError("factorial needs a non-negative integer")
    if x > 60:
        raise CalculatorError("factorial argument too large (at most 60)")
    return sympy.factorial(x)


def _log(x: sympy.Expr, base: sympy.Expr | None = None) -> sympy.Expr:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise CalculatorError("log needs a positive argument (and a positive base other than 1)")
    return sympy.log(x) if base is None else sympy.log(x, base)


def _sqrt(x: sympy.Expr) -> sympy.Expr:
    if x.is_negative:
        raise CalculatorError("sqrt of a negative number")
    return sympy.sqrt(x)


def _int_fn(name: str, fn: Callable[[int, int], int]) -> Callable[..., sympy.Expr]:
    def run(*args: sympy.Expr) -> sympy.Expr:
        if len(args) < 2 or not all(a.is_Integer for a in args):
            raise CalculatorError(f"{name} needs two or more integers")
        out = int(args[0])
        for a in args[1:]:
            out = fn(out, int(a))
        return sympy.Integer(out)

    return run


#: name -> (function, min args, max args); every one works on SymPy numbers
FUNCTIONS: dict[str, tuple[Callable[..., sympy.Expr], int, int]] = {
    "abs": (lambda x: sympy.Abs(x), 1, 1),
    "sqrt": (_sqrt, 1, 1),
    "round": (_round, 1, 2),
    "floor": (lambda x: sympy.floor(x), 1, 1),
    "ceil": (lambda x: sympy.ceiling(x), 1, 1),
    "min": (lambda *a: sympy.Min(*a), 1, 20),
    "max": (lambda *a: sympy.Max(*a), 1, 20),
    "log": (_log, 1, 2),
    "exp": (lambda x: sympy.exp(x), 1, 1),
    "factorial": (_factorial, 1, 1),
    "gcd": (_int_fn("gcd", math.gcd), 2, 20),
    "lcm": (_int_fn("lcm", math.lcm), 2, 20),
}
#: allowed bare names
CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "e": sympy.E}

_BINOPS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
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
_SUPERSCRIPT = re.compile(f"[\u207a\u207b]?[{_SUPERSCRIPT_DIGITS}]+")  # "2²", "10⁻³"
_VULGAR = re.compile(r"(\d+(?:\.\d+)?)?\s*([\u00bc-\u00be\u2150-\u215e\u2189])")  # "½", "3½"
_ROOT = re.compile(r"\u221a\s*(\d+(?:\.\d+)?|\()")  # "√16", "√(2 + 7)"
_LEVEL: dict[type, int] = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.FloorDiv: 2, ast.Mod: 2}
_CALL_OPEN = re.compile(r"[A-Za-z_]\w*\s*\(")  # a name then "(": the argument list of a call
_DECIMAL_LITERAL = re.compile(r"(?P<int>[0-9_]*)(?:\.(?P<frac>[0-9_]*))?(?:[eE](?P<exp>[+-]?[0-9_]+))?")
_T = TypeVar("_T")
_EXPAND_TERMS = 32  # expand an exact irrational value only while it has at most this many terms
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
_PERCENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*%(?!\s*[\w.(])")  # "20%", not "7 % 3"
_ANNOTATION_TAIL = re.compile(r"(?P<expr>[^=]+)=\s*-?[\d.,]+\s*")
_HELP = f"functions: {', '.join(sorted(FUNCTIONS)[:2])}, ...; constants: {', '.join(sorted(CONSTANTS))}"


class Calculator(Tool):
    """A SymPy calculator that never executes its input (see the module docs for the rules).

    Args:
        max_input_chars: longest accepted expression (after normalisation).
        max_digits: most decimal digits of any literal, intermediate or result (numerator and
            denominator each); non-rational values must lie between ``10**-max_digits`` and
            ``10**max_digits`` in magnitude.
        max_exponent: largest ``|n|`` in ``x ** n``.
        max_depth: deepest nesting of the syntax tree (a chain ``1 + 2 + ... + n`` or
            ``2 * 3 * ... * n`` is one level, however long).
        max_root: largest ``q`` of an exact root ``x ** (p/q)``; beyond it (or when the exact
            form would be large) the power is computed numerically.
        max_terms: most nodes of an exact non-rational value (``sqrt(2) + 3*pi``); a larger one
            is replaced by its numerical value.
        timeout_s: wall-clock budget of one evaluation, enforced inside SymPy too.
        display: ``"float"`` (the paper's ``24.0``) or ``"exact"`` (``24``; decimals otherwise).
        precision: significant digits of decimal results and of ``value["numeric"]`` rendering;
            numerical values are computed with ``precision + 5`` digits.

    Example:
        >>> Calculator(display="exact")("(16 - 3 - 4) * 2").text
        '18'
        >>> Calculator()("9 ** 9 ** 9").ok
        False
        >>> Calculator()("(1/99999) ** (1/99999)").text  # computed numerically, in milliseconds
        '0.9998848763212871'
    """

    name = "calculator"
    tag = "math_exp"
    description = "evaluates an arithmetic expression (numbers, + - * / // % **, sqrt, round, ...)"

    def __init__(
        self,
        *,
        max_input_chars: int = 500,
        max_digits: int = 100,
        max_exponent: int = 1000,
        max_depth: int = 40,
        max_root: int = 100,
        max_terms: int = 100,
        timeout_s: float = 1.0,
        display: str = "float",
        precision: int = 15,
    ) -> None:
        if display not in ("float", "exact"):
            raise ValueError(f"display must be 'float' or 'exact', got {display!r}")
        for key, value in (
            ("max_input_chars", max_input_chars),
            ("max_digits", max_digits),
            ("max_exponent", max_exponent),
            ("max_depth", max_depth),
            ("max_root", max_root),
            ("max_terms", max_terms),
            ("precision", precision),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        if not (isinstance(timeout_s, int | float) and 0 < timeout_s < math.inf):
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.max_input_chars = max_input_chars
        self.max_digits = max_digits
        self.max_exponent = max_exponent
        self.max_depth = max_depth
        self.max_root = max_root
        self.max_terms = max_terms
        self.timeout_s = float(timeout_s)
        self.display = display
        self.precision = precision

    # ------------------------------------------------------------------ public
    def run(self, argument: str) -> ToolResult:
        deadline = time.perf_counter() + self.timeout_s
        try:
            value = self._evaluate(argument, deadline)
            text, exact, numeric = self._guarded(
                lambda: self._render(value), deadline, trace=not value.is_Rational
            )
        except CalculatorError as e:
            return ToolResult.error(str(e))
        return ToolResult(text=text, ok=True, value={"exact": exact, "numeric": numeric, "text": text})

    def evaluate(self, expression: str) -> sympy.Expr:
        """The exact SymPy value of ``expression``; raises :class:`CalculatorError` when refused.

        Every failure, including the deadline and errors inside SymPy, is a
        :class:`CalculatorError` whose message is meant for the model.

        Example:
            >>> Calculator().evaluate("0.1 + 0.2")
            3/10
        """
        return self._evaluate(expression, time.perf_counter() + self.timeout_s)

    def format(self, value: sympy.Expr) -> str:
        """The RESULT text of a value (see ``display``).

        Example:
            >>> Calculator().format(sympy.Rational(7, 2)), Calculator(display="exact").format(sympy.Integer(24))
            ('3.5', '24')
        """
        if value.is_Integer:
            n = int(value)
            if self.display == "exact" or len(str(abs(n))) >= 16:
                return str(n)
            return repr(float(n))
        if value.is_Rational and self.display == "float":
            f = float(value)
            if math.isfinite(f):
                return repr(f)
        x = float(value.evalf(20))
        if self.display == "float":
            return repr(x)
        return f"{x:.{self.precision}g}"

    @staticmethod
    def normalize(expression: str) -> str:
        """Unicode NFKC, zero-width characters removed, friendly notation rewritten.

        Superscripts are powers (``2²`` is ``2**(2)``, never ``22``), vulgar fractions are
        fractions (``3½`` is ``(3+1/2)``), ``√`` is ``sqrt``, and digits of any script are read as
        digits. Other number characters that Unicode folds into plain digits (subscripts ``₂``,
        circled ``①``) are refused, since they would silently join a neighbouring number.
        Thousands separators are removed only outside function arguments: in ``max(3,500)`` the
        comma separates two arguments, in ``1,500 + 2`` it is a separator.

        Raises:
            CalculatorError: such a number character.

        Example:
            >>> Calculator.normalize(" $1,200 × 5% ^ 2 = 3 ")
            '1200 * (5/100) ** 2'
            >>> Calculator.normalize("3½ + 2² + √16")
            '(3+1/2) + 2**(2) + sqrt(16)'
            >>> Calculator.normalize("max(3,500) + 1,500")
            'max(3,500) + 1500'
        """
        text = expression.translate(_ZERO_WIDTH)
        text = _SUPERSCRIPT.sub(lambda m: "**(" + unicodedata.normalize("NFKC", m.group(0)) + ")", text)
        text = _VULGAR.sub(_vulgar_fraction, text)
        text = _ROOT.sub(lambda m: "sqrt(" if m.group(1) == "(" else f"sqrt({m.group(1)})", text)
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

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, expression: str, deadline: float) -> sympy.Expr:
        if not isinstance(expression, str):
            raise CalculatorError(f"the expression must be text, got {type(expression).__name__}")
        if len(expression) > 4 * self.max_input_chars:  # before any normalisation work
            raise CalculatorError(f"the expression is too long (more than {self.max_input_chars} characters)")
        text = self.normalize(expression)
        if not text:
            raise CalculatorError("empty expression")
        if len(text) > self.max_input_chars:
            raise CalculatorError(f"the expression is too long (more than {self.max_input_chars} characters)")
        depth = 0
        for ch in text:  # cheap pre-check: the Python parser itself recurses on nesting
            depth += ch in "([{"
            depth -= ch in ")]}"
            if depth > self.max_depth:
                raise CalculatorError(
                    f"the expression is nested too deeply (more than {self.max_depth} levels)"
                )
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as e:
            raise CalculatorError(f"invalid expression: {_syntax_message(e)}") from None
        except (ValueError, RecursionError, MemoryError):  # e.g. a literal beyond Python's limits
            raise CalculatorError("invalid expression: a number or the nesting is too large") from None
        return self._guarded(lambda: self._finite(self._eval(tree.body, 0, deadline, text)), deadline)

    def _guarded(self, work: Callable[[], _T], deadline: float, *, trace: bool = False) -> _T:
        """Run ``work`` (under the hard deadline if ``trace``); every failure becomes a
        :class:`CalculatorError`."""
        try:
            with _hard_deadline(deadline) if trace else contextlib.nullcontext():
                return work()
        except CalculatorError:
            raise
        except _DeadlineExceeded:
            raise CalculatorError(f"the evaluation took too long (more than {self.timeout_s:g} s)") from None
        except (RecursionError, MemoryError, OverflowError):
            raise CalculatorError("the expression is too deeply nested or a value is too large") from None
        except TypeError:  # SymPy could not decide a comparison (``x < 0``) of an irrational value
            logger.debug("calculator: undecidable comparison", exc_info=True)
            raise CalculatorError(
                "could not decide the sign or size of an irrational value exactly; simplify the expression"
            ) from None
        except Exception:  # SymPy internals (including Python's int-str digit limit): never leak them
            logger.debug("calculator failure", exc_info=True)
            raise CalculatorError(
                "could not evaluate the expression (a value is too large or undefined)"
            ) from None

    def _render(self, value: sympy.Expr) -> tuple[str, str, float]:
        text = self.format(value)
        exact = str(value)
        numeric = float(value.evalf(self.precision))
        if not math.isfinite(numeric):
            raise CalculatorError("the result is too large to show")
        return text, exact, numeric

    def _eval(self, node: ast.AST, depth: int, deadline: float, source: str) -> sympy.Expr:
        if time.perf_counter() > deadline:
            raise _DeadlineExceeded
        if depth > self.max_depth:
            raise CalculatorError(f"the expression is nested too deeply (more than {self.max_depth} levels)")
        if isinstance(node, ast.Constant):
            return self._literal(node, source)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            x = self._eval(node.operand, depth + 1, deadline, source)
            return -x if isinstance(node.op, ast.USub) else x
        if isinstance(node, ast.BinOp) and type(node.op) not in _BINOPS:
            raise CalculatorError(
                f"the operator {type(node.op).__name__} is not allowed (use + - * / // % **)"
            )
        if isinstance(node, ast.BinOp):
            return self._chain(node, depth, deadline, source)
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            if node.id in FUNCTIONS:
                raise CalculatorError(f"{node.id} is a function: write {node.id}(...)")
            raise CalculatorError(f"the name {node.id!r} is not allowed ({_HELP})")
        if isinstance(node, ast.Call):
            return self._call(node, depth, deadline, source)
        raise CalculatorError(f"{_describe(node)} is not allowed in a calculator expression")

    def _chain(self, node: ast.BinOp, depth: int, deadline: float, source: str) -> sympy.Expr:
        """A left-associative chain of one precedence level (``a + b - c``, ``a * b / c``) is flat:
        it is evaluated left to right at one nesting level, however long it is. ``**`` is not a
        chain (it nests to the right)."""
        level = _LEVEL.get(type(node.op))
        ops: list[tuple[str, ast.AST]] = [(_BINOPS[type(node.op)], node.right)]
        left = node.left
        while level is not None and isinstance(left, ast.BinOp) and _LEVEL.get(type(left.op)) == level:
            ops.append((_BINOPS[type(left.op)], left.right))
            left = left.left
        value = self._eval(left, depth + 1, deadline, source)
        for op, right in reversed(ops):
            operand = self._eval(right, depth + 1, deadline, source)
            if _plain(value) and _plain(operand) and (op != "**" or operand.is_Integer or operand.is_Float):
                value = self._checked(self._binop(op, value, operand))  # bounded: no SymPy search
            else:
                with _hard_deadline(deadline):
                    value = self._checked(self._binop(op, value, operand))
        return value

    def _literal(self, node: ast.Constant, source: str) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CalculatorError(f"only numbers are allowed, got {type(value).__name__} {value!r:.40}")
        written = ast.get_source_segment(source, node) or repr(value)
        m = _DECIMAL_LITERAL.fullmatch(written)
        if m is not None and len(m.group("int").replace("_", "")) > 1 and m.group("int").startswith("0"):
            raise CalculatorError(
                f"the number {written!r} has leading zeros; inside a function's arguments a comma "
                "separates arguments, so write 1000 rather than 1,000 there"
            )
        if isinstance(value, int):
            if value.bit_length() > self.max_digits * 3.33:
                raise CalculatorError(f"a number has more than {self.max_digits} digits")
            return sympy.Integer(value)
        if m is None:  # not a plain decimal literal (cannot happen for a Python float literal)
            raise CalculatorError(f"cannot read the number {written!r:.40}")
        # the literal as written, exactly: a float would turn 1e-400 into 0 and drop digits of 0.1234567890123456789
        whole, frac = m.group("int").replace("_", ""), (m.group("frac") or "").replace("_", "")
        exponent = int((m.group("exp") or "0").replace("_", "")) - len(frac)
        digits = (whole + frac).lstrip("0")
        if not digits:
            return sympy.Integer(0)
        if len(digits) + max(exponent, 0) > self.max_digits or -exponent > self.max_digits + len(digits):
            raise CalculatorError(
                f"the number {written!r:.40} has more than {self.max_digits} digits (values are exact)"
            )
        return self._checked(sympy.Integer(int(digits)) * sympy.Rational(10) ** exponent)

    def _binop(self, op: str, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
        if op in ("/", "//", "%") and b == 0:
            raise CalculatorError("division by zero")
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "//":
            return self._floor(a / b)
        if op == "%":
            return a - b * self._floor(a / b)
        return self._power(a, b)

    # SymPy decides floor() and comparisons of irrational values from a fixed-precision guess,
    # which can be wrong: floor(expand((sqrt(7)+sqrt(23)+sqrt(13))**12)/5) is off by one. These
    # helpers decide them from evalf, whose precision adapts to cancellation, and refuse when the
    # value is too close to call.
    def _sign(self, x: sympy.Expr) -> int:
        """-1, 0 or 1: the sign of ``x``, decided exactly or refused."""
        if x.is_Rational or x.is_Float:
            return int(bool(x > 0)) - int(bool(x < 0))
        x = self._tame(x)
        if x.is_Rational or x.is_Float:
            return int(bool(x > 0)) - int(bool(x < 0))
        v = x.evalf(30)
        if not v.is_Float or v == 0 or v._prec < 90:  # evalf could not reach full precision: ~0
            raise CalculatorError(
                "could not decide the sign of a value that is zero or extremely close to it; simplify the expression"
            )
        return 1 if v > 0 else -1

    def _floor(self, x: sympy.Expr) -> sympy.Expr:
        """The exact integer part of ``x`` (``floor``)."""
        if x.is_Rational:
            return sympy.Integer(x.p // x.q)
        if x.is_Float:
            if x != 0 and math.log2(abs(float(x))) + 1 > x._prec:
                raise CalculatorError(
                    "the integer part of a numerically computed value is not known to every digit"
                )
            return sympy.Integer(_mpf_floor(x))
        approx = x.evalf(self.max_digits + 20)
        if not approx.is_Float:
            raise CalculatorError("the expression does not evaluate to a real number")
        n = _mpf_floor(approx)
        if self._sign(x - n) < 0:
            n -= 1
        elif self._sign(x - (n + 1)) >= 0:
            n += 1
        return sympy.Integer(n)

    def _extreme(self, args: list[sympy.Expr], sign: int) -> sympy.Expr:
        best = args[0]
        for a in args[1:]:
            if self._sign(a - best) == sign:
                best = a
        return best

    def _round(self, x: sympy.Expr, ndigits: sympy.Expr | None = None) -> sympy.Expr:
        """Python's ``round`` (halves to even), exact for every value."""
        if ndigits is not None and (not ndigits.is_Integer or abs(int(ndigits)) > 50):
            raise CalculatorError("round(x, n) needs an integer n with |n| <= 50")
        n = 0 if ndigits is None else int(ndigits)
        scale = sympy.Rational(10) ** n
        if x.is_Rational:
            out = sympy.Rational(round(fractions.Fraction(int(x.p), int(x.q)), n))
        else:
            y = x * scale
            low = self._floor(y)
            d = self._sign(y - low - sympy.Rational(1, 2))
            out = (low + (1 if d > 0 or (d == 0 and low % 2) else 0)) / scale
        return out if ndigits is not None else sympy.Integer(out)

    def _power(self, base: sympy.Expr, exp: sympy.Expr) -> sympy.Expr:
        """``base ** exp`` with its cost bounded before SymPy sees it.

        Integer powers are exact when the result fits ``max_digits``. An exact root
        ``(p/q) ** (m/n)`` is left to SymPy only while its work is small: ``n <= max_root`` and
        ``(|m| + n) * bits(max(p, q))`` within a few hundred digits (SymPy may build
        ``p ** m`` and take an ``n``-th root; ``18 ** (999998/999999)`` would be a million
        digits); a root ``x ** (m/n)`` (``|m| < n <= max_root``) of an exact irrational ``x``
        stays exact too (its size is bounded by ``max_terms`` afterwards). Any other non-integer power is computed numerically with ``precision + 5``
        significant digits (mpmath, fixed precision: a bounded cost).
        """
        e = float(exp.evalf(20))
        if not math.isfinite(e) or abs(e) > self.max_exponent:
            raise CalculatorError(f"the exponent is too large (|n| <= {self.max_exponent})")
        if base == 0:
            if e < 0:
                raise CalculatorError("division by zero (0 to a negative power)")
            return sympy.Integer(0) if e > 0 else sympy.Integer(1)
        if base.is_negative and not exp.is_Integer:
            raise CalculatorError("a negative number to a fractional power is not a real number")
        b = abs(float(base.evalf(20)))
        if not math.isfinite(b) or b == 0:
            raise CalculatorError("a value is too large or too small")
        if abs(e * math.log10(b)) > self.max_digits:
            raise CalculatorError(f"the result would have more than {self.max_digits} digits")
        if exp.is_Integer:
            if base.is_Rational:
                p, q = abs(base.p), base.q
                digits = abs(e) * ((math.log10(p) if p > 1 else 0) + (math.log10(q) if q > 1 else 0))
                if digits > 2 * self.max_digits:
                    raise CalculatorError(f"the result would have more than {self.max_digits} digits")
            return base**exp
        if base.is_Rational and exp.is_Rational:
            bits = max(abs(base.p).bit_length(), base.q.bit_length())
            if exp.q <= self.max_root and (abs(exp.p) + exp.q) * bits <= 4 * self.max_digits * 3.33:
                return base**exp
        elif exp.is_Rational and not base.is_Float and exp.q <= self.max_root and abs(exp.p) < exp.q:
            # a root of an exact irrational value (sqrt(2 + sqrt(3))): SymPy keeps it as a
            # power, and _tame bounds its size afterwards
            return base**exp
        return self._numeric_power(base, exp)

    def _numeric_power(self, base: sympy.Expr, exp: sympy.Expr) -> sympy.Expr:
        dps = self.precision + 5
        with mpmath.workdps(dps + 5):
            x = mpmath.power(_to_mpf(base, dps + 5), _to_mpf(exp, dps + 5))
            return sympy.Float(x, dps)

    def _call(self, node: ast.Call, depth: int, deadline: float, source: str) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            raise CalculatorError(
                f"{_describe(node.func)} cannot be called; only these functions: {_names()}"
            )
        name = node.func.id
        if name not in FUNCTIONS:
            raise CalculatorError(f"the function {name!r} is not allowed (allowed: {_names()})")
        if node.keywords:
            raise CalculatorError(f"{name}() takes positional arguments only")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise CalculatorError("*arguments are not allowed")
        fn, lo, hi = FUNCTIONS[name]
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise CalculatorError(f"{name}() takes {want} argument(s), got {len(node.args)}")
        args = [self._eval(a, depth + 1, deadline, source) for a in node.args]
        if name in ("sqrt", "exp", "log") or not all(_plain(a) for a in args):
            with _hard_deadline(deadline):
                return self._apply(name, fn, args)
        return self._apply(name, fn, args)

    def _apply(self, name: str, fn: Callable[..., sympy.Expr], args: list[sympy.Expr]) -> sympy.Expr:
        if name == "floor":
            return self._checked(self._floor(args[0]))
        if name == "ceil":
            return self._checked(-self._floor(-args[0]))
        if name in ("min", "max"):
            return self._checked(self._extreme(args, 1 if name == "max" else -1))
        if name == "round":
            return self._checked(self._round(*args))
        if name == "abs":
            return self._checked(-args[0] if self._sign(args[0]) < 0 else args[0])
        if name == "exp" and abs(float(args[0].evalf(20))) > self.max_digits * 2.3:
            raise CalculatorError(f"the result would have more than {self.max_digits} digits")
        if name == "sqrt":  # a power of 1/2: the same cost rules as x ** 0.5
            if args[0].is_negative:
                raise CalculatorError("sqrt of a negative number")
            return self._checked(self._power(args[0], sympy.Rational(1, 2)))
        return self._checked(fn(*args))

    def _checked(self, value: sympy.Expr) -> sympy.Expr:
        value = self._finite(value)
        if not value.is_Rational and not value.is_Float:
            value = self._tame(value)
        if value.is_Rational:
            limit = self.max_digits * 3.33
            if abs(value.p).bit_length() > limit or value.q.bit_length() > limit:
                raise CalculatorError(f"a value has more than {self.max_digits} digits")
            return value
        x = float(value.evalf(20))
        if not math.isfinite(x) or (x != 0 and math.log10(abs(x)) > self.max_digits):
            raise CalculatorError(f"a value has more than {self.max_digits} digits")
        if x != 0 and math.log10(abs(x)) < -self.max_digits:
            raise CalculatorError(
                f"a value is smaller than 1e-{self.max_digits} in magnitude and not exactly known"
            )
        return value

    def _tame(self, value: sympy.Expr) -> sympy.Expr:
        """Keep an exact non-rational value small: expand it when that is cheap (so that
        ``(sqrt(2)+1)*(sqrt(2)-1)`` is exactly 1), and replace it by its numerical value when
        it grows beyond ``max_terms`` nodes."""
        if _expansion_terms(value, _EXPAND_TERMS) <= _EXPAND_TERMS:
            expanded = sympy.expand(value)
            if _node_count(expanded, self.max_terms) <= self.max_terms:
                value = expanded
        if value.is_Rational or _node_count(value, self.max_terms) <= self.max_terms:
            return value
        number = value.evalf(self.precision + 5)
        if not number.is_Float:
            raise CalculatorError("the expression does not evaluate to a real number")
        return number

    @staticmethod
    def _finite(value: sympy.Expr) -> sympy.Expr:
        if not isinstance(value, sympy.Expr) or not value.is_number:
            raise CalculatorError("the expression does not evaluate to a number")
        if value.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
            raise CalculatorError("the result is infinite or undefined")
        if value.is_real is False:
            raise CalculatorError("the result is not a real number")
        return value


class _DeadlineExceeded(BaseException):
    """Raised inside the evaluation when its deadline passes. A ``BaseException``, so that no
    ``except Exception`` inside SymPy swallows it."""


@contextlib.contextmanager
def _hard_deadline(deadline: float) -> Iterator[None]:
    """Interrupt the Python code this thread runs (SymPy included) once ``deadline`` passes.

    A trace function (``sys.settrace`` is per thread, so it is safe in threads, vector-env
    workers and the main thread alike, unlike ``signal.alarm``) checks the clock on every call
    and line and raises :class:`_DeadlineExceeded`. It cannot interrupt one long C operation;
    the size guards keep every such operation (big-integer arithmetic) small. Any trace
    function installed before (a debugger, coverage) is restored afterwards.
    """
    clock = time.perf_counter

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if clock() > deadline:
            raise _DeadlineExceeded
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)


def _plain(x: sympy.Expr) -> bool:
    """A rational or a fixed-precision float: arithmetic on it within the digit limits is cheap."""
    return bool(x.is_Rational or x.is_Float)


def _mpf_floor(x: sympy.Float) -> int:
    """The exact floor of a SymPy float (at its own precision, not mpmath's global one)."""
    with mpmath.workprec(max(53, x._prec) + 10):
        return int(mpmath.floor(mpmath.mpf(x._mpf_)))


def _to_mpf(x: sympy.Expr, dps: int) -> mpmath.mpf:
    if x.is_Rational:
        return mpmath.mpf(int(x.p)) / int(x.q)
    return mpmath.mpf(sympy.Float(x.evalf(dps), dps)._mpf_)


def _node_count(value: sympy.Expr, cap: int) -> int:
    """Nodes of ``value``'s expression tree, counting stops past ``cap``."""
    return sum(1 for _ in itertools.islice(sympy.preorder_traversal(value), cap + 1))


def _expansion_terms(value: sympy.Expr, cap: int) -> int:
    """An upper estimate of the terms of ``sympy.expand(value)`` (stops growing past ``cap``).

    A root of anything but a rational (``sqrt(2 + sqrt(3))``, ``(1 + sqrt(2))**(7/2)``) counts
    as ``cap + 1``: expanding it nests radicals, whose cost has no useful bound.
    """
    if value.is_Add:
        return min(cap + 1, sum(_expansion_terms(a, cap) for a in value.args))
    if value.is_Mul:
        out = 1
        for a in value.args:
            out = min(cap + 1, out * _expansion_terms(a, cap))
        return out
    if value.is_Pow:
        base, exp = value.base, value.exp
        if not exp.is_Integer:
            return 1 if base.is_Rational and exp.is_Rational else cap + 1
        t = _expansion_terms(base, cap)
        if t > cap or abs(int(exp)) > cap:
            return cap + 1
        return min(cap + 1, math.comb(abs(int(exp)) + t - 1, t - 1)) if base.is_Add else t
    if value.args:  # a function (exp, log...): expand works inside it
        return max(_expansion_terms(a, cap) for a in value.args)
    return 1


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


def _syntax_message(e: SyntaxError) -> str:
    msg = e.msg or "syntax error"
    if "Exceeds the limit" in msg or "digits" in msg:
        return "a number is too long"
    return msg


def _vulgar_fraction(m: re.Match[str]) -> str:
    """``"3½"`` -> ``"(3+1/2)"``, ``"¾"`` -> ``"(3/4)"`` (Unicode writes the slash as U+2044)."""
    fraction = unicodedata.normalize("NFKC", m.group(2)).replace("\u2044", "/")
    return f"({m.group(1)}+{fraction})" if m.group(1) else f"({fraction})"


def _names() -> str:
    return ", ".join(sorted(FUNCTIONS))


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "attribute access",
        ast.Subscript: "indexing",
        ast.Lambda: "lambda",
        ast.Compare: "comparison",
        ast.BoolOp: "and/or",
        ast.IfExp: "if/else",
        ast.List: "a list",
        ast.Tuple: "a tuple",
        ast.Dict: "a dict",
        ast.Set: "a set",
        ast.JoinedStr: "an f-string",
        ast.NamedExpr: "assignment",
    }
    for t, what in kinds.items():
        if isinstance(node, t):
            return what.capitalize()
    if isinstance(node, ast.comprehension | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return "A comprehension"
    return f"{type(node).__name__}"
