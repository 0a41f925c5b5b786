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

import logging
import math
import os
import random
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from swirl_env.retrieval.base import Hit, Retriever
from swirl_env.retrieval.bm25 import _check_k
from swirl_env.retrieval.corpus import passage_from_record

logger = logging.getLogger(__name__)

__all__ = ["HTTPRetriever", "RetrievalHTTPError"]


class RetrievalHTTPError(RuntimeError):
    """The retrieval server could not be reached or gave an unusable answer (after retries)."""


def _retrieve_url(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"retriever url must start with http:// or https://, got {url!r}")
    parts = urlsplit(url)
    if not parts.netloc:
        raise ValueError(f"retriever url has no host: {url!r}")
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="/retrieve"))
    return url


class HTTPRetriever(Retriever):
    """Client of a remote ``/retrieve`` server.

    Args:
        url: the endpoint (``http://host:port/retrieve``); a bare ``http://host:port`` gets
            ``/retrieve`` appended.
        k: default number of hits when :meth:`search` gets no ``k``.
        timeout: seconds per request (connect, read, write).
        retries: extra attempts after a connection error, a timeout, or a 429/5xx answer, waiting
            ``backoff * 2**attempt`` seconds (plus up to 10% jitter, at most 30 s) in between.
            Other 4xx answers and malformed responses fail at once.
        backoff: base wait in seconds.
        batch_size: queries per request in :meth:`search_batch`.
        headers: extra HTTP headers (e.g. an ``Authorization``).

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
    ) -> None:
        self.url = _retrieve_url(url)
        self.k = _check_k(k)
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if retries < 0 or backoff < 0 or batch_size < 1:
            raise ValueError("retries and backoff must be >= 0 and batch_size >= 1")
        self.timeout, self.retries, self.backoff, self.batch_size = (
            float(timeout),
            int(retries),
            backoff,
            batch_size,
        )
        self.headers = dict(headers or {})
        self._client: httpx.Client | None = None
        self._client_pid: int | None = None
        self._lock = threading.Lock()
        self._n_docs: int | None = None

    # --------------------------------------------------------------- connection
    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():  # new client after fork
                self._client = httpx.Client(timeout=self.timeout, headers=self.headers)
                self._client_pid = os.getpid()
            return self._client

    def close(self) -> None:
        """Close the connection pool (a later search opens a new one)."""
        with self._lock:
            if self._client is not None and self._client_pid == os.getpid():
                self._client.close()
            self._client = None

    def __enter__(self) -> HTTPRetriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_client=None, _client_pid=None, _lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HTTPRetriever({self.url!r}, k={self.k})"

    def __len__(self) -> int:
        """Passages on the server, from its ``GET /health`` (``n_docs``); 0 when it does not say."""
        if self._n_docs is None:
            base = self.url.rsplit("/", 1)[0]
            try:
                r = self._http().get(f"{base}/health")
                self._n_docs = int(r.json().get("n_docs", 0)) if r.status_code == 200 else 0
            except (httpx.HTTPError, ValueError, AttributeError, TypeError):
                self._n_docs = 0
        return self._n_docs

    # --------------------------------------------------------------- requests
    def _post(self, payload: dict[str, Any]) -> Any:
        attempts = self.retries + 1
        last = ""
        for attempt in range(attempts):
            if attempt:
                wait = min(30.0, self.backoff * 2 ** (attempt - 1)) * (1 + 0.1 * random.random())
                logger.warning("retrieval request to %s failed (%s); retry %d/%d in %.2fs",
                               self.url, last, attempt, self.retries, wait)  # fmt: skip
                time.sleep(wait)
            try:
                resp = self._http().post(self.url, json=payload)
            except httpx.TimeoutException as e:
                last = f"timeout after {self.timeout}s ({type(e).__name__})"
                continue
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            if resp.status_code != 200:
                raise RetrievalHTTPError(
                    f"retrieval server {self.url} rejected the request: HTTP {resp.status_code}: {resp.text[:500]}"
                )
            try:
                return resp.json()
            except ValueError:
                raise RetrievalHTTPError(
                    f"retrieval server {self.url} answered non-JSON: {resp.text[:200]!r}"
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
