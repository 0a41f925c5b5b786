"""Judges behind an OpenAI-compatible chat-completions endpoint (vLLM, SGLang, TGI, OpenAI...).

Each request is one ``POST {base_url}/chat/completions`` with the judge prompt; the reply is read
with the same verdict parser as the local-model judge. Requests run concurrently on a thread pool
(``concurrency`` at a time) over one ``httpx.Client``.

Requests go through :class:`~swirl_env.chat_client.ChatCompletionsClient`. Failures are handled,
then recorded, never hidden:

* retried with exponential backoff and jitter: timeouts and transport errors, HTTP 408/409/425/429
  and 5xx (a ``Retry-After`` header is honoured, up to ``backoff_max``), and malformed replies
  (not JSON, no ``choices``, empty content);
* not retried: other 4xx (bad model name, bad key, prompt too long...), which would fail again;
* bounded: ``timeout`` is the deadline of each whole attempt (a server that drips bytes cannot
  stretch it) and a reply is capped at ``max_reply_bytes`` after decompression; a reply nested
  too deeply to parse is a malformed reply;
* after the last attempt, or on a reply with no GOOD/BAD (YES/NO) verdict, the judgement is
  ``label=None`` with ``error`` saying what happened (and ``raw`` the last reply): never a silent
  GOOD. A reply cut at ``max_tokens`` (``finish_reason == "length"``) is a failed judgement too:
  a verdict word in its unfinished reasoning is not its verdict.

The API key is read from ``api_key`` or else the environment variable named by ``api_key_env``
(default ``OPENAI_API_KEY``); a local server usually needs none.

Example:
    >>> judge = OpenAIProcessJudge("http://localhost:8000/v1", "Qwen/Qwen2.5-72B-Instruct", concurrency=32)
    >>> judge.url
    'http://localhost:8000/v1/chat/completions'
    >>> # labels = [j.label for j in judge.judge_steps(requests)]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from swirl_env.chat_client import ChatReply, ChatRequestError
from swirl_env.chat_endpoint import EndpointOptions, OpenAIEndpoint
from swirl_env.rewards.judges.base import (
    Judgement,
    OutcomeJudge,
    OutcomeRequest,
    ProcessJudge,
    ProcessRequest,
)
from swirl_env.rewards.judges.common import PromptedJudgeMixin, Request
from swirl_env.rewards.prompts import JudgePrompt
from swirl_env.trajectory import Message

if TYPE_CHECKING:
    from typing_extensions import Unpack

logger = logging.getLogger(__name__)

__all__ = ["JudgeRequestError", "OpenAIJudgeBase", "OpenAIOutcomeJudge", "OpenAIProcessJudge"]


class JudgeRequestError(ChatRequestError):
    """A chat-completions request that failed for good (after retries, or not retryable).

    A :class:`~swirl_env.chat_client.ChatRequestError`: ``attempts``, ``status`` and ``raw``
    (the last reply's text) say what happened.
    """


class OpenAIJudgeBase(OpenAIEndpoint, PromptedJudgeMixin):
    """Shared machinery of :class:`OpenAIProcessJudge` and :class:`OpenAIOutcomeJudge`.

    Args:
        base_url / model: see :class:`OpenAIEndpoint`.
        prompt: ``"auto"``, a prompt version, a :class:`~swirl_env.rewards.prompts.JudgePrompt`,
            or for process judges ``{"math": ..., "search": ...}``.
        temperature / max_tokens: sampling settings sent with each request (greedy by default).
        progress: show a progress bar.
        **options: the request options of :class:`OpenAIEndpoint` (:class:`EndpointOptions`):
            ``api_key``, ``api_key_env``, ``concurrency``, ``timeout``, ``max_retries``,
            ``total_timeout``, ``max_reply_bytes``, ``backoff_base`` / ``backoff_max``,
            ``extra_body`` (e.g. ``{"top_p": 1.0, "seed": 0}``), ``headers`` and ``client``.
    """

    name = "openai-judge"

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        *,
        kind: str,
        prompt: str | JudgePrompt | Mapping[str, Any] = "auto",
        temperature: float = 0.0,
        max_tokens: int = 1024,
        progress: bool = False,
        **options: Unpack[EndpointOptions],
    ) -> None:
        self._init_prompts(kind=kind, prompt=prompt)  # a bad prompt fails before a client is made
        super().__init__(
            base_url,
            model,
            request_name="judge request",
            require_content=True,
            retry_log_level=logging.DEBUG,
            **options,
        )
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.progress = progress
        self.name = f"openai:{model}"

    # ------------------------------------------------------------------ config / cache hooks
    def config(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt": self.prompt_versions(),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "extra_body": self.extra_body,
        }

    def cache_payload(self, request: Request) -> Any:  # type: ignore[override]
        return self.render(request)

    # ------------------------------------------------------------------ one request
    def _body(self, messages: list[Message]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **self.extra_body,
        }

    def complete(self, messages: list[Message]) -> str:
        """One chat completion with retries; raises :class:`JudgeRequestError` when it gives up."""
        return self._reply(messages).content

    def _reply(self, messages: list[Message]) -> ChatReply:
        try:
            reply = self._chat.complete(self._body(messages))
        except ChatRequestError as e:
            self._count(e.attempts)
            raise JudgeRequestError(str(e), attempts=e.attempts, status=e.status, raw=e.raw) from e
        self._count(reply.attempts)
        return reply

    def _judge_one(self, request: Request) -> Judgement:
        short = self.short_circuit(request, self.name)
        if short is not None:
            return short
        try:
            reply = self._reply(self.render(request))
        except JudgeRequestError as e:
            with self._lock:
                self.stats["failures"] += 1
            logger.warning("judgement failed: %s", e)
            return Judgement.failure(str(e), judge=self.name, raw=e.raw)
        except Exception as e:  # anything unexpected: a failed judgement, not a crash of the batch
            with self._lock:
                self.stats["failures"] += 1
            logger.exception("unexpected error in a judge request")
            return Judgement.failure(f"{type(e).__name__}: {e}", judge=self.name)
        cut = reply.finish_reason == "length"  # stopped at max_tokens: no verdict it reached
        return self.judgement_from_reply(request, reply.content, name=self.name, cut=cut)

    def _judge(self, requests: Sequence[Request]) -> list[Judgement]:
        for r in requests:
            self.check_request(r, self.kind)
        if not requests:
            return []
        results = self._map(
            self._judge_one, requests, progress=f"{self.kind} judge" if self.progress else None
        )
        failed = sum(j.label is None for j in results)
        if failed:
            logger.warning("%d of %d judgements failed (label=None)", failed, len(results))
        return results


class OpenAIProcessJudge(OpenAIJudgeBase, ProcessJudge):
    """Process judge (GOOD/BAD per step) behind an OpenAI-compatible endpoint.

    Example:
        >>> judge = OpenAIProcessJudge("http://localhost:8000/v1", "judge", prompt="process-search-v1")
        >>> judge.config()["prompt"]
        'process-search-v1'
    """

    def __init__(self, base_url: str | Sequence[str], model: str, **kwargs: Any) -> None:
        super().__init__(base_url, model, kind="process", **kwargs)

    def judge_steps(self, requests: Sequence[ProcessRequest]) -> list[Judgement]:
        return self._judge(requests)


class OpenAIOutcomeJudge(OpenAIJudgeBase, OutcomeJudge):
    """Outcome judge (YES/NO against the answer key) behind an OpenAI-compatible endpoint.

    Example:
        >>> OpenAIOutcomeJudge("http://localhost:8000/v1", "judge").config()["prompt"]
        'outcome-v1'
    """

    def __init__(self, base_url: str | Sequence[str], model: str, **kwargs: Any) -> None:
        kwargs.setdefault("prompt", "outcome-v1")
        super().__init__(base_url, model, kind="outcome", **kwargs)

    def judge_outcomes(self, requests: Sequence[OutcomeRequest]) -> list[Judgement]:
        return self._judge(requests)
