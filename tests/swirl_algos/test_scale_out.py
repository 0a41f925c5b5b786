"""Scale-out without new engines: several servers behind one policy, and sharded rollouts."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from swirl_algos.cli import main
from swirl_algos.policies.openai import OpenAIPolicy
from swirl_env.rewards.judges.base import ProcessRequest
from swirl_env.rewards.judges.openai import OpenAIProcessJudge


def _server(delay: float, *, fail: bool = False, content: str | None = None):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(delay)
            if fail:  # an overloaded server: every request gets a retryable 503
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            question = body["messages"][-1]["content"]
            text = content if content is not None else f"<answer> {len(question)} </answer>"
            reply = {
                "choices": [{"message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1},
            }  # fmt: skip
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"


def test_requests_spread_over_servers_least_loaded_first():
    fast, fast_url = _server(0.0)
    slow, slow_url = _server(0.3)
    try:
        policy = OpenAIPolicy([fast_url, slow_url], "m", concurrency=2, timeout=10)
        states = [[{"role": "user", "content": "q" * (i + 1)}] for i in range(12)]
        actions = policy.act(states, seeds=list(range(12)))
        assert actions == [f"<answer> {i + 1} </answer>" for i in range(12)]  # order kept
        assert sum(policy.counts.values()) == 12
        assert policy.counts[fast_url] > policy.counts[slow_url] >= 1  # the fast one takes more
        policy.close()
    finally:
        fast.shutdown()
        slow.shutdown()
    with pytest.raises(ValueError, match="duplicate"):
        OpenAIPolicy([fast_url, fast_url + "/"], "m")
    with pytest.raises(ValueError, match="base_url is required"):
        OpenAIPolicy(" , ", "m")


def test_a_retry_goes_to_another_server_and_judges_spread_too():
    down, down_url = _server(0.0, fail=True)
    up, up_url = _server(0.0, content="The step helps. GOOD")
    try:
        # one comma-separated string, as `--base-url URL1,URL2` gives it
        policy = OpenAIPolicy(f"{down_url},{up_url}", "m", concurrency=1, backoff_base=0.0, timeout=10)
        states = [[{"role": "user", "content": "q" * (i + 1)}] for i in range(6)]
        assert policy.act(states) == ["The step helps. GOOD"] * 6
        assert policy.counts[up_url] == 6  # every request ends on the healthy server
        assert 1 <= policy.counts[down_url] <= 6  # the overloaded one was tried, then avoided
        assert policy.describe()["servers"] == [down_url, up_url]
        policy.close()

        judge = OpenAIProcessJudge([down_url, up_url], "judge", concurrency=2, backoff_base=0.0, timeout=10)
        reqs = [
            ProcessRequest(None, [{"role": "user", "content": f"Question {i}"}], "<answer> 1 </answer>")
            for i in range(5)
        ]
        labels = [j.label for j in judge.judge_steps(reqs)]
        assert labels == [True] * 5
        assert judge._chat.counts[up_url] == 5
    finally:
        down.shutdown()
        up.shutdown()


def test_shards_are_resumable_and_merge_into_the_full_run(tmp_path):
    base = ["generate", "--env", "SwiRL-Arithmetic-v0", "--env-kwargs", '{"max_ops": 2}', "--n-tasks", "7"]
    base += ["--policy", "swirl_algos.policies.arithmetic_oracle:ArithmeticOraclePolicy", "--samples", "2"]
    base += ["--no-progress"]
    assert main([*base, "--output", str(tmp_path / "full.jsonl")]) == 0
    for i in range(3):
        assert main([*base, "--shard", f"{i}/3", "--output", str(tmp_path / f"s{i}.jsonl")]) == 0
    # re-running a shard resumes (nothing is added)
    before = (tmp_path / "s1.jsonl").read_text()
    assert main([*base, "--shard", "1/3", "--output", str(tmp_path / "s1.jsonl")]) == 0
    assert (tmp_path / "s1.jsonl").read_text() == before

    def records(path):
        return {r["id"]: (r["steps"], r["seed"]) for r in map(json.loads, path.read_text().splitlines())}

    merged = {}
    for i in range(3):
        part = records(tmp_path / f"s{i}.jsonl")
        assert not merged.keys() & part.keys()  # disjoint
        merged.update(part)
    assert merged == records(tmp_path / "full.jsonl")
    with pytest.raises(SystemExit, match="0 <= I < N"):
        main([*base, "--shard", "3/3", "--output", str(tmp_path / "x.jsonl")])


def test_a_judge_spec_names_several_servers():
    from swirl_algos.evaluation import load_judge

    judge = load_judge("openai:judge-m@http://127.0.0.1:1/v1,http://127.0.0.1:2/v1", "outcome")
    assert judge._chat.base_urls == ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]
    assert judge._chat.max_in_flight == 2 * judge.concurrency
