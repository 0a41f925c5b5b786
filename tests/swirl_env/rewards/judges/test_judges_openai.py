"""The OpenAI-compatible judge against a local fake chat-completions server (stdlib http.server).

The server picks its behaviour from a ``CASE:name`` marker in the judged action, and counts the
requests of each case: timeouts, 5xx, 429 with Retry-After, malformed bodies and replies without a
verdict must be retried or recorded as failures (``label=None``), never as a silent GOOD.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from swirl_env.rewards.judges.base import OutcomeRequest, ProcessRequest
from swirl_env.rewards.judges.openai import JudgeRequestError, OpenAIOutcomeJudge, OpenAIProcessJudge
from swirl_env.tasks.base import Task

pytestmark = pytest.mark.timeout(60)

TASK = Task("q", "Who directed Jaws?", ("Steven Spielberg",), "hotpotqa", "dev")


class FakeServer:
    """Chat-completions server whose replies depend on the CASE marker of the prompt."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.headers: list[dict] = []
        self.bodies: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = body["messages"][-1]["content"]
                m = re.search(r"CASE:(\w+)", text)
                case = m.group(1) if m else "good"
                with server.lock:
                    server.counts[case] += 1
                    n = server.counts[case]
                    server.headers.append(dict(self.headers))
                    server.bodies.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(case, n, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status, payload, headers=None):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _reply(self, content, finish_reason="stop"):
                message = {"role": "assistant", "content": content}
                self._send(200, {"choices": [{"message": message, "finish_reason": finish_reason}]})

            def _answer(self, case, n, body):
                if case == "good":
                    time.sleep(0.02)
                    return self._reply("The query looks for the missing fact.\n**Verdict:** GOOD")
                if case == "bad":
                    return self._reply("Nothing supports it. Verdict: BAD")
                if case == "yes":
                    return self._reply("Same person. Verdict: YES")
                if case == "flaky500":
                    return self._send(500, {"error": "boom"}) if n <= 2 else self._reply("Verdict: GOOD")
                if case == "always503":
                    return self._send(503, {"error": "overloaded"})
                if case == "slow":
                    if n == 1:
                        time.sleep(1.0)
                    return self._reply("Verdict: GOOD")
                if case == "ratelimited":
                    if n == 1:
                        return self._send(429, {"error": "slow down"}, {"Retry-After": "0"})
                    return self._reply("Verdict: BAD")
                if case == "malformed":
                    return self._send(200, b"this is not json{")
                if case == "malformedonce":
                    return self._send(200, {"choices": []}) if n == 1 else self._reply("Verdict: GOOD")
                if case == "noverdict":
                    return self._reply("I am not sure what to think.")
                if case == "cut":  # stopped at max_tokens inside its reasoning
                    return self._reply("First, is the query good? Let me think about whether", "length")
                if case == "cutmarked":  # stopped at max_tokens after its verdict
                    return self._reply("Verdict: BAD, because the query asks for a good", "length")
                if case == "badrequest":
                    return self._send(400, {"error": "model not found"})
                return self._send(500, {"error": f"unknown case {case}"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture()
def server():
    s = FakeServer()
    yield s
    s.close()


def req(case: str) -> ProcessRequest:
    ctx = [{"role": "user", "content": "Question: " + TASK.question}]
    return ProcessRequest(TASK, ctx, f"<search_query> Jaws director CASE:{case} </search_query>")


def make(server, **kw) -> OpenAIProcessJudge:
    kw.setdefault("timeout", 0.4)
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_max", 0.05)
    kw.setdefault("max_retries", 3)
    return OpenAIProcessJudge(server.url, "fake-judge", **kw)


def test_labels_in_order_with_bounded_concurrency(server, monkeypatch):
    monkeypatch.setenv("FAKE_JUDGE_KEY", "sekret")
    with make(server, concurrency=4, api_key_env="FAKE_JUDGE_KEY") as judge:
        cases = ["good", "bad"] * 8
        out = judge.judge_steps([req(c) for c in cases])
    assert [j.label for j in out] == [c == "good" for c in cases]
    assert all(j.error is None and j.judge == "openai:fake-judge" for j in out)
    assert 1 < server.max_in_flight <= 4
    assert server.headers[0]["Authorization"] == "Bearer sekret"
    body = server.bodies[0]
    assert body["model"] == "fake-judge" and body["temperature"] == 0.0
    assert "Judge ONLY the last message" in body["messages"][-1]["content"]


def test_5xx_is_retried_then_succeeds(server):
    judge = make(server)
    (j,) = judge.judge_steps([req("flaky500")])
    assert j.label is True and server.counts["flaky500"] == 3 and judge.stats["retries"] == 2


def test_persistent_5xx_gives_a_recorded_failure(server):
    judge = make(server, max_retries=2)
    (j,) = judge.judge_steps([req("always503")])
    assert j.label is None and j.score is None
    assert "gave up after 3 attempts" in j.error and "503" in j.error
    assert server.counts["always503"] == 3 and judge.stats["failures"] == 1


def test_timeout_is_retried(server):
    judge = make(server, timeout=0.3)
    (j,) = judge.judge_steps([req("slow")])
    assert j.label is True and server.counts["slow"] == 2


def test_timeout_every_time_fails_with_a_clear_error(server):
    judge = make(server, timeout=0.3, max_retries=0)
    (j,) = judge.judge_steps([req("slow")])
    assert j.label is None and "timeout" in j.error


def test_429_honours_retry_after(server):
    (j,) = make(server).judge_steps([req("ratelimited")])
    assert j.label is False and server.counts["ratelimited"] == 2


def test_malformed_reply_is_retried_then_recorded(server):
    judge = make(server, max_retries=2)
    once, always = judge.judge_steps([req("malformedonce"), req("malformed")])
    assert once.label is True and server.counts["malformedonce"] == 2
    assert always.label is None and "malformed reply" in always.error
    assert always.raw == "this is not json{" and server.counts["malformed"] == 3


def test_reply_without_verdict_is_a_failure_not_good(server):
    (j,) = make(server).judge_steps([req("noverdict")])
    assert j.label is None and "verdict" in j.error and j.raw == "I am not sure what to think."
    assert server.counts["noverdict"] == 1


def test_a_reply_cut_at_max_tokens_is_a_failed_judgement(server, tmp_path):
    from swirl_env.rewards.judges.cache import CachedJudge

    judge = CachedJudge(make(server), tmp_path / "cache.jsonl")
    cut, marked = judge.judge_steps([req("cut"), req("cutmarked")])
    assert cut.label is None and "cut at its token budget" in cut.error  # not the "good" it met
    assert marked.label is None and "cut at its token budget" in marked.error
    assert judge.judge_steps([req("cut")])[0].label is None and server.counts["cut"] == 2  # not cached


def test_client_errors_are_not_retried(server):
    judge = make(server)
    (j,) = judge.judge_steps([req("badrequest")])
    assert j.label is None and "HTTP 400" in j.error and server.counts["badrequest"] == 1
    with pytest.raises(JudgeRequestError):
        judge.complete([{"role": "user", "content": "CASE:badrequest"}])


def test_outcome_judge_and_missing_answer(server):
    judge = OpenAIOutcomeJudge(server.url, "fake-judge", timeout=2.0)
    task = Task("q", "Who directed Jaws? CASE:yes", ("Steven Spielberg",), "hotpotqa", "dev")
    yes, none = judge.judge_outcomes([OutcomeRequest(task, "Spielberg"), OutcomeRequest(task, None)])
    assert yes.label is True and none.label is False and none.rationale == "no final answer"
    assert server.counts["yes"] == 1  # the missing answer never reached the server
    assert "Answer key: Steven Spielberg" in server.bodies[0]["messages"][-1]["content"]


def test_unreachable_server_fails_after_retries():
    judge = OpenAIProcessJudge(
        "http://127.0.0.1:9/v1", "x", timeout=0.5, max_retries=1, backoff_base=0.01, backoff_max=0.02
    )
    (j,) = judge.judge_steps([req("good")])
    assert j.label is None and "transport error" in j.error


def test_bad_arguments():
    with pytest.raises(ValueError, match="base_url"):
        OpenAIProcessJudge("", "m")
    with pytest.raises(ValueError, match="concurrency"):
        OpenAIProcessJudge("http://x/v1", "m", concurrency=0)
    assert OpenAIProcessJudge("http://x/v1/chat/completions/", "m").url == "http://x/v1/chat/completions"
