"""What the rule-based process judges share: parsing a step and the episode's earlier calls.

:class:`RuleJudgeBase` parses the judged action (when its ``step`` record is empty) and every
earlier turn of the context into calls with their results, rejects steps with no usable call or
answer (``no_call``), and hands calls and answers to its subclasses' rules:
:class:`~swirl_env.rewards.judges.rule_math.MathRuleProcessJudge` (calculator episodes),
:class:`~swirl_env.rewards.judges.rule_search.SearchRuleProcessJudge` (search episodes) and
:class:`~swirl_env.rewards.judges.rule.RuleProcessJudge` (both, chosen by the task's domain).

Example:
    >>> from swirl_env.rewards.judges.rule_math import MathRuleProcessJudge
    >>> judgement = MathRuleProcessJudge().judge_step(ProcessRequest(None, [], "no tags here"))
    >>> judgement.label, judgement.rationale.startswith("[no_call] no usable call or answer")
    (False, True)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swirl_env.parsing import ActionParser
from swirl_env.rewards.judges.base import Judgement, ProcessJudge, ProcessRequest

logger = logging.getLogger("swirl_env.rewards.judges.rule")

__all__ = ["DEFAULT_TOOL_TAGS", "RuleJudgeBase", "Verdict"]

DEFAULT_TOOL_TAGS: dict[str, str] = {"math_exp": "calculator", "search_query": "search"}

#: ``(label, rule, why)``: ``label`` ``None`` means the rules cannot decide (a failed judgement)
Verdict = tuple[bool | None, str, str]


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


def _no_rule(tool: str | None) -> Verdict:
    return None, "unknown_tool", f"no rule for tool {tool!r}"


class RuleJudgeBase(ProcessJudge):
    """Base of the rule-based process judges (no rules of its own).

    Args:
        tool_tags: tag -> tool name, to parse actions whose ``step`` record is empty and the
            earlier turns of the context (default: ``math_exp`` -> ``calculator``,
            ``search_query`` -> ``search``).
        math_tools / search_tools: tool names judged by the math / search rules (default: none;
            each rule set names its own tools).
        check_repeats: switch the repeat rules (``math.repeat``, ``search.repeat``).

    Subclasses implement the rules of their tools (:meth:`_math_call`, :meth:`_search_call`) and
    :meth:`_judge_answer`. Their constructors take their own keyword arguments and pass the rest
    on with ``super().__init__(**kwargs)``, so a judge that combines rule sets (as
    :class:`~swirl_env.rewards.judges.rule.RuleProcessJudge` does) takes the arguments of all.
    """

    name = "rule-process"

    def __init__(
        self,
        *,
        tool_tags: Mapping[str, str] | None = None,
        math_tools: Iterable[str] = (),
        search_tools: Iterable[str] = (),
        check_repeats: bool = True,
    ) -> None:
        self.tool_tags = dict(tool_tags or DEFAULT_TOOL_TAGS)
        self.parser = ActionParser(self.tool_tags)
        self.math_tools = frozenset(math_tools)
        self.search_tools = frozenset(search_tools)
        self.check_repeats = check_repeats

    def config(self) -> dict[str, Any]:
        return {"tool_tags": self.tool_tags, "check_repeats": self.check_repeats}

    # ------------------------------------------------------------------ API
    def judge_steps(self, requests: Sequence[ProcessRequest]) -> list[Judgement]:
        out = []
        for r in requests:
            if not isinstance(r, ProcessRequest):
                raise TypeError(f"a process judge takes ProcessRequest, got {type(r).__name__}")
            try:
                label, rule, why = self._judge(r)
            except Exception as e:  # a rule bug must not kill a batch, nor pass as GOOD
                logger.exception("rule judge %s failed on one step", self.name)
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
    def _read_step(self, r: ProcessRequest) -> tuple[dict[str, Any], Verdict | None]:
        """The step record of ``r`` (parsed from the action when ``r`` has none), and the
        ``no_call`` verdict when it holds no usable call or answer (else ``None``)."""
        step = dict(r.step or {})
        if not step.get("kind"):
            parsed = self.parser.parse(r.action)
            step.update(kind=parsed.kind, tool=parsed.tool, argument=parsed.argument, error=parsed.error)
        kind = step.get("kind")
        if kind in ("none", "malformed"):
            return step, (False, "no_call", f"no usable call or answer ({step.get('error') or kind})")
        return step, None

    def _judge(self, r: ProcessRequest) -> Verdict:
        step, no_call = self._read_step(r)
        kind, tool, argument = step.get("kind"), step.get("tool"), step.get("argument") or ""
        history = self._history(r.context)
        if no_call is not None:
            return no_call
        if kind == "call":
            return self._judge_call(r, step, tool, argument, history)
        if kind == "answer":
            return self._judge_answer(r, argument, history)
        return None, "unknown_kind", f"unknown step kind {kind!r}"

    def _judge_call(
        self,
        r: ProcessRequest,
        step: Mapping[str, Any],
        tool: str | None,
        argument: str,
        history: list[_Call],
    ) -> Verdict:
        """The verdict on a call to ``tool``: the math rules (:meth:`_math_call`) for
        :attr:`math_tools`, the search rules (:meth:`_search_call`) for :attr:`search_tools`;
        a tool with no rules gets a failed judgement."""
        if tool in self.math_tools:
            return self._math_call(r, step, argument, history)
        if tool in self.search_tools:
            return self._search_call(r, step, argument, history)
        return _no_rule(tool)

    def _math_call(
        self, r: ProcessRequest, step: Mapping[str, Any], expr: str, history: list[_Call]
    ) -> Verdict:
        """The verdict on a calculator call (here: no rule, a failed judgement)."""
        return _no_rule(step.get("tool"))

    def _search_call(
        self, r: ProcessRequest, step: Mapping[str, Any], query: str, history: list[_Call]
    ) -> Verdict:
        """The verdict on a search call (here: no rule, a failed judgement)."""
        return _no_rule(step.get("tool"))

    def _judge_answer(self, r: ProcessRequest, answer: str, history: list[_Call]) -> Verdict:
        """The verdict on a final answer."""
        raise NotImplementedError

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
