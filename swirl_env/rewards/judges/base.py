"""The judge interface: process judges (GOOD/BAD per step) and outcome judges (YES/NO per answer).

Every backend (rule-based, local Hugging Face model, OpenAI-compatible endpoint) implements the
same two batched methods, so pipelines, reward wrappers and the SWiRL learner take any of them.

A judge never raises for one bad item and never answers GOOD by default: an item it cannot judge
gets ``Judgement(label=None, error=...)`` and the caller decides (skip it, count it as BAD...).

Two optional hooks serve the disk cache (:class:`~swirl_env.rewards.judges.cache.CachedJudge`):
:attr:`~ProcessJudge.config_id` names everything that changes a judge's decisions (model, prompt
version, decoding settings), and :meth:`~ProcessJudge.cache_payload` returns what it actually
looks at for one request (a model judge: the rendered prompt). The defaults are safe: the class
name plus :meth:`config`, and the whole request.

Example:
    >>> class AlwaysGood(ProcessJudge):
    ...     name = "always-good"
    ...     def judge_steps(self, requests):
    ...         return [Judgement(label=True, score=1.0, rationale="ok", judge=self.name) for _ in requests]
    >>> AlwaysGood().judge_steps([ProcessRequest(task=None, context=[], action="<answer>1</answer>")])[0].label
    True
"""

from __future__ import annotations

import dataclasses
import json
import logging
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from swirl_env.checks import one_of
from swirl_env.tasks.base import Task
from swirl_env.trajectory import Message

logger = logging.getLogger(__name__)

__all__ = [
    "REWARD_MODES",
    "Judgement",
    "OutcomeJudge",
    "OutcomeRequest",
    "ProcessJudge",
    "ProcessRequest",
    "check_reward_mode",
    "checked_judgements",
    "judgement_reward",
    "request_to_dict",
]


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

    @property
    def executed(self) -> bool:
        """Whether the step carries a tool result (it was run by an environment)."""
        return self.step.get("tool_result") is not None or self.step.get("tool_ok") is not None


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

    @property
    def ok(self) -> bool:
        """Whether the judge reached a decision (``label`` is not ``None``)."""
        return self.label is not None

    @classmethod
    def failure(
        cls, error: str, *, judge: str = "", raw: str | None = None, rationale: str = ""
    ) -> Judgement:
        """A failed judgement: no label, the reason in ``error``.

        Example:
            >>> Judgement.failure("timeout after 3 attempts", judge="j").label is None
            True
        """
        return cls(label=None, score=None, rationale=rationale, judge=judge, error=error, raw=raw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_record(self) -> dict[str, Any]:
        """The form stored in ``Step.process`` / ``Trajectory.outcome["judge"]`` (no ``raw``)."""
        return {k: v for k, v in asdict(self).items() if k != "raw"}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Judgement:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


#: how a judgement becomes a reward: the hard label, or the judge's soft score when it gives one
REWARD_MODES = ("label", "score")


def check_reward_mode(reward: str) -> str:
    """``reward`` if it is one of :data:`REWARD_MODES`, else a ``ValueError`` that lists them."""
    one_of("reward", reward, REWARD_MODES)
    return reward


def judgement_reward(j: Judgement, reward: str = "label", on_failure: float | None = 0.0) -> float | None:
    """The one mapping from a judgement to a reward, used by the reward wrappers and the learners.

    GOOD/YES is 1 and BAD/NO 0 (``reward="label"``); with ``reward="score"`` the judge's soft
    score is used when it gives one (else the label). A failed judgement (``label is None``)
    gives ``on_failure`` (``None``: leave the sample out).

    Example:
        >>> judgement_reward(Judgement(label=True, score=0.8), "score"), judgement_reward(Judgement(label=True, score=0.8))
        (0.8, 1.0)
        >>> judgement_reward(Judgement.failure("timeout"), on_failure=None) is None
        True
    """
    if j.label is None:
        return None if on_failure is None else float(on_failure)
    if reward == "score" and j.score is not None:
        return float(j.score)
    return float(bool(j.label))


def checked_judgements(results: Any, n: int, judge: Any) -> list[Judgement]:
    """What ``judge`` returned for ``n`` requests, checked before anything reads it (the wrappers,
    the offline judging, the cache and the SWiRL learner all call it).

    ``RuntimeError`` when it is not ``n`` judgements, ``TypeError`` for an item that is not a
    :class:`Judgement` or a label that is not ``True``/``False``/``None`` (``0``/``1`` and numpy
    or torch booleans are taken as ``bool``): a broken judge, named. A decided judgement whose
    score is not a number in [0, 1] (NaN, 5.0, "high") becomes a failed one with that in its
    ``error``, so a bad score is never a reward; a failed one's bad score becomes ``None``.

    Example:
        >>> checked_judgements([Judgement(True, float("nan"), judge="j")], 1, None)[0].error
        'judge gave score nan, not a number in [0, 1]'
        >>> checked_judgements(["GOOD"], 1, None)
        Traceback (most recent call last):
        ...
        TypeError: judge 'NoneType' returned a str ('GOOD'), not a Judgement
    """
    name = getattr(judge, "name", None) or type(judge).__name__
    try:
        out = list(results)
    except TypeError:
        raise RuntimeError(
            f"judge {name!r} returned {type(results).__name__}, not a list of judgements"
        ) from None
    if len(out) != n:
        raise RuntimeError(f"judge {name!r} returned {len(out)} judgements for {n} requests")
    for i, j in enumerate(out):
        if not isinstance(j, Judgement):
            raise TypeError(f"judge {name!r} returned a {type(j).__name__} ({j!r:.60}), not a Judgement")
        if j.label is not None and not isinstance(j.label, bool):
            raw = j.label
            if getattr(raw, "ndim", None) == 0:  # a numpy / torch scalar: its Python value
                raw = raw.item()
            if not (isinstance(raw, bool) or (type(raw) is int and raw in (0, 1))):
                raise TypeError(f"judge {name!r} returned label {j.label!r}: a label is True, False or None")
            j = out[i] = dataclasses.replace(j, label=bool(raw))
        s = j.score
        bad_score = s is not None and (
            isinstance(s, bool) or not isinstance(s, numbers.Real) or not 0.0 <= s <= 1.0  # NaN too
        )
        if j.label is None and bad_score:
            out[i] = dataclasses.replace(j, score=None)
        elif bad_score:
            logger.warning("judge %r gave score %r, counted as a failed judgement", name, s)
            out[i] = Judgement.failure(
                f"judge gave score {s!r}, not a number in [0, 1]",
                judge=j.judge or name,
                raw=j.raw,
                rationale=j.rationale,
            )
    return out


def _task_dict(task: Task | None) -> dict[str, Any] | None:
    return task.to_dict() if task is not None else None


def request_to_dict(request: ProcessRequest | OutcomeRequest) -> dict[str, Any]:
    """A JSON-serialisable form of a request (stable key order; ``step["process"]`` left out).

    Example:
        >>> request_to_dict(ProcessRequest(task=None, context=[], action="a"))["action"]
        'a'
    """
    if isinstance(request, ProcessRequest):
        step = {k: v for k, v in dict(request.step).items() if k != "process"}
        return {
            "kind": "process",
            "task": _task_dict(request.task),
            "context": [dict(m) for m in request.context],
            "action": request.action,
            "step": step,
        }
    if isinstance(request, OutcomeRequest):
        return {
            "kind": "outcome",
            "task": _task_dict(request.task),
            "prediction": request.prediction,
            "context": [dict(m) for m in request.context],
        }
    raise TypeError(f"not a judge request: {type(request).__name__}")


class _JudgeBase:
    name: str = "judge"

    def config(self) -> dict[str, Any]:
        """The settings that change this judge's decisions (JSON-serialisable). Override it."""
        return {}

    @property
    def config_id(self) -> str:
        """A stable id of this judge and its settings (cache keys, records)."""
        cfg = self.config()
        if not cfg:
            return f"{type(self).__module__}.{type(self).__qualname__}:{self.name}"
        body = json.dumps(cfg, sort_keys=True, default=str, ensure_ascii=False)
        return f"{type(self).__module__}.{type(self).__qualname__}:{self.name}:{body}"

    def cache_payload(self, request: ProcessRequest | OutcomeRequest) -> Any:
        """What this judge reads of ``request``: two requests with equal payloads get equal judgements."""
        return request_to_dict(request)

    def close(self) -> None:
        """Release resources (HTTP clients, caches). Safe to call twice."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProcessJudge(_JudgeBase, ABC):
    """Says whether each step is reasonable given the context so far (GOOD/BAD)."""

    name: str = "process-judge"

    @abstractmethod
    def judge_steps(self, requests: Sequence[ProcessRequest]) -> list[Judgement]:
        """One :class:`Judgement` per request, in order."""

    def judge_step(self, request: ProcessRequest) -> Judgement:
        """Judge one step (a batch of one, checked by :func:`checked_judgements`)."""
        return checked_judgements(self.judge_steps([request]), 1, self)[0]


class OutcomeJudge(_JudgeBase, ABC):
    """Says whether a final answer matches the answer key (YES/NO)."""

    name: str = "outcome-judge"

    @abstractmethod
    def judge_outcomes(self, requests: Sequence[OutcomeRequest]) -> list[Judgement]:
        """One :class:`Judgement` per request, in order."""

    def judge_outcome(self, request: OutcomeRequest) -> Judgement:
        """Judge one answer (a batch of one, checked by :func:`checked_judgements`)."""
        return checked_judgements(self.judge_outcomes([request]), 1, self)[0]
