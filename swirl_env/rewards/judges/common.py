"""What the model-backed judges (local Hugging Face model, OpenAI-compatible endpoint) share:
choosing and rendering the prompt of each request, and turning a reply into a :class:`Judgement`.

Example:
    >>> from swirl_env.tasks.base import Task
    >>> from swirl_env.rewards.judges.base import OutcomeRequest
    >>> p = PromptedJudgeMixin()
    >>> p._init_prompts(kind="outcome", prompt="outcome-v1")
    >>> req = OutcomeRequest(Task("q", "2+2?", ("4",), "gsm8k", "test"), "4")
    >>> p.judgement_from_reply(req, "Both say four. Verdict: YES", name="demo").label
    True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from swirl_env.checks import one_of
from swirl_env.rewards.judges.base import Judgement, OutcomeRequest, ProcessRequest
from swirl_env.rewards.prompts import JudgePrompt, get_judge_prompt, select_process_prompt
from swirl_env.trajectory import Message

logger = logging.getLogger(__name__)

Request = ProcessRequest | OutcomeRequest


class PromptedJudgeMixin:
    """Prompt choice, rendering and reply parsing for model judges."""

    kind: str
    _prompt_spec: Any

    def _init_prompts(self, *, kind: str, prompt: str | JudgePrompt | Mapping[str, Any]) -> None:
        one_of("kind", kind, ("process", "outcome"))
        self.kind = kind
        if kind == "outcome":
            if isinstance(prompt, Mapping):
                raise ValueError("an outcome judge takes one prompt (a version or a JudgePrompt)")
            resolved = get_judge_prompt("outcome-v1" if prompt == "auto" else prompt)
            if resolved.kind != "outcome":
                raise ValueError(
                    f"prompt {resolved.version!r} is a {resolved.kind} prompt, not an outcome one"
                )
            self._prompt_spec = resolved
        else:
            if isinstance(prompt, str | JudgePrompt) and prompt != "auto":
                resolved = get_judge_prompt(prompt)
                if resolved.kind != "process":
                    raise ValueError(
                        f"prompt {resolved.version!r} is an {resolved.kind} prompt, not a process one"
                    )
            elif isinstance(prompt, Mapping):
                for v in prompt.values():
                    get_judge_prompt(v)  # fail early on unknown versions
            self._prompt_spec = prompt

    def prompt_for(self, request: Request) -> JudgePrompt:
        """The :class:`JudgePrompt` used for ``request``."""
        if self.kind == "outcome":
            return self._prompt_spec
        return select_process_prompt(request, self._prompt_spec)

    def prompt_versions(self) -> Any:
        """The prompt version(s) for ``config()``."""
        spec = self._prompt_spec
        if isinstance(spec, JudgePrompt):
            return spec.version
        if isinstance(spec, Mapping):
            return {k: get_judge_prompt(v).version for k, v in sorted(spec.items())}
        return spec

    def render(self, request: Request, mode: str = "generate") -> list[Message]:
        """The chat messages sent to the model for ``request``."""
        return self.prompt_for(request).render(request, mode)  # type: ignore[arg-type]

    @staticmethod
    def check_request(request: Request, kind: str) -> None:
        expected = ProcessRequest if kind == "process" else OutcomeRequest
        if not isinstance(request, expected):
            raise TypeError(f"a {kind} judge takes {expected.__name__}, got {type(request).__name__}")

    @staticmethod
    def short_circuit(request: Request, name: str) -> Judgement | None:
        """A decision that needs no model: an outcome with no answer is wrong."""
        if isinstance(request, OutcomeRequest) and (
            request.prediction is None or not request.prediction.strip()
        ):
            return Judgement(label=False, score=0.0, rationale="no final answer", judge=name)
        return None

    def judgement_from_reply(
        self, request: Request, reply: str, *, name: str, cut: bool = False
    ) -> Judgement:
        """Parse a generated reply; an unreadable verdict is a failure, never a silent GOOD. A reply
        ``cut`` at its token budget stopped before it ended, so any verdict word in it ("is the
        query good? ...", "end with Verdict: GOOD or Verdict: BAD") may be one it was only
        considering: a failure too, whatever it holds."""
        prompt = self.prompt_for(request)
        if cut:
            return Judgement.failure(
                "the judge's reply was cut at its token budget before it ended, with no verdict it "
                "reached (raise max_tokens / max_new_tokens)",
                judge=name,
                raw=reply,
                rationale=reply.strip(),
            )
        label = prompt.parse(reply)
        if label is None:
            return Judgement.failure(
                f"no {prompt.positive}/{prompt.negative} verdict in the judge's reply",
                judge=name,
                raw=reply,
                rationale=reply.strip(),
            )
        return Judgement(label=label, score=float(label), rationale=reply.strip(), judge=name, raw=reply)
