"""A small HTTP server exposing any local :class:`~swirl_env.retrieval.base.Retriever` with
Search-R1's ``/retrieve`` protocol (see :mod:`swirl_env.retrieval.remote`).

Command line::

    python -m swirl_env.retrieval.server --corpus corpus.jsonl --port 8000 [--backend sparse]
        [--index-dir DIR] [--host 127.0.0.1] [--workers 2] [--max-requests N] [--idle-timeout SECONDS]

Endpoints:
    ``POST /retrieve``  ``{"queries": [...], "topk": k, "return_scores": bool}`` ->
    ``{"result": [[{"document": {"id", "contents", "title", "text"}, "score"}, ...], ...]}``
    (bare documents when ``return_scores`` is false, as in Search-R1);
    ``GET /health`` -> ``{"status": "ok", "n_docs": N, "backend": ...}``.

Design: one ``asyncio`` event loop owns every connection (HTTP/1.1 keep-alive, pipelining, no
thread per socket), each an :class:`asyncio.Protocol` (:mod:`swirl_env.retrieval.server_protocol`)
that frames requests out of a buffer, so a client that stalls half-way through a request holds a
few kilobytes, not a thread, and is dropped after ``timeout`` seconds (reading a request, or
waiting idle for the next one, or writing an answer to a client that does not read). Searches run
in a pool of ``workers`` threads (the compiled BM25 kernels release the GIL, so they use the
cores), except a one-query request that arrives while no search is running: it is answered
inline, since the two thread hand-offs would cost more than the search. Answers are encoded with
orjson and go out, headers and body, in one write with ``TCP_NODELAY``, so keep-alive requests do
not pay the Nagle / delayed-ACK stall (~40 ms per request).

Every dimension of a request is bounded: header bytes (431), body bytes (413), queries per
request, characters per query, ``topk`` and queries x ``topk`` (the size of the answer), and a
JSON body nested too deeply for the parser (400, ``{"error": "..."}``); at most ``max_connections`` open connections (503 for
more). The server uses only the standard library: fine for a local or cluster-internal retriever;
put a production proxy in front for public traffic. ``--max-requests`` and ``--idle-timeout``
make it stop by itself (tests, batch jobs). It prints ``serving N passages on
http://HOST:PORT/retrieve`` once it listens (``--port 0`` picks a free port).

Example:
    >>> from swirl_env.retrieval import Passage, SparseBM25Retriever, HTTPRetriever
    >>> with RetrievalServer(SparseBM25Retriever([Passage("1", "Paris", "capital of France")])) as srv:
    ...     HTTPRetriever(srv.url).search("paris", k=1)[0].passage.id
    '1'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from swirl_env.checks import int_at_least, seconds
from swirl_env.retrieval.base import Hit, Retriever
from swirl_env.retrieval.server_protocol import _BadRequest, _Connection, _response

logger = logging.getLogger(__name__)

__all__ = ["RetrievalServer", "main"]


def _document(hit: Hit) -> dict[str, Any]:
    p = hit.passage
    return {"id": p.id, "contents": p.contents, "title": p.title, "text": p.text}


_INLINE_BODY_BYTES = 8192  # requests this small may be answered inline (see RetrievalServer._dispatch)


class RetrievalServer:
    """Serve ``retriever`` on ``http://host:port/retrieve`` (``port=0``: a free port).

    Args:
        retriever: any local retriever.
        host, port: where to listen (default loopback only).
        max_requests: stop after this many requests (``None``: no limit).
        idle_timeout: stop after this many seconds without a request (``None``: never).
        default_k: ``topk`` when a request gives none.
        max_topk, max_queries, max_query_chars: bounds of one request's ``topk``, number of queries
            and characters per query.
        max_hits: bound of queries x ``topk`` in one request (the answer's size: a hit is ~1 KB).
        max_body_bytes, max_header_bytes: request size bounds.
        timeout: seconds a connection may take to send a whole request (or stay idle between two),
            and to take an answer; then it is closed.
        workers: threads running searches (and encoding answers).
        max_connections: open connections at once; more get 503 and are closed.

    Use :meth:`serve` (blocking, returns when stopped) or :meth:`start` (background thread) and
    :meth:`stop`; as a context manager it starts and stops.

    Example:
        >>> srv = RetrievalServer(retriever, port=0).start()  # doctest: +SKIP
        >>> srv.url  # doctest: +SKIP
        'http://127.0.0.1:40123/retrieve'
    """

    def __init__(
        self,
        retriever: Retriever,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_requests: int | None = None,
        idle_timeout: float | None = None,
        default_k: int = 3,
        max_topk: int = 1000,
        max_queries: int = 1024,
        max_query_chars: int = 4096,
        max_hits: int = 10_000,
        max_body_bytes: int = 4 << 20,
        max_header_bytes: int = 16 << 10,
        timeout: float = 30.0,
        workers: int = 2,
        max_connections: int = 1024,
    ) -> None:
        for name, v in (("max_topk", max_topk), ("max_queries", max_queries), ("max_hits", max_hits),
                        ("max_body_bytes", max_body_bytes), ("max_header_bytes", max_header_bytes),
                        ("workers", workers), ("max_connections", max_connections),
                        ("max_query_chars", max_query_chars)):  # fmt: skip
            int_at_least(name, v, 1)
        seconds("timeout", timeout)
        if idle_timeout is not None:
            seconds("idle_timeout", idle_timeout)
        if int_at_least("default_k", default_k, 0) > max_topk:
            raise ValueError(f"default_k must be at most max_topk={max_topk}, got {default_k}")
        self.retriever = retriever
        self.max_requests, self.idle_timeout = max_requests, idle_timeout
        self.default_k, self.max_topk, self.max_hits = default_k, max_topk, max_hits
        self.max_queries, self.max_query_chars = max_queries, max_query_chars
        self.max_body_bytes, self.max_header_bytes = max_body_bytes, max_header_bytes
        self.timeout = float(timeout)
        self.workers, self.max_connections = workers, max_connections
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, port), family=family, backlog=1024, reuse_port=False)
        self._sock.setblocking(False)
        self.requests = 0
        self.connections = 0
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._conns: set[_Connection] = set()
        self._inflight = 0  # requests in the worker pool

    @property
    def host(self) -> str:
        return str(self._sock.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/retrieve"

    # ------------------------------------------------------------------ request handling
    def _parse_retrieve(self, raw: bytes) -> tuple[list[str], int, bool]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _BadRequest(400, f"body is not UTF-8: {e}") from None
        try:
            req = json.loads(text)
        except RecursionError:
            raise _BadRequest(400, "JSON body nested too deeply") from None
        except ValueError as e:
            raise _BadRequest(400, f"invalid JSON body: {e}") from None
        if not isinstance(req, dict):
            raise _BadRequest(400, "body must be a JSON object")
        queries = req.get("queries")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise _BadRequest(400, "'queries' must be a list of strings")
        if len(queries) > self.max_queries:
            raise _BadRequest(400, f"at most {self.max_queries} queries per request, got {len(queries)}")
        long = max((len(q) for q in queries), default=0)
        if long > self.max_query_chars:
            raise _BadRequest(400, f"a query has {long} characters, at most {self.max_query_chars}")
        topk = req.get("topk", self.default_k)
        if topk is None:
            topk = self.default_k
        if isinstance(topk, bool) or not isinstance(topk, int) or not 0 <= topk <= self.max_topk:
            raise _BadRequest(400, f"'topk' must be an integer in [0, {self.max_topk}], got {topk!r}")
        if len(queries) * topk > self.max_hits:
            raise _BadRequest(
                400,
                f"{len(queries)} queries x topk {topk} = {len(queries) * topk} hits, at most "
                f"{self.max_hits} per request: send fewer queries per request",
            )
        scores = req.get("return_scores")
        if scores is not None and not isinstance(scores, bool):
            raise _BadRequest(400, f"'return_scores' must be true or false, got {scores!r}")
        return queries, topk, bool(scores)

    def _answer(
        self,
        method: str,
        path: str,
        body: bytes,
        keep_alive: bool,
        parsed: tuple[list[str], int, bool] | None = None,
    ) -> bytes:
        """The whole answer (status line, headers, body) as bytes; ``parsed``: the body already
        parsed by :meth:`_parse_retrieve`. Runs in a worker thread, or inline (see :meth:`_dispatch`)."""
        path = path.split("?", 1)[0].rstrip("/")
        try:
            if method == "GET" and path == "/health":
                r = self.retriever
                return _response(
                    200,
                    {"status": "ok", "n_docs": len(r), "backend": getattr(r, "backend", type(r).__name__)},
                    keep_alive,
                )
            if path == "/health" or (path == "/retrieve" and method != "POST"):
                raise _BadRequest(405, f"{method} not allowed on {path}")
            if path != "/retrieve":
                raise _BadRequest(404, f"unknown path {path!r}; use POST /retrieve or GET /health")
            queries, topk, return_scores = parsed or self._parse_retrieve(body)
            try:
                results = self.retriever.search_batch(queries, topk)
            except Exception as e:  # report, keep serving
                logger.exception("retrieval failed")
                raise _BadRequest(500, f"retrieval failed: {type(e).__name__}: {e}") from None
            if return_scores:
                out = [[{"document": _document(h), "score": h.score} for h in hits] for hits in results]
            else:
                out = [[_document(h) for h in hits] for hits in results]
            return _response(200, {"result": out}, keep_alive)
        except _BadRequest as e:
            return _response(e.status, {"error": e.message}, keep_alive)

    def _dispatch(self, conn: _Connection, method: str, path: str, body: bytes, keep_alive: bool) -> None:
        """Answer one request: inline when it is a small one-query search and no search is running
        (a thread hop costs more than such a search), else in the worker pool."""
        self._last = time.monotonic()
        if self._inflight == 0 and len(body) <= _INLINE_BODY_BYTES:
            fast = self._parse_small(method, path, body)
            if fast is not None:
                try:
                    answer = self._answer(method, path, body, keep_alive, parsed=fast)
                except Exception as e:
                    self._failed(conn, e)
                    return
                conn.send(answer, keep_alive)
                return
        self._inflight += 1
        assert self._loop is not None and self._pool is not None
        fut = self._loop.run_in_executor(self._pool, self._answer, method, path, body, keep_alive)

        def done(f: asyncio.Future[bytes]) -> None:
            self._inflight -= 1
            if f.cancelled():  # shutdown
                conn.abort()
            elif (err := f.exception()) is not None:
                self._failed(conn, err)
            else:
                conn.send(f.result(), keep_alive)

        fut.add_done_callback(done)

    @staticmethod
    def _failed(conn: _Connection, err: BaseException) -> None:
        """``_answer`` turns every request error into an answer: an exception here is a bug."""
        logger.error("retrieval request failed: %r", err)
        conn.abort()

    def _parse_small(self, method: str, path: str, body: bytes) -> tuple[list[str], int, bool] | None:
        """The parsed request when it is a valid search of exactly one query; ``None`` otherwise
        (the request then takes the normal path, which also reports its errors)."""
        if method != "POST" or path.split("?", 1)[0].rstrip("/") != "/retrieve":
            return None
        try:
            parsed = self._parse_retrieve(body)
        except _BadRequest:
            return None
        return parsed if len(parsed[0]) == 1 else None

    def _opened(self, conn: _Connection) -> bool:
        """Register a new connection; ``False`` when it is over ``max_connections``."""
        self.connections += 1
        self._conns.add(conn)
        return self.connections <= self.max_connections

    def _closed(self, conn: _Connection) -> None:
        self.connections -= 1
        self._conns.discard(conn)

    def _count(self) -> None:
        self.requests += 1
        self._last = time.monotonic()
        if self.max_requests is not None and self.requests >= self.max_requests:
            self._stop.set()
            if self._wake is not None:
                self._wake.set()

    # ------------------------------------------------------------------ lifecycle
    async def _main(self) -> None:
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(self), sock=self._sock)
        try:
            while not self._stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.2)
                if self.idle_timeout is not None and time.monotonic() - self._last > self.idle_timeout:
                    logger.info("retrieval server idle for %.1fs, stopping", self.idle_timeout)
                    break
        finally:
            server.close()
            for c in list(self._conns):  # a search still running in a worker is abandoned
                c.close()
            for _ in range(3):  # let the transports flush what is buffered and close
                await asyncio.sleep(0)

    def serve(self) -> None:
        """Handle requests until :meth:`stop`, ``max_requests`` or ``idle_timeout``."""
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="retrieval-worker")
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._sock.close()

    def start(self) -> RetrievalServer:
        """Serve in a daemon thread; returns ``self``."""
        self._thread = threading.Thread(target=self.serve, name="retrieval-server", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket."""
        self._stop.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> RetrievalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m swirl_env.retrieval.server",
        description="Serve a local BM25 retriever over HTTP with Search-R1's /retrieve protocol.",
    )
    p.add_argument("--corpus", required=True, help="corpus file (JSONL id/title/text or id/contents)")
    p.add_argument("--backend", default="sparse", choices=["sparse", "rank_bm25"])
    p.add_argument("--index-dir", default=None, help="load the sparse index from here, building it if needed")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000, help="0 picks a free port")
    p.add_argument("--k1", type=float, default=1.5)
    p.add_argument("--b", type=float, default=0.75)
    p.add_argument("--epsilon", type=float, default=0.25)
    p.add_argument("--topk", type=int, default=3, help="topk when a request gives none")
    p.add_argument("--max-topk", type=int, default=1000)
    p.add_argument("--max-queries", type=int, default=1024, help="queries per request")
    p.add_argument("--max-hits", type=int, default=10_000, help="queries x topk per request")
    p.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to receive a request / send an answer"
    )
    p.add_argument("--workers", type=int, default=2, help="search threads")
    p.add_argument("--max-requests", type=int, default=None, help="stop after N requests")
    p.add_argument("--idle-timeout", type=float, default=None, help="stop after S seconds without a request")
    p.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    )
    return p


def _port(text: str) -> int:
    """An argparse type: a TCP port number, 0 to 65535."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.topk <= args.max_topk:  # before the index is built, not after
        parser.error(f"--topk must be in [0, --max-topk={args.max_topk}], got {args.topk}")
    if args.index_dir is not None and os.path.exists(args.index_dir) and not os.path.isdir(args.index_dir):
        parser.error(f"--index-dir {args.index_dir} is a file, not a directory")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from swirl_env.retrieval.factory import get_retriever

    try:
        retriever = get_retriever(
            args.corpus,
            backend=args.backend,
            index_dir=args.index_dir,
            k1=args.k1,
            b=args.b,
            epsilon=args.epsilon,
        )
        server = RetrievalServer(
            retriever, args.host, args.port, max_requests=args.max_requests, idle_timeout=args.idle_timeout,
            default_k=args.topk, max_topk=args.max_topk, max_queries=args.max_queries, max_hits=args.max_hits,
            timeout=args.timeout, workers=args.workers,
        )  # fmt: skip
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"serving {len(retriever)} passages on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
