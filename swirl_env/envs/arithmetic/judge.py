"""The process judges of ``SwiRL-Arithmetic-v0``: gold-aware and gold-free rules.

* :class:`ArithmeticProcessJudge` (registered as ``"arithmetic"``): checks each step against the
  task's gold solution steps (``metadata["solution_steps"]``);
* :class:`ArithmeticStepJudge` (``"arithmetic-step"``, the demo's default): reads the question as a
  person would and judges whether each step is a reasonable next one, never seeing the gold
  answer or solution, as the paper's judge.

Both fall back to :class:`~swirl_env.rewards.judges.rule.RuleProcessJudge` for questions that are
not of the arithmetic generator. The arithmetic they check a step with (numbers a step covers,
the stated operations an expression applies) is in :mod:`swirl_env.envs.arithmetic.step_arithmetic`.

Example:
    >>> from swirl_env.rewards.judges import make_judge
    >>> type(make_judge("arithmetic-step", "process")).__name__
    'ArithmeticStepJudge'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from swirl_env._lazy import private_helpers
from swirl_env.envs.arithmetic.step_arithmetic import (
    _applied,
    _Calc,
    _constant,
    _fmt,
    _missing,
    _missing_ops,
    _norm_expr,
    _parse_expression,
    _same,
    _step_operands,
)
from swirl_env.envs.arithmetic.tasks import QuestionReading, read_question
from swirl_env.rewards.judges.base import ProcessRequest
from swirl_env.rewards.judges.rule import RuleProcessJudge
from swirl_env.rewards.judges.rule_base import Verdict
from swirl_env.rewards.number_text import (
    contains_number,
    expression_operands,
    first_number,
    numbers_in_text,
    parse_number,
)
from swirl_env.rewards.prompts import question_of
from swirl_env.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = ["ArithmeticProcessJudge", "ArithmeticStepJudge", "gold_values"]


# ---------------------------------------------------------------------------------------------- judge
class _StepView(NamedTuple):
    """A judged step as the arithmetic rules read it, with the episode's calculator calls so far."""

    step: dict[str, Any]
    kind: str | None
    tool: str | None
    argument: str
    calls: list[_Calc]
    #: the numbers the calls gave (calls with no number left out)
    results: list[float]


def gold_values(task: Task | None) -> tuple[float, list[float]] | None:
    """``(start, [v1, ..., vK])`` from a task's gold solution steps, or ``None`` without them.

    Example:
        >>> from swirl_env.envs.arithmetic.tasks import generate_task
        >>> start, values = gold_values(generate_task(0))
        >>> len(values) >= 2
        True
    """
    if task is None:
        return None
    steps = task.metadata.get("solution_steps") if isinstance(task.metadata, Mapping) else None
    if not steps:
        return None
    try:
        values = [float(s["value"]) for s in steps]
        start = float(task.metadata.get("start", first_number(str(steps[0]["expression"])) or 0.0))
    except (KeyError, TypeError, ValueError):
        return None
    return start, values


class ArithmeticProcessJudge(RuleProcessJudge):
    """Rule-based process judge that checks each step against the task's gold solution steps.

    For tasks with ``metadata["solution_steps"]`` (every ``SwiRL-Arithmetic-v0`` task; GSM8K has
    only annotations) the *progress* of an episode is the furthest gold value its calculator
    results have reached, in order. Then:

    * a calculator step is GOOD iff it evaluates, does not repeat an earlier expression, uses only
      numbers of the question or of earlier results (``math.operands``), and its value is the next
      gold value (``math.step``) or, with ``allow_combined_steps``, a later one reached in one
      expression (``7 + 5 - 3``). Using a distractor, the wrong operator, a mis-copied number,
      skipping a step, or continuing from a wrong result is BAD (``math.wrong_value``); a
      calculation after the last gold value is BAD (``math.extra``);
    * an answer is GOOD iff its number is the final gold value AND an earlier calculator result
      (``math.answer``); the right number without having computed it is BAD
      (``math.unsupported_answer``: a guess), an intermediate value is BAD (``math.incomplete``);
    * a step with no call or a malformed call is BAD (``no_call``).

    Tasks without gold steps are judged by :class:`~swirl_env.rewards.judges.rule.RuleProcessJudge`.

    Args:
        allow_combined_steps: accept one expression that covers several gold steps.
        **kwargs: passed to :class:`~swirl_env.rewards.judges.rule.RuleProcessJudge`.

    Example:
        >>> from swirl_env.envs.arithmetic.tasks import generate_task
        >>> task = generate_task(0)
        >>> first = task.metadata["solution_steps"][0]
        >>> ctx = [{"role": "user", "content": "Question: " + task.question}]
        >>> judge = ArithmeticProcessJudge()
        >>> judge.judge_step(ProcessRequest(task, ctx, f"<math_exp> {first['expression']} </math_exp>")).label
        True
        >>> judge.judge_step(ProcessRequest(task, ctx, f"<answer> {task.answer} </answer>")).rationale
        '[math.unsupported_answer] the answer is not a calculator result (computed without the calculator)'
    """

    name = "arithmetic-process"

    def __init__(self, *, allow_combined_steps: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allow_combined_steps = allow_combined_steps

    def config(self) -> dict[str, Any]:
        return {**super().config(), "allow_combined_steps": self.allow_combined_steps}

    def _judge(self, r: ProcessRequest) -> Verdict:
        """The arithmetic rules' verdict, or the generic rules' when they do not apply."""
        verdict = self._verdict(r)
        return RuleProcessJudge._judge(self, r) if verdict is None else verdict

    def _verdict(self, r: ProcessRequest) -> Verdict | None:
        """``(label, rule, why)`` of one step, or ``None`` to use the generic rules."""
        gold = gold_values(r.task)
        return None if gold is None else self._judge_gold(r, *gold)

    # ------------------------------------------------------------------ internals
    def _read(self, r: ProcessRequest) -> _StepView | Verdict:
        """The step of ``r`` and the context's calculator calls, or the ``no_call`` verdict on a
        step with no usable call or answer."""
        step, no_call = self._read_step(r)
        if no_call is not None:
            return no_call
        calls = self._calls(r.context)
        results = [c.value for c in calls if c.value is not None]
        return _StepView(step, step.get("kind"), step.get("tool"), step.get("argument") or "", calls, results)

    def _rejected_call(self, view: _StepView) -> Verdict | None:
        """``math.tool`` for a step that is not a calculator call, ``math.repeat`` for an expression
        computed before; ``None`` for a new calculator call."""
        if view.kind != "call" or view.tool not in self.math_tools:
            return False, "math.tool", f"not a calculator call ({view.kind}, {view.tool})"
        if self.check_repeats and any(
            _norm_expr(c.expression) == _norm_expr(view.argument) for c in view.calls
        ):
            return False, "math.repeat", f"repeats an earlier calculation ({view.argument})"
        return None

    def _calls(self, context: Sequence[Mapping[str, str]]) -> list[_Calc]:
        """The calculator calls of the context, each with the number it gave (``None`` for an
        error or no result)."""
        return [
            _Calc(c.argument, parse_number(c.result) if c.ok and c.result is not None else None)
            for c in self._history(context)
            if c.tool in self.math_tools
        ]

    def _reach(
        self,
        expression: str,
        value: float,
        k: int,
        start: float,
        values: Sequence[float],
        operands: Sequence[float] | None,
    ) -> tuple[int | None, tuple[int, list[float]] | None]:
        """Which gold step a calculation at progress ``k`` completes.

        Returns ``(j, None)`` when ``expression`` (worth ``value``) computes gold step ``j >= k``
        (only ``j == k`` without ``allow_combined_steps``) from the right numbers: the current
        value and the operand of every step it covers (in any order, ``5 + 7`` for ``7 + 5``).
        Returns ``(None, (j, missing))`` when the value is right only by chance (``38 - 3`` for
        the steps ``38 + 3 = 41``, ``41 - 6 = 35``), and ``(None, None)`` when no step matches.
        """
        last = len(values) if self.allow_combined_steps else min(k + 1, len(values))
        chance = None
        for j in range(k, last):
            if not contains_number([values[j]], value):
                continue
            if operands is None:
                return j, None
            needed = [start if k == 0 else values[k - 1], *operands[k : j + 1]]
            missing = _missing(expression_operands(expression), needed)
            if not missing:
                return j, None
            chance = chance or (j, missing)
        return None, chance

    def _progress(
        self,
        calls: Sequence[_Calc],
        start: float,
        values: Sequence[float],
        operands: Sequence[float] | None,
    ) -> int:
        """Number of gold steps completed by the calculations so far, in order."""
        k = 0
        for c in calls:
            if c.value is None or k >= len(values):
                continue
            j, _ = self._reach(c.expression, c.value, k, start, values, operands)
            if j is not None:
                k = j + 1
        return k

    def _judge_gold(self, r: ProcessRequest, start: float, values: list[float]) -> Verdict:
        operands = _step_operands(r.task)
        view = self._read(r)
        if not isinstance(view, _StepView):
            return view
        step, kind, _, argument, calls, results = view
        k = self._progress(calls, start, values, operands)
        final = values[-1]
        if kind == "answer":
            value = first_number(argument)
            if value is None:
                return False, "math.answer", f"the answer {argument!r} has no number"
            if k == len(values) and contains_number([final], value):
                return True, "math.answer", f"{_fmt(value)} is the result of the last step"
            if not contains_number(results, value):
                if contains_number([final], value):
                    return (
                        False,
                        "math.unsupported_answer",
                        "the answer is not a calculator result (computed without the calculator)",
                    )
                return False, "math.answer", f"{_fmt(value)} does not follow from the calculator results"
            if k < len(values) and contains_number(values[:k], value):
                return (
                    False,
                    "math.incomplete",
                    f"{_fmt(value)} is an intermediate value; steps {k + 1}-{len(values)} are missing",
                )
            if k < len(values) and contains_number([final], value):
                return (
                    False,
                    "math.unsupported_answer",
                    f"{_fmt(value)} was not reached by the solution's steps (steps {k + 1}-{len(values)} are missing)",
                )
            return False, "math.answer", f"{_fmt(value)} follows from a wrong calculation"
        rejected = self._rejected_call(view)
        if rejected is not None:
            return rejected
        if step.get("tool_ok") is not None:
            ok, text = bool(step["tool_ok"]), str(step.get("tool_result") or "")
            value = parse_number(text) if ok else None
            if ok and value is None and isinstance(step.get("tool_value"), int | float):
                value = float(step["tool_value"])
        else:
            res = self.calculator(argument)
            ok, text = res.ok, res.text
            value = parse_number(text) if ok else None
        if not ok or value is None:
            return False, "math.error", f"the expression does not evaluate to a number: {text}"
        if self.check_operands:
            known = numbers_in_text(question_of(r.task, r.context), derived=False) | set(results) | {start}
            verdict = self._operands_verdict(argument, known, "the question or earlier results")
            if verdict is not None:
                return verdict
        if k >= len(values):
            return False, "math.extra", "every step is already computed; the answer is due"
        j, chance = self._reach(argument, value, k, start, values, operands)
        if j == k:
            return True, "math.step", f"{argument} = {_fmt(value)} is step {k + 1} of the solution"
        if j is not None:
            return True, "math.step", f"{argument} = {_fmt(value)} computes steps {k + 1}-{j + 1} at once"
        if chance is not None:
            span = f"step {k + 1}" if chance[0] == k else f"steps {k + 1}-{chance[0] + 1}"
            shown = ", ".join(_fmt(x) for x in chance[1])
            return (
                False,
                "math.wrong_operands",
                f"{argument} = {_fmt(value)} matches {span} by chance: it does not use {shown}",
            )
        return (
            False,
            "math.wrong_value",
            f"{argument} = {_fmt(value)}, but step {k + 1} of the solution gives {_fmt(values[k])}",
        )


# ---------------------------------------------------------------------------------------------- gold-free judge
class ArithmeticStepJudge(ArithmeticProcessJudge):
    """Gold-free process judge of ``SwiRL-Arithmetic-v0``: is each step a reasonable next step?

    The judge reads the question as a person would (its start quantity and the operation each
    sentence states, :func:`~swirl_env.envs.arithmetic.tasks.read_question`) and the conversation so far.
    It never sees the gold answer or the gold solution's values, as the paper's judge:

    * a calculator step is GOOD iff it evaluates, repeats no earlier expression, and is a sensible
      sub-computation: every operation in it applies an operation the question states (the right
      operator with that sentence's number) to a known value (the start or an earlier result),
      e.g. ``12 - 3`` after ``7 + 5 -> 12`` for "She gives 3 to Bob". Using a distractor's number,
      the wrong operator or a number that appears nowhere is BAD (``math.operands``/``math.form``);
      the ORDER of the operations and which known value is continued are not checked, so a step
      can be reasonable and still lead to a wrong final answer;
    * an answer is GOOD iff it follows from the calculations so far and the problem is done: it is
      the latest calculator result and every operation the question states has been applied, in
      any order (``math.answer``); an answer before any calculation, one that is not the latest
      result (a guess, a mis-copy) or one with stated operations not applied yet
      (``math.incomplete``) is BAD. (Without the completeness check, SWiRL learns to answer after
      the first calculation: see docs/benchmarks.md.);
    * a step with no call or a malformed call is BAD (``no_call``).

    Questions that are not of the arithmetic generator fall back to
    :class:`~swirl_env.rewards.judges.rule.RuleProcessJudge`'s rules. The gold-aware
    :class:`ArithmeticProcessJudge` remains available.

    Example:
        >>> from swirl_env.envs.arithmetic.tasks import generate_task
        >>> task = generate_task(0)
        >>> first = task.metadata["solution_steps"][0]
        >>> ctx = [{"role": "user", "content": "Question: " + task.question}]
        >>> judge = ArithmeticStepJudge()
        >>> judge.judge_step(ProcessRequest(task, ctx, f"<math_exp> {first['expression']} </math_exp>")).label
        True
        >>> judge.judge_step(ProcessRequest(task, ctx, f"<answer> {task.answer} </answer>")).rationale
        '[math.answer] an answer before any calculation'
    """

    name = "arithmetic-step"

    def _evaluates(self, expression: str) -> tuple[bool, str]:
        """The calculator's verdict on ``expression``, remembered (SWiRL asks about the same
        sampled expressions over and over)."""
        cache = self.__dict__.setdefault("_calc_cache", {})
        hit = cache.get(expression)
        if hit is None:
            res = self.calculator(expression)
            hit = cache[expression] = (res.ok, res.text)
            if len(cache) > 65536:
                cache.pop(next(iter(cache)))
        return hit

    def _verdict(self, r: ProcessRequest) -> Verdict | None:
        try:
            reading = read_question(question_of(r.task, r.context))
        except ValueError:  # not a question of the generator: the generic rules
            return None
        return self._judge_reading(r, reading)

    def _judge_reading(self, r: ProcessRequest, reading: QuestionReading) -> Verdict:
        from swirl_env.metrics.numeric import extract_number

        view = self._read(r)
        if not isinstance(view, _StepView):
            return view
        step, kind, _, argument, calls, results = view
        known = [float(reading.start), *results]
        if kind == "answer":
            value = extract_number(argument)
            if value is None:
                return False, "math.answer", f"the answer {argument!r} has no number"
            if not results:
                return False, "math.answer", "an answer before any calculation"
            if not _same(value, results[-1]):
                return False, "math.answer", f"{_fmt(value)} is not the latest result ({_fmt(results[-1])})"
            applied: list[tuple[str, int]] = []
            for c in calls:
                tree = _parse_expression(c.expression)
                applied.extend(
                    (_applied(tree, known, reading.operations) if tree is not None else None) or []
                )
            missing = _missing_ops(reading.operations, applied)
            if missing:
                shown = ", ".join(f"{o} {n}" for o, n in missing)
                return False, "math.incomplete", f"stated operations not applied yet: {shown}"
            return (
                True,
                "math.answer",
                f"{_fmt(value)} is the latest result and every stated operation is applied",
            )
        rejected = self._rejected_call(view)
        if rejected is not None:
            return rejected
        if step.get("tool_ok") is not None:
            ok, text = bool(step["tool_ok"]), str(step.get("tool_result") or "")
        else:
            ok, text = self._evaluates(argument)
        if not ok:
            return False, "math.error", f"the expression does not evaluate: {text}"
        tree = _parse_expression(argument)
        if tree is None or _constant(tree) is not None:
            return False, "math.form", f"{argument!r} is not a computation on the problem's numbers"
        ops = _applied(tree, known, reading.operations)
        if ops is None:
            return (
                False,
                "math.operands",
                f"{argument} does not apply a stated operation (operator and number of a sentence) to a known value",
            )
        return (
            True,
            "math.step",
            f"{argument} applies {', '.join(f'{o} {n}' for o, n in ops)} to a known value",
        )


# the private helpers that were defined here before the split stay readable from this module
__getattr__ = private_helpers(__name__, ["swirl_env.envs.arithmetic.step_arithmetic"])
