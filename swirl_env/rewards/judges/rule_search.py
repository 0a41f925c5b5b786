"""The search rules of the rule-based process judge: search steps and answers of QA episodes.

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

:class:`SearchRuleProcessJudge` applies these rules alone (a call to another tool gets a failed
judgement); :class:`~swirl_env.rewards.judges.rule.RuleProcessJudge` applies them to search episodes.

Example:
    >>> from swirl_env.tasks.base import Task
    >>> task = Task("q", "Where is the Eiffel Tower?", ("Paris",), "toy", "dev", domain="search")
    >>> ctx = [{"role": "user", "content": "Question: " + task.question},
    ...        {"role": "assistant", "content": "<search_query> Eiffel Tower </search_query>"},
    ...        {"role": "user", "content": "Eiffel Tower -> The Eiffel Tower is in Paris."}]
    >>> judge = SearchRuleProcessJudge()
    >>> judge.judge_step(ProcessRequest(task, ctx, "<answer> Paris </answer>")).rationale
    '[search.answer] the answer occurs in the retrieved text'
    >>> judge.judge_step(ProcessRequest(task, ctx, "<search_query> eiffel tower </search_query>")).rationale
    '[search.repeat] repeats an earlier query (eiffel tower)'
"""

from __future__ import annotations

import functools
import logging
import re
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from swirl_env.checks import fraction, one_of
from swirl_env.rewards.judges.base import ProcessRequest
from swirl_env.rewards.judges.rule_base import RuleJudgeBase, Verdict, _Call
from swirl_env.rewards.prompts import question_of
from swirl_env.tasks.base import Task

logger = logging.getLogger("swirl_env.rewards.judges.rule")

__all__ = ["SUPPORTING_TITLE_KEYS", "SearchRuleProcessJudge", "normalize_text"]

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


class SearchRuleProcessJudge(RuleJudgeBase):
    """Rule-based process judge for search (QA) episodes (see the module doc).

    Args:
        search_tools: tool names judged by the search rules.
        query_check: ``"auto"``, ``"gold"``, ``"overlap"`` or ``"none"`` (see the module doc).
        retriever: for unexecuted search actions under ``"gold"``/``"auto"``: a callable
            ``query -> hits`` or an object with ``search(query, k)``; hits are dicts with a
            ``"title"`` (or objects with ``.title``).
        retriever_k: hits to ask the retriever for (use the env's ``top_k``).
        min_overlap: the share of a query's content words that must be known (``"overlap"``).
        answer_support: ``"substring"`` or ``"tokens"`` (see the module doc).
        allow_yes_no: accept yes/no answers to yes/no questions after a search.
        **kwargs: passed on to :class:`~swirl_env.rewards.judges.rule_base.RuleJudgeBase`
            (``tool_tags``, ``check_repeats``).

    Example:
        >>> SearchRuleProcessJudge(query_check="overlap").config()["query_check"]
        'overlap'
    """

    name = "rule-process-search"

    def __init__(
        self,
        *,
        search_tools: Iterable[str] = ("search",),
        query_check: str = "auto",
        retriever: Any = None,
        retriever_k: int = 5,
        min_overlap: float = 0.5,
        answer_support: str = "substring",
        allow_yes_no: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(search_tools=search_tools, **kwargs)
        one_of("query_check", query_check, ("auto", "gold", "overlap", "none"))
        one_of("answer_support", answer_support, ("substring", "tokens"))
        fraction("min_overlap", min_overlap)
        self.query_check = query_check
        self.retriever = retriever
        self.retriever_k = retriever_k
        self.min_overlap = min_overlap
        self.answer_support = answer_support
        self.allow_yes_no = allow_yes_no

    def _search_config(self) -> dict[str, Any]:
        return {
            "query_check": self.query_check,
            "retriever": type(self.retriever).__name__ if self.retriever is not None else None,
            "retriever_k": self.retriever_k,
            "min_overlap": self.min_overlap,
            "answer_support": self.answer_support,
            "allow_yes_no": self.allow_yes_no,
        }

    def config(self) -> dict[str, Any]:
        return {**super().config(), **self._search_config()}

    def _judge_answer(self, r: ProcessRequest, answer: str, history: list[_Call]) -> Verdict:
        return self._search_answer(r, answer, history)

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


def _title(hit: Any) -> str:
    if isinstance(hit, Mapping):
        return str(hit.get("title", ""))
    if isinstance(hit, str):
        return hit
    return str(getattr(hit, "title", ""))


def _content_words(text: str) -> set[str]:
    return {w for w in normalize_text(text).split() if w not in _STOPWORDS}
