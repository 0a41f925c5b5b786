r"""The HTTP/1.1 side of :class:`~swirl_env.retrieval.server.RetrievalServer`: one
:class:`asyncio.Protocol` per connection that frames requests out of a buffer, bounds every wait
with one timer, and writes the answers the server gives it.

A protocol object, not a coroutine per connection: a request costs no task, no ``wait_for`` and
no stream-reader layers, which on a loopback keep-alive request is most of the server's own time.

Example:
    >>> _parse_head(b"POST /retrieve HTTP/1.1\r\nContent-Length: 2")
    ('POST', '/retrieve', True, 2)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from swirl_env.retrieval.server import RetrievalServer


class _BadRequest(Exception):
    def __init__(self, status: int, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.close = status, message, close


def _response(status: int, body: Any, keep_alive: bool) -> bytes:
    try:  # orjson: UTF-8 JSON ~7x faster than json.dumps, the largest cost of a small answer
        raw = orjson.dumps(body)
    except TypeError:  # text UTF-8 cannot encode (a lone surrogate): escaped ASCII JSON instead
        raw = json.dumps(body).encode("ascii")
    reason = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(raw)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode("ascii")
    return head + raw


def _parse_head(head: bytes) -> tuple[str, str, bool, int | None]:
    """Method, path, keep-alive and Content-Length (``None``: none given) of a request head (the
    bytes before the blank line); raises :class:`_BadRequest` (which closes the connection)."""
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = lines[0].split(" ")
    except ValueError:
        raise _BadRequest(400, "malformed request line", close=True) from None
    if not version.startswith("HTTP/1."):
        raise _BadRequest(505, f"unsupported protocol {version[:20]!r}", close=True)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            raise _BadRequest(400, "folded header lines are not accepted", close=True)
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(400, "malformed header line", close=True)
        key, value = name.strip().lower(), value.strip()
        if key == "content-length" and headers.get(key, value) != value:
            raise _BadRequest(400, "conflicting Content-Length headers", close=True)
        headers[key] = value
    conn = headers.get("connection", "").lower()
    keep_alive = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
    if "transfer-encoding" in headers:
        raise _BadRequest(411, "chunked bodies are not accepted: send Content-Length", close=True)
    length = headers.get("content-length")
    if length is None:
        if method == "POST":
            raise _BadRequest(411, "Content-Length required", close=True)
        return method, path, keep_alive, None
    if not (length.isascii() and length.isdigit() and len(length) <= 18):
        raise _BadRequest(400, f"bad Content-Length {length[:20]!r}", close=True)
    return method, path, keep_alive, int(length)


class _Connection(asyncio.Protocol):
    """One client connection: reads requests from a buffer (one at a time, in order), hands each to
    the server, writes the answers, and closes itself when a deadline passes.

    One timer bounds every wait: receiving a whole request from the moment the connection waits for
    it, and getting rid of an answer once the transport's buffer is full (the client does not read).
    """

    def __init__(self, server: RetrievalServer) -> None:
        self.server = server
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a request is being answered
        self.write_paused = False
        self.eof = False  # the client has sent all it will send
        self.in_next = False  # inside the request loop of _next
        self.timer: asyncio.TimerHandle | None = None

    # ---------------------------------------------------------------- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self.server._opened(self):
            transport.write(_response(503, {"error": "too many connections, retry later"}, False))
            self._arm()  # a client that does not take the 503 is dropped after the timeout
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._next()
        self._flow()

    def eof_received(self) -> bool:
        self.eof = True
        self._next()  # answers what is complete, then closes (see _next)
        return True  # the transport stays open for those answers; _next closes it

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.transport = None
        self.server._closed(self)

    def pause_writing(self) -> None:
        self.write_paused = True
        self._arm()

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self.busy:
            self._arm()  # now waiting for the next request (a dispatch disarms, an answer re-arms)
        self._next()
        self._flow()

    # ---------------------------------------------------------------- requests and answers
    def _flow(self) -> None:
        """Stop reading while the buffer holds more than one request's bound and cannot be worked
        off (a request in flight, or a client not reading its answers); read again after."""
        t = self.transport
        if t is None or t.is_closing():
            return
        srv = self.server
        stuck = len(self.buf) > srv.max_header_bytes + srv.max_body_bytes and (self.busy or self.write_paused)
        if stuck and t.is_reading():  # the transport knows whether it reads: no flag of our own
            t.pause_reading()
        elif not stuck and not t.is_reading():
            t.resume_reading()

    def _next(self) -> None:
        """Take the complete requests from the buffer, in order, while nothing is in flight (an
        answer given inline lets the loop go on; one in the pool resumes it from :meth:`send`).
        Once the client has closed its side, close after the last complete request."""
        if self.in_next:
            return  # called from send() inside the loop below: the loop goes on by itself
        self.in_next = True
        try:
            while not (
                self.busy or self.write_paused or self.transport is None or self.transport.is_closing()
            ):
                if not self._take():
                    if self.eof:
                        if self.buf.strip():
                            self._fail(_BadRequest(400, "connection closed inside the request", close=True))
                        else:
                            self.transport.close()
                    return
        finally:
            self.in_next = False

    def _take(self) -> bool:
        """Dispatch the next complete request; ``False`` when the buffer holds none."""
        srv = self.server
        end = self.buf.find(b"\r\n\r\n", 0, srv.max_header_bytes + 4)
        try:
            if end < 0:
                if len(self.buf) > srv.max_header_bytes:
                    raise _BadRequest(431, f"request headers over {srv.max_header_bytes} bytes", close=True)
                if self.buf.find(b"\n\n", 0, srv.max_header_bytes + 2) >= 0:
                    raise _BadRequest(400, "request lines must end with CRLF", close=True)
                return False
            method, path, keep_alive, length = _parse_head(bytes(self.buf[:end]))
            if length is not None and length > srv.max_body_bytes:
                raise _BadRequest(413, f"request body over {srv.max_body_bytes} bytes", close=True)
        except _BadRequest as e:
            self._fail(e)
            return True
        start, stop = end + 4, end + 4 + (length or 0)
        if len(self.buf) < stop:
            return False  # the body is still coming
        body = bytes(self.buf[start:stop])
        del self.buf[:stop]
        self._disarm()
        self.busy = True
        srv._dispatch(self, method, path, body, keep_alive)
        return True

    def send(self, answer: bytes, keep_alive: bool) -> None:
        """Write one answer; then serve the next request, or close."""
        self.busy = False
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(answer)
        self.server._count()
        if not keep_alive:
            t.close()
            return
        if not self.write_paused:
            self._arm()
        self._next()
        self._flow()

    def _fail(self, e: _BadRequest) -> None:
        """Answer a request that cannot be read and close the connection."""
        self.busy = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_response(e.status, {"error": e.message}, False))
            self.server._count()
            self._arm()
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.busy = False
        if self.transport is not None:
            self.transport.abort()

    # ---------------------------------------------------------------- the deadline
    def _arm(self) -> None:
        self._disarm()
        assert self.server._loop is not None
        self.timer = self.server._loop.call_later(self.server.timeout, self.abort)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
