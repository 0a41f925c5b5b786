"""The math rules of the rule-based process judge: calculator steps and answers of math episodes.

Calculator step (``<math_exp> EXPR </math_exp>``), GOOD iff all of:

* ``math.repeat``: it does not repeat an earlier expression (whitespace and case ignored);
* ``math.error``: it evaluates without error: the recorded tool result when the step was
  executed, else the judge runs the calculator itself (SWiRL training judges actions that are
  never executed, from the action text and the context only);
* ``math.operands``: every number in it is *known*: stated in the question (digits, number words,
  fractions, percentages, with their derived forms, see :mod:`swirl_env.rewards.number_text`), an
  earlier calculator result, a number of an earlier expression, or a constant: ``constants``
  (default 0, 1, 2) plus the conversion factors the question's units make relevant
  (``unit_constants=True``: 60 when it speaks of hours or minutes, 7 and 52 for weeks...).

Answer step in a math episode (``math.answer``), GOOD iff the answer's number equals an earlier
calculator result, or, when no computation is needed, a number of the question. A computation is
needed when the task's gold solution has calculator annotations (``task.metadata["annotations"]``,
as GSM8K's ``<<48/2=24>>``) or, without annotations, when the answer is not a number of the
question. An answer before any calculation when one is needed is BAD (``math.early_answer``).

:class:`MathRuleProcessJudge` applies these rules alone (a call to another tool gets a failed
judgement); :class:`~swirl_env.rewards.judges.rule.RuleProcessJudge` applies them to math episodes.

Example:
    >>> from swirl_env.tasks.base import Task
    >>> task = Task("q", "Tom has 3 bags of 4 apples. How many apples?", ("12",), "toy", "test", domain="math")
    >>> ctx = [{"role": "user", "content": "Question: " + task.question}]
    >>> judge = MathRuleProcessJudge()
    >>> judge.judge_step(ProcessRequest(task, ctx, "<math_exp> 3 * 4 </math_exp>")).label
    True
    >>> judge.judge_step(ProcessRequest(task, ctx, "<answer> 12 </answer>")).rationale
    '[math.early_answer] answers before any calculation, but the question needs one'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from swirl_env.rewards.judges.base import ProcessRequest
from swirl_env.rewards.judges.rule_base import RuleJudgeBase, Verdict, _Call
from swirl_env.rewards.number_text import (
    contains_number,
    expression_operands,
    first_number,
    numbers_in_text,
    unit_constants,
)
from swirl_env.rewards.prompts import question_of
from swirl_env.tools.base import Tool

__all__ = ["MathRuleProcessJudge"]


class MathRuleProcessJudge(RuleJudgeBase):
    """Rule-based process judge for calculator (math) episodes (see the module doc).

    Args:
        math_tools: tool names judged by the math rules.
        calculator: the calculator that checks unexecuted expressions (default: the package's
            SymPy calculator, :class:`swirl_env.tools.calculator.Calculator`).
        constants: numbers an expression may always use (default 0, 1, 2).
        unit_constants: also allow conversion factors implied by the question's units.
        check_operands: switch the ``math.operands`` rule.
        use_annotations: decide "a computation is needed" from ``task.metadata["annotations"]``
            when present.
        **kwargs: passed on along the method resolution order, to
            :class:`~swirl_env.rewards.judges.rule_base.RuleJudgeBase` (``tool_tags``,
            ``check_repeats``) or, in :class:`~swirl_env.rewards.judges.rule.RuleProcessJudge`,
            to :class:`~swirl_env.rewards.judges.rule_search.SearchRuleProcessJudge` first.

    Example:
        >>> MathRuleProcessJudge(constants=(0, 1)).config()["constants"]
        [0.0, 1.0]
    """

    name = "rule-process-math"

    def __init__(
        self,
        *,
        math_tools: Iterable[str] = ("calculator",),
        calculator: Tool | None = None,
        constants: Iterable[float] = (0, 1, 2),
        unit_constants: bool = True,
        check_operands: bool = True,
        use_annotations: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(math_tools=math_tools, **kwargs)
        self._calculator = calculator
        self.constants = frozenset(float(c) for c in constants)
        self.unit_constants = unit_constants
        self.check_operands = check_operands
        self.use_annotations = use_annotations

    def _math_config(self) -> dict[str, Any]:
        return {
            "constants": sorted(self.constants),
            "unit_constants": self.unit_constants,
            "check_operands": self.check_operands,
            "use_annotations": self.use_annotations,
        }

    def config(self) -> dict[str, Any]:
        return {**super().config(), **self._math_config()}

    @property
    def calculator(self) -> Tool:
        if self._calculator is None:
            from swirl_env.tools.calculator import Calculator

            self._calculator = Calculator()
        return self._calculator

    def _judge_answer(self, r: ProcessRequest, answer: str, history: list[_Call]) -> Verdict:
        return self._math_answer(r, answer, history)

    # ------------------------------------------------------------------ math rules
    def _known_numbers(self, question: str, history: list[_Call]) -> tuple[set[float], set[float]]:
        """(numbers an expression may use, numbers of earlier calculator results)."""
        known = set(numbers_in_text(question)) | set(self.constants)
        if self.unit_constants:
            known |= unit_constants(question)
        results: set[float] = set()
        for c in history:
            if c.tool not in self.math_tools:
                continue
            known.update(expression_operands(c.argument))
            if c.ok and c.result is not None:
                results |= numbers_in_text(c.result, derived=False)
        known |= results
        return known, results

    def _math_call(
        self, r: ProcessRequest, step: Mapping[str, Any], expr: str, history: list[_Call]
    ) -> Verdict:
        norm = _norm_expr(expr)
        if self.check_repeats and any(
            c.tool in self.math_tools and _norm_expr(c.argument) == norm for c in history
        ):
            return False, "math.repeat", f"repeats an earlier calculation ({expr})"
        if step.get("tool_ok") is not None:
            ok, result = bool(step["tool_ok"]), str(step.get("tool_result") or "")
        else:
            res = self.calculator(expr)
            ok, result = res.ok, res.text
        if not ok:
            return False, "math.error", f"the expression does not evaluate: {result}"
        if self.check_operands:
            known, _ = self._known_numbers(question_of(r.task, r.context), history)
            verdict = self._operands_verdict(expr, known, "the question, earlier results or constants")
            if verdict is not None:
                return verdict
        return True, "math.call", f"valid expression using known numbers ({expr} = {result})"

    @staticmethod
    def _operands_verdict(expr: str, known: Iterable[float], sources: str) -> Verdict | None:
        """The ``math.operands`` verdict on an expression that uses a number none of ``known`` is
        (``sources`` says in the rationale where the known numbers come from); ``None`` when
        every number of ``expr`` is known.

        Example:
            >>> MathRuleProcessJudge._operands_verdict("3 * 5 + 5", {3.0}, "the question")
            (False, 'math.operands', 'uses 5, which is not in the question')
        """
        unknown = [x for x in expression_operands(expr) if not contains_number(known, x)]
        if not unknown:
            return None
        shown = ", ".join(_fmt(x) for x in dict.fromkeys(unknown))
        return False, "math.operands", f"uses {shown}, which is not in {sources}"

    def _math_answer(self, r: ProcessRequest, answer: str, history: list[_Call]) -> tuple[bool, str, str]:
        value = first_number(answer)
        if value is None:
            return False, "math.answer", f"the answer {answer!r} has no number"
        question = question_of(r.task, r.context)
        _, results = self._known_numbers(question, history)
        if contains_number(results, value):
            return True, "math.answer", f"{_fmt(value)} is an earlier calculator result"
        in_question = contains_number(numbers_in_text(question), value)
        annotations = (
            (r.task.metadata.get("annotations") if r.task is not None else None)
            if self.use_annotations
            else None
        )
        needed = bool(annotations) if annotations is not None else not in_question
        if not needed and in_question:
            return True, "math.answer", f"{_fmt(value)} is stated in the question and nothing needs computing"
        if not any(c.tool in self.math_tools and c.ok for c in history):
            return False, "math.early_answer", "answers before any calculation, but the question needs one"
        return False, "math.answer", f"{_fmt(value)} does not follow from the calculator results"


def _norm_expr(expr: str) -> str:
    return re.sub(r"\s+", "", expr).lower()


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
