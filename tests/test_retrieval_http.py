"""HTTP retrieval: the /retrieve server (in process and as ``python -m``), the client, errors, retries."""

from __future__ import annotations

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

from swirl_env.retrieval import HTTPRetriever, RetrievalHTTPError, SparseBM25Retriever, save_corpus
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
    assert status(json={"queries": ["a"] * 2000}).status_code == 413
    assert "error" in status(json={"queries": "x"}).json()
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
