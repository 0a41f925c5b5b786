"""Where a keep-alive HTTP search spends its time: the served index against the same index in process.

Builds a synthetic corpus, serves it with ``RetrievalServer`` in a forked process on 127.0.0.1, and
prints, in one run:

* ``paired``: in-process ``search`` and ``HTTPRetriever.search`` of the same query, alternated
  query by query over ``--passes`` passes (so both share the machine's load of the moment): their
  p50 and the ratio;
* ``fixed cost``: a request with ``topk`` 0 (no hits to search for or encode) from a raw socket
  client (the server's own cost) and from ``HTTPRetriever`` (server plus client);
* ``ping-pong``: a bare TCP round trip of one byte to a forked echo process, idle and with the
  echo spinning ``--spin-ms`` before answering: the floor that two processes on this machine pay.

Run:
    python -m benchmarks.probe_http --passages 100000 --queries 300

Example:
    >>> _p50([0.001, 0.002, 0.003])
    2.0
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import Callable

import numpy as np

from benchmarks.bench_retrieval import _ServerProcess
from swirl_env.retrieval import HTTPRetriever, SparseBM25Retriever
from swirl_env.retrieval.synthetic import synthetic_corpus, synthetic_queries


def _p50(seconds: list[float]) -> float:
    """Median in milliseconds."""
    return float(np.median(seconds) * 1e3)


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _raw_post(sock: socket.socket, request: bytes) -> None:
    """Send one request and read its whole answer (Content-Length framing)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1]
    )
    while len(body) < length:
        body += sock.recv(65536)


def ping_pong(n: int, spin_s: float) -> float:
    """p50 (ms) of a one-byte TCP round trip to a forked echo that spins ``spin_s`` first."""
    srv = socket.create_server(("127.0.0.1", 0))
    pid = os.fork()
    if pid == 0:  # the echo
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := conn.recv(16):
            end = time.perf_counter() + spin_s
            while time.perf_counter() < end:
                pass
            conn.sendall(data)
        os._exit(0)
    c = socket.create_connection(srv.getsockname())
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = [_timed(lambda: (c.sendall(b"x"), c.recv(16))) for _ in range(n)]
    c.close()
    os.waitpid(pid, 0)
    srv.close()
    return _p50(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--passages", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--passes", type=int, default=3, help="passes over the queries (paired rows)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--fixed-requests", type=int, default=3000, help="requests per fixed-cost row")
    p.add_argument("--spin-ms", type=float, default=0.3, help="the echo's work per round trip")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args(argv)

    passages = synthetic_corpus(args.passages, seed=0)
    queries = synthetic_queries(passages, args.queries, seed=1)
    local = SparseBM25Retriever(passages, progress=False)
    out: dict[str, float] = {}
    with _ServerProcess(local) as srv:
        client = HTTPRetriever(srv.url, k=args.k, retries=0, timeout=30)
        client.search(queries[0], args.k)
        local.search(queries[0], args.k)
        for i in range(args.passes):
            inproc, http = [], []
            for q in queries:
                inproc.append(_timed(lambda q=q: local.search(q, args.k)))
                http.append(_timed(lambda q=q: client.search(q, args.k)))
            out[f"pass{i}_inprocess_p50_ms"], out[f"pass{i}_http_p50_ms"] = _p50(inproc), _p50(http)
            print(f"paired pass {i}: in-process p50 {_p50(inproc):.3f} ms, HTTP p50 {_p50(http):.3f} ms, "
                  f"ratio {_p50(http) / _p50(inproc):.2f}x", flush=True)  # fmt: skip
        host, port = srv.url.split("//")[1].split("/")[0].rsplit(":", 1)
        body = json.dumps({"queries": [queries[0]], "topk": 0}).encode()
        request = b"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        with socket.create_connection((host, int(port))) as raw:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            out["fixed_raw_client_p50_ms"] = _p50(
                [_timed(lambda: _raw_post(raw, request)) for _ in range(args.fixed_requests)]
            )
        payload = {"queries": [queries[0]], "topk": 0}
        out["fixed_our_client_p50_ms"] = _p50(
            [_timed(lambda: client._post(payload)) for _ in range(args.fixed_requests)]
        )
        print(f"fixed cost (topk 0): raw-socket client {out['fixed_raw_client_p50_ms']:.3f} ms, "
              f"HTTPRetriever {out['fixed_our_client_p50_ms']:.3f} ms", flush=True)  # fmt: skip
        client.close()
    out["pingpong_idle_p50_ms"] = ping_pong(args.fixed_requests, 0.0)
    out["pingpong_spin_p50_ms"] = ping_pong(max(1, args.fixed_requests // 3), args.spin_ms / 1e3)
    print(f"ping-pong: idle {out['pingpong_idle_p50_ms']:.3f} ms, echo spinning {args.spin_ms} ms "
          f"{out['pingpong_spin_p50_ms']:.3f} ms", flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"figures": out, "args": vars(args)}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
