"""The safe evaluator behind the calculator: an allow-listed walk over :func:`ast.parse`'s tree.

The model's text is never executed: it is parsed into a syntax tree and every node is checked
against the allow-list of :mod:`swirl_env.tools.calculator_grammar` and evaluated with exact
SymPy numbers, each operation guarded for size and time *before* it runs (see the module docs
of :mod:`swirl_env.tools.calculator` for the rules). :class:`SafeEvaluator` holds that walk;
:class:`~swirl_env.tools.calculator.Calculator` is the tool built on it.

Example:
    >>> from swirl_env.tools.calculator import Calculator
    >>> Calculator().evaluate("2 ** 10 // 3 + sqrt(16)")
    345
    >>> Calculator()("(1).__class__").text
    'Error: Attribute access is not allowed in a calculator expression'
"""

from __future__ import annotations

import ast
import contextlib
import fractions
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import mpmath
import sympy

from swirl_env.tools.calculator_grammar import (
    _BINOPS,
    _HELP,
    _LEVEL,
    CONSTANTS,
    FUNCTIONS,
    CalculatorError,
    _describe,
    _names,
)
from swirl_env.tools.calculator_limits import (
    _DeadlineExceeded,
    _expansion_terms,
    _hard_deadline,
    _mpf_floor,
    _node_count,
    _plain,
    _rational_bits,
    _to_mpf,
)

logger = logging.getLogger("swirl_env.tools.calculator")  # the calculator's logger, as before the split

__all__ = ["SafeEvaluator"]

_DECIMAL_LITERAL = re.compile(r"(?P<int>[0-9_]*)(?:\.(?P<frac>[0-9_]*))?(?:[eE](?P<exp>[+-]?[0-9_]+))?")
_T = TypeVar("_T")
_EXPAND_TERMS = 32  # expand an exact irrational value only while it has at most this many terms


class SafeEvaluator:
    """The guarded evaluation of a calculator expression, configured by the limits its subclass
    sets (:class:`~swirl_env.tools.calculator.Calculator` documents each one).

    Its subclass also provides ``normalize``, the friendly-notation rewrite applied before
    parsing (:meth:`~swirl_env.tools.calculator.Calculator.normalize`).
    """

    max_input_chars: int
    max_digits: int
    max_exponent: int
    max_depth: int
    max_root: int
    max_terms: int
    timeout_s: float
    precision: int
    normalize: Callable[[str], str]

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
        except UnicodeEncodeError:  # ast.parse encodes the text: a lone surrogate cannot be
            raise CalculatorError(
                "invalid expression: it holds a lone surrogate (half a UTF-16 pair)"
            ) from None
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
        if a.is_Float or b.is_Float:  # a numerical value: the exact operand to the same precision
            a, b = (x if x.is_Rational or x.is_Float else self._numeric(mpmath.mpf, x) for x in (a, b))
        if op in ("/", "//", "%") and b == 0:
            raise CalculatorError("division by zero")
        if op in ("+", "-", "%"):
            out = a + b if op == "+" else a - b if op == "-" else a - b * self._floor(a / b)
            if out.is_Float and abs(out) <= self._noise(max(abs(a), abs(b))):
                return sympy.Integer(0)  # below the operands' precision: indistinguishable from 0
            return out
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "//":
            return self._floor(a / b)
        return self._power(a, b)

    def _noise(self, x: sympy.Expr) -> float:
        """The uncertainty of a numerically computed value of magnitude ``x``: it is computed
        with ``precision + 5`` significant digits, of which a chain of operations (a root, then
        its power) may lose a few; below ``precision + 2`` digits, a difference is noise."""
        return float(x) * 10.0 ** -(self.precision + 2)

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
            nearest = sympy.Integer(round(x))
            if abs(x - nearest) <= self._noise(max(abs(x), 1)):  # 6.99999999999999999998 is 7
                return nearest
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
            if base.is_Rational and not self._exact_power_is_cheap(base, exp):
                return self._numeric_power(base, exp)  # 1.05 ** 100: a long fraction, a short value
            return base**exp
        if base.is_Rational and exp.is_Rational:
            if self._exact_power_is_cheap(base, exp):
                return base**exp
        elif exp.is_Rational and not base.is_Float and exp.q <= self.max_root and abs(exp.p) < exp.q:
            # a root of an exact irrational value (sqrt(2 + sqrt(3))): SymPy keeps it as a
            # power, and _tame bounds its size afterwards
            return base**exp
        return self._numeric_power(base, exp)

    def _numeric_power(self, base: sympy.Expr, exp: sympy.Expr) -> sympy.Expr:
        return self._numeric(mpmath.power, base, exp)

    def _numeric(self, fn: Callable[..., Any], *args: sympy.Expr) -> sympy.Expr:
        """``fn`` (an mpmath function) of ``args`` with ``precision + 5`` significant digits."""
        dps = self.precision + 5
        with mpmath.workdps(dps + 5):
            return sympy.Float(fn(*(_to_mpf(a, dps + 5) for a in args)), dps)

    def _exact_exp_is_cheap(self, arg: sympy.Expr) -> bool:
        """Whether SymPy may evaluate ``exp(arg)`` exactly. It rewrites each term ``c*log(x)`` of
        the argument as the power ``x**c``, of any size (``exp(10**12 % log(2))`` is
        ``exp(10**12 - k*log(2))`` with ``k`` about ``1.4e12``: a small value whose exact form
        would take gigabytes; ``exp(100/99*log(10**99 + 7))`` factorises a 10,000-digit
        number), in C, past any deadline. Exact only when every term that holds a ``log`` is a
        rational ``c`` times the log of a rational ``x`` and ``x**c`` passes the cost rules of
        :meth:`_power`; otherwise numerical."""
        if arg.is_Rational or not arg.has(sympy.log):
            return True
        for term in sympy.Add.make_args(arg):
            if not term.has(sympy.log):
                continue
            coeff, rest = term.as_coeff_Mul()
            if not (
                isinstance(rest, sympy.log)
                and coeff.is_Rational
                and rest.args[0].is_Rational
                and rest.args[0] > 0
                and self._exact_power_is_cheap(rest.args[0], coeff)
            ):
                return False
        return True

    def _exact_power_is_cheap(self, base: sympy.Rational, exp: sympy.Rational) -> bool:
        """Whether SymPy may compute ``base ** exp`` (both rational, ``base > 0``) exactly: an
        integer power within ``2 * max_digits`` digits; a root ``(p/q) ** (m/n)`` with
        ``n <= max_root`` and ``(|m| + n) * bits(max(p, q))`` within a few hundred digits."""
        if abs(exp.p) > self.max_exponent * exp.q:
            return False
        if exp.is_Integer:
            p, q = abs(base.p), base.q
            digits = abs(int(exp)) * ((math.log10(p) if p > 1 else 0) + (math.log10(q) if q > 1 else 0))
            return digits <= 2 * self.max_digits
        bits = max(abs(base.p).bit_length(), base.q.bit_length())
        return exp.q <= self.max_root and (abs(exp.p) + exp.q) * bits <= 4 * self.max_digits * 3.33

    def _call(self, node: ast.Call, depth: int, deadline: float, source: str) -> sympy.Expr:
        if isinstance(node.func, ast.BinOp | ast.UnaryOp | ast.Constant | ast.Call):
            raise CalculatorError(
                "a value followed by '(' is not a product: write * between them, e.g. (1/2)*(1/2)"
            )
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
        if name == "exp":
            if abs(float(args[0].evalf(20))) > self.max_digits * 2.3:
                raise CalculatorError(f"the result would have more than {self.max_digits} digits")
            if not self._exact_exp_is_cheap(args[0]):
                return self._checked(self._numeric(mpmath.exp, args[0]))
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
        it grows beyond ``max_terms`` nodes or holds a rational of more than ``max_digits``
        digits (after the expansion it would take)."""
        bits = self.max_digits * 3.33
        if _expansion_terms(value, _EXPAND_TERMS) <= _EXPAND_TERMS and _rational_bits(value) <= bits:
            expanded = sympy.expand(value)
            if _node_count(expanded, self.max_terms) <= self.max_terms:
                value = expanded
        if value.is_Rational or (
            _node_count(value, self.max_terms) <= self.max_terms and _rational_bits(value) <= bits
        ):
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


def _syntax_message(e: SyntaxError) -> str:
    msg = e.msg or "syntax error"
    if "Exceeds the limit" in msg or "digits" in msg:
        return "a number is too long"
    return msg
