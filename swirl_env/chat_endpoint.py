"""A user of an OpenAI-compatible chat-completions endpoint: the base of the OpenAI judges
(:mod:`swirl_env.rewards.judges.openai`) and of the OpenAI policy
(:mod:`swirl_algos.policies.openai`).

:class:`OpenAIEndpoint` holds one :class:`~swirl_env.chat_client.ChatCompletionsClient` (one or
several servers, bounded retries and deadlines), counts the attempts of its requests and sends a
batch of them ``concurrency`` at a time per server; :class:`EndpointOptions` types the request
options its subclasses pass on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypedDict, TypeVar

import httpx

from swirl_env.chat_client import DEFAULT_MAX_REPLY_BYTES, ChatCompletionsClient
from swirl_env.checks import int_at_least

__all__ = ["EndpointOptions", "OpenAIEndpoint"]

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


class EndpointOptions(TypedDict, total=False):
    """The keyword arguments of :class:`OpenAIEndpoint` (see there) that its subclasses pass on."""

    api_key: str | None
    api_key_env: str
    concurrency: int
    timeout: float
    max_retries: int
    backoff_base: float
    backoff_max: float
    extra_body: Mapping[str, Any] | None
    headers: Mapping[str, str] | None
    client: httpx.Client | None
    total_timeout: float | None
    max_reply_bytes: int


class OpenAIEndpoint:
    """A user of an OpenAI-compatible chat-completions endpoint: the base of the judges here and
    of :class:`swirl_algos.policies.openai.OpenAIPolicy`.

    It holds the :class:`~swirl_env.chat_client.ChatCompletionsClient`, counts the attempts of
    its requests and sends a batch of them ``concurrency`` at a time per server.

    Args:
        base_url: the API root (``http://localhost:8000/v1``); a URL ending in
            ``/chat/completions`` is used as is. Several servers of the same model: a list or a
            comma-separated string; each request goes to the least-loaded one and a retry to
            another (:class:`~swirl_env.chat_client.ChatCompletionsClient`).
        model: the served model name.
        api_key: the bearer token; default: the ``api_key_env`` environment variable, if set.
        concurrency: requests in flight at once, per server.
        timeout: the overall deadline of one request attempt, in seconds: connecting (at most
            10 s), sending, waiting and reading the whole reply.
        max_retries: retries after the first attempt.
        backoff_base / backoff_max: the n-th retry waits ``min(backoff_max, backoff_base * 2**n)``,
            with equal jitter (between half and all of it), or longer when ``Retry-After`` says so.
        extra_body: more JSON fields for each request (e.g. ``{"top_k": 20}`` for vLLM).
        headers: more HTTP headers.
        api_key_env: the environment variable holding the key.
        client: an ``httpx.Client`` to use instead of one made here (tests, proxies, mTLS).
        total_timeout: when set, the deadline of one request over all its attempts and backoff
            waits.
        max_reply_bytes: the largest reply accepted (after decompression); a larger one is a
            malformed reply.
        request_name: what a request is, in log messages and errors.
        require_content: retry replies whose content is empty or only whitespace.
        retry_log_level: the logging level of the "retrying" messages.

    Attributes:
        stats: ``requests`` (attempts sent), ``retries`` and ``failures``.

    Example:
        >>> endpoint = OpenAIEndpoint("http://localhost:8000/v1", "m", concurrency=2)
        >>> endpoint.url, endpoint.stats
        ('http://localhost:8000/v1/chat/completions', {'requests': 0, 'retries': 0, 'failures': 0})
        >>> endpoint.close()
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 5,
        *,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        extra_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        client: httpx.Client | None = None,
        total_timeout: float | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        request_name: str = "chat-completions request",
        require_content: bool = False,
        retry_log_level: int = logging.WARNING,
    ) -> None:
        if not model:
            raise ValueError("model is required (the served model name)")
        int_at_least("concurrency", concurrency, 1)
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
            require_content=require_content,
            name=request_name,
            retry_log_level=retry_log_level,
            client=client,
            total_timeout=total_timeout,
            max_reply_bytes=max_reply_bytes,
        )
        self.url = self._chat.url
        self.base_url = base_url
        self.model = model
        self.concurrency = concurrency
        self.timeout = self._chat.timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.extra_body = dict(extra_body or {})
        self._lock = threading.Lock()
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "failures": 0}

    def close(self) -> None:
        """Close the HTTP client (when this object made it)."""
        self._chat.close()

    def _count(self, attempts: int, *, failed: bool = False, **counters: int) -> None:
        """Count a request's ``attempts`` (and its failure), and add ``counters`` to :attr:`stats`."""
        with self._lock:
            self.stats["requests"] += attempts
            self.stats["retries"] += attempts - 1
            self.stats["failures"] += int(failed)
            for key, value in counters.items():
                self.stats[key] += value

    def _map(
        self,
        fn: Callable[[_Item], _Result],
        items: Sequence[_Item],
        *,
        progress: str | None = None,
    ) -> list[_Result]:
        """``[fn(item) for item in items]``, ``concurrency`` calls at a time per server on a thread
        pool; with ``progress``, a progress bar of that name."""
        if len(items) <= 1 or self._chat.max_in_flight == 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self._chat.max_in_flight, len(items))) as pool:
            it = pool.map(fn, items)
            if progress is not None:
                from tqdm.auto import tqdm

                it = tqdm(it, total=len(items), desc=progress, unit="req")
            return list(it)
