"""The arithmetic the arithmetic judges check a step with, on numbers and syntax trees only.

For the gold-aware judge: the operands of a task's gold steps, the numbers a step leaves out,
the calculator calls of a conversation (:class:`_Calc`). For the gold-free judge: an
expression's syntax tree (``ast.parse`` only reads; nothing runs) and the operations stated in
the question that it applies to a known value. :mod:`swirl_env.envs.arithmetic.judge` holds the
judges themselves.

Example:
    >>> tree = _parse_expression("12 - 3")
    >>> _applied(tree, [7.0, 12.0], [("+", 5), ("-", 3)])
    [('-', 3)]
    >>> _missing_ops([("+", 5), ("-", 3)], [("-", 3)]), _missing([7, 5], [7, 5, 3])
    ([('+', 5)], [3])
    >>> _fmt(18.0), _fmt(2.5), _norm_expr(" 7 + 5 ")
    ('18', '2.5', '7+5')
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from swirl_env.rewards.number_text import contains_number
from swirl_env.tasks.base import Task


# ---------------------------------------------------------------------------------------------- gold-aware judge
def _step_operands(task: Task | None) -> list[float] | None:
    """The operand of every gold step, or ``None`` when the metadata lacks them."""
    steps = task.metadata.get("solution_steps") if task is not None else None
    try:
        return [float(s["operand"]) for s in steps or []] or None
    except (KeyError, TypeError, ValueError):
        return None


def _missing(have: Sequence[float], needed: Sequence[float]) -> list[float]:
    """The numbers of ``needed`` (a multiset) that ``have`` does not cover."""
    pool = list(have)
    missing = []
    for x in needed:
        hit = next((i for i, y in enumerate(pool) if contains_number([y], x)), None)
        if hit is None:
            missing.append(x)
        else:
            pool.pop(hit)
    return missing


@dataclass
class _Calc:
    expression: str
    value: float | None


def _norm_expr(expr: str) -> str:
    return re.sub(r"\s+", "", expr).lower()


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# ---------------------------------------------------------------------------------------------- gold-free judge
_BIN_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMMUTATIVE = {"+", "*"}


def _same(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)), abs(float(b)))


def _constant(node: ast.AST) -> float | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _constant(node.operand)
        return None if inner is None else -inner
    return None


def _applied(
    node: ast.AST, values: Sequence[float], stated: Sequence[tuple[str, int]]
) -> list[tuple[str, int]] | None:
    """The stated operations an expression applies to a known value, or ``None`` when it is not
    such a computation (every operation must be ``VALUE OP n`` with ``(OP, n)`` stated in the
    question, ``n OP VALUE`` for ``+``/``*``; a VALUE is the start, an earlier result, or such a
    computation itself)."""
    c = _constant(node)
    if c is not None:
        return [] if any(_same(c, v) for v in values) else None
    if not isinstance(node, ast.BinOp) or type(node.op) not in _BIN_OPS:
        return None
    op = _BIN_OPS[type(node.op)]
    orders = [(node.left, node.right)] + ([(node.right, node.left)] if op in _COMMUTATIVE else [])
    for value_side, operand_side in orders:
        n = _constant(operand_side)
        if n is None or not any(o == op and _same(n, m) for o, m in stated):
            continue
        inner = _applied(value_side, values, stated)
        if inner is not None:
            return [*inner, (op, int(n) if float(n).is_integer() else n)]  # type: ignore[list-item]
    return None


def _parse_expression(expression: str) -> ast.AST | None:
    """The expression's syntax tree (``ast.parse`` only reads; nothing runs), ``None`` if unreadable."""
    text = expression.strip().replace("×", "*").replace("÷", "/").replace("−", "-")
    if not text or len(text) > 200:
        return None
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _missing_ops(
    stated: Sequence[tuple[str, int]], applied: Sequence[tuple[str, int]]
) -> list[tuple[str, int]]:
    """The stated operations (a multiset) that ``applied`` does not cover."""
    pool = list(applied)
    missing = []
    for o, n in stated:
        hit = next((i for i, (p, m) in enumerate(pool) if p == o and _same(m, n)), None)
        if hit is None:
            missing.append((o, n))
        else:
            pool.pop(hit)
    return missing
