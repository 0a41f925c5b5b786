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
  GOOD.

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
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from swirl_env.chat_client import DEFAULT_MAX_REPLY_BYTES, ChatCompletionsClient, ChatRequestError
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

logger = logging.getLogger(__name__)

__all__ = ["JudgeRequestError", "OpenAIJudgeBase", "OpenAIOutcomeJudge", "OpenAIProcessJudge"]


class JudgeRequestError(ChatRequestError):
    """A chat-completions request that failed for good (after retries, or not retryable).

    A :class:`~swirl_env.chat_client.ChatRequestError`: ``attempts``, ``status`` and ``raw``
    (the last reply's text) say what happened.
    """


class OpenAIJudgeBase(PromptedJudgeMixin):
    """Shared machinery of :class:`OpenAIProcessJudge` and :class:`OpenAIOutcomeJudge`.

    Args:
        base_url: the API root (``http://localhost:8000/v1``); a URL ending in
            ``/chat/completions`` is used as is. Several servers of the same model: a list or a
            comma-separated string; each request goes to the least-loaded one and a retry to
            another (:class:`~swirl_env.chat_client.ChatCompletionsClient`).
        model: the served model name.
        prompt: ``"auto"``, a prompt version, a :class:`~swirl_env.rewards.prompts.JudgePrompt`,
            or for process judges ``{"math": ..., "search": ...}``.
        api_key: the bearer token; default: the ``api_key_env`` environment variable, if set.
        api_key_env: the environment variable holding the key.
        concurrency: requests in flight at once, per server.
        timeout: the overall deadline of one request attempt, in seconds: connecting (at most
            10 s), sending, waiting and reading the whole reply.
        max_retries: retries after the first attempt.
        total_timeout: when set, the deadline of one judgement's request over all its attempts
            and backoff waits.
        max_reply_bytes: the largest reply accepted (after decompression); a larger one is a
            malformed reply.
        backoff_base / backoff_max: the n-th retry waits ``min(backoff_max, backoff_base * 2**n)``,
            with equal jitter (between half and all of it), or longer when ``Retry-After`` says so.
        temperature / max_tokens: sampling settings sent with each request (greedy by default).
        extra_body: more JSON fields for each request (e.g. ``{"top_p": 1.0, "seed": 0}``).
        headers: more HTTP headers.
        progress: show a progress bar.
        client: an ``httpx.Client`` to use instead of one made here (tests, proxies, mTLS).
    """

    name = "openai-judge"

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        *,
        kind: str,
        prompt: str | JudgePrompt | Mapping[str, Any] = "auto",
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        extra_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        progress: bool = False,
        client: httpx.Client | None = None,
        total_timeout: float | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        if not model:
            raise ValueError("model is required (the served model name)")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self._init_prompts(kind=kind, prompt=prompt)
        self._chat = ChatCompletionsClient(
            base_url,
            api_key=api_key,
            api_key_env=api_key_env,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            headers=headers,
            max_connections=concurrency,
            require_content=True,
            name="judge request",
            retry_log_level=logging.DEBUG,
            client=client,
            total_timeout=total_timeout,
            max_reply_bytes=max_reply_bytes,
        )
        self.url = self._chat.url
        self.base_url = base_url
        self.model = model
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.extra_body = dict(extra_body or {})
        self.progress = progress
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0, "failures": 0}
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

    def close(self) -> None:
        """Close the HTTP client (when this judge made it)."""
        self._chat.close()

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
        try:
            reply = self._chat.complete(self._body(messages))
        except ChatRequestError as e:
            self._count(e.attempts)
            raise JudgeRequestError(str(e), attempts=e.attempts, status=e.status, raw=e.raw) from e
        self._count(reply.attempts)
        return reply.content

    def _count(self, attempts: int) -> None:
        with self._lock:
            self.stats["requests"] += attempts
            self.stats["retries"] += attempts - 1

    def _judge_one(self, request: Request) -> Judgement:
        short = self.short_circuit(request, self.name)
        if short is not None:
            return short
        try:
            reply = self.complete(self.render(request))
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
        return self.judgement_from_reply(request, reply, name=self.name)

    def _judge(self, requests: Sequence[Request]) -> list[Judgement]:
        for r in requests:
            self.check_request(r, self.kind)
        if not requests:
            return []
        if len(requests) == 1 or self._chat.max_in_flight == 1:
            results = [self._judge_one(r) for r in requests]
        else:
            with ThreadPoolExecutor(max_workers=min(self._chat.max_in_flight, len(requests))) as pool:
                it = pool.map(self._judge_one, requests)
                if self.progress:
                    from tqdm.auto import tqdm

                    it = tqdm(it, total=len(requests), desc=f"{self.kind} judge", unit="req")
                results = list(it)
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
