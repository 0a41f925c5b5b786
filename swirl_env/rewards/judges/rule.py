"""Rule-based judges: deterministic, no model, cheap enough to run at every step of every rollout.

:class:`RuleOutcomeJudge` scores a final answer with the environment's own metric: numeric
equivalence for math, exact match / cover exact match / a token-F1 threshold for QA.

:class:`RuleProcessJudge` labels each step GOOD or BAD with rules that mirror the paper's judge
prompts (see :mod:`swirl_env.rewards.prompts`), for calculator and search episodes:

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

Search step (``<search_query> Q </search_query>``), GOOD iff:

* ``search.repeat``: the normalised query differs from every earlier one; and
* ``search.relevance`` (``query_check``): ``"gold"``: its hits include a gold supporting
  paragraph (titles from the task's metadata); the hits are the executed step's
  ``tool_value["hits"]``, or, for an action that was not executed, what ``retriever`` returns
  for the query; ``"overlap"``: at least ``min_overlap`` of the query's content words occur in the
  question or in earlier search results (a query about something else is BAD); ``"none"``: no
  relevance check; ``"auto"`` (default): ``"gold"`` when gold titles and hits (or a retriever)
  are at hand, else ``"overlap"``.

Answer step in a search episode (``search.answer``), GOOD iff it is supported by the retrieved
text: the normalised answer occurs in an earlier search result (``answer_support="substring"``)
or all its words do (``"tokens"``); ``yes``/``no`` is GOOD after at least one search when the
question is a yes/no (comparison) question. An answer before any search is BAD.

A step with no call or a malformed call is BAD (``no_call``). A call to a tool with no rules gets
a failed judgement (``label=None``), never a silent GOOD.

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

import functools
import logging
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swirl_env.parsing import ActionParser
from swirl_env.rewards.judges.base import (
    Judgement,
    OutcomeJudge,
    OutcomeRequest,
    ProcessJudge,
    ProcessRequest,
)
from swirl_env.rewards.number_text import (
    contains_number,
    expression_operands,
    first_number,
    numbers_in_text,
    unit_constants,
)
from swirl_env.rewards.prompts import question_of
from swirl_env.tasks.base import Task, task_domain
from swirl_env.tools.base import Tool

logger = logging.getLogger(__name__)

__all__ = ["RuleOutcomeJudge", "RuleProcessJudge", "normalize_text"]

DEFAULT_TOOL_TAGS: dict[str, str] = {"math_exp": "calculator", "search_query": "search"}
#: keys of ``Task.metadata`` that may hold the gold supporting paragraphs' titles
SUPPORTING_TITLE_KEYS = ("supporting_titles", "gold_titles", "supporting_facts", "supporting_paragraphs")

_STOPWORDS = frozenset(
    """a an the of in on at to for from by with and or but is are was were be been being do does did
    what which who whom whose when where why how that this these those it its as than then there
    their they he she his her him i you we us our your my me not no yes into about over after before
    between both either neither same also any all each other such only own so very can could will
    would should may might must has have had more most less many much one""".split()  # noqa: SIM905
)
_YES_NO_START = re.compile(
    r"^\s*(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|were|am)\b", re.IGNORECASE
)


def _fallback_normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCT = frozenset(string.punctuation)


@functools.cache
def _normalizer() -> Callable[[str], str]:
    try:  # one scorer for the whole package: the QA metric's normaliser
        from swirl_env.metrics.qa import normalize_answer  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - the metrics module ships with the package
        logger.warning("swirl_env.metrics.qa.normalize_answer not found; using a local SQuAD normaliser")
        return _fallback_normalize
    return normalize_answer


def normalize_text(text: str) -> str:
    """SQuAD-style normalisation (the QA metric's): lower case, no punctuation or articles.

    Example:
        >>> normalize_text("The  Eiffel-Tower!")
        'eiffeltower'
    """
    return _normalizer()(text)


@dataclass
class _Call:
    tool: str | None
    argument: str
    result: str | None
    ok: bool


def _split_observation(argument: str, content: str) -> str:
    prefix = f"{argument} -> "
    if content.startswith(prefix):
        return content[len(prefix) :]
    if " -> " in content:
        return content.split(" -> ", 1)[1]
    return content


class RuleProcessJudge(ProcessJudge):
    """Rule-based process judge for calculator (math) and search (QA) episodes.

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
        query_check: ``"auto"``, ``"gold"``, ``"overlap"`` or ``"none"`` (see the module doc).
        retriever: for unexecuted search actions under ``"gold"``/``"auto"``: a callable
            ``query -> hits`` or an object with ``search(query, k)``; hits are dicts with a
            ``"title"`` (or objects with ``.title``).
        retriever_k: hits to ask the retriever for (use the env's ``top_k``).
        min_overlap: the share of a query's content words that must be known (``"overlap"``).
        answer_support: ``"substring"`` or ``"tokens"`` (see the module doc).
        allow_yes_no: accept yes/no answers to yes/no questions after a search.

    Example:
        >>> RuleProcessJudge(query_check="overlap").config()["query_check"]
        'overlap'
    """

    name = "rule-process"

    def __init__(
        self,
        *,
        tool_tags: Mapping[str, str] | None = None,
        math_tools: Iterable[str] = ("calculator",),
        search_tools: Iterable[str] = ("search",),
        calculator: Tool | None = None,
        constants: Iterable[float] = (0, 1, 2),
        unit_constants: bool = True,
        check_operands: bool = True,
        check_repeats: bool = True,
        use_annotations: bool = True,
        query_check: str = "auto",
        retriever: Any = None,
        retriever_k: int = 5,
        min_overlap: float = 0.5,
        answer_support: str = "substring",
        allow_yes_no: bool = True,
    ) -> None:
        if query_check not in ("auto", "gold", "overlap", "none"):
            raise ValueError(f"query_check must be 'auto', 'gold', 'overlap' or 'none', got {query_check!r}")
        if answer_support not in ("substring", "tokens"):
            raise ValueError(f"answer_support must be 'substring' or 'tokens', got {answer_support!r}")
        if not 0.0 <= min_overlap <= 1.0:
            raise ValueError(f"min_overlap must be in [0, 1], got {min_overlap}")
        self.tool_tags = dict(tool_tags or DEFAULT_TOOL_TAGS)
        self.parser = ActionParser(self.tool_tags)
        self.math_tools = frozenset(math_tools)
        self.search_tools = frozenset(search_tools)
        self._calculator = calculator
        self.constants = frozenset(float(c) for c in constants)
        self.unit_constants = unit_constants
        self.check_operands = check_operands
        self.check_repeats = check_repeats
        self.use_annotations = use_annotations
        self.query_check = query_check
        self.retriever = retriever
        self.retriever_k = retriever_k
        self.min_overlap = min_overlap
        self.answer_support = answer_support
        self.allow_yes_no = allow_yes_no

    # ------------------------------------------------------------------ config
    def config(self) -> dict[str, Any]:
        return {
            "tool_tags": self.tool_tags,
            "constants": sorted(self.constants),
            "unit_constants": self.unit_constants,
            "check_operands": self.check_operands,
            "check_repeats": self.check_repeats,
            "use_annotations": self.use_annotations,
            "query_check": self.query_check,
            "retriever": type(self.retriever).__name__ if self.retriever is not None else None,
            "retriever_k": self.retriever_k,
            "min_overlap": self.min_overlap,
            "answer_support": self.answer_support,
            "allow_yes_no": self.allow_yes_no,
        }

    @property
    def calculator(self) -> Tool:
        if self._calculator is None:
            from swirl_env.tools.calculator import Calculator

            self._calculator = Calculator()
        return self._calculator

    # ------------------------------------------------------------------ API
    def judge_steps(self, requests: Sequence[ProcessRequest]) -> list[Judgement]:
        out = []
        for r in requests:
            if not isinstance(r, ProcessRequest):
                raise TypeError(f"a process judge takes ProcessRequest, got {type(r).__name__}")
            try:
                label, rule, why = self._judge(r)
            except Exception as e:  # a rule bug must not kill a batch, nor pass as GOOD
                logger.exception("rule judge failed on one step")
                out.append(Judgement.failure(f"{type(e).__name__}: {e}", judge=self.name))
                continue
            if label is None:
                out.append(Judgement.failure(f"[{rule}] {why}", judge=self.name))
            else:
                out.append(
                    Judgement(label=label, score=float(label), rationale=f"[{rule}] {why}", judge=self.name)
                )
        return out

    # ------------------------------------------------------------------ dispatch
    def _judge(self, r: ProcessRequest) -> tuple[bool | None, str, str]:
        step = dict(r.step or {})
        if not step.get("kind"):
            parsed = self.parser.parse(r.action)
            step.update(kind=parsed.kind, tool=parsed.tool, argument=parsed.argument, error=parsed.error)
        kind, tool, argument = step.get("kind"), step.get("tool"), step.get("argument") or ""
        history = self._history(r.context)
        if kind in ("none", "malformed"):
            return False, "no_call", f"no usable call or answer ({step.get('error') or kind})"
        if kind == "call":
            if tool in self.math_tools:
                return self._math_call(r, step, argument, history)
            if tool in self.search_tools:
                return self._search_call(r, step, argument, history)
            return None, "unknown_tool", f"no rule for tool {tool!r}"
        if kind == "answer":
            if self._domain(r, history) == "math":
                return self._math_answer(r, argument, history)
            return self._search_answer(r, argument, history)
        return None, "unknown_kind", f"unknown step kind {kind!r}"

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

    def _history(self, context: Sequence[Mapping[str, str]]) -> list[_Call]:
        calls: list[_Call] = []
        for i, m in enumerate(context):
            if m.get("role") != "assistant":
                continue
            parsed = self.parser.parse(m.get("content", ""))
            if parsed.kind != "call":
                continue
            nxt = context[i + 1] if i + 1 < len(context) else None
            result = (
                _split_observation(parsed.argument or "", nxt.get("content", ""))
                if nxt is not None and nxt.get("role") != "assistant"
                else None
            )
            ok = result is not None and not result.lstrip().startswith("Error")
            calls.append(_Call(parsed.tool, parsed.argument or "", result, ok))
        return calls

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
    ) -> tuple[bool, str, str]:
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
            unknown = [x for x in expression_operands(expr) if not contains_number(known, x)]
            if unknown:
                shown = ", ".join(_fmt(x) for x in dict.fromkeys(unknown))
                return (
                    False,
                    "math.operands",
                    f"uses {shown}, which is not in the question, earlier results or constants",
                )
        return True, "math.call", f"valid expression using known numbers ({expr} = {result})"

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

    # ------------------------------------------------------------------ search rules
    def _gold_titles(self, task: Task | None) -> set[str]:
        if task is None:
            return set()
        titles: set[str] = set()
        for key in SUPPORTING_TITLE_KEYS:
            value = task.metadata.get(key)
            if not value:
                continue
            for item in value:
                if isinstance(item, str):
                    titles.add(item)
                elif isinstance(item, Mapping) and item.get("title"):
                    titles.add(str(item["title"]))
                elif isinstance(item, list | tuple) and item and isinstance(item[0], str):
                    titles.add(item[0])  # HotPotQA supporting_facts: [title, sentence index]
            if titles:
                break
        return {normalize_text(t) for t in titles}

    def _hits(self, step: Mapping[str, Any], query: str) -> list[str] | None:
        value = step.get("tool_value")
        if isinstance(value, Mapping) and isinstance(value.get("hits"), list):
            return [str(h.get("title", "")) for h in value["hits"] if isinstance(h, Mapping)]
        if step.get("tool_ok") is not None or self.retriever is None:
            return None
        search: Callable[..., Any] | None = getattr(self.retriever, "search", None)
        hits = search(query, self.retriever_k) if search is not None else self.retriever(query)
        return [_title(h) for h in hits]

    def _search_call(
        self, r: ProcessRequest, step: Mapping[str, Any], query: str, history: list[_Call]
    ) -> tuple[bool, str, str]:
        norm = normalize_text(query)
        if self.check_repeats and any(
            c.tool in self.search_tools and normalize_text(c.argument) == norm for c in history
        ):
            return False, "search.repeat", f"repeats an earlier query ({query})"
        if step.get("tool_ok") is False:
            return False, "search.error", f"the search failed: {step.get('tool_result')}"
        mode = self.query_check
        if mode == "none":
            return True, "search.query", "a new query"
        gold = self._gold_titles(r.task)
        hits = self._hits(step, query) if mode in ("gold", "auto") and gold else None
        if mode == "gold" or (mode == "auto" and gold and hits is not None):
            if not gold:
                return None, "search.relevance", "query_check='gold' but the task has no supporting titles"  # type: ignore[return-value]
            if hits is None:
                return None, "search.relevance", "query_check='gold' but no hits and no retriever"  # type: ignore[return-value]
            found = [h for h in hits if normalize_text(h) in gold]
            if found:
                return True, "search.relevance", f"retrieves a supporting paragraph ({found[0]})"
            return False, "search.relevance", "retrieves no supporting paragraph"
        q_words = _content_words(query)
        if not q_words:
            return False, "search.relevance", "the query has no content words"
        known = _content_words(question_of(r.task, r.context))
        for c in history:
            if c.tool in self.search_tools and c.ok and c.result:
                known |= _content_words(c.result)
        share = len(q_words & known) / len(q_words)
        if share >= self.min_overlap:
            return (
                True,
                "search.relevance",
                f"{share:.0%} of the query's words come from the question or results",
            )
        return (
            False,
            "search.relevance",
            f"only {share:.0%} of the query's words relate to the question or results",
        )

    def _search_answer(self, r: ProcessRequest, answer: str, history: list[_Call]) -> tuple[bool, str, str]:
        texts = [c.result for c in history if c.tool in self.search_tools and c.ok and c.result]
        if not texts:
            return False, "search.answer", "answers before any successful search"
        norm = normalize_text(answer)
        if not norm:
            return False, "search.answer", "the answer is empty after normalisation"
        if self.allow_yes_no and norm in ("yes", "no"):
            question = question_of(r.task, r.context)
            qtype = str((r.task.metadata.get("type") if r.task is not None else "") or "").lower()
            if qtype == "comparison" or _YES_NO_START.match(question):
                return True, "search.answer", "a yes/no answer to a yes/no question, after searching"
            return False, "search.answer", "a yes/no answer to a question that is not a yes/no question"
        corpus = " " + normalize_text(" ".join(texts)) + " "
        if self.answer_support == "substring":
            if f" {norm} " in corpus:
                return True, "search.answer", "the answer occurs in the retrieved text"
            return False, "search.answer", "the answer does not occur in the retrieved text"
        words = set(norm.split())
        missing = words - set(corpus.split())
        if not missing:
            return True, "search.answer", "every word of the answer occurs in the retrieved text"
        return False, "search.answer", f"{len(missing)} answer word(s) are not in the retrieved text"


def _norm_expr(expr: str) -> str:
    return re.sub(r"\s+", "", expr).lower()


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _title(hit: Any) -> str:
    if isinstance(hit, Mapping):
        return str(hit.get("title", ""))
    if isinstance(hit, str):
        return hit
    return str(getattr(hit, "title", ""))


def _content_words(text: str) -> set[str]:
    return {w for w in normalize_text(text).split() if w not in _STOPWORDS}


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
        if math_metric != "numeric":
            raise ValueError(f"math_metric must be 'numeric', got {math_metric!r}")
        if qa_metric not in ("em", "cover_em", "f1"):
            raise ValueError(f"qa_metric must be 'em', 'cover_em' or 'f1', got {qa_metric!r}")
        if domain not in ("auto", "math", "qa"):
            raise ValueError(f"domain must be 'auto', 'math' or 'qa', got {domain!r}")
        if not 0.0 <= f1_threshold <= 1.0:
            raise ValueError(f"f1_threshold must be in [0, 1], got {f1_threshold}")
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
