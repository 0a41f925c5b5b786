"""Judge prompts: the one place that turns a judge request into chat messages, and a verdict back.

Prompts are versioned like the generation prompts (:mod:`swirl_env.prompts`): change wording by
adding a version, never by editing one in place, so that judged trajectories and cached
judgements stay reproducible (the version is part of every model judge's ``config_id``).

* ``process-search-v1``: the paper's process judge, in substance: the question and the
  conversation so far; judge ONLY the last message; a search query is GOOD if it is likely to
  help; an answer is GOOD only if it follows from the search results (not from the judge's own
  knowledge); explain, then GOOD or BAD.
* ``process-math-v1``: the same judge for calculator episodes (the paper shows only the search
  one): an expression is GOOD if it is a valid step toward the answer that uses numbers from the
  question or from earlier results and does not repeat an earlier call; an answer is GOOD only if
  it follows from the calculator results (or is stated in the question when nothing needs
  computing); explain, then GOOD or BAD.
* ``outcome-v1``: the paper's outcome judge: question, answer key, prediction; explain, then YES or
  NO; equivalent numeric forms (``10``, ``10.00``, ``$10``) are equal.

Every prompt has two endings: ``generate`` (explain, then a last line ``Verdict: GOOD``) and
``score`` (the verdict only; a model judge then reads the next-token probabilities of the verdict
words after an assistant turn that starts with :attr:`JudgePrompt.score_prefix`).

Example:
    >>> from swirl_env.rewards.judges.base import ProcessRequest
    >>> req = ProcessRequest(task=None, context=[{"role": "user", "content": "Question: 2+2?"}],
    ...                      action="<math_exp> 2 + 2 </math_exp>")
    >>> prompt = select_process_prompt(req)
    >>> prompt.version
    'process-math-v1'
    >>> "Verdict: GOOD" in prompt.render(req)[-1]["content"]
    True
    >>> parse_verdict("The query is relevant. **Verdict:** good", "GOOD", "BAD")
    True
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from swirl_env.checks import one_of
from swirl_env.tasks.base import MATH_DATASETS as MATH_DATASETS  # re-exported: it was defined here
from swirl_env.tasks.base import task_domain
from swirl_env.trajectory import Message

__all__ = [
    "JUDGE_PROMPTS",
    "JudgePrompt",
    "format_conversation",
    "get_judge_prompt",
    "parse_verdict",
    "question_of",
    "select_process_prompt",
]

Mode = Literal["generate", "score"]

#: the end of every process prompt: the conversation so far and the action to judge
_PROCESS_CONTEXT = """

Conversation so far:
{conversation}

Last message of the assistant (judge this one):
{action}

{ending}"""

_PROCESS_SEARCH = (
    """\
You are checking the work of an assistant that answers a question step by step with the help of a \
search engine. At each step the assistant writes either one search query in <search_query> tags or \
a final answer in <answer> tags; the search results come back in the form QUERY -> RESULT.

Below are the question and the conversation so far. Judge ONLY the last message of the assistant:
- A search query is GOOD if it is likely to help answer the question: it looks for information \
that is still missing, and it is not a repeat of an earlier query. Otherwise it is BAD.
- A final answer is GOOD only if it follows from the search results shown in the conversation. \
Do not use your own knowledge: an answer that the search results do not support is BAD, even if \
it may be true.
- A message with neither a query nor an answer is BAD.

Question: {question}"""
    + _PROCESS_CONTEXT
)

_PROCESS_MATH = (
    """\
You are checking the work of an assistant that solves a math word problem step by step with the \
help of a calculator. At each step the assistant writes either one expression for the calculator \
in <math_exp> tags or a final answer in <answer> tags; the calculator results come back in the \
form EXPRESSION -> RESULT.

Below are the problem and the conversation so far. Judge ONLY the last message of the assistant:
- A calculator expression is GOOD if it is a correct and useful step toward the answer: it \
computes a quantity the solution needs, it uses numbers stated in the problem or obtained in \
earlier results (with the right operations), it is a valid expression, and it does not repeat an \
earlier calculation. Otherwise it is BAD.
- A final answer is GOOD only if it follows from the calculator results shown in the conversation \
(or is stated in the problem itself when nothing needs computing). Do not do the arithmetic \
yourself: an answer that needed a calculation the assistant never made is BAD, even if the number \
is right.
- A message with neither an expression nor an answer is BAD.

Problem: {question}"""
    + _PROCESS_CONTEXT
)

_OUTCOME = """\
You are grading the final answer to a question against the answer key.

Question: {question}

Answer key: {gold}

Predicted answer: {prediction}

Is the predicted answer correct, that is, does it give the same answer as the answer key? \
Differences in wording, capitalisation or formatting do not matter, and equivalent forms of a \
number are equal (for example 10, 10.00, $10 and ten). A prediction that is vaguer than the \
answer key, gives a different entity or number, or gives several candidate answers is not correct.

{ending}"""

_ENDINGS = {
    "generate": (
        "First explain your reasoning in a few sentences. Then, on the last line, write your "
        'verdict as "Verdict: {positive}" or "Verdict: {negative}".'
    ),
    "score": 'Reply with your verdict only, as "Verdict: {positive}" or "Verdict: {negative}".',
}


@dataclass(frozen=True)
class JudgePrompt:
    """A versioned judge prompt.

    Attributes:
        version: unique name, e.g. ``"process-search-v1"``.
        kind: ``"process"`` or ``"outcome"``.
        template: the user message; process prompts fill ``{question}``, ``{conversation}``,
            ``{action}``, outcome prompts ``{question}``, ``{gold}``, ``{prediction}``; both ``{ending}``.
        positive / negative: the verdict words (``GOOD``/``BAD``, ``YES``/``NO``).
        system: an optional system message.
        score_prefix: the start of the assistant turn after which soft scores are read.
    """

    version: str
    kind: Literal["process", "outcome"]
    template: str
    positive: str
    negative: str
    system: str | None = None
    score_prefix: str = "Verdict:"

    def ending(self, mode: Mode = "generate") -> str:
        one_of("mode", mode, tuple(_ENDINGS))
        return _ENDINGS[mode].format(positive=self.positive, negative=self.negative)

    def render(self, request: Any, mode: Mode = "generate") -> list[Message]:
        """Chat messages for a :class:`ProcessRequest` or :class:`OutcomeRequest`."""
        if self.kind == "process":
            body = self.template.format(
                question=question_of(request.task, request.context),
                conversation=format_conversation(request.context),
                action=request.action.strip() or "(empty message)",
                ending=self.ending(mode),
            )
        else:
            task = request.task
            golds = list(task.answers)
            gold = golds[0] if len(golds) == 1 else " OR ".join(golds)
            prediction = request.prediction if request.prediction is not None else "(no answer)"
            body = self.template.format(
                question=task.question, gold=gold, prediction=prediction.strip(), ending=self.ending(mode)
            )
        messages: list[Message] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        messages.append({"role": "user", "content": body})
        return messages

    def parse(self, text: str) -> bool | None:
        """The verdict in a judge's reply (see :func:`parse_verdict`)."""
        return parse_verdict(text, self.positive, self.negative)


JUDGE_PROMPTS: dict[str, JudgePrompt] = {
    "process-search-v1": JudgePrompt("process-search-v1", "process", _PROCESS_SEARCH, "GOOD", "BAD"),
    "process-math-v1": JudgePrompt("process-math-v1", "process", _PROCESS_MATH, "GOOD", "BAD"),
    "outcome-v1": JudgePrompt("outcome-v1", "outcome", _OUTCOME, "YES", "NO"),
}


def get_judge_prompt(version: str | JudgePrompt) -> JudgePrompt:
    """Look up a judge prompt by version (a :class:`JudgePrompt` is returned as is)."""
    if isinstance(version, JudgePrompt):
        return version
    try:
        return JUDGE_PROMPTS[version]
    except KeyError:
        raise KeyError(f"unknown judge prompt {version!r}; known: {sorted(JUDGE_PROMPTS)}") from None


def select_process_prompt(
    request: Any, prompts: Mapping[str, str | JudgePrompt] | str | JudgePrompt = "auto"
) -> JudgePrompt:
    """The process prompt for a request.

    ``"auto"`` picks ``process-math-v1`` for a task of the ``"math"`` domain
    (:attr:`~swirl_env.tasks.base.Task.domain`), ``process-search-v1`` for one of ``"search"``.
    A task without a domain (a record written before tasks carried one) is told by its dataset
    name (:data:`MATH_DATASETS`, see :func:`~swirl_env.tasks.base.task_domain`); with no task
    either, by the step's tool or a ``<math_exp>`` in the action or the conversation. A mapping
    ``{"math": ..., "search": ...}`` overrides either choice; a version or prompt forces one.
    """
    if isinstance(prompts, JudgePrompt) or (isinstance(prompts, str) and prompts != "auto"):
        return get_judge_prompt(prompts)
    table: dict[str, Any] = {"math": "process-math-v1", "search": "process-search-v1"}
    if isinstance(prompts, Mapping):
        unknown = set(prompts) - set(table)
        if unknown:
            raise ValueError(f"unknown process prompt domains {sorted(unknown)}; use 'math' and/or 'search'")
        table.update(prompts)
    return get_judge_prompt(table[_domain(request)])


def _domain(request: Any) -> str:
    domain = task_domain(getattr(request, "task", None))
    if domain in ("math", "search"):
        return domain
    step = getattr(request, "step", None) or {}
    if step.get("tool") == "calculator":
        return "math"
    if step.get("tool") == "search":
        return "search"
    text = getattr(request, "action", "") + " ".join(m.get("content", "") for m in request.context)
    if re.search(r"<\s*/?\s*math_exp\s*>", text, re.IGNORECASE):
        return "math"
    return "search"


def question_of(task: Any, context: Sequence[Message]) -> str:
    """The question: ``task.question`` when known, else what follows the last ``Question:`` of the
    first message (the generation prompt), else the whole first message."""
    if task is not None and getattr(task, "question", None):
        return str(task.question)
    if not context:
        return "(unknown)"
    first = str(context[0].get("content", ""))
    idx = first.rfind("Question:")
    return first[idx + len("Question:") :].strip() if idx >= 0 else first.strip()


def format_conversation(context: Sequence[Message]) -> str:
    """The steps after the first message, one block per turn (``(no earlier steps)`` when none)."""
    turns = list(context[1:])
    if not turns:
        return "(no earlier steps)"
    lines = []
    for m in turns:
        role = m.get("role", "user")
        label = "Assistant" if role == "assistant" else ("System" if role == "system" else "Result")
        lines.append(f"{label}: {str(m.get('content', '')).strip()}")
    return "\n\n".join(lines)


_MARKERS = r"(?:final\s+)?(?:verdict|judg(?:e)?ment|answer|label|decision|rating|grade)"


def parse_verdict(text: str | None, positive: str = "GOOD", negative: str = "BAD") -> bool | None:
    """Read the final verdict of a judge's reply; ``None`` when there is none.

    Rules, in order: (1) the last verdict that follows a marker (``Verdict:``, ``Final answer:``,
    ``Judgement -``...; markdown such as ``**Verdict:** **GOOD**`` is tolerated); else (2) the last
    verdict word written in capitals; else (3) the last verdict word in any case. Words must
    stand alone (``GOODS`` or ``NOTE`` do not count).

    Example:
        >>> parse_verdict("Not bad at all... Verdict: **GOOD**")
        True
        >>> parse_verdict("It is good. But the answer is unsupported. BAD")
        False
        >>> parse_verdict("There is no support. Verdict: yes", "YES", "NO")
        True
        >>> parse_verdict("I cannot tell.") is None
        True
    """
    if not text:
        return None
    words = rf"({re.escape(positive)}|{re.escape(negative)})"
    pos = positive.lower()
    marked = list(re.finditer(rf"\b{_MARKERS}\b[\s*_`'\"\[\(:=\-–>]*{words}\b(?![\w-])", text, re.IGNORECASE))
    if marked:
        return marked[-1].group(1).lower() == pos
    caps = list(re.finditer(rf"(?<![\w-]){words}(?![\w-])", text))
    if caps:
        return caps[-1].group(1).lower() == pos
    anycase = list(re.finditer(rf"(?<![\w-]){words}(?![\w-])", text, re.IGNORECASE))
    if anycase:
        return anycase[-1].group(1).lower() == pos
    return None
