"""Policies: the Hugging Face policy (batching, chat template, stop strings, seeded sampling) and the
OpenAI-compatible policy against a local fake server (concurrency, retries, timeouts, stop strings)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from swirl_algos.policies.hf import HFPolicy, cut_at_stop, generate_actions
from swirl_algos.policies.openai import OpenAIPolicy, PolicyRequestError, restore_stop
from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

STOPS = ["</math_exp>", "</answer>"]
TARGET = "Let me add. <math_exp> 1 + 2 </math_exp> and then junk junk junk"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def state(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer([TARGET, "What is 1 + 2? <answer> 3 </answer>"] * 3, vocab_size=320)


@pytest.fixture(scope="module")
def memorised(tok):
    """A tiny model trained to answer every prompt with TARGET (a call followed by junk)."""
    torch.manual_seed(0)
    model = build_tiny_model(tok, hidden_size=32, num_layers=1)
    texts = [
        tok.apply_chat_template(
            [{"role": "user", "content": p}, {"role": "assistant", "content": TARGET}], tokenize=False
        )
        for p in ("What is 1 + 2?", "Add one and two.", "q")
    ]
    enc = tok(texts, add_special_tokens=False, padding=True, padding_side="right", return_tensors="pt")
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    model.train()
    for _ in range(60):
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


@pytest.fixture(scope="module")
def random_model(tok):
    return build_tiny_model(tok, hidden_size=16, num_layers=1, seed=1)


# ------------------------------------------------------------------------------------------ helpers
def test_cut_at_stop_takes_the_stop_that_ends_first():
    assert cut_at_stop("a </answer> b </math_exp>", STOPS) == ("a </answer>", "</answer>")
    assert cut_at_stop("<math_exp>1</math_exp><answer>1</answer>", STOPS)[0] == "<math_exp>1</math_exp>"
    assert cut_at_stop("no stop", STOPS) == ("no stop", None)
    assert cut_at_stop("x", None) == ("x", None)


def test_restore_stop_puts_back_what_servers_drop():
    assert restore_stop("<math_exp> 2*3 ", STOPS, "stop") == "<math_exp> 2*3 </math_exp>"
    # the last opened tag is the one the server stopped in
    assert restore_stop("<math_exp> oops <answer> 6", STOPS, "stop") == "<math_exp> oops <answer> 6</answer>"
    assert restore_stop("text", STOPS, "stop", stop_reason="</answer>") == "text</answer>"
    assert restore_stop("<answer> 6", STOPS, "length") == "<answer> 6"  # cut by max_tokens: left alone
    assert restore_stop("<answer>6</answer>", STOPS, "stop") == "<answer>6</answer>"


# ------------------------------------------------------------------------------------------ HF policy
def test_generation_stops_at_the_first_call_and_cuts_there(tok, memorised):
    policy = HFPolicy(memorised, tok, max_new_tokens=48, do_sample=False, batch_size=2)
    policy.set_stop_strings(STOPS)
    actions = policy.act([state("What is 1 + 2?"), state("Add one and two."), state("q")])
    assert actions == ["Let me add. <math_exp> 1 + 2 </math_exp>"] * 3
    # generation stopped early (the junk after the call was never generated)
    assert policy.stats["finish/stop"] == 3
    assert policy.stats["new_tokens"] < 3 * 48
    # without stop strings the model runs on past the call
    free = HFPolicy(memorised, tok, max_new_tokens=48, do_sample=False)
    assert "junk" in free.act([state("q")])[0]
    assert free.describe()["do_sample"] is False and free.describe()["temperature"] == 0.0


def test_details_count_tokens_and_finish_reasons(tok, memorised):
    gens = generate_actions(
        memorised,
        tok,
        [state("q"), state("What is 1 + 2?")],
        max_new_tokens=4,
        do_sample=False,
        stop_strings=STOPS,
        return_details=True,
    )
    assert [g.finish_reason for g in gens] == ["length", "length"]
    assert all(g.num_tokens == 4 and g.prompt_tokens > 3 for g in gens)


def test_left_padded_batches_match_single_prompts(tok, random_model):
    states = [state("hi"), state("a much longer question " * 6), state("What is 1 + 2?")]
    policy = HFPolicy(random_model, tok, max_new_tokens=12, do_sample=False, batch_size=3)
    batched = policy.act(states)
    single = [policy.act([s])[0] for s in states]
    assert batched == single


def test_seeded_sampling_is_reproducible_and_independent_of_the_batch(tok, random_model):
    states = [state(f"question {i} " * (i + 1)) for i in range(5)]
    policy = HFPolicy(random_model, tok, max_new_tokens=10, temperature=1.0, top_p=0.95, batch_size=2)
    a = policy.act(states, seeds=[10, 11, 12, 13, 14])
    assert policy.act(states, seeds=[10, 11, 12, 13, 14]) == a
    # another batch composition and order: the same action for the same (state, seed)
    rev = policy.act(states[::-1], seeds=[14, 13, 12, 11, 10])
    assert rev[::-1] == a
    alone = HFPolicy(random_model, tok, max_new_tokens=10, top_p=0.95, batch_size=1).act(
        [states[2]], seeds=[12]
    )
    assert alone[0] == a[2]
    # distinct seeds give distinct samples (a random model has a flat distribution)
    same_state = policy.act([states[0]] * 4, seeds=[1, 2, 3, 4])
    assert len(set(same_state)) == 4
    # no seeds: the policy's own seeded stream
    p1 = HFPolicy(random_model, tok, max_new_tokens=6, seed=7)
    p2 = HFPolicy(random_model, tok, max_new_tokens=6, seed=7)
    assert p1.act(states[:2]) == p2.act(states[:2])


def test_sampling_draws_from_the_softmax_with_top_p():
    """The seeded sampler (warpers + Gumbel noise, then argmax) samples softmax(logits / T) exactly."""
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

    from swirl_algos.policies.hf import _SeededSampler

    n = 4000
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0]).repeat(n, 1)
    picks = _SeededSampler([TemperatureLogitsWarper(0.8)], range(n), "cpu")(None, logits).argmax(-1)
    observed = torch.bincount(picks, minlength=4).float() / n
    expected = torch.softmax(logits[0] / 0.8, dim=-1)
    assert torch.all((observed - expected).abs() < 4 * (expected * (1 - expected) / n).sqrt() + 1e-3)
    # top-p keeps the smallest set of tokens holding 70% of the mass: the first two here
    picks = _SeededSampler([TopPLogitsWarper(0.7)], range(n), "cpu")(None, logits.clone()).argmax(-1)
    assert set(picks.tolist()) == {0, 1}


def test_model_mode_is_restored_and_bad_input_is_rejected(tok, random_model):
    random_model.train()
    HFPolicy(random_model, tok, max_new_tokens=2).act([state("q")], seeds=[0])
    assert random_model.training
    random_model.eval()
    policy = HFPolicy(random_model, tok, max_new_tokens=2)
    with pytest.raises(ValueError, match="seeds"):
        policy.act([state("q")], seeds=[1, 2])
    with pytest.raises(ValueError, match="empty"):
        policy.act([[]])
    with pytest.raises(ValueError, match="temperature"):
        HFPolicy(random_model, tok, temperature=0.0)
    assert policy.act([]) == []
    # a prompt longer than the model's context gets an empty action, not a crash
    long = HFPolicy(random_model, tok, max_new_tokens=2040)
    assert long.act([state("word " * 200)], seeds=[0]) == [""]
    assert long.stats["finish/prompt_too_long"] == 1


def test_tokenizer_without_chat_template_is_a_clear_error(tok, random_model):
    import copy

    bare = copy.deepcopy(tok)
    bare.chat_template = None
    with pytest.raises(ValueError, match="chat template"):
        HFPolicy(random_model, bare)


def test_from_pretrained_loads_a_saved_model(tok, memorised, tmp_path):
    memorised.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    policy = HFPolicy.from_pretrained(str(tmp_path / "m"), max_new_tokens=48, do_sample=False, device="cpu")
    policy.set_stop_strings(STOPS)
    assert policy.act([state("q")]) == ["Let me add. <math_exp> 1 + 2 </math_exp>"]
    assert policy.describe()["model"] == str(tmp_path / "m")


# ------------------------------------------------------------------------------------------ OpenAI policy
class FakeServer:
    """An OpenAI-compatible /chat/completions server with scripted failures."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.failures: dict[str, list] = {}  # question -> list of failure kinds to serve first
        self.inflight = 0
        self.max_inflight = 0
        self.delay = 0.0
        self.always: str | None = None
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.bodies.append(body)
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    question = body["messages"][-1]["content"]
                    queue = server.failures.get(question, [])
                    kind = queue.pop(0) if queue else None
                try:
                    time.sleep(server.delay)
                    self._reply(body, question, kind)
                finally:
                    with server.lock:
                        server.inflight -= 1

            def _send(self, code, payload, headers=()):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _reply(self, body, question, kind):
                if body.get("model") != "fake-model":
                    return self._send(404, {"error": {"message": f"model {body.get('model')} not found"}})
                if kind == "503":
                    return self._send(503, {"error": "overloaded"})
                if kind == "429":
                    return self._send(429, {"error": "slow down"}, [("Retry-After", "0")])
                if kind == "garbage":
                    return self._send(200, b"not json at all")
                if kind == "nested" or server.always == "nested":
                    return self._send(200, b"[" * 100_000 + b"]" * 100_000)
                if kind == "surrogate":  # a reply with a lone surrogate (escaped, as JSON allows)
                    choice = {
                        "message": {"content": "half \ud83d <answer> 1 </answer>"},
                        "finish_reason": "stop",
                    }
                    return self._send(200, {"choices": [choice]})
                if kind == "slow":
                    time.sleep(1.0)
                if kind and kind.startswith("usage"):  # a good completion with a broken usage field
                    usage = json.loads(kind.split(" ", 1)[1])
                    choice = {"message": {"content": "<answer> 1 </answer>"}, "finish_reason": "stop"}
                    return self._send(200, {"choices": [choice], "usage": usage})
                # a model that computes, then rambles; stop sequences cut like OpenAI (stop excluded)
                text = f"Compute. <math_exp> {question} </math_exp> Then <answer> x </answer> more"
                finish, stop_reason = "length", None
                cut = [(text.find(s), s) for s in body.get("stop") or [] if s in text]
                if cut:
                    i, s = min(cut)
                    text, finish = text[:i], "stop"
                    stop_reason = s if question.startswith("vllm") else None
                choice = {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
                if stop_reason:
                    choice["stop_reason"] = stop_reason
                return self._send(
                    200, {"choices": [choice], "usage": {"prompt_tokens": 5, "completion_tokens": 7}}
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def make_policy(server, **kw):
    kw = {"concurrency": 4, "timeout": 5, "max_retries": 3, "backoff_base": 0.01, "backoff_max": 0.05, **kw}
    return OpenAIPolicy(server.url, "fake-model", **kw)


def test_openai_policy_sends_stop_and_seeds_and_restores_the_stop(server):
    with make_policy(server, temperature=0.5, max_tokens=32) as policy:
        policy.set_stop_strings(STOPS)
        actions = policy.act([state("1+1"), state("vllm 2+2")], seeds=[3, 2**40 + 5])
    assert actions == ["Compute. <math_exp> 1+1 </math_exp>", "Compute. <math_exp> vllm 2+2 </math_exp>"]
    bodies = sorted(server.bodies, key=lambda b: b["messages"][-1]["content"])
    assert [b["seed"] for b in bodies] == [3, (2**40 + 5) % 2**31]
    assert all(b["stop"] == STOPS and b["temperature"] == 0.5 and b["max_tokens"] == 32 for b in bodies)
    assert policy.stats["completion_tokens"] == 14


def test_openai_policy_runs_requests_concurrently_in_order(server):
    server.delay = 0.1
    with make_policy(server, concurrency=4) as policy:
        policy.set_stop_strings(STOPS)
        questions = [f"{i}+{i}" for i in range(8)]
        t0 = time.perf_counter()
        actions = policy.act([state(q) for q in questions])
        elapsed = time.perf_counter() - t0
    assert actions == [f"Compute. <math_exp> {q} </math_exp>" for q in questions]
    assert 2 <= server.max_inflight <= 4
    assert elapsed < 8 * 0.1  # not one at a time


def test_openai_policy_retries_transient_failures(server):
    server.failures = {"a": ["503", "429"], "b": ["garbage"], "c": ["slow"]}
    with make_policy(server, timeout=0.3) as policy:
        policy.set_stop_strings(STOPS)
        actions = policy.act([state("a"), state("b"), state("c")])
    assert actions == [f"Compute. <math_exp> {q} </math_exp>" for q in "abc"]
    assert policy.stats["retries"] == 4 and policy.stats["failures"] == 0


@pytest.mark.parametrize(
    "usage",
    ['"n/a"', "[1, 2]", "true", '{"prompt_tokens": "n/a"}', '{"completion_tokens": 1e999}',
     '{"completion_tokens": -4, "prompt_tokens": 2.5}', '{"prompt_tokens": true}'],
)  # fmt: skip
def test_openai_policy_takes_a_completion_whose_usage_is_broken(server, usage):
    server.failures = {"q": [f"usage {usage}"]}
    with make_policy(server, max_retries=0) as policy:
        assert policy.act([state("q")]) == ["<answer> 1 </answer>"]
    assert policy.stats["failures"] == 0 and policy.stats["prompt_tokens"] == 0


def test_openai_policy_gives_up_with_a_clear_error(server):
    server.failures = {"z": ["503"] * 10}
    with make_policy(server, max_retries=2) as policy, pytest.raises(PolicyRequestError, match="3 attempts"):
        policy.act([state("z")])
    bad = OpenAIPolicy(server.url, "no-such-model", max_retries=3, backoff_base=0.01)
    with pytest.raises(PolicyRequestError, match="404") as err:
        bad.act([state("q")])
    assert err.value.attempts == 1 and len(server.bodies) == 3 + 1  # 404 is not retried
    bad.close()
    with pytest.raises(ValueError):
        OpenAIPolicy("", "m")
    with pytest.raises(ValueError):
        OpenAIPolicy(server.url, "m", concurrency=0)


def test_openai_policy_reports_an_unreachable_server():
    policy = OpenAIPolicy("http://127.0.0.1:9/v1", "m", max_retries=1, backoff_base=0.01, timeout=1)
    with pytest.raises(PolicyRequestError, match=r"transport error|timeout"):
        policy.act([state("q")])
    policy.close()


def test_openai_policy_passes_unencodable_text_on_repaired(server, tmp_path):
    from swirl_algos.jsonl import JsonlWriter, read_jsonl

    server.failures = {"s": ["surrogate"]}
    with make_policy(server) as policy:
        [action] = policy.act([state("s")])
        assert action == "half \ud83d <answer> 1 </answer>"  # as the server sent it
        # the next state holds it: the request carries U+FFFD instead of failing to encode
        policy.act(
            [[*state("s"), {"role": "assistant", "content": action}, {"role": "user", "content": "more"}]]
        )
    assert server.bodies[-1]["messages"][1]["content"] == "half \ufffd <answer> 1 </answer>"
    with JsonlWriter(tmp_path / "t.jsonl") as w:  # and a record holding it is stored
        w.write({"id": "s#0", "action": action})
    [row] = read_jsonl(tmp_path / "t.jsonl")
    assert row["action"] == "half \ufffd <answer> 1 </answer>" and row["text_repairs"][0]["path"] == "/action"


def test_a_hostile_reply_fails_the_request_cleanly_and_generate_exits_with_a_message(server, tmp_path):
    from swirl_algos.cli import main

    server.failures = {"n": ["nested", "nested"]}
    with make_policy(server, max_retries=1) as policy, pytest.raises(PolicyRequestError) as err:
        policy.act([state("n")])
    assert "nested too deeply" in str(err.value) and err.value.attempts == 2
    assert policy.stats["failures"] == 1
    server.always = "nested"
    kwargs = {"base_url": server.url, "model": "fake-model", "max_retries": 1, "backoff_base": 0.01}
    out = tmp_path / "t.jsonl"
    argv = ["generate", "--env", "SwiRL-GSM8K-v0", "--n-tasks", "2", "-o", str(out), "--no-progress"]
    argv += ["--policy", "swirl_algos.policies.openai:OpenAIPolicy", "--policy-kwargs", json.dumps(kwargs)]
    with pytest.raises(
        SystemExit, match=r"generation request failed for good.*running the same command again"
    ):
        main(argv)
