"""A lean HTTP/1.1 client connection whose every exchange is bounded by one deadline.

:class:`Connection` sends a request and reads its answer over one keep-alive socket: the status
line and headers (at most ``MAX_HEAD_BYTES``), then a body framed by ``Content-Length``, by chunks,
or by the server closing, decompressed (``gzip``/``deflate``) under a size cap. Every ``recv`` and
``send`` waits at most until the exchange's deadline, so a server that drips one byte at a time
cannot stretch a request past it. A kept-alive socket the server has closed meanwhile is noticed
(nothing comes back) and the request is sent once more on a fresh socket.

It exists because :mod:`http.client` spends most of a loopback request's time in generic header
handling (the ``email`` parser) and buffered-reader layers; this one does what the ``/retrieve``
protocol needs and no more, about 4x less client time per request.

Errors: :class:`DeadlineError` (an ``OSError``) when the deadline passes, ``ConnectionError`` /
``OSError`` for network failures, ``ValueError`` for an answer that is malformed or over the cap.

Example:
    >>> conn = Connection("127.0.0.1", 8000)  # doctest: +SKIP
    >>> conn.request("GET", "/health", {}, None, deadline=time.monotonic() + 5)  # doctest: +SKIP
    (200, b'{"status": "ok", ...}')
"""

from __future__ import annotations

import math
import select
import socket
import ssl
import time
import zlib

__all__ = ["MAX_HEAD_BYTES", "Connection", "DeadlineError", "check_header"]

MAX_HEAD_BYTES = 64 << 10  # status line and headers of one answer
_MAX_INFORMATIONAL = 16  # 1xx answers skipped before the real one


class DeadlineError(OSError):
    """The whole exchange (connect, send, receive) ran past its deadline."""


class _NoAnswer(ConnectionError):
    """The server closed (or reset) the connection before sending a byte of its answer."""


_FRAMING_HEADERS = ("content-length", "host", "transfer-encoding", "connection")


def check_header(name: str, value: str) -> None:
    """Raise ``ValueError`` for a header that would break the request: CR/LF injection, a bad
    name, text that is not latin-1, or a header the connection sets itself (framing)."""
    if not name or any(c in name for c in ":\r\n \t") or not name.isascii():
        raise ValueError(f"invalid HTTP header name {name!r}")
    if name.lower() in _FRAMING_HEADERS:
        raise ValueError(f"the {name!r} header is set by the connection, not by the caller")
    if "\r" in value or "\n" in value:
        raise ValueError(f"HTTP header {name!r} has a line break in its value")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"HTTP header {name!r} has text latin-1 cannot encode: {value[:40]!r}") from None


class Connection:
    """One keep-alive HTTP/1.1 (or HTTPS) connection to ``host:port``, opened on first use.

    Args:
        host, port: the server (``port=None``: 80, or 443 with ``tls``).
        tls: wrap the socket in TLS (the default context: certificates are verified).
    """

    def __init__(self, host: str, port: int | None, tls: bool = False) -> None:
        self.host, self.tls = host, tls
        self.port = port if port is not None else (443 if tls else 80)
        name = f"[{host}]" if ":" in host else host
        self.host_header = name if self.port == (443 if tls else 80) else f"{name}:{self.port}"
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.deadline = math.inf

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buf.clear()

    # ------------------------------------------------------------------ deadline-bounded I/O
    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineError("deadline reached")
        return left

    def _connect(self) -> socket.socket:
        """A new socket to the server: each address the name resolves to in turn, all within the
        one deadline (``socket.create_connection`` would give each address the whole timeout).
        The name lookup itself is the system resolver's and is not bounded by the deadline."""
        err: OSError | None = None
        for family, kind, proto, _, addr in socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self._left())
                sock.connect(addr)
            except TimeoutError:
                sock.close()
                raise DeadlineError("deadline reached while connecting") from None
            except OSError as e:
                sock.close()
                err = e
                continue
            break
        else:
            raise err or OSError(f"{self.host!r} resolves to no address")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            sock.settimeout(self._left())
            try:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            except TimeoutError:
                sock.close()
                raise DeadlineError("deadline reached during the TLS handshake") from None
        self.sock = sock
        return sock

    def _stale(self) -> bool:
        """Whether the kept-alive socket must not carry a new request: the server has closed or
        reset it, or sent bytes nobody asked for (a 408 before closing an idle socket, or one
        answer too many). A TLS socket may be readable for a session ticket only: that is fine."""
        sock = self.sock
        assert sock is not None
        if hasattr(select, "poll"):  # poll: no FD_SETSIZE limit on the descriptor number
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            readable = bool(poller.poll(0))
        else:
            readable = bool(select.select([sock], [], [], 0)[0])
        if not readable:
            return False
        sock.settimeout(0)
        try:
            sock.recv(1)  # data nobody asked for, or b"" at EOF: either way not reusable
            return True
        except (ssl.SSLWantReadError, BlockingIOError):
            return False  # TLS records without application data (session tickets)
        except OSError:
            return True

    def _recv(self) -> bytes:
        """More bytes from the socket into the buffer; ``b""`` when the server closed."""
        assert self.sock is not None
        self.sock.settimeout(self._left())
        try:
            block = self.sock.recv(1 << 16)
        except TimeoutError:
            raise DeadlineError("deadline reached while reading the answer") from None
        self.buf += block
        return block

    def _take(self, n: int) -> bytes:
        """Exactly ``n`` bytes (``ConnectionError`` if the server closes first)."""
        while len(self.buf) < n:
            if not self._recv():
                raise ConnectionError("the server closed the connection inside the answer")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _line(self, limit: int) -> bytes:
        """One CRLF-terminated line (without the CRLF), at most ``limit`` bytes."""
        while (i := self.buf.find(b"\r\n", 0, limit + 2)) < 0:
            if len(self.buf) > limit:
                raise ValueError(f"answer line over {limit:,} bytes")
            if not self._recv():
                raise ConnectionError("the server closed the connection inside the answer")
        line = bytes(self.buf[:i])
        del self.buf[: i + 2]
        return line

    # ------------------------------------------------------------------ one exchange
    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, *, deadline: float,
        max_body: int = 64 << 20,
    ) -> tuple[int, bytes]:  # fmt: skip
        """Send one request and return ``(status, body)`` of its answer (decompressed, at most
        ``max_body`` bytes); the connection stays open when both sides keep it alive. On any
        error the connection is closed (its state is unknown) and the error raised."""
        self.deadline = deadline
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}", "Accept-Encoding: identity"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        try:
            if self.sock is not None and self._stale():
                self.close()
            reused = self.sock is not None
            try:
                self._send(data)
                return self._answer(max_body)
            except (_NoAnswer, BrokenPipeError, ConnectionResetError):
                if not reused:
                    raise
                # the server closed the kept-alive socket before it read this request: once more
                # on a new socket (the /retrieve and /health requests are idempotent)
                self.close()
                self._send(data)
                return self._answer(max_body)
        except BaseException:
            self.close()
            raise

    def _send(self, data: bytes) -> None:
        sock = self.sock or self._connect()
        sock.settimeout(self._left())
        try:
            sock.sendall(data)
        except TimeoutError:
            raise DeadlineError("deadline reached while sending the request") from None

    def _answer(self, max_body: int) -> tuple[int, bytes]:
        for _ in range(_MAX_INFORMATIONAL):
            version, status, headers = self._head()
            if not 100 <= status < 200:
                break
        else:
            raise ValueError(f"more than {_MAX_INFORMATIONAL} informational (1xx) answers")
        conn = headers.get("connection", "").lower()
        keep = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)
        if status in (204, 304):
            raw = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            raw = self._chunked(max_body, headers)
        elif "content-length" in headers:
            length = headers["content-length"]
            if not (length.isascii() and length.isdigit() and len(length) <= 18):
                raise ValueError(f"bad Content-Length {length[:40]!r}")
            if int(length) > max_body:
                raise ValueError(f"answer of {int(length):,} bytes is over the {max_body:,}-byte cap")
            raw = self._take(int(length))
        else:  # the body runs to the end of the connection
            keep = False
            while len(self.buf) <= max_body and self._recv():
                pass
            if len(self.buf) > max_body:
                raise ValueError(f"answer is over the {max_body:,}-byte cap")
            raw = bytes(self.buf)
            self.buf.clear()
        raw = _decode(raw, headers.get("content-encoding", "identity"), max_body)
        if not keep or self.buf:  # bytes after the answer: the stream is out of step, start afresh
            self.close()
        return status, raw

    def _head(self) -> tuple[str, int, dict[str, str]]:
        while (end := self.buf.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES)) < 0:
            if len(self.buf) > MAX_HEAD_BYTES:
                raise ValueError(f"answer headers over {MAX_HEAD_BYTES:,} bytes")
            try:
                more = self._recv()
            except ConnectionResetError:
                if self.buf:
                    raise
                more = b""
            if not more:
                if self.buf:
                    raise ConnectionError("the server closed the connection inside the answer headers")
                raise _NoAnswer("the server closed the connection without an answer")
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if (
            not version.startswith("HTTP/1.")
            or not (code.isascii() and code.isdigit() and len(code) == 3)
            or rest[3:4] not in ("", " ")
        ):
            raise ValueError(f"malformed status line {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"malformed header line {line[:80]!r}")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        return version, int(code), headers

    def _chunked(self, max_body: int, headers: dict[str, str]) -> bytes:
        out = bytearray()
        while True:
            size = self._line(1024).split(b";", 1)[0].strip()
            if not size or size.strip(b"0123456789abcdefABCDEF"):  # HTTP's hex digits only: no 0x, _ or sign
                raise ValueError(f"bad chunk size {size[:40]!r}")
            n = int(size, 16)
            if len(out) + n > max_body:
                raise ValueError(f"answer is over the {max_body:,}-byte cap")
            if n == 0:
                break
            out += self._take(n)
            if self._take(2) != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
        while self._line(MAX_HEAD_BYTES):  # trailers, up to the blank line
            pass
        return bytes(out)


def _decode(raw: bytes, encoding: str, cap: int) -> bytes:
    """``raw`` decompressed per its Content-Encoding, at most ``cap`` bytes (``ValueError`` beyond)."""
    enc = encoding.strip().lower()
    if enc == "identity":
        return raw
    if enc not in ("gzip", "deflate"):
        raise ValueError(f"unsupported Content-Encoding {enc!r}")
    dec = zlib.decompressobj(16 + zlib.MAX_WBITS if enc == "gzip" else zlib.MAX_WBITS)
    try:
        out = dec.decompress(raw, cap + 1)
    except zlib.error as e:
        raise ValueError(f"answer does not decompress ({enc}): {e}") from None
    if len(out) > cap or dec.unconsumed_tail:
        raise ValueError(f"decompressed answer is over the {cap:,}-byte cap")
    return out
