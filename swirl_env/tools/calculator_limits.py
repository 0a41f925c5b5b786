"""The guards that bound a calculator evaluation's time and size, and exact numeric helpers.

:func:`_hard_deadline` interrupts the Python code a thread runs (SymPy included) once a
deadline passes; :func:`_node_count` and :func:`_expansion_terms` estimate the size of an exact
value before SymPy is asked to expand it; :func:`_mpf_floor` and :func:`_to_mpf` convert values
exactly at their own precision.

Example:
    >>> _expansion_terms(sympy.sqrt(2) + 3 * sympy.pi, 32), _node_count(sympy.Integer(7), 10)
    (2, 1)
    >>> _mpf_floor(sympy.Float(-2.5)), _plain(sympy.Rational(1, 3)), _plain(sympy.sqrt(2))
    (-3, True, False)
    >>> import time
    >>> with _hard_deadline(time.perf_counter() + 60):
    ...     int(sympy.factorial(5))
    120
"""

from __future__ import annotations

import contextlib
import itertools
import math
import sys
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import mpmath
import sympy


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

    It never interrupts an import: SymPy imports some of its modules on first use (``Add``
    imports ``sympy.tensor.tensor`` the first time it flattens a sum), and a module body cut halfway
    stays half-initialised for the whole process, so every later evaluation would fail. Past
    the deadline, the interrupt waits until the import in progress has finished.
    """
    clock = time.perf_counter
    # the caller's frames: an import there is not ours to wait for. The frames themselves are held
    # (not only their ids), so that no new frame can take the address of one that has finished.
    callers = _stack(sys._getframe())
    outside = frozenset(map(id, callers))

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if clock() > deadline and not _importing(frame, outside):
            raise _DeadlineExceeded
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)
        callers.clear()  # the list holds this frame itself: break the cycle


def _stack(frame: FrameType | None) -> list[FrameType]:
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


def _importing(frame: FrameType | None, outside: frozenset[int]) -> bool:
    """Whether ``frame`` runs inside an import (a module body or the import machinery) begun
    under the deadline, that is below the frames ``outside``; walked only past the deadline."""
    while frame is not None and id(frame) not in outside:
        code = frame.f_code
        if code.co_name == "<module>" or code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


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


def _rational_bits(value: sympy.Expr) -> int:
    """An estimate of the bits of the largest rational in ``sympy.expand(value)``: the largest
    rational's bits, times the integer power a base is raised to (``((1 + sqrt(10**90 +
    3)/(10**99 + 4))**2)**2...`` doubles them at every square while its value stays near 1)."""
    if value.is_Rational:
        return max(abs(value.p).bit_length(), value.q.bit_length())
    if value.is_Pow and value.exp.is_Integer:
        return abs(int(value.exp)) * _rational_bits(value.base)
    return max((_rational_bits(a) for a in value.args), default=0)
