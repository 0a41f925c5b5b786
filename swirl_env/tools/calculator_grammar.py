"""What a calculator expression may contain: the allow-listed functions, constants and operators.

Every function of :data:`FUNCTIONS` works on SymPy numbers and checks its own arguments; a
refused expression raises :class:`CalculatorError`, whose message is what the model sees.

Example:
    >>> fn, lo, hi = FUNCTIONS["gcd"]
    >>> fn(sympy.Integer(12), sympy.Integer(18)), lo, hi
    (6, 2, 20)
    >>> sorted(CONSTANTS)
    ['e', 'pi']
    >>> _describe(ast.parse("x.y", mode="eval").body)
    'Attribute access'
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

import sympy

__all__ = ["CONSTANTS", "FUNCTIONS", "CalculatorError"]


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
_LEVEL: dict[type, int] = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.FloorDiv: 2, ast.Mod: 2}
_HELP = f"functions: {', '.join(sorted(FUNCTIONS)[:2])}, ...; constants: {', '.join(sorted(CONSTANTS))}"


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
