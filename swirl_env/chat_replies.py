"""The request and reply bodies of a chat-completions attempt, and what a reply means.

:func:`_request_body` encodes a request (text UTF-8 cannot encode is sent with U+FFFD);
:class:`_Reader` decodes a reply body (identity, gzip or deflate) chunk by chunk up to its cap;
:func:`_parse_reply` turns a complete reply into a :class:`ChatReply`, a
:class:`ChatRequestError` (a redirect, or a 4xx other than :data:`RETRY_STATUS`: not worth another try) or a
:class:`_Retryable` failure (5xx, those statuses, a malformed body) for the client's retry loop.

Example:
    >>> _request_body({"model": "m", "messages": [{"role": "user", "content": "Hi"}]}, "request")
    b'{"model":"m","messages":[{"role":"user","content":"Hi"}]}'
    >>> reply = _parse_reply('{"choices": [{"message": {"content": "4"}}]}', 200, None, "http://x", 1, False)
    >>> reply.content, reply.attempts
    ('4', 1)
    >>> _parse_reply("busy", 503, 2.0, "http://x", 1, False)
    Traceback (most recent call last):
    ...
    swirl_env.chat_replies._Retryable: HTTP 503: busy
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from swirl_env.chat_deadlines import _CHUNK
from swirl_env.trajectory import repair_unencodable

logger = logging.getLogger("swirl_env.chat_client")  # the client's logger, as before the split

__all__ = ["RETRY_STATUS", "ChatReply", "ChatRequestError"]

#: HTTP statuses below 500 that are worth another try.
RETRY_STATUS = frozenset({408, 409, 425, 429})


class _Reader:
    """Decodes a raw reply body (identity, gzip or deflate) chunk by chunk, at most ``cap`` bytes."""

    def __init__(self, encoding: str, cap: int) -> None:
        enc = encoding.strip().lower()
        if enc in ("", "identity"):
            self._z = None
        elif enc in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif enc == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        self._deflate = enc == "deflate"
        self._first = True
        self.cap = cap
        self.body = bytearray()

    def _add(self, data: bytes) -> None:
        self.body += data
        if len(self.body) > self.cap:
            raise OverflowError(f"reply larger than max_reply_bytes={self.cap}")

    def feed(self, chunk: bytes) -> None:
        if self._z is None:
            self._add(chunk)
            return
        if self._first and self._deflate:  # zlib-wrapped (RFC 9110) or raw deflate, as sent
            self._first = False
            try:
                zlib.decompressobj().decompress(chunk[:64], 1)
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        data = chunk
        while data:  # small output steps: memory stays near the cap, however dense the input
            self._add(self._z.decompress(data, min(4 * _CHUNK, self.cap - len(self.body) + 1)))
            data = self._z.unconsumed_tail

    def finish(self) -> bytearray:
        if self._z is not None:
            self._add(self._z.flush(self.cap - len(self.body) + 1))
        return self.body  # not copied: a reply near the cap costs the cap once, plus its text


def _request_body(body: Mapping[str, Any], name: str) -> bytes:
    """The JSON body of a request; text UTF-8 cannot encode is sent with U+FFFD (and a warning)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        fixed, repairs = repair_unencodable(dict(body))
        logger.warning(
            "%s: %d string(s) with characters UTF-8 cannot encode (lone surrogates) sent with U+FFFD: %s",
            name,
            len(repairs),
            ", ".join(r["path"] for r in repairs[:5]),
        )
        return json.dumps(fixed, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


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
        """Token counts (``prompt_tokens``, ``completion_tokens``), empty when not reported (or
        not an object)."""
        usage = self.data.get("usage")
        return usage if isinstance(usage, dict) else {}

    def tokens(self, name: str) -> int:
        """The ``usage`` count ``name`` (``"prompt_tokens"``...): 0 when missing or not a count
        (a string, a negative or non-finite number), since the completion itself is still good.

        Example:
            >>> r = ChatReply("4", "", 1, {"usage": {"prompt_tokens": 12, "completion_tokens": "n/a"}})
            >>> r.tokens("prompt_tokens"), r.tokens("completion_tokens")
            (12, 0)
        """
        value = self.usage.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return 0
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            return 0
        return max(0, int(value))


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


def _retry_after(resp: httpx.Response) -> float | None:
    header = resp.headers.get("retry-after")
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:  # an HTTP date: fall back to the backoff schedule
        return None


def _parse_reply(
    text: str,
    status: int,
    retry_after: float | None,
    url: str,
    attempt: int,
    require_content: bool,
    location: str | None = None,
) -> ChatReply:
    """The reply of attempt number ``attempt`` to ``url``: HTTP ``status``, body ``text`` (and the
    ``Location`` header of a redirect)."""
    if 300 <= status < 400:  # a completion is never a redirect's body
        raise ChatRequestError(
            f"HTTP {status} from {url} redirects to {location!r} (not followed: point base_url "
            "at the server itself)",
            attempts=attempt,
            status=status,
            raw=text,
        )
    if status in RETRY_STATUS or status >= 500:
        raise _Retryable(f"HTTP {status}: {text[:200]}", retry_after=retry_after, status=status, raw=text)
    if status >= 400:
        raise ChatRequestError(
            f"HTTP {status} from {url} (not retried): {text[:500]}",
            attempts=attempt,
            status=status,
            raw=text,
        )
    try:
        data = json.loads(text)
        content = data["choices"][0]["message"].get("content")
    except RecursionError:
        raise _Retryable(
            f"malformed reply (JSON nested too deeply to parse): {text[:200]}", status=status, raw=text
        ) from None
    except (json.JSONDecodeError, ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        raise _Retryable(
            f"malformed reply ({type(e).__name__}: {e}): {text[:200]}", status=status, raw=text
        ) from e
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise _Retryable(f"reply content is not text: {text[:200]}", status=status, raw=text)
    if require_content and not content.strip():
        raise _Retryable(f"reply with empty content: {text[:200]}", status=status, raw=text)
    return ChatReply(content=content, raw=text, attempts=attempt, data=data)
