"""Rule-based judges: deterministic, no model, cheap enough to run at every step of every rollout.

:class:`RuleOutcomeJudge` scores a final answer with the environment's own metric: numeric
equivalence for math, exact match / cover exact match / a token-F1 threshold for QA.

:class:`RuleProcessJudge` labels each step GOOD or BAD with rules that mirror the paper's judge
prompts (see :mod:`swirl_env.rewards.prompts`), for calculator and search episodes. It is a
dispatcher over two rule sets, each in its own module and usable alone:

* :mod:`~swirl_env.rewards.judges.rule_math` (:class:`MathRuleProcessJudge`): calculator steps
  (``math.repeat``, ``math.error``, ``math.operands``) and answers of math episodes
  (``math.answer``, ``math.early_answer``);
* :mod:`~swirl_env.rewards.judges.rule_search` (:class:`SearchRuleProcessJudge`): search steps
  (``search.repeat``, ``search.relevance``) and answers of search episodes (``search.answer``).

A call is judged by the rules of its tool; an answer by those of the episode's domain: the task's
:attr:`~swirl_env.tasks.base.Task.domain` (``"math"`` or ``"search"``), or for a task without
one (an old record) its dataset name (:func:`~swirl_env.tasks.base.task_domain`), or with no
task the episode's tool calls. A step with no call or a malformed call is BAD (``no_call``). A
call to a tool with no rules gets a failed judgement (``label=None``), never a silent GOOD.

The rationale of every judgement starts with the rule that decided it, in brackets
(``"[math.operands] 17 is not in the question or earlier results"``).

Example:
    >>> from swirl_env.tasks.base import Task
    >>> from swirl_env.rewards.judges.base import ProcessRequest
    >>> task = Task("q", "Tom has 3 bags of 4 apples. How many apples?", ("12",), "gsm8k", "test")
    >>> ctx = [{"role": "user", "content": "Question: " + task.question}]
    >>> judge = RuleProcessJudge()
    >>> judge.judge_step(ProcessRequest(task, ctx, "<math_exp> 3 * 4 </math_exp>")).label
    True
    >>> judge.judge_step(ProcessRequest(task, ctx, "<math_exp> 3 * 5 </math_exp>")).rationale
    '[math.operands] uses 5, which is not in the question, earlier results or constants'
    >>> judge.judge_step(ProcessRequest(task, ctx, "<answer> 12 </answer>")).rationale
    '[math.early_answer] answers before any calculation, but the question needs one'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from swirl_env.checks import fraction, one_of
from swirl_env.rewards.judges.base import Judgement, OutcomeJudge, OutcomeRequest, ProcessRequest
from swirl_env.rewards.judges.rule_base import DEFAULT_TOOL_TAGS, RuleJudgeBase, Verdict, _Call
from swirl_env.rewards.judges.rule_math import MathRuleProcessJudge
from swirl_env.rewards.judges.rule_search import SUPPORTING_TITLE_KEYS, SearchRuleProcessJudge, normalize_text
from swirl_env.tasks.base import Task, task_domain

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TOOL_TAGS",
    "SUPPORTING_TITLE_KEYS",
    "MathRuleProcessJudge",
    "RuleOutcomeJudge",
    "RuleProcessJudge",
    "SearchRuleProcessJudge",
    "normalize_text",
]


class RuleProcessJudge(MathRuleProcessJudge, SearchRuleProcessJudge):
    """Rule-based process judge for calculator (math) and search (QA) episodes.

    The math rules of :class:`MathRuleProcessJudge` and the search rules of
    :class:`SearchRuleProcessJudge`, chosen by the call's tool or, for an answer, by the
    episode's domain (see the module doc).

    Args:
        tool_tags: tag -> tool name, to parse actions whose ``step`` record is empty and the
            earlier turns of the context (default: ``math_exp`` -> ``calculator``,
            ``search_query`` -> ``search``).
        math_tools / search_tools: tool names judged by the math / search rules.
        calculator: the calculator that checks unexecuted expressions (default: the package's
            SymPy calculator, :class:`swirl_env.tools.calculator.Calculator`).
        constants: numbers an expression may always use (default 0, 1, 2).
        unit_constants: also allow conversion factors implied by the question's units.
        check_operands / check_repeats: switch the ``math.operands`` / repeat rules.
        use_annotations: decide "a computation is needed" from ``task.metadata["annotations"]``
            when present.
        query_check: ``"auto"``, ``"gold"``, ``"overlap"`` or ``"none"`` (see
            :mod:`~swirl_env.rewards.judges.rule_search`).
        retriever: for unexecuted search actions under ``"gold"``/``"auto"``: a callable
            ``query -> hits`` or an object with ``search(query, k)``; hits are dicts with a
            ``"title"`` (or objects with ``.title``).
        retriever_k: hits to ask the retriever for (use the env's ``top_k``).
        min_overlap: the share of a query's content words that must be known (``"overlap"``).
        answer_support: ``"substring"`` or ``"tokens"`` (see :mod:`~swirl_env.rewards.judges.rule_search`).
        allow_yes_no: accept yes/no answers to yes/no questions after a search.

    Example:
        >>> RuleProcessJudge(query_check="overlap").config()["query_check"]
        'overlap'
    """

    name = "rule-process"

    def config(self) -> dict[str, Any]:
        return {**RuleJudgeBase.config(self), **self._math_config(), **self._search_config()}

    # ------------------------------------------------------------------ dispatch
    def _judge_answer(self, r: ProcessRequest, answer: str, history: list[_Call]) -> Verdict:
        if self._domain(r, history) == "math":
            return self._math_answer(r, answer, history)
        return self._search_answer(r, answer, history)

    def _domain(self, r: ProcessRequest, history: list[_Call]) -> str:
        """``"math"`` or ``"search"``: the task's domain; for a task without one (an old record)
        its dataset name tells (:func:`~swirl_env.tasks.base.task_domain`); with no task
        either, the episode's tool calls, then the generation prompt's tags."""
        domain = task_domain(r.task)
        if domain in ("math", "search"):
            return domain
        tools = {c.tool for c in history}
        if tools & self.math_tools and not tools & self.search_tools:
            return "math"
        if tools & self.search_tools:
            return "search"
        first = r.context[0]["content"] if r.context else ""
        return "math" if re.search(r"<\s*math_exp\s*>", first, re.IGNORECASE) else "search"


# ---------------------------------------------------------------------------------------------- outcome
class RuleOutcomeJudge(OutcomeJudge):
    """Outcome judge from the environment's metrics (no model).

    Args:
        math_metric: ``"numeric"``: :func:`swirl_env.metrics.numeric.numeric_match` (``10``,
            ``10.00`` and ``$10`` are equal).
        qa_metric: ``"em"``, ``"cover_em"`` (a gold answer occurs in the normalised prediction) or
            ``"f1"`` (token F1 >= ``f1_threshold``), from :func:`swirl_env.metrics.qa.qa_metrics`.
        f1_threshold: the F1 a prediction needs under ``qa_metric="f1"``.
        domain: ``"auto"`` (math for a task of the ``"math"`` domain, else QA; a task without a
            domain, from a record written before tasks carried one, is math when its dataset is
            one of :data:`~swirl_env.tasks.base.MATH_DATASETS`), ``"math"`` or ``"qa"``.

    Example:
        >>> from swirl_env.tasks.base import Task
        >>> j = RuleOutcomeJudge()
        >>> [x.label for x in j.judge_outcomes([
        ...     OutcomeRequest(Task("q", "2+2?", ("4",), "gsm8k", "test"), "$4.00"),
        ...     OutcomeRequest(Task("q", "Capital?", ("Paris",), "hotpotqa", "dev"), "Rome")])]
        [True, False]
    """

    name = "rule-outcome"

    def __init__(
        self,
        *,
        math_metric: str = "numeric",
        qa_metric: str = "cover_em",
        f1_threshold: float = 0.5,
        domain: str = "auto",
    ) -> None:
        one_of("math_metric", math_metric, ("numeric",))
        one_of("qa_metric", qa_metric, ("em", "cover_em", "f1"))
        one_of("domain", domain, ("auto", "math", "qa"))
        fraction("f1_threshold", f1_threshold)
        self.math_metric = math_metric
        self.qa_metric = qa_metric
        self.f1_threshold = f1_threshold
        self.domain = domain

    def config(self) -> dict[str, Any]:
        return {
            "math_metric": self.math_metric,
            "qa_metric": self.qa_metric,
            "f1_threshold": self.f1_threshold,
            "domain": self.domain,
        }

    def _is_math(self, task: Task) -> bool:
        if self.domain != "auto":
            return self.domain == "math"
        return task_domain(task) == "math"

    def judge_outcomes(self, requests: Sequence[OutcomeRequest]) -> list[Judgement]:
        out = []
        for r in requests:
            if not isinstance(r, OutcomeRequest):
                raise TypeError(f"an outcome judge takes OutcomeRequest, got {type(r).__name__}")
            if r.prediction is None or not r.prediction.strip():
                out.append(Judgement(label=False, score=0.0, rationale="no final answer", judge=self.name))
                continue
            try:
                out.append(self._one(r))
            except Exception as e:
                logger.exception("rule outcome judge failed")
                out.append(Judgement.failure(f"{type(e).__name__}: {e}", judge=self.name))
        return out

    def _one(self, r: OutcomeRequest) -> Judgement:
        golds = list(r.task.answers)
        if self._is_math(r.task):
            from swirl_env.metrics.numeric import numeric_match

            res = numeric_match(r.prediction, golds)
            label = bool(res["correct"])
            return Judgement(
                label=label,
                score=float(label),
                rationale=f"numeric match against {golds}: {label}",
                judge=self.name,
            )
        from swirl_env.metrics.qa import OFFICIAL_STYLES, qa_metrics

        # score as the dataset's official script does (HotPotQA's rules for other datasets)
        m = qa_metrics(
            r.prediction, golds, style=OFFICIAL_STYLES.get((r.task.dataset or "").lower(), "hotpotqa")
        )
        if self.qa_metric == "f1":
            label = float(m["f1"]) >= self.f1_threshold
            why = f"token F1 {float(m['f1']):.3f} {'>=' if label else '<'} {self.f1_threshold}"
        else:
            label = bool(m[self.qa_metric])
            why = f"{self.qa_metric} = {float(m[self.qa_metric]):g}"
        return Judgement(label=label, score=float(label), rationale=why, judge=self.name)
