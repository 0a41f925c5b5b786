"""HTTP retrieval: the /retrieve server (in process and as ``python -m``), the client, errors, retries."""

from __future__ import annotations

import contextlib
import json
import math
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from swirl_env.retrieval import HTTPRetriever, Passage, RetrievalHTTPError, SparseBM25Retriever, save_corpus
from swirl_env.retrieval.server import RetrievalServer
from swirl_env.retrieval.synthetic import synthetic_corpus, synthetic_queries

PASSAGES = synthetic_corpus(500, seed=31)
QUERIES = synthetic_queries(PASSAGES, 10, seed=32)


def ranking(hits):
    return [(h.passage, h.score, h.rank) for h in hits]


@pytest.fixture(scope="module")
def local():
    return SparseBM25Retriever(PASSAGES)


@pytest.fixture()
def server(local):
    with RetrievalServer(local, idle_timeout=60) as srv:
        yield srv


def test_client_matches_local_retriever(server, local):
    client = HTTPRetriever(server.url, k=4, timeout=10, retries=0)
    for q in QUERIES[:5]:
        assert ranking(client.search(q)) == ranking(local.search(q, 4))  # scores survive JSON exactly
    client3 = HTTPRetriever(f"http://{server.host}:{server.port}", batch_size=3)  # /retrieve appended
    assert client3.url == server.url
    assert [ranking(h) for h in client3.search_batch(QUERIES, 2)] == [
        ranking(local.search(q, 2)) for q in QUERIES
    ]
    assert client.search("", 3) == [] and client.search(QUERIES[0], 0) == []
    assert len(client) == 500 and bool(client)
    client.close()


def test_server_protocol_and_bounds(server):
    url = server.url
    r = httpx.post(url, json={"queries": [QUERIES[0], QUERIES[1]], "topk": 2, "return_scores": True})
    body = r.json()
    assert r.status_code == 200 and len(body["result"]) == 2 and len(body["result"][0]) == 2
    item = body["result"][0][0]
    assert set(item) == {"document", "score"} and isinstance(item["score"], float)
    assert set(item["document"]) >= {"id", "contents"}
    assert item["document"]["contents"].startswith(f'"{item["document"]["title"]}"\n')
    bare = httpx.post(url, json={"queries": [QUERIES[0]]}).json()["result"][0]  # Search-R1 defaults
    assert len(bare) == 3 and "contents" in bare[0] and "score" not in bare[0]
    assert httpx.get(url.replace("/retrieve", "/health")).json() == {
        "status": "ok",
        "n_docs": 500,
        "backend": "sparse",
    }

    def status(**kw):
        return httpx.post(url, **kw)

    assert status(json={"queries": "not a list"}).status_code == 400
    assert status(json={"queries": [1, 2]}).status_code == 400
    assert status(json={"queries": ["a"], "topk": -1}).status_code == 400
    assert status(json={"queries": ["a"], "topk": 10**6}).status_code == 400
    assert status(json=["a"]).status_code == 400
    assert status(content=b"{oops", headers={"Content-Type": "application/json"}).status_code == 400
    assert status(json={"queries": ["a"] * 2000}).status_code == 400
    assert "error" in status(json={"queries": "x"}).json()
    for flag in ("false", "no", 1, 0, [], {}):  # a truthy string would turn the scores on
        bad = status(json={"queries": ["a"], "return_scores": flag})
        assert bad.status_code == 400 and "return_scores" in bad.json()["error"]
    assert "score" not in status(json={"queries": [QUERIES[0]], "return_scores": None}).json()["result"][0][0]
    assert httpx.post(url.replace("/retrieve", "/nope"), json={}).status_code == 404


def test_client_bad_request_fails_without_retry(server):
    before = server.requests
    client = HTTPRetriever(server.url, retries=3, backoff=0.01)
    with pytest.raises(RetrievalHTTPError, match="HTTP 400"):
        client.search("x", k=5000)
    deadline = time.monotonic() + 5  # the server counts a request once its answer is sent
    while server.requests < before + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert server.requests == before + 1


class _Scripted(BaseHTTPRequestHandler):
    """Answers from a script: a list of (status, body or None for a valid Search-R1 answer, delay)."""

    script: ClassVar[list] = []
    calls = 0

    def log_message(self, *a):
        pass

    def do_POST(self):
        cls = type(self)
        n = int(self.headers["Content-Length"])
        req = json.loads(self.rfile.read(n))
        status, body, delay = cls.script[min(cls.calls, len(cls.script) - 1)]
        cls.calls += 1
        time.sleep(delay)
        if body is None:  # Search-R1 shape, contents only
            body = {
                "result": [
                    [{"document": {"id": f"d{i}", "contents": f'"Title {i}"\nText about {q}'}, "score": 10.0 - i}
                     for i in range(req["topk"])]
                    for q in req["queries"]
                ]
            }  # fmt: skip
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture()
def scripted():
    handler = type("H", (_Scripted,), {"script": [], "calls": 0})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/retrieve"
    httpd.shutdown()
    httpd.server_close()


def test_retries_with_backoff_then_success(scripted):
    handler, url = scripted
    handler.script = [(503, {"error": "busy"}, 0), (500, b"oops", 0), (200, None, 0)]
    hits = HTTPRetriever(url, k=2, retries=3, backoff=0.01).search("ed wood")
    assert handler.calls == 3
    assert [(h.passage.id, h.passage.title, h.passage.text, h.score, h.rank) for h in hits] == [
        ("d0", "Title 0", "Text about ed wood", 10.0, 0),
        ("d1", "Title 1", "Text about ed wood", 9.0, 1),
    ]


def test_retries_exhausted(scripted):
    handler, url = scripted
    handler.script = [(503, {"error": "busy"}, 0)]
    with pytest.raises(RetrievalHTTPError, match=r"after 2 attempt\(s\): HTTP 503"):
        HTTPRetriever(url, retries=1, backoff=0.01).search("q")
    assert handler.calls == 2


def test_timeout_and_malformed_answers(scripted):
    handler, url = scripted
    handler.script = [(200, None, 1.0)]
    with pytest.raises(RetrievalHTTPError, match="timeout"):
        HTTPRetriever(url, timeout=0.2, retries=0).search("q")
    handler.calls, handler.script = 0, [(200, b"not json", 0)]
    with pytest.raises(RetrievalHTTPError, match="non-JSON"):
        HTTPRetriever(url, retries=0).search("q")
    handler.calls, handler.script = 0, [(200, {"result": []}, 0)]
    with pytest.raises(RetrievalHTTPError, match="expected"):
        HTTPRetriever(url, retries=0).search("q")
    handler.calls, handler.script = 0, [(200, {"result": [[{"document": {"id": 1}, "score": 1}]]}, 0)]
    with pytest.raises(RetrievalHTTPError, match="needs 'text'"):
        HTTPRetriever(url, retries=0).search("q")
    handler.calls, handler.script = 0, [(200, {"result": [[{"id": 1, "contents": "t"}]]}, 0)]  # no scores
    (hit,) = HTTPRetriever(url, retries=0).search("q")
    assert hit.passage.text == "t" and math.isnan(hit.score)


def test_connection_refused_and_bad_urls():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RetrievalHTTPError, match=r"after 2 attempt\(s\): Connect"):
        HTTPRetriever(f"http://127.0.0.1:{port}/retrieve", retries=1, backoff=0.01, timeout=2).search("q")
    with pytest.raises(ValueError, match="http"):
        HTTPRetriever("127.0.0.1:8000")
    with pytest.raises(ValueError):
        HTTPRetriever("http://127.0.0.1:8000", timeout=0)
    for kwargs in ({"batch_size": 2.5}, {"batch_size": True}, {"batch_size": 0}, {"retries": 2.5},
                   {"retries": True}, {"retries": math.nan}, {"retries": -1}, {"max_reply_bytes": 1.5},
                   {"backoff": math.nan}, {"backoff": -1}, {"backoff": "1"}):  # fmt: skip
        (name,) = kwargs
        with pytest.raises(ValueError, match=name):
            HTTPRetriever("http://127.0.0.1:8000", **kwargs)


def test_server_command_line_stops_by_itself(tmp_path):
    corpus = tmp_path / "c.jsonl"
    save_corpus(PASSAGES, corpus)
    cmd = [sys.executable, "-m", "swirl_env.retrieval.server", "--corpus", str(corpus), "--port", "0"]
    proc = subprocess.Popen([*cmd, "--max-requests", "2", "--idle-timeout", "60", "--log-level", "WARNING"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving 500 passages on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[-1]
        client = HTTPRetriever(url, k=3, retries=0)
        assert [h.passage.id for h in client.search(QUERIES[0])] == [
            h.passage.id for h in SparseBM25Retriever(PASSAGES).search(QUERIES[0], 3)
        ]
        assert len(client) == 500  # second request: the server stops
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    idle = subprocess.run([*cmd, "--idle-timeout", "0.5"], capture_output=True, text=True, timeout=60)
    assert idle.returncode == 0 and "serving 500 passages" in idle.stdout
    bad = subprocess.run(
        [*cmd[:-4], "--corpus", str(tmp_path / "missing.jsonl")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "not found" in bad.stderr


# ---------------------------------------------------------------------------- hostile servers
class _RawServer:
    """A TCP server on 127.0.0.1 whose every connection runs ``handler(conn)`` in a thread."""

    def __init__(self, handler):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.handler, self.stop = handler, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/retrieve"

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            conn.settimeout(5)
            try:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf += conn.recv(65536)
                self.handler(conn, self.stop)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture()
def raw_server():
    servers = []

    def make(handler):
        servers.append(_RawServer(handler))
        return servers[-1].url

    yield make
    for s in servers:
        s.close()


def _drip(payload: bytes, every: float):
    def handler(conn, stop):
        for i in range(len(payload)):
            if stop.wait(every):
                return
            conn.sendall(payload[i : i + 1])

    return handler


@pytest.mark.parametrize("where", ["headers", "body"])
def test_client_deadline_bounds_a_dripping_server(raw_server, where):
    body = json.dumps({"result": [[{"id": "1", "contents": "x"}]]}).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    if where == "headers":
        url = raw_server(_drip(head + body, 0.05))
    else:

        def handler(conn, stop):
            conn.sendall(head)
            _drip(body, 0.05)(conn, stop)

        url = raw_server(handler)
    t = time.monotonic()
    with pytest.raises(RetrievalHTTPError, match="timeout"):
        HTTPRetriever(url, timeout=0.5, retries=0).search("q")
    assert time.monotonic() - t < 1.5
    t = time.monotonic()
    with pytest.raises(RetrievalHTTPError, match=r"after 2 attempt\(s\): timeout"):
        HTTPRetriever(url, timeout=0.3, retries=1, backoff=0.01).search("q")
    assert time.monotonic() - t < 1.5  # (retries + 1) * timeout plus the backoff


def _reply(body: bytes, headers: str = "", length: bool = True):
    def handler(conn, stop):
        cl = f"Content-Length: {len(body)}\r\n" if length else "Connection: close\r\n"
        conn.sendall(f"HTTP/1.1 200 OK\r\n{cl}{headers}\r\n".encode() + body)

    return handler


def test_client_caps_the_reply_size(raw_server):
    import gzip

    big = json.dumps({"result": [[{"id": "1", "contents": "x" * 50_000}]]}).encode()
    for url in (raw_server(_reply(big)), raw_server(_reply(big, length=False))):
        with pytest.raises(RetrievalHTTPError, match="cap"):
            HTTPRetriever(url, retries=3, timeout=5, max_reply_bytes=10_000).search("q")
    bomb = gzip.compress(b"[" + b" " * 20_000_000 + b"]")  # 20 MB of JSON in ~20 KB
    assert len(bomb) < 100_000
    url = raw_server(_reply(bomb, "Content-Encoding: gzip\r\n"))
    t = time.monotonic()
    with pytest.raises(RetrievalHTTPError, match="cap"):
        HTTPRetriever(url, retries=0, timeout=5, max_reply_bytes=1 << 20).search("q")
    assert time.monotonic() - t < 2
    ok = gzip.compress(json.dumps({"result": [[{"id": "1", "contents": '"T"\ntext'}]]}).encode())
    (hit,) = HTTPRetriever(raw_server(_reply(ok, "Content-Encoding: gzip\r\n")), retries=0).search("q")
    assert (hit.passage.title, hit.passage.text) == ("T", "text")


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"result": ' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_client_survives_deeply_nested_replies(raw_server, body):
    with pytest.raises(RetrievalHTTPError, match=r"nested too deeply|expected|non-JSON"):
        HTTPRetriever(raw_server(_reply(body)), retries=0, timeout=5).search("q")


# ---------------------------------------------------------------------------- the server, hardened
def _send_raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                block = s.recv(65536)
            except TimeoutError:
                break
            if not block:
                break
            out += block
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:") and len(rest) >= int(line.split(b":")[1]):
                        return out
    return out


def _post(body: bytes, extra: str = "") -> bytes:
    return f"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_server_bounds_every_dimension(local):
    with RetrievalServer(local, max_queries=16, max_topk=50, max_hits=100, max_body_bytes=10_000,
                         max_query_chars=200, max_header_bytes=2048, timeout=5) as srv:  # fmt: skip
        port = srv.port

        def status(data: bytes) -> int:
            return int(_send_raw(port, data).split(b" ", 2)[1])

        def post(obj) -> int:
            return status(_post(json.dumps(obj).encode()))

        assert post({"queries": ["a"] * 16, "topk": 5}) == 200
        assert post({"queries": ["a"] * 17, "topk": 1}) == 400  # queries per request
        assert post({"queries": ["a"], "topk": 51}) == 400  # topk
        assert post({"queries": ["a"] * 10, "topk": 11}) == 400  # queries x topk: the answer's size
        assert post({"queries": ["a" * 201]}) == 400  # query length
        assert status(_post(b'{"queries": ' + b"[" * 4000 + b"]" * 4000 + b"}")) == 400  # depth
        assert status(_post(b"[" * 9000)) == 400
        assert status(_post(b'{"queries": ["\xff"]}')) == 400  # not UTF-8
        assert status(_post(b"x" * 10_001)) == 413
        assert status(b"POST /retrieve HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 400 + b"\r\n") == 431
        assert status(b"POST /retrieve HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 411
        assert status(b"POST /retrieve HTTP/1.1\r\n\r\n") == 411
        assert status(b"GET /retrieve HTTP/1.1\r\n\r\n") == 405
        assert status(b"BREW /pot HTTP/1.1\r\n\r\n") == 404
        assert status(b"garbage\r\n\r\n") == 400
        # a bad request on a keep-alive connection is answered and the connection still serves
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            f = s.makefile("rb")
            for body in (b"[" * 5000, json.dumps({"queries": [QUERIES[0]], "topk": 1}).encode()):
                s.sendall(_post(body))
                line = f.readline()
                length = 0
                while (h := f.readline()) != b"\r\n":
                    if h.lower().startswith(b"content-length:"):
                        length = int(h.split(b":")[1])
                reply = json.loads(f.read(length))
                assert line.startswith(b"HTTP/1.1 400") if body[0] == ord("[") else "result" in reply


def test_server_drops_stalled_sockets_without_threads(local):
    with RetrievalServer(local, timeout=0.5) as srv:
        threads = threading.active_count()
        stalled = []
        for _ in range(100):  # half-sent requests, never finished
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(b"POST /retrieve HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
            stalled.append(s)
        idle = socket.create_connection(("127.0.0.1", srv.port), timeout=5)  # opened, says nothing
        stalled.append(idle)
        client = HTTPRetriever(srv.url, timeout=5, retries=0)
        t = time.monotonic()
        assert ranking(client.search(QUERIES[0], 3)) == ranking(local.search(QUERIES[0], 3))
        # served at once despite 101 stalled connections (one after the other, their 0.5 s
        # timeouts would take 50 s; the margin is for a loaded machine)
        assert time.monotonic() - t < 2.5
        assert threading.active_count() <= threads + 2  # no thread per socket (the search pool)
        time.sleep(0.8)
        for s in stalled:  # each was closed by the server after its timeout
            s.settimeout(2)
            assert s.recv(100) == b""
            s.close()
        assert srv.connections <= 1


def test_keep_alive_latency_has_no_nagle_stall(local):
    with RetrievalServer(local) as srv:
        client = HTTPRetriever(srv.url, timeout=5, retries=0)
        client.search(QUERIES[0], 1)
        times = []
        for q in QUERIES * 3:
            t = time.perf_counter()
            client.search(q, 1)
            times.append(time.perf_counter() - t)
        times.sort()
        # a Nagle / delayed-ACK stall costs ~40 ms per request; the search itself is ~0.1 ms
        assert times[len(times) // 2] < 0.015, times


def test_concurrent_clients(local):
    with RetrievalServer(local, workers=2) as srv:
        errors, lat = [], []

        def run(i):
            client = HTTPRetriever(srv.url, timeout=10, retries=0)
            for j in range(25):
                q = QUERIES[(i + j) % len(QUERIES)]
                t = time.perf_counter()
                hits = client.search(q, 3)
                lat.append(time.perf_counter() - t)
                if ranking(hits) != ranking(local.search(q, 3)):
                    errors.append((i, j))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        deadline = time.monotonic() + 5  # the server counts a request once its answer is sent
        while srv.requests < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not errors and len(lat) == 200 and srv.requests == 200


def test_server_refuses_connections_over_the_limit(local):
    with RetrievalServer(local, max_connections=2, timeout=2) as srv:
        held = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(2)]
        time.sleep(0.1)
        assert _send_raw(srv.port, b"GET /health HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 503")
        for s in held:
            s.close()
        time.sleep(0.1)
        assert _send_raw(srv.port, b"GET /health HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 200")


def test_client_default_ports_follow_the_scheme():
    assert (
        HTTPRetriever("https://example.org")._conn().port,
        HTTPRetriever("http://example.org")._conn().port,
    ) == (
        443,
        80,
    )
    assert HTTPRetriever("http://[::1]:8123/retrieve")._conn().port == 8123


def test_query_with_a_lone_surrogate_is_sent_and_answered(server, local):
    """A model-written query can hold text UTF-8 cannot encode; it travels as escaped JSON."""
    client = HTTPRetriever(server.url, k=3, timeout=10, retries=0)
    query = QUERIES[0] + " \ud83d"
    assert ranking(client.search(query)) == ranking(local.search(query, 3))
    client.close()


# ---------------------------------------------------------------------------- the lean HTTP/1.1 client
def _ok_body() -> bytes:
    return json.dumps({"result": [[{"id": "1", "contents": '"T"\ntext'}]]}).encode()


def test_client_reads_chunked_and_informational_answers(raw_server):
    body = _ok_body()
    chunks = b"".join(
        b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7]) for i in range(0, len(body), 7)
    )

    def handler(conn, stop):
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + chunks + b"0\r\nX-Trailer: 1\r\n\r\n")  # fmt: skip

    (hit,) = HTTPRetriever(raw_server(handler), retries=0, timeout=5).search("q")
    assert (hit.passage.id, hit.passage.title, hit.passage.text) == ("1", "T", "text")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 2xx OK\r\nContent-Length: 2\r\n\r\n{}",  # status code
        b"SPDY/9 200 OK\r\nContent-Length: 2\r\n\r\n{}",  # protocol
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n{}",  # header line
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",  # length
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # chunk size
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n",  # not HTTP hex
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0_2\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+2\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * (70 << 10) + b"\r\n\r\n",  # head size
        b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}",  # encoding
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",  # not gzip
    ],
)
def test_client_rejects_malformed_answers_at_once(raw_server, answer):
    calls = []

    def handler(conn, stop):
        calls.append(1)
        conn.sendall(answer)

    t = time.monotonic()
    with pytest.raises(RetrievalHTTPError, match="unusable answer"):
        HTTPRetriever(raw_server(handler), retries=3, backoff=1.0, timeout=5).search("q")
    assert len(calls) == 1 and time.monotonic() - t < 2  # no retry for a broken answer


def test_client_retries_a_request_the_server_drops(raw_server):
    calls = []

    def handler(conn, stop):  # closes without an answer the first time, answers the second
        calls.append(1)
        if len(calls) > 1:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(_ok_body()), _ok_body()))

    client = HTTPRetriever(raw_server(handler), retries=1, backoff=0.01, timeout=5)
    assert client.search("q")[0].passage.id == "1" and len(calls) == 2


def test_client_reconnects_when_a_kept_alive_socket_was_closed(local):
    """A server that closes idle keep-alive sockets: the next request goes out on a new socket,
    without using up a retry."""
    with RetrievalServer(local, timeout=0.3) as srv:
        client = HTTPRetriever(srv.url, timeout=5, retries=0)
        first = ranking(client.search(QUERIES[0], 2))
        time.sleep(0.6)  # the server has dropped the idle connection by now
        assert ranking(client.search(QUERIES[0], 2)) == first == ranking(local.search(QUERIES[0], 2))


def test_client_refuses_header_injection():
    with pytest.raises(ValueError, match="line break"):
        HTTPRetriever("http://127.0.0.1:1", headers={"Authorization": "x\r\nX-Evil: 1"})
    with pytest.raises(ValueError, match="header name"):
        HTTPRetriever("http://127.0.0.1:1", headers={"Bad Name": "x"})


# ---------------------------------------------------------------------------- server framing
def _read_answers(f, n: int) -> list[tuple[int, dict]]:
    out = []
    for _ in range(n):
        status = int(f.readline().split(b" ")[1])
        length = 0
        while (h := f.readline()) != b"\r\n":
            if h.lower().startswith(b"content-length:"):
                length = int(h.split(b":")[1])
        out.append((status, json.loads(f.read(length))))
    return out


def test_server_answers_pipelined_requests_in_order(local):
    """Several requests in one write (a pipelining client), small ones answered inline and a
    batch in the worker pool: every answer comes back, in request order."""
    with RetrievalServer(local, timeout=5) as srv:
        bodies = [{"queries": [q], "topk": 2} for q in QUERIES[:3]]
        bodies.insert(1, {"queries": QUERIES, "topk": 1})
        bodies.insert(3, {"queries": "bad"})
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(b"".join(_post(json.dumps(b).encode()) for b in bodies))
            answers = _read_answers(s.makefile("rb"), len(bodies))
    assert [a[0] for a in answers] == [200, 200, 200, 400, 200]
    ids = [[[d["id"] for d in hits] for hits in a[1]["result"]] for a in answers if a[0] == 200]
    want = [
        [[h.passage.id for h in local.search(q, b["topk"])] for q in b["queries"]]
        for b in bodies
        if b["queries"] != "bad"
    ]
    assert ids == want


def test_server_answers_a_client_that_half_closes(local):
    """A client that sends its request and then shuts its side down still gets the answer."""
    with RetrievalServer(local, timeout=5) as srv:
        for queries in ([QUERIES[0]], QUERIES):  # inline, then through the pool
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
                s.sendall(_post(json.dumps({"queries": queries, "topk": 1}).encode()))
                s.shutdown(socket.SHUT_WR)
                ((status, body),) = _read_answers(s.makefile("rb"), 1)
                assert status == 200 and len(body["result"]) == len(queries)
                assert s.recv(10) == b""  # then the server closes


def test_server_answers_passages_utf8_cannot_encode():
    """Passage text with a lone surrogate: the answer falls back to escaped ASCII JSON."""
    from swirl_env.retrieval import Passage

    r = SparseBM25Retriever([Passage("1", "Odd", "broken \ud800 text"), Passage("2", "Fine", "plain text")])
    with RetrievalServer(r, timeout=5) as srv:
        (hit,) = HTTPRetriever(srv.url, retries=0, timeout=5).search("broken", 1)
    assert hit.passage.text == "broken \ud800 text"


def test_server_bounds_the_buffer_of_a_client_that_does_not_read(local):
    """Pipelined requests with large answers from a client that never reads: the server stops
    reading that socket once one request's bound is buffered, instead of buffering all of it."""
    with RetrievalServer(local, timeout=3, max_body_bytes=20_000, max_header_bytes=2048) as srv:
        req = _post(json.dumps({"queries": QUERIES, "topk": 50}).encode())
        sent = 0
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.settimeout(0.5)
            with contextlib.suppress(TimeoutError, OSError):
                for _ in range(20_000):  # up to ~20 MB of requests
                    s.sendall(req)
                    sent += len(req)
            conns = list(srv._conns)
            buffered = max((len(c.buf) for c in conns), default=0)
        assert sent < 10_000_000, "the server read everything a non-reading client sent"
        # one request's bound plus one transport read (asyncio reads up to 256 KiB at a time)
        assert buffered <= 20_000 + 2048 + (256 << 10)
        assert HTTPRetriever(srv.url, retries=0, timeout=5).search(QUERIES[0], 1)  # others still served


def test_server_answers_thousands_of_pipelined_requests(local):
    """Inline answers loop over the buffer (no recursion per request)."""
    with RetrievalServer(local, timeout=10) as srv:
        n = 3000
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(_post(json.dumps({"queries": [QUERIES[0]], "topk": 0}).encode()) * n)
            answers = _read_answers(s.makefile("rb"), n)
    assert [a[0] for a in answers] == [200] * n


def test_server_answers_every_pipelined_request_before_a_half_close(local):
    with RetrievalServer(local, timeout=5) as srv:
        for body in ({"queries": QUERIES[:2], "topk": 1}, None):  # through the pool; GET /health
            raw = _post(json.dumps(body).encode()) if body else b"GET /health HTTP/1.1\r\n\r\n"
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
                s.sendall(raw * 3)
                s.shutdown(socket.SHUT_WR)
                answers = _read_answers(s.makefile("rb"), 3)
                assert [a[0] for a in answers] == [200] * 3 and s.recv(10) == b""


@pytest.mark.parametrize(
    ("head", "status"),
    [
        ("Content-Length: \u00b2", 400),  # a digit to str.isdigit, not to HTTP
        ("Content-Length: " + "9" * 5000, 400),  # over int()'s digit limit
        ("Content-Length: +5", 400),
        ("Content-Length: 2\r\nContent-Length: 3", 400),  # conflicting
        ("Content-Length: 2\r\n folded: value", 400),  # obs-fold
    ],
)
def test_server_rejects_bad_framing_headers(local, head, status):
    with RetrievalServer(local, timeout=3, max_header_bytes=8192) as srv:
        raw = f"POST /retrieve HTTP/1.1\r\n{head}\r\n\r\n{{}}".encode("latin-1")
        reply = _send_raw(srv.port, raw)
        assert int(reply.split(b" ", 2)[1]) == status and b'"error"' in reply
        bare_lf = _send_raw(srv.port, b"GET /health HTTP/1.1\nHost: x\n\n", timeout=2)
        assert bare_lf.startswith(b"HTTP/1.1 400") and b"CRLF" in bare_lf


def _serve_then(after: bytes):
    """A raw-server handler: a valid answer to every request, each followed by ``after``
    (``b"close"``: close the socket; ``b"reset"``: reset it)."""

    def handler(conn, stop):
        body = _ok_body()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        if after == b"reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        elif after != b"close":
            time.sleep(0.05)
            conn.sendall(after)
            time.sleep(0.3)

    return handler


@pytest.mark.parametrize(
    "after",
    [
        b"close",
        b"reset",
        b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["closed", "reset", "idle-408", "extra-answer"],
)
def test_client_never_reuses_a_socket_in_a_bad_state(raw_server, after):
    """Whatever the server did to the kept-alive socket after an answer (closed or reset it, sent
    a 408 or one answer too many), the next search is answered right, without a retry."""
    client = HTTPRetriever(raw_server(_serve_then(after)), retries=0, timeout=5)
    for _ in range(3):
        assert [h.passage.id for h in client.search("q")] == ["1"]
        time.sleep(0.1)


def test_client_reports_out_of_range_scores_and_bad_urls(raw_server):
    # an escaped lone surrogate sends the answer to the json fallback, which reads the score as int
    body = b'{"result": [[{"document": {"id": "1", "contents": "x\\ud800"}, "score": ' + b"9" * 400 + b"}]]}"
    with pytest.raises(RetrievalHTTPError, match="too large"):
        HTTPRetriever(raw_server(_reply(body)), retries=0, timeout=5).search("q")
    body = b'{"result": [[{"document": {"id": "1", "contents": "x"}, "score": "abc"}]]}'
    with pytest.raises(RetrievalHTTPError, match=r"127\.0\.0\.1.*result 0 item 0: bad score 'abc'"):
        HTTPRetriever(raw_server(_reply(body)), retries=0, timeout=5).search("q")
    for url in ("http://127.0.0.1:1/検索", "http://127.0.0.1:1/re trieve"):
        with pytest.raises(ValueError, match="ASCII"):
            HTTPRetriever(url)
    for headers in ({"Content-Length": "3"}, {"Host": "x"}, {"Authorization": "Bearer \u20ac"}):
        with pytest.raises(ValueError, match="header"):
            HTTPRetriever("http://127.0.0.1:1", headers=headers)


def test_server_times_out_a_connection_after_a_large_answer_was_drained():
    """A client that reads a large answer slowly (the transport pauses and resumes writing) and
    then leaves a request half-sent is still dropped after the timeout."""
    docs = [Passage(str(i), f"T{i}", "paris capital france " * 3000) for i in range(100)]
    with RetrievalServer(SparseBM25Retriever(docs), timeout=0.5) as srv:
        body = json.dumps({"queries": ["paris"], "topk": 100}).encode()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small buffers: the answer cannot fit
            s.settimeout(5)
            s.connect(("127.0.0.1", srv.port))
            s.sendall(_post(body))
            time.sleep(0.3)  # the ~6 MB answer fills the socket buffers: the server pauses writing
            s.settimeout(0.3)
            read = 0
            with contextlib.suppress(TimeoutError):
                while chunk := s.recv(1 << 20):
                    read += len(chunk)
            assert read > 1_000_000
            s.sendall(b"POST /retrieve HTTP/1.1\r\nHost: x\r\n")  # half a request, never finished
            s.settimeout(5)
            t = time.monotonic()
            assert s.recv(100) == b""  # closed by the server
            assert time.monotonic() - t < 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--port", "70000"], "a port is 0 to 65535"),
        (["--port", "-1"], "a port is 0 to 65535"),
        (["--topk", "-5"], "--topk must be in"),
        (["--log-level", "bogus"], "invalid choice"),
        (["--index-dir", __file__], "is a file, not a directory"),
    ],
)
def test_server_command_line_refuses_bad_values_before_building(args, fragment, capsys):
    from swirl_env.retrieval.server import main

    with pytest.raises(SystemExit) as e:
        main(["--corpus", "does-not-matter.jsonl", *args])
    assert e.value.code == 2 and fragment in capsys.readouterr().err
