"""A small client for OpenAI-compatible chat-completions servers (vLLM, SGLang, TGI, OpenAI...).

:class:`ChatCompletionsClient` sends one JSON body to ``POST {base_url}/chat/completions`` and
returns the first choice's text, retrying what may succeed on another try:

* retried with exponential backoff and equal jitter: timeouts and transport errors, HTTP
  408/409/425/429 and 5xx (a ``Retry-After`` header in seconds is honoured, up to
  ``backoff_max``), and malformed replies (not JSON, no ``choices``, content that is not text,
  and, with ``require_content=True``, empty content);
* not retried: other 4xx (unknown model, bad key, prompt too long...), which would fail again.

Every wait is bounded:

* ``timeout`` is the overall deadline of ONE attempt: connecting, sending the body, waiting for
  the reply and reading all of it. Each socket operation gets only the time left before that
  deadline, so a server that sends one byte every half second cannot stretch an attempt. A
  :meth:`~ChatCompletionsClient.complete` call therefore takes at most ``(max_retries + 1) *
  timeout`` plus the backoff waits; ``total_timeout`` (optional) bounds the whole call, attempts
  and waits together.
* a reply body is read as a stream and may hold at most ``max_reply_bytes`` bytes after
  decompression (gzip and deflate are decoded here, chunk by chunk, so a compressed "bomb" is
  stopped at the cap, never inflated in full);
* a reply nested too deeply for the JSON parser, or over the cap, is a malformed reply (retried,
  then a :class:`ChatRequestError`), never a ``RecursionError`` or ``MemoryError``.

Text in a request that UTF-8 cannot encode (a lone surrogate a model produced earlier) is sent
with U+FFFD in its place, with a warning.

A request that fails for good raises :class:`ChatRequestError` with the number of attempts, the
HTTP status when there was one, and the last reply's text. One client is safe to share between
threads; its connection pool holds ``max_connections`` connections.

This module is the public home of the client and holds its retry loop, backoff and server
choice; the request and reply bodies, and what a reply means, are in
:mod:`swirl_env.chat_replies`, and the per-attempt socket deadline in
:mod:`swirl_env.chat_deadlines`.

Example:
    >>> client = ChatCompletionsClient("http://localhost:8000/v1", timeout=30, max_retries=3)
    >>> client.url
    'http://localhost:8000/v1/chat/completions'
    >>> # reply = client.complete({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})
    >>> # reply.content, reply.finish_reason, reply.attempts
    >>> client.close()
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from swirl_env._lazy import private_helpers
from swirl_env.chat_deadlines import _CHUNK, _LOCAL, _install_deadlines
from swirl_env.chat_replies import (
    RETRY_STATUS,
    ChatReply,
    ChatRequestError,
    _parse_reply,
    _Reader,
    _request_body,
    _retry_after,
    _Retryable,
)
from swirl_env.checks import int_at_least, seconds

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_REPLY_BYTES",
    "RETRY_STATUS",
    "ChatCompletionsClient",
    "ChatReply",
    "ChatRequestError",
    "chat_completions_url",
]

#: The default cap on a reply body (after decompression): 32 MiB, far above any chat completion.
DEFAULT_MAX_REPLY_BYTES = 32 * 2**20


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


def split_base_urls(base_url: str | Sequence[str]) -> list[str]:
    """One or several API roots: a list, or one string with URLs separated by commas.

    Example:
        >>> split_base_urls("http://a:8000/v1, http://b:8000/v1")
        ['http://a:8000/v1', 'http://b:8000/v1']
    """
    items = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    urls = [str(u).strip() for u in items if str(u).strip()]
    if not urls:
        raise ValueError("base_url is required (e.g. 'http://localhost:8000/v1')")
    if isinstance(base_url, str) and len(urls) != len(items):
        raise ValueError(f"empty URL in the list {base_url!r}")
    for u in urls:
        parts = urllib.parse.urlsplit(u)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or any(c.isspace() or ord(c) < 32 for c in u)
        ):
            raise ValueError(
                f"base URL must be http(s)://HOST[:PORT]/..., without spaces or control characters, got {u!r}"
            )
    if len({chat_completions_url(u) for u in urls}) != len(urls):
        raise ValueError(f"duplicate base URLs: {urls}")
    return urls


class ChatCompletionsClient:
    """Chat-completions requests with retries, backoff and clear errors.

    Args:
        base_url: the API root (``http://localhost:8000/v1``); a URL ending in
            ``/chat/completions`` is used as is. Several servers of the same model: a list, or
            one string of comma-separated URLs; each attempt goes to the server with the fewest
            requests in flight (ties: round robin), and a retry goes to another server.
        api_key: the bearer token; default: the ``api_key_env`` environment variable, if set.
        timeout: the overall deadline of one attempt, in seconds: connecting (at most 10 s of
            it), sending, waiting and reading the whole reply (see the module docstring).
        max_retries: retries after the first attempt.
        total_timeout: when set, the deadline of a whole :meth:`complete` call (every attempt
            and backoff wait); default: only each attempt is bounded, by ``timeout``.
        max_reply_bytes: the largest reply body accepted (after decompression); a larger one is
            a malformed reply.
        backoff_base / backoff_max: the n-th retry waits ``min(backoff_max, backoff_base * 2**n)``,
            with equal jitter (between half and all of it), or longer when ``Retry-After`` says so.
        headers: more HTTP headers.
        api_key_env: the environment variable holding the key (``None``: none is read).
        max_connections: the connection pool size per server (requests in flight at once).
        require_content: retry replies whose content is empty or only whitespace.
        name: what a request is, in log messages (``"judge request"``...).
        retry_log_level: the logging level of the "retrying" messages.
        client: an ``httpx.Client`` to use instead of one made here (tests, proxies, mTLS);
            :meth:`close` leaves it open. When its transport is an ``httpx.HTTPTransport``, the
            deadline is put under it too (it only acts during this object's requests); with any
            other transport the deadline is checked between the chunks of the reply.

    Attributes:
        url: the endpoint.
        stats: ``requests`` (attempts sent), ``retries`` and ``failures`` (requests given up).
        strict_deadline: whether every socket operation is cut to the attempt's deadline
            (``True`` for the client made here and for a given client with httpx's own transport).

    Example:
        >>> with ChatCompletionsClient("http://127.0.0.1:8000/v1", api_key="k") as client:
        ...     client.headers["Authorization"]
        'Bearer k'
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
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
        total_timeout: float | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        urls = split_base_urls(base_url or "")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        seconds("timeout", timeout)
        seconds("backoff_base", backoff_base, zero=True)
        seconds("backoff_max", backoff_max, zero=True)
        int_at_least("max_connections", max_connections, 1)
        if total_timeout is not None:
            seconds("total_timeout", total_timeout)
        int_at_least("max_reply_bytes", max_reply_bytes, 1)
        self.base_url = base_url
        #: every server's endpoint; ``url`` is the first (the only one with one server)
        self.urls = [chat_completions_url(u) for u in urls]
        self.url = self.urls[0]
        #: the API roots, one per server
        self.base_urls = urls
        #: attempts sent to each server so far (by API root)
        self.counts = {u: 0 for u in urls}
        self._in_flight = [0] * len(self.urls)
        self._next = 0
        #: requests in flight at once over all servers (``max_connections`` per server)
        self.max_in_flight = max_connections * len(urls)
        self.timeout = float(timeout)
        self.total_timeout = None if total_timeout is None else float(total_timeout)
        self.max_reply_bytes = int(max_reply_bytes)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.require_content = require_content
        self.name = name
        self.retry_log_level = retry_log_level
        key = api_key if api_key is not None else (os.environ.get(api_key_env) if api_key_env else None)
        hdrs = {"Content-Type": "application/json", "Accept-Encoding": "gzip, deflate", **dict(headers or {})}
        if key:
            hdrs["Authorization"] = f"Bearer {key}"
        self.headers = hdrs
        self._own_client = client is None
        if client is None:
            pool = self.max_in_flight
            limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
            transport = httpx.HTTPTransport(limits=limits)
            self.strict_deadline = _install_deadlines(transport)
            client = httpx.Client(
                timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
                limits=limits,
                transport=transport,
            )
        else:
            self.strict_deadline = _install_deadlines(getattr(client, "_transport", None))
        for mounted in getattr(client, "_mounts", {}).values():  # proxies from the environment
            if mounted is not None:
                self.strict_deadline = _install_deadlines(mounted) and self.strict_deadline
        self._client = client
        self._lock = threading.Lock()
        self._rng = random.Random()
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "failures": 0}

    # ------------------------------------------------------------------ public API
    def complete(self, body: Mapping[str, Any]) -> ChatReply:
        """Send ``body`` (``model``, ``messages``, sampling settings...) until a reply is usable.

        Raises:
            ChatRequestError: a non-retryable error, or the last attempt failed.
        """
        payload = _request_body(body, self.name)
        last: _Retryable | None = None
        attempts = self.max_retries + 1
        end = None if self.total_timeout is None else time.monotonic() + self.total_timeout
        server: int | None = None
        for attempt in range(attempts):
            with self._lock:
                self.stats["requests"] += 1
                if attempt:
                    self.stats["retries"] += 1
            server = self._acquire(avoid=server)  # a retry avoids the server that just failed
            try:
                return self._attempt(server, payload, attempt + 1, end)
            except ChatRequestError:
                self._count_failure()
                raise
            except _Retryable as e:
                last = e
                if attempt == self.max_retries:
                    break
                delay = self.delay(attempt, e.retry_after)
                if end is not None and time.monotonic() + delay >= end:
                    attempts = attempt + 1
                    last = _Retryable(
                        f"{e}; total_timeout={self.total_timeout}s reached", status=e.status, raw=e.raw
                    )
                    break
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
        where = self.url if len(self.urls) == 1 else ", ".join(self.urls)
        logger.debug("%s to %s gave up after %d attempts: %s", self.name, where, attempts, last)
        raise ChatRequestError(
            f"{where}: gave up after {attempts} attempts; last error: {last}",
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

    def _read(self, resp: httpx.Response, deadline: float) -> bytearray:
        reader = _Reader(resp.headers.get("content-encoding", ""), self.max_reply_bytes)
        chunks: Iterator[bytes] = resp.iter_raw(_CHUNK)
        for chunk in chunks:
            reader.feed(chunk)
            if time.monotonic() > deadline:  # also bounds a client given by the caller
                raise httpx.ReadTimeout("the request's deadline passed")
        return reader.finish()

    def _acquire(self, avoid: int | None) -> int:
        """The server for the next attempt: fewest in flight, ties round robin, not ``avoid``
        (the server whose attempt just failed) when there is another."""
        with self._lock:
            n = len(self.urls)
            order = [(self._next + k) % n for k in range(n)]
            if avoid is not None and n > 1:
                order.remove(avoid)
            best = min(order, key=lambda i: self._in_flight[i])
            self._in_flight[best] += 1
            self._next = (best + 1) % n
            self.counts[self.base_urls[best]] += 1
            return best

    def _attempt(self, server: int, body: bytes, attempt: int, end: float | None = None) -> ChatReply:
        """One attempt on server number ``server`` (taken by :meth:`_acquire`, released here)."""
        try:
            return self._post(self.urls[server], body, attempt, end)
        finally:
            with self._lock:
                self._in_flight[server] -= 1

    def _post(self, url: str, body: bytes, attempt: int, end: float | None = None) -> ChatReply:
        deadline = time.monotonic() + self.timeout
        if end is not None:
            deadline = min(deadline, end)
        left = max(deadline - time.monotonic(), 1e-3)
        _LOCAL.deadline = deadline
        try:
            with self._client.stream(
                "POST",
                url,
                content=body,
                headers=self.headers,
                timeout=httpx.Timeout(left, connect=min(10.0, left)),
            ) as resp:
                status = resp.status_code
                raw = self._read(resp, deadline)
                charset = resp.charset_encoding or "utf-8"
                retry_after = _retry_after(resp)
                location = resp.headers.get("location")
        except httpx.TimeoutException as e:
            raise _Retryable(f"timeout: no complete reply within {self.timeout}s ({type(e).__name__})") from e
        except httpx.TransportError as e:
            raise _Retryable(f"transport error: {type(e).__name__}: {e}") from e
        except (OverflowError, ValueError, zlib.error) as e:  # over the cap, or an undecodable body
            raise _Retryable(f"unusable reply body: {type(e).__name__}: {e}") from e
        finally:
            _LOCAL.deadline = None
        try:
            text = raw.decode(charset, errors="replace")
        except LookupError:  # an unknown charset name
            text = raw.decode("utf-8", errors="replace")
        del raw
        return _parse_reply(text, status, retry_after, url, attempt, self.require_content, location)


# the private helpers that were defined here before the split stay readable from this module
__getattr__ = private_helpers(__name__, ["swirl_env.chat_deadlines", "swirl_env.chat_replies"])
