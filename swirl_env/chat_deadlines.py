"""Every socket operation of a chat-completions attempt bounded by one per-thread deadline.

:class:`~swirl_env.chat_client.ChatCompletionsClient` sets ``_LOCAL.deadline`` for the length of
one attempt; :func:`_install_deadlines` puts :class:`_DeadlineBackend` under an
``httpx.HTTPTransport``'s connection pool, so that connecting, the TLS handshake, each write of
the body (in slices of ``_CHUNK`` bytes) and each read get only the time left before it. With no
deadline set (another use of the same transport) every timeout is left as it is.

Example:
    >>> import httpcore, time
    >>> _left(5.0, httpcore.ReadTimeout)  # no deadline in this thread: unchanged
    5.0
    >>> _LOCAL.deadline = time.monotonic() - 1
    >>> _left(5.0, httpcore.ReadTimeout)
    Traceback (most recent call last):
    ...
    httpcore.ReadTimeout: the request's deadline passed
    >>> _LOCAL.deadline = None
    >>> _install_deadlines(object())  # not an httpx transport: nothing to put it under
    False
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpcore

_CHUNK = 65536


_LOCAL = threading.local()


def _left(timeout: float | None, exc: type[Exception]) -> float | None:
    """``timeout`` cut to the time left before this thread's deadline (``exc`` when none is left)."""
    deadline = getattr(_LOCAL, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read, write and TLS handshake ends by the thread's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        for start in range(0, len(view), _CHUNK):  # each slice gets only the time left
            self._stream.write(bytes(view[start : start + _CHUNK]), _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        stream = self._stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Wraps httpcore's network backend so that every socket operation honours the deadline."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _install_deadlines(transport: Any) -> bool:
    """Put :class:`_DeadlineBackend` under an ``httpx.HTTPTransport``'s pool; ``False`` if it cannot."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:
        return False
    if not isinstance(backend, _DeadlineBackend):
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return True
