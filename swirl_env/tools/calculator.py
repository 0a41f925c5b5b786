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

This module is the public home of the calculator; its parts live beside it: the allow-list
(:mod:`~swirl_env.tools.calculator_grammar`), the friendly-notation rewrite
(:mod:`~swirl_env.tools.calculator_notation`), the guarded tree walk
(:mod:`~swirl_env.tools.calculator_eval`) and the time and size guards
(:mod:`~swirl_env.tools.calculator_limits`).

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

import logging
import math
import time
from dataclasses import dataclass, fields

import sympy

from swirl_env._lazy import private_helpers
from swirl_env.checks import int_at_least, one_of, seconds
from swirl_env.tools.base import Tool, ToolResult
from swirl_env.tools.calculator_eval import SafeEvaluator
from swirl_env.tools.calculator_grammar import CONSTANTS, FUNCTIONS, CalculatorError
from swirl_env.tools.calculator_notation import normalize_expression

logger = logging.getLogger(__name__)

__all__ = ["CONSTANTS", "FUNCTIONS", "Calculator", "CalculatorError"]


@dataclass(kw_only=True, eq=False)
class Calculator(Tool, SafeEvaluator):
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
    parameter = "expression"
    parameter_description = "the expression in Python/SymPy syntax, e.g. (48 + 12) / 2"

    max_input_chars: int = 500
    max_digits: int = 100
    max_exponent: int = 1000
    max_depth: int = 40
    max_root: int = 100
    max_terms: int = 100
    timeout_s: float = 1.0
    display: str = "float"
    precision: int = 15

    def __post_init__(self) -> None:
        one_of("display", self.display, ("float", "exact"))
        for f in fields(self):
            if f.type in ("int", int):
                int_at_least(f.name, getattr(self, f.name), 1)
        self.timeout_s = seconds("timeout_s", self.timeout_s)

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
        return normalize_expression(expression)

    def _render(self, value: sympy.Expr) -> tuple[str, str, float]:
        text = self.format(value)
        exact = str(value)
        numeric = float(value.evalf(self.precision))
        if not math.isfinite(numeric):
            raise CalculatorError("the result is too large to show")
        return text, exact, numeric


# the private helpers that were defined here before the split stay readable from this module
__getattr__ = private_helpers(
    __name__,
    [
        "swirl_env.tools.calculator_eval",
        "swirl_env.tools.calculator_grammar",
        "swirl_env.tools.calculator_limits",
        "swirl_env.tools.calculator_notation",
    ],
)
