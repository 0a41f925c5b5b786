"""A small HTTP server exposing any local :class:`~swirl_env.retrieval.base.Retriever` with
Search-R1's ``/retrieve`` protocol (see :mod:`swirl_env.retrieval.remote`).

Command line::

    python -m swirl_env.retrieval.server --corpus corpus.jsonl --port 8000 [--backend sparse]
        [--index-dir DIR] [--host 127.0.0.1] [--max-requests N] [--idle-timeout SECONDS]

Endpoints:
    ``POST /retrieve``  ``{"queries": [...], "topk": k, "return_scores": bool}`` ->
    ``{"result": [[{"document": {"id", "contents", "title", "text"}, "score"}, ...], ...]}``
    (bare documents when ``return_scores`` is false, as in Search-R1);
    ``GET /health`` -> ``{"status": "ok", "n_docs": N, "backend": ...}``.

Requests are bounded (body size, queries per request, ``topk``); a bad request gets HTTP 400/404/
411/413 with ``{"error": "..."}``. The server is built on the standard library
(``http.server.ThreadingHTTPServer``): no extra dependency, fine for a local or cluster-internal
retriever; put a production server (e.g. FastAPI behind uvicorn) in front for public traffic.
``--max-requests`` and ``--idle-timeout`` make it stop by itself (tests, batch jobs). It prints
``serving N passages on http://HOST:PORT/retrieve`` once it listens (``--port 0`` picks a free port).

Example:
    >>> from swirl_env.retrieval import Passage, SparseBM25Retriever, HTTPRetriever
    >>> with RetrievalServer(SparseBM25Retriever([Passage("1", "Paris", "capital of France")])) as srv:
    ...     HTTPRetriever(srv.url).search("paris", k=1)[0].passage.id
    '1'
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from swirl_env.retrieval.base import Hit, Retriever

logger = logging.getLogger(__name__)

__all__ = ["RetrievalServer", "main"]


def _document(hit: Hit) -> dict[str, Any]:
    p = hit.passage
    return {"id": p.id, "contents": p.contents, "title": p.title, "text": p.text}


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # route to logging, not stderr
        logger.debug("%s - %s", self.address_string(), format % args)

    def _send(self, status: int, body: Any) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": message})

    def do_GET(self) -> None:
        self.server.owner._touch()
        if self.path.rstrip("/") == "/health":
            r = self.server.owner.retriever
            self._send(
                200, {"status": "ok", "n_docs": len(r), "backend": getattr(r, "backend", type(r).__name__)}
            )
        else:
            self._error(404, f"unknown path {self.path!r}; use POST /retrieve or GET /health")
        self.server.owner._done()

    def do_POST(self) -> None:
        owner = self.server.owner
        owner._touch()
        try:
            self._retrieve(owner)
        finally:
            owner._done()

    def _retrieve(self, owner: RetrievalServer) -> None:
        if self.path.rstrip("/") != "/retrieve":
            self._error(404, f"unknown path {self.path!r}; use POST /retrieve")
            return
        length = self.headers.get("Content-Length")
        if length is None:
            self._error(411, "Content-Length required")
            return
        try:
            n = int(length)
        except ValueError:
            self._error(400, "bad Content-Length")
            return
        if n < 0 or n > owner.max_body_bytes:
            self.close_connection = True
            self._error(413, f"request body over {owner.max_body_bytes} bytes")
            return
        try:
            req = json.loads(self.rfile.read(n).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            self._error(400, f"invalid JSON body: {e}")
            return
        if not isinstance(req, dict):
            self._error(400, "body must be a JSON object")
            return
        queries = req.get("queries")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            self._error(400, "'queries' must be a list of strings")
            return
        if len(queries) > owner.max_queries:
            self._error(413, f"at most {owner.max_queries} queries per request, got {len(queries)}")
            return
        topk = req.get("topk", owner.default_k)
        if topk is None:
            topk = owner.default_k
        if isinstance(topk, bool) or not isinstance(topk, int) or not 0 <= topk <= owner.max_topk:
            self._error(400, f"'topk' must be an integer in [0, {owner.max_topk}], got {topk!r}")
            return
        return_scores = bool(req.get("return_scores", False))
        try:
            results = owner.retriever.search_batch(queries, topk)
        except Exception as e:  # report, keep serving
            logger.exception("retrieval failed")
            self._error(500, f"retrieval failed: {type(e).__name__}: {e}")
            return
        if return_scores:
            body = [[{"document": _document(h), "score": h.score} for h in hits] for hits in results]
        else:
            body = [[_document(h) for h in hits] for hits in results]
        self._send(200, {"result": body})


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: RetrievalServer


class RetrievalServer:
    """Serve ``retriever`` on ``http://host:port/retrieve`` (``port=0``: a free port).

    Args:
        retriever: any local retriever.
        host, port: where to listen (default loopback only).
        max_requests: stop after this many requests (``None``: no limit).
        idle_timeout: stop after this many seconds without a request (``None``: never).
        default_k: ``topk`` when a request gives none.
        max_topk, max_queries, max_body_bytes: request bounds.

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
        max_body_bytes: int = 8 << 20,
    ) -> None:
        self.retriever = retriever
        self.max_requests, self.idle_timeout = max_requests, idle_timeout
        self.default_k, self.max_topk = default_k, max_topk
        self.max_queries, self.max_body_bytes = max_queries, max_body_bytes
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.owner = self
        self._count_lock = threading.Lock()
        self.requests = 0
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/retrieve"

    def _touch(self) -> None:
        self._last = time.monotonic()

    def _done(self) -> None:
        with self._count_lock:
            self.requests += 1
            if self.max_requests is not None and self.requests >= self.max_requests:
                self._stop.set()
        self._last = time.monotonic()

    def serve(self) -> None:
        """Handle requests until :meth:`stop`, ``max_requests`` or ``idle_timeout``."""
        try:
            while not self._stop.is_set():
                self._httpd.timeout = 0.2
                self._httpd.handle_request()
                if self.idle_timeout is not None and time.monotonic() - self._last > self.idle_timeout:
                    logger.info("retrieval server idle for %.1fs, stopping", self.idle_timeout)
                    break
        finally:
            self._httpd.server_close()

    def start(self) -> RetrievalServer:
        """Serve in a daemon thread; returns ``self``."""
        self._thread = threading.Thread(target=self.serve, name="retrieval-server", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket."""
        self._stop.set()
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
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--k1", type=float, default=1.5)
    p.add_argument("--b", type=float, default=0.75)
    p.add_argument("--epsilon", type=float, default=0.25)
    p.add_argument("--topk", type=int, default=3, help="topk when a request gives none")
    p.add_argument("--max-topk", type=int, default=1000)
    p.add_argument("--max-queries", type=int, default=1024, help="queries per request")
    p.add_argument("--max-requests", type=int, default=None, help="stop after N requests")
    p.add_argument("--idle-timeout", type=float, default=None, help="stop after S seconds without a request")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    args = build_parser().parse_args(argv)
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
            default_k=args.topk, max_topk=args.max_topk, max_queries=args.max_queries,
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
