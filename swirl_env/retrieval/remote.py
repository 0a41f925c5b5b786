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

import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from swirl_env.checks import int_at_least, seconds
from swirl_env.retrieval.base import Hit, PerThreadState, Retriever
from swirl_env.retrieval.bm25 import _check_k
from swirl_env.retrieval.corpus import passage_from_record
from swirl_env.retrieval.http_client import Connection, DeadlineError, check_header

logger = logging.getLogger(__name__)

__all__ = ["HTTPRetriever", "RetrievalHTTPError"]


class RetrievalHTTPError(RuntimeError):
    """The retrieval server could not be reached or gave an unusable answer (after retries)."""


def _loads(raw: bytes) -> Any:
    """JSON from bytes: orjson (about 2x faster than json), or json for what orjson refuses
    (escaped lone surrogates, nesting over its limit; json then raises for what is really bad)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def _retrieve_url(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"retriever url must start with http:// or https://, got {url!r}")
    if not url.isascii() or any(c.isspace() for c in url):
        raise ValueError(f"retriever url must be ASCII without spaces (percent-encode the rest), got {url!r}")
    parts = urlsplit(url)
    if not parts.netloc:
        raise ValueError(f"retriever url has no host: {url!r}")
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="/retrieve"))
    return url


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
        seconds("timeout", timeout)
        for name, value, low in (("retries", retries, 0), ("batch_size", batch_size, 1),
                                 ("max_reply_bytes", max_reply_bytes, 1)):  # fmt: skip
            int_at_least(name, value, low)
        seconds("backoff", backoff, zero=True)
        self.timeout, self.retries, self.backoff, self.batch_size = (
            float(timeout),
            int(retries),
            backoff,
            batch_size,
        )
        self.max_reply_bytes = int(max_reply_bytes)
        self.headers = dict(headers or {})
        for name, value in self.headers.items():
            check_header(name, value)
        self._get_headers = {"Accept": "application/json", **self.headers}
        self._send_headers = {**self._get_headers, "Content-Type": "application/json"}
        parts = urlsplit(self.url)
        self._tls = parts.scheme == "https"
        self._host, self._port = parts.hostname or "", parts.port
        self._path = urlunsplit(("", "", parts.path, parts.query, ""))
        self._local = threading.local()
        self._n_docs: int | None = None

    # --------------------------------------------------------------- connection
    def _conn(self) -> Connection:
        """This thread's keep-alive connection (a new one after a fork)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = self._local.conn = Connection(self._host, self._port, self._tls)
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
            except (OSError, ValueError, RecursionError):
                self._n_docs = 0
        return self._n_docs

    # --------------------------------------------------------------- requests
    def _request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        """One attempt, bounded as a whole by ``timeout``; raises OSError or ValueError."""
        headers = self._send_headers if body is not None else self._get_headers
        return self._conn().request(
            method,
            path,
            headers,
            body,
            deadline=time.monotonic() + self.timeout,
            max_body=self.max_reply_bytes,
        )

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
            except DeadlineError as e:
                last = f"timeout after {self.timeout}s ({e})"
                continue
            except ValueError as e:  # oversized or undecodable answer: not worth a retry
                raise RetrievalHTTPError(f"retrieval server {self.url}: unusable answer: {e}") from None
            except OSError as e:
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
                return _loads(raw)
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
                try:  # its errors name ``where``
                    passage = passage_from_record(doc, default_id=f"{qi}-{rank}", where=where)
                except (ValueError, TypeError) as e:
                    raise RetrievalHTTPError(str(e)) from None
                except OverflowError as e:
                    raise RetrievalHTTPError(f"{where}: {e}") from None
                try:
                    score = float(score) if score is not None else math.nan
                except (ValueError, TypeError, OverflowError) as e:
                    raise RetrievalHTTPError(f"{where}: bad score {score!r}: {e}") from None
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
