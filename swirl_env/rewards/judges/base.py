"""The judge interface: process judges (GOOD/BAD per step) and outcome judges (YES/NO per answer).

Every backend (rule-based, local Hugging Face model, OpenAI-compatible endpoint) implements the
same two batched methods, so pipelines, reward wrappers and the SWiRL learner take any of them.

Example:
    >>> class AlwaysGood(ProcessJudge):
    ...     name = "always-good"
    ...     def judge_steps(self, requests):
    ...         return [Judgement(label=True, score=1.0, rationale="ok", judge=self.name) for _ in requests]
    >>> AlwaysGood().judge_steps([ProcessRequest(task=None, context=[], action="<answer>1</answer>")])[0].label
    True
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from swirl_env.tasks.base import Task
from swirl_env.trajectory import Message


@dataclass(frozen=True)
class ProcessRequest:
    """Judge the last action given the context so far.

    Attributes:
        task: the episode's task (question, gold answers, metadata); rule-based judges may use it,
            model judges must not see the gold answer in process judging.
        context: the state before the action (chat messages, the first is the prompt).
        action: the action text to judge.
        step: structured step info when known (``Step.to_dict()``: parsed call, tool result...);
            when the action has not been executed (SWiRL training) it holds only the parse.
    """

    task: Task | None
    context: Sequence[Message]
    action: str
    step: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutcomeRequest:
    """Judge whether ``prediction`` answers ``task`` correctly (against ``task.answers``)."""

    task: Task
    prediction: str | None
    context: Sequence[Message] = ()


@dataclass(frozen=True)
class Judgement:
    """One judge decision.

    Attributes:
        label: ``True`` for GOOD/YES, ``False`` for BAD/NO, ``None`` when the judge failed.
        score: a soft score in [0, 1] (e.g. P(GOOD)); equals ``float(label)`` for hard judges.
        rationale: the judge's explanation (or the rule that fired).
        judge: the judge's name/config id.
        error: why the judgement failed (then ``label`` is ``None``); never a silent GOOD.
        raw: the raw model output, when there is one.
    """

    label: bool | None
    score: float | None = None
    rationale: str = ""
    judge: str = ""
    error: str | None = None
    raw: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProcessJudge(ABC):
    """Says whether each step is reasonable given the context so far (GOOD/BAD)."""

    name: str = "process-judge"

    @abstractmethod
    def judge_steps(self, requests: Sequence[ProcessRequest]) -> list[Judgement]:
        """One :class:`Judgement` per request, in order."""


class OutcomeJudge(ABC):
    """Says whether a final answer matches the answer key (YES/NO)."""

    name: str = "outcome-judge"

    @abstractmethod
    def judge_outcomes(self, requests: Sequence[OutcomeRequest]) -> list[Judgement]:
        """One :class:`Judgement` per request, in order."""
