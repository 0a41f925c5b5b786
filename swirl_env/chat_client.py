"""A small client for OpenAI-compatible chat-completions servers (vLLM, SGLang, TGI, OpenAI...).

:class:`ChatCompletionsClient` sends one JSON body to ``POST {base_url}/chat/completions`` and
returns the first choice's text, retrying what may succeed on another try:

* retried with exponential backoff and equal jitter: timeouts and transport errors, HTTP
  408/409/425/429 and 5xx (a ``Retry-After`` header in seconds is honoured, up to
  ``backoff_max``), and malformed replies (not JSON, no ``choices``, content that is not text,
  and, with ``require_content=True``, empty content);
* not retried: other 4xx (unknown model, bad key, prompt too long...), which would fail again.

A request that fails for good raises :class:`ChatRequestError` with the number of attempts, the
HTTP status when there was one, and the last reply's text. One client is safe to share between
threads; its connection pool holds ``max_connections`` connections.

Example:
    >>> client = ChatCompletionsClient("http://localhost:8000/v1", timeout=30, max_retries=3)
    >>> client.url
    'http://localhost:8000/v1/chat/completions'
    >>> # reply = client.complete({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})
    >>> # reply.content, reply.finish_reason, reply.attempts
    >>> client.close()
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

logger = logging.getLogger(__name__)

__all__ = ["RETRY_STATUS", "ChatCompletionsClient", "ChatReply", "ChatRequestError", "chat_completions_url"]

#: HTTP statuses below 500 that are worth another try.
RETRY_STATUS = frozenset({408, 409, 425, 429})


class ChatRequestError(RuntimeError):
    """A chat-completions request that failed for good (after its retries, or not retryable).

    Attributes:
        attempts: requests sent, the failing one included.
        status: the HTTP status of the last reply (``None`` after a timeout or transport error).
        raw: the text of the last reply, when there was one.
    """

    def __init__(
        self, message: str, *, attempts: int, status: int | None = None, raw: str | None = None
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status
        self.raw = raw


@dataclass(frozen=True)
class ChatReply:
    """A successful chat completion.

    Attributes:
        content: the first choice's message text (``""`` when the server sent none).
        raw: the reply body as text.
        attempts: requests it took (1 when the first one succeeded).
        data: the parsed reply (``choices``, ``usage``...).
    """

    content: str
    raw: str
    attempts: int
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def choice(self) -> dict[str, Any]:
        """The first choice (``message``, ``finish_reason``, vLLM's ``stop_reason``...)."""
        return self.data["choices"][0]

    @property
    def finish_reason(self) -> str | None:
        """Why generation ended (``"stop"``, ``"length"``...), when the server says."""
        return self.choice.get("finish_reason")

    @property
    def usage(self) -> dict[str, Any]:
        """Token counts (``prompt_tokens``, ``completion_tokens``), empty when not reported."""
        return self.data.get("usage") or {}


class _Retryable(Exception):
    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        raw: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
        self.raw = raw


def chat_completions_url(base_url: str) -> str:
    """The chat-completions endpoint of an API root; a URL already ending in it is kept.

    Example:
        >>> chat_completions_url("http://localhost:8000/v1/")
        'http://localhost:8000/v1/chat/completions'
        >>> chat_completions_url("http://x/v1/chat/completions/")
        'http://x/v1/chat/completions'
    """
    url = base_url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


def _retry_after(resp: httpx.Response) -> float | None:
    header = resp.headers.get("retry-after")
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:  # an HTTP date: fall back to the backoff schedule
        return None


class ChatCompletionsClient:
    """Chat-completions requests with retries, backoff and clear errors.

    Args:
        base_url: the API root (``http://localhost:8000/v1``); a URL ending in
            ``/chat/completions`` is used as is.
        api_key: the bearer token; default: the ``api_key_env`` environment variable, if set.
        timeout: seconds per request (read/write/pool); connecting is capped at 10 s.
        max_retries: retries after the first attempt.
        backoff_base / backoff_max: the n-th retry waits ``min(backoff_max, backoff_base * 2**n)``,
            with equal jitter (between half and all of it), or longer when ``Retry-After`` says so.
        headers: more HTTP headers.
        api_key_env: the environment variable holding the key (``None``: none is read).
        max_connections: the connection pool size (requests in flight at once).
        require_content: retry replies whose content is empty or only whitespace.
        name: what a request is, in log messages (``"judge request"``...).
        retry_log_level: the logging level of the "retrying" messages.
        client: an ``httpx.Client`` to use instead of one made here (tests, proxies, mTLS);
            :meth:`close` leaves it open.

    Attributes:
        url: the endpoint.
        stats: ``requests`` (attempts sent), ``retries`` and ``failures`` (requests given up).

    Example:
        >>> with ChatCompletionsClient("http://127.0.0.1:8000/v1", api_key="k") as client:
        ...     client.headers["Authorization"]
        'Bearer k'
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        headers: Mapping[str, str] | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        max_connections: int = 8,
        require_content: bool = False,
        name: str = "chat-completions request",
        retry_log_level: int = logging.WARNING,
        client: httpx.Client | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required (e.g. 'http://localhost:8000/v1')")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if backoff_base < 0 or backoff_max < 0:
            raise ValueError(f"backoff must be >= 0, got base={backoff_base}, max={backoff_max}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.base_url = base_url
        self.url = chat_completions_url(base_url)
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.require_content = require_content
        self.name = name
        self.retry_log_level = retry_log_level
        key = api_key if api_key is not None else (os.environ.get(api_key_env) if api_key_env else None)
        hdrs = {"Content-Type": "application/json", **dict(headers or {})}
        if key:
            hdrs["Authorization"] = f"Bearer {key}"
        self.headers = hdrs
        self._own_client = client is None
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._lock = threading.Lock()
        self._rng = random.Random()
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "failures": 0}

    # ------------------------------------------------------------------ public API
    def complete(self, body: Mapping[str, Any]) -> ChatReply:
        """Send ``body`` (``model``, ``messages``, sampling settings...) until a reply is usable.

        Raises:
            ChatRequestError: a non-retryable error, or the last attempt failed.
        """
        payload = dict(body)
        last: _Retryable | None = None
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            with self._lock:
                self.stats["requests"] += 1
                if attempt:
                    self.stats["retries"] += 1
            try:
                return self._attempt(payload, attempt + 1)
            except ChatRequestError:
                self._count_failure()
                raise
            except _Retryable as e:
                last = e
                if attempt == self.max_retries:
                    break
                delay = self.delay(attempt, e.retry_after)
                logger.log(
                    self.retry_log_level,
                    "%s failed (%s); retry %d in %.2fs",
                    self.name,
                    e,
                    attempt + 1,
                    delay,
                )
                time.sleep(delay)
        assert last is not None
        self._count_failure()
        logger.debug("%s to %s gave up after %d attempts: %s", self.name, self.url, attempts, last)
        raise ChatRequestError(
            f"{self.url}: gave up after {attempts} attempts; last error: {last}",
            attempts=attempts,
            status=last.status,
            raw=last.raw,
        )

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry + 1`` (0-based ``retry``).

        Example:
            >>> c = ChatCompletionsClient("http://x/v1", backoff_base=1.0, backoff_max=4.0)
            >>> 2.0 <= c.delay(2) <= 4.0 and c.delay(0, retry_after=3.0) == 3.0
            True
        """
        cap = min(self.backoff_max, self.backoff_base * (2**retry))
        delay = cap / 2 + self._rng.uniform(0, cap / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def close(self) -> None:
        """Close the HTTP client (when this object made it)."""
        if self._own_client:
            self._client.close()

    def __enter__(self) -> ChatCompletionsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ one attempt
    def _count_failure(self) -> None:
        with self._lock:
            self.stats["failures"] += 1

    def _attempt(self, body: dict[str, Any], attempt: int) -> ChatReply:
        try:
            resp = self._client.post(self.url, json=body, headers=self.headers)
        except httpx.TimeoutException as e:
            raise _Retryable(f"timeout after {self.timeout}s ({type(e).__name__})") from e
        except httpx.TransportError as e:
            raise _Retryable(f"transport error: {type(e).__name__}: {e}") from e
        text = resp.text
        status = resp.status_code
        if status in RETRY_STATUS or status >= 500:
            raise _Retryable(
                f"HTTP {status}: {text[:200]}", retry_after=_retry_after(resp), status=status, raw=text
            )
        if status >= 400:
            raise ChatRequestError(
                f"HTTP {status} from {self.url} (not retried): {text[:500]}",
                attempts=attempt,
                status=status,
                raw=text,
            )
        try:
            data = resp.json()
            content = data["choices"][0]["message"].get("content")
        except (json.JSONDecodeError, ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
            raise _Retryable(
                f"malformed reply ({type(e).__name__}: {e}): {text[:200]}", status=status, raw=text
            ) from e
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise _Retryable(f"reply content is not text: {text[:200]}", status=status, raw=text)
        if self.require_content and not content.strip():
            raise _Retryable(f"reply with empty content: {text[:200]}", status=status, raw=text)
        return ChatReply(content=content, raw=text, attempts=attempt, data=data)
