"""A retriever behind HTTP, speaking Search-R1's ``/retrieve`` protocol.

Request (``POST <url>``, JSON)::

    {"queries": ["query 1", "query 2"], "topk": 3, "return_scores": true}

Response::

    {"result": [[{"document": {"id": "12", "contents": "\\"Title\\"\\ntext"}, "score": 17.2}, ...],  # query 1
                [...]]}                                                                           # query 2

A document may carry ``title``/``text`` instead of (or besides) ``contents``; a server answering
``return_scores: false`` style (bare documents, no ``score``) is accepted and the scores are NaN.
Hits keep the server's order. Any Search-R1 / FlashRAG retrieval server works, and so does
``python -m swirl_env.retrieval.server`` (see :mod:`swirl_env.retrieval.server`).

Example:
    >>> r = HTTPRetriever("http://127.0.0.1:8000/retrieve", k=3)  # doctest: +SKIP
    >>> r.search("Scorch Trials publisher")[0].passage.title  # doctest: +SKIP
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import math
import os
import random
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from swirl_env.retrieval.base import Hit, PerThreadState, Retriever
from swirl_env.retrieval.bm25 import _check_k
from swirl_env.retrieval.corpus import passage_from_record

logger = logging.getLogger(__name__)

__all__ = ["HTTPRetriever", "RetrievalHTTPError"]


class RetrievalHTTPError(RuntimeError):
    """The retrieval server could not be reached or gave an unusable answer (after retries)."""


class _Timeout(OSError):
    """The whole request (connect, send, receive) ran past its deadline."""


def _retrieve_url(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"retriever url must start with http:// or https://, got {url!r}")
    parts = urlsplit(url)
    if not parts.netloc:
        raise ValueError(f"retriever url has no host: {url!r}")
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="/retrieve"))
    return url


# ---------------------------------------------------------------------------- deadline-bounded HTTP
class _DeadlineReader(io.RawIOBase):
    """Raw reader of a socket where every ``recv`` waits at most until the owner's deadline, so a
    server dripping one byte at a time cannot stretch a request past it."""

    def __init__(self, owner: _DeadlineSocket) -> None:
        super().__init__()
        self.owner = owner
        owner.readers += 1

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            super().close()
            self.owner.readers -= 1
            if self.owner.closing and self.owner.readers == 0:
                self.owner.sock.close()

    def readinto(self, b: Any) -> int:
        sock = self.owner.sock
        sock.settimeout(self.owner.remaining())
        try:
            return sock.recv_into(b)
        except TimeoutError:
            raise _Timeout("deadline reached while reading the answer") from None


class _DeadlineSocket:
    """The socket given to :mod:`http.client`: sends and reads bounded by one deadline per request."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = math.inf
        self.readers = 0  # open answer readers: like socket.makefile, close waits for them
        self.closing = False

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Timeout("deadline reached")
        return left

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(self.remaining())
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise _Timeout("deadline reached while sending the request") from None

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self), 1 << 16)

    def close(self) -> None:
        self.closing = True
        if self.readers == 0:
            self.sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class _Connection(http.client.HTTPConnection):
    """A keep-alive connection whose every request is bounded by one overall deadline."""

    def __init__(self, host: str, port: int | None, tls: bool) -> None:
        if port is None:
            port = http.client.HTTPS_PORT if tls else http.client.HTTP_PORT
        super().__init__(host, port)
        self.tls = tls
        self.deadline = math.inf

    def connect(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Timeout("deadline reached before connecting")
        try:
            sock = socket.create_connection((self.host, self.port), timeout=left)
        except TimeoutError:
            raise _Timeout("deadline reached while connecting") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            sock.settimeout(max(1e-3, self.deadline - time.monotonic()))
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = _DeadlineSocket(sock)
        self.sock.deadline = self.deadline

    def set_deadline(self, deadline: float) -> None:
        self.deadline = deadline
        if isinstance(self.sock, _DeadlineSocket):
            self.sock.deadline = deadline


def _read_capped(resp: http.client.HTTPResponse, cap: int) -> bytes:
    """The answer's body, at most ``cap`` bytes after decompression (``ValueError`` beyond)."""
    length = resp.getheader("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > cap:
        raise ValueError(f"answer of {int(length):,} bytes is over the {cap:,}-byte cap")
    enc = (resp.getheader("Content-Encoding") or "identity").strip().lower()
    if enc not in ("identity", "gzip", "deflate"):
        raise ValueError(f"unsupported Content-Encoding {enc!r}")
    dec = None
    if enc != "identity":
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS if enc == "gzip" else zlib.MAX_WBITS)
    out = bytearray()
    while True:
        block = resp.read(1 << 16)
        if not block:
            break
        if dec is not None:
            block = dec.decompress(block, cap + 1 - len(out))
            if dec.unconsumed_tail:
                raise ValueError(f"decompressed answer is over the {cap:,}-byte cap")
        out += block
        if len(out) > cap:
            raise ValueError(f"answer is over the {cap:,}-byte cap")
    return bytes(out)


class HTTPRetriever(PerThreadState, Retriever):
    """Client of a remote ``/retrieve`` server.

    Args:
        url: the endpoint (``http://host:port/retrieve``); a bare ``http://host:port`` gets
            ``/retrieve`` appended.
        k: default number of hits when :meth:`search` gets no ``k``.
        timeout: overall deadline of one attempt in seconds: connecting, sending the request and
            receiving the whole answer together (a server that drips its answer is cut off).
        retries: extra attempts after a connection error, a timeout, or a 429/5xx answer, waiting
            ``backoff * 2**attempt`` seconds (plus up to 10% jitter, at most 30 s) in between. Other
            4xx answers and malformed or oversized answers fail at once. A search therefore takes at
            most ``(retries + 1) * timeout`` plus the waits.
        backoff: base wait in seconds.
        batch_size: queries per request in :meth:`search_batch`.
        headers: extra HTTP headers (e.g. an ``Authorization``).
        max_reply_bytes: largest answer accepted (after decompression); a bigger one fails.

    Raises (from searches):
        RetrievalHTTPError: with the URL, the status or network error, and the attempts made.

    Example:
        >>> r = HTTPRetriever("http://127.0.0.1:8000", k=3, timeout=10, retries=2)  # doctest: +SKIP
        >>> [h.passage.id for h in r.search("Ed Wood nationality")]  # doctest: +SKIP
    """

    backend = "http"

    def __init__(
        self,
        url: str,
        k: int = 3,
        timeout: float = 30.0,
        retries: int = 3,
        *,
        backoff: float = 0.5,
        batch_size: int = 64,
        headers: dict[str, str] | None = None,
        max_reply_bytes: int = 64 << 20,
    ) -> None:
        self.url = _retrieve_url(url)
        self.k = _check_k(k)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if not math.isfinite(timeout):
            raise ValueError(f"timeout must be finite, got {timeout}")
        if retries < 0 or backoff < 0 or batch_size < 1 or max_reply_bytes < 1:
            raise ValueError("retries and backoff must be >= 0, batch_size and max_reply_bytes >= 1")
        self.timeout, self.retries, self.backoff, self.batch_size = (
            float(timeout),
            int(retries),
            backoff,
            batch_size,
        )
        self.max_reply_bytes = int(max_reply_bytes)
        self.headers = dict(headers or {})
        parts = urlsplit(self.url)
        self._tls = parts.scheme == "https"
        self._host, self._port = parts.hostname or "", parts.port
        self._path = urlunsplit(("", "", parts.path, parts.query, ""))
        self._local = threading.local()
        self._n_docs: int | None = None

    # --------------------------------------------------------------- connection
    def _conn(self) -> _Connection:
        """This thread's keep-alive connection (a new one after a fork)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = self._local.conn = _Connection(self._host, self._port, self._tls)
            self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection (a later search opens a new one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    def __enter__(self) -> HTTPRetriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HTTPRetriever({self.url!r}, k={self.k})"

    def __len__(self) -> int:
        """Passages on the server, from its ``GET /health`` (``n_docs``); 0 when it does not say."""
        if self._n_docs is None:
            base = self._path.rsplit("/", 1)[0]
            try:
                status, raw = self._request("GET", f"{base}/health", None)
                body = json.loads(raw) if status == 200 else {}
                n = body.get("n_docs", 0) if isinstance(body, dict) else 0
                self._n_docs = n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else 0
            except (OSError, http.client.HTTPException, ValueError, RecursionError):
                self._n_docs = 0
        return self._n_docs

    # --------------------------------------------------------------- requests
    def _request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        """One attempt, bounded as a whole by ``timeout``; raises OSError/HTTPException/ValueError."""
        conn = self._conn()
        conn.set_deadline(time.monotonic() + self.timeout)
        headers = {"Accept": "application/json", **self.headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            raw = _read_capped(resp, self.max_reply_bytes)
            if resp.will_close:
                conn.close()
            return resp.status, raw
        except BaseException:
            conn.close()  # the connection is in an unknown state: never reuse it
            raise

    def _post(self, payload: dict[str, Any]) -> Any:
        # ASCII JSON: text that UTF-8 cannot encode (a lone surrogate in a model-written query) is
        # sent escaped instead of raising here
        data = json.dumps(payload, ensure_ascii=True).encode("ascii")
        attempts = self.retries + 1
        last = ""
        for attempt in range(attempts):
            if attempt:
                wait = min(30.0, self.backoff * 2 ** (attempt - 1)) * (1 + 0.1 * random.random())
                logger.warning("retrieval request to %s failed (%s); retry %d/%d in %.2fs",
                               self.url, last, attempt, self.retries, wait)  # fmt: skip
                time.sleep(wait)
            try:
                status, raw = self._request("POST", self._path, data)
            except _Timeout as e:
                last = f"timeout after {self.timeout}s ({e})"
                continue
            except ValueError as e:  # oversized or undecodable answer: not worth a retry
                raise RetrievalHTTPError(f"retrieval server {self.url}: unusable answer: {e}") from None
            except (OSError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}"
                continue
            text = raw[:500].decode("utf-8", "replace")
            if status == 429 or status >= 500:
                last = f"HTTP {status}: {text[:200]}"
                continue
            if status != 200:
                raise RetrievalHTTPError(
                    f"retrieval server {self.url} rejected the request: HTTP {status}: {text}"
                )
            try:
                return json.loads(raw)
            except RecursionError:
                raise RetrievalHTTPError(
                    f"retrieval server {self.url} answered JSON nested too deeply ({len(raw)} bytes)"
                ) from None
            except ValueError:
                raise RetrievalHTTPError(
                    f"retrieval server {self.url} answered non-JSON: {text[:200]!r}"
                ) from None
        raise RetrievalHTTPError(f"retrieval server {self.url} failed after {attempts} attempt(s): {last}")

    def _parse(self, body: Any, n_queries: int, k: int) -> list[list[Hit]]:
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, list) or len(result) != n_queries:
            got = f"{len(result)} result lists" if isinstance(result, list) else repr(body)[:200]
            raise RetrievalHTTPError(
                f"retrieval server {self.url}: expected {{'result': [...]}} with {n_queries} lists, got {got}"
            )
        out: list[list[Hit]] = []
        for qi, items in enumerate(result):
            if not isinstance(items, list):
                raise RetrievalHTTPError(f"retrieval server {self.url}: result {qi} is not a list")
            hits = []
            for rank, item in enumerate(items[:k]):
                where = f"retrieval server {self.url}: result {qi} item {rank}"
                if isinstance(item, dict) and isinstance(item.get("document"), dict):
                    doc, score = item["document"], item.get("score", math.nan)
                else:
                    doc, score = item, math.nan
                try:
                    passage = passage_from_record(doc, default_id=f"{qi}-{rank}", where=where)
                    score = float(score) if score is not None else math.nan
                except (ValueError, TypeError) as e:
                    raise RetrievalHTTPError(str(e)) from None
                hits.append(Hit(passage, score, rank))
            out.append(hits)
        return out

    def search(self, query: str, k: int | None = None) -> list[Hit]:  # type: ignore[override]
        """Top-``k`` (default: the constructor's ``k``) passages from the server."""
        return self.search_batch([self._check_query(query)], k)[0]

    def search_batch(self, queries: Sequence[str], k: int | None = None) -> list[list[Hit]]:  # type: ignore[override]
        """All queries, ``batch_size`` per request, results in query order."""
        if isinstance(queries, str):
            raise TypeError("search_batch expects a sequence of queries, not a single string")
        k = self.k if k is None else _check_k(k)
        queries = [self._check_query(q) for q in queries]
        if k == 0:
            return [[] for _ in queries]
        out: list[list[Hit]] = []
        for i in range(0, len(queries), self.batch_size):
            chunk = queries[i : i + self.batch_size]
            body = self._post({"queries": chunk, "topk": k, "return_scores": True})
            out.extend(self._parse(body, len(chunk), k))
        return out
