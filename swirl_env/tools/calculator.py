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
guarded *before* it runs: input length, nesting depth, digits of every literal and intermediate
value, exponent size and estimated digits of a power, factorial size, and a wall-clock deadline
checked at every node. Division by zero, NaN and infinities are errors.

Friendly input is accepted: thousands separators (``1,000``), ``$``, ``%`` (``20%`` is ``20/100``),
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
import logging
import math
import re
import time
import unicodedata
from collections.abc import Callable
from typing import Any

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
    if x < 0:
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
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
_PERCENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*%(?!\s*[\w.(])")  # "20%", not "7 % 3"
_ANNOTATION_TAIL = re.compile(r"(?P<expr>[^=]+)=\s*-?[\d.,]+\s*")
_HELP = f"functions: {', '.join(sorted(FUNCTIONS)[:2])}, ...; constants: {', '.join(sorted(CONSTANTS))}"


class Calculator(Tool):
    """A SymPy calculator that never executes its input (see the module docs for the rules).

    Args:
        max_input_chars: longest accepted expression (after normalisation).
        max_digits: most decimal digits of any literal, intermediate or result (numerator and
            denominator each).
        max_exponent: largest ``|n|`` in ``x ** n``.
        max_depth: deepest nesting of the syntax tree.
        timeout_s: wall-clock budget of one evaluation.
        display: ``"float"`` (the paper's ``24.0``) or ``"exact"`` (``24``; decimals otherwise).
        precision: significant digits of decimal results and of ``value["numeric"]`` rendering.

    Example:
        >>> Calculator(display="exact")("(16 - 3 - 4) * 2").text
        '18'
        >>> Calculator()("9 ** 9 ** 9").ok
        False
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
        timeout_s: float = 1.0,
        display: str = "float",
        precision: int = 15,
    ) -> None:
        if display not in ("float", "exact"):
            raise ValueError(f"display must be 'float' or 'exact', got {display!r}")
        self.max_input_chars = max_input_chars
        self.max_digits = max_digits
        self.max_exponent = max_exponent
        self.max_depth = max_depth
        self.timeout_s = timeout_s
        self.display = display
        self.precision = precision

    # ------------------------------------------------------------------ public
    def run(self, argument: str) -> ToolResult:
        try:
            value = self.evaluate(argument)
        except CalculatorError as e:
            return ToolResult.error(str(e))
        except (RecursionError, MemoryError):
            return ToolResult.error("the expression is too deeply nested or too large")
        except Exception as e:  # sympy internals: report, never crash the episode
            logger.debug("calculator failure on %r", argument, exc_info=True)
            return ToolResult.error(f"could not evaluate the expression ({type(e).__name__})")
        text = self.format(value)
        numeric = float(value.evalf(self.precision))
        return ToolResult(text=text, ok=True, value={"exact": str(value), "numeric": numeric, "text": text})

    def evaluate(self, expression: str) -> sympy.Expr:
        """The exact SymPy value of ``expression``; raises :class:`CalculatorError` when refused.

        Example:
            >>> Calculator().evaluate("0.1 + 0.2")
            3/10
        """
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
            raise CalculatorError(f"invalid expression: {e.msg}") from None
        deadline = time.perf_counter() + self.timeout_s
        value = self._eval(tree.body, 0, deadline)
        return self._finite(value)

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

        Raises:
            CalculatorError: such a number character.

        Example:
            >>> Calculator.normalize(" $1,200 × 5% ^ 2 = 3 ")
            '1200 * (5/100) ** 2'
            >>> Calculator.normalize("3½ + 2² + √16")
            '(3+1/2) + 2**(2) + sqrt(16)'
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
        text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
        text = _PERCENT.sub(r"(\1/100)", text)
        return " ".join(text.split())

    # ------------------------------------------------------------------ evaluation
    def _eval(self, node: ast.AST, depth: int, deadline: float) -> sympy.Expr:
        if time.perf_counter() > deadline:
            raise CalculatorError(f"the evaluation took too long (more than {self.timeout_s:g} s)")
        if depth > self.max_depth:
            raise CalculatorError(f"the expression is nested too deeply (more than {self.max_depth} levels)")
        if isinstance(node, ast.Constant):
            return self._literal(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            x = self._eval(node.operand, depth + 1, deadline)
            return -x if isinstance(node.op, ast.USub) else x
        if isinstance(node, ast.BinOp) and type(node.op) not in _BINOPS:
            raise CalculatorError(
                f"the operator {type(node.op).__name__} is not allowed (use + - * / // % **)"
            )
        if isinstance(node, ast.BinOp):
            left = self._eval(node.left, depth + 1, deadline)
            right = self._eval(node.right, depth + 1, deadline)
            return self._checked(self._binop(_BINOPS[type(node.op)], left, right))
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            if node.id in FUNCTIONS:
                raise CalculatorError(f"{node.id} is a function: write {node.id}(...)")
            raise CalculatorError(f"the name {node.id!r} is not allowed ({_HELP})")
        if isinstance(node, ast.Call):
            return self._call(node, depth, deadline)
        raise CalculatorError(f"{_describe(node)} is not allowed in a calculator expression")

    def _literal(self, value: Any) -> sympy.Expr:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CalculatorError(f"only numbers are allowed, got {type(value).__name__} {value!r:.40}")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise CalculatorError("infinite or NaN numbers are not allowed")
            return self._checked(sympy.Rational(repr(value)))
        if value.bit_length() > self.max_digits * 3.33:
            raise CalculatorError(f"a number has more than {self.max_digits} digits")
        return sympy.Integer(value)

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
            return sympy.floor(a / b)
        if op == "%":
            return a - b * sympy.floor(a / b)
        return self._power(a, b)

    def _power(self, base: sympy.Expr, exp: sympy.Expr) -> sympy.Expr:
        e = float(exp.evalf(20))
        if abs(e) > self.max_exponent:
            raise CalculatorError(f"the exponent is too large (|n| <= {self.max_exponent})")
        if base == 0 and e < 0:
            raise CalculatorError("division by zero (0 to a negative power)")
        if base.is_negative and not exp.is_Integer:
            raise CalculatorError("a negative number to a fractional power is not a real number")
        b = abs(float(base.evalf(20))) if base.is_number else 0.0
        if b > 0:
            if not math.isfinite(b):
                raise CalculatorError("a value is too large")
            if abs(e * math.log10(b)) > self.max_digits:
                raise CalculatorError(f"the result would have more than {self.max_digits} digits")
            if base.is_Rational and exp.is_Integer:
                p, q = abs(base.p), base.q
                digits = abs(e) * (math.log10(p) if p > 1 else 0) + abs(e) * (math.log10(q) if q > 1 else 0)
                if digits > 2 * self.max_digits:
                    raise CalculatorError(f"the result would have more than {self.max_digits} digits")
        return base**exp

    def _call(self, node: ast.Call, depth: int, deadline: float) -> sympy.Expr:
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
        args = [self._eval(a, depth + 1, deadline) for a in node.args]
        if name == "exp" and abs(float(args[0].evalf(20))) > self.max_digits * 2.3:
            raise CalculatorError(f"the result would have more than {self.max_digits} digits")
        return self._checked(fn(*args))

    def _checked(self, value: sympy.Expr) -> sympy.Expr:
        value = self._finite(value)
        if value.is_Rational:
            limit = self.max_digits * 3.33
            if abs(value.p).bit_length() > limit or value.q.bit_length() > limit:
                raise CalculatorError(f"a value has more than {self.max_digits} digits")
        else:
            x = float(value.evalf(20))
            if not math.isfinite(x) or (x != 0 and abs(math.log10(abs(x))) > self.max_digits):
                raise CalculatorError(f"a value has more than {self.max_digits} digits")
        return value

    @staticmethod
    def _finite(value: sympy.Expr) -> sympy.Expr:
        if not isinstance(value, sympy.Expr) or not value.is_number:
            raise CalculatorError("the expression does not evaluate to a number")
        if value.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
            raise CalculatorError("the result is infinite or undefined")
        if value.is_real is False:
            raise CalculatorError("the result is not a real number")
        return value


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
