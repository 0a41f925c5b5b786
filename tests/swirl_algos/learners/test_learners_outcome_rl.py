"""Trajectory-level outcome-reward RL baseline: advantages, the single-pass episode loss, the loop."""

from __future__ import annotations

import pytest
import torch

from swirl_algos.learners.outcome_rl import _episode_logprobs, episode_sequences, rloo_advantages
from swirl_algos.learners.stepwise import collate_sequences, encode_substeps, step_logprobs
from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
from swirl_env.trajectory import Step, Trajectory


def episode(tid: str, k: int) -> Trajectory:
    msgs = [{"role": "user", "content": f"Question {tid}: what is 6 * {k}?"}]
    steps = []
    for i in range(k):
        last = i == k - 1
        action = f"<answer> {6 * k} </answer>" if last else f"<math_exp> 6 * {i} </math_exp>"
        steps.append(Step(index=i, message_index=len(msgs), action=action, kind="answer" if last else "call"))
        msgs.append({"role": "assistant", "content": action})
        if not last:
            msgs.append({"role": "user", "content": f"6 * {i} -> {6 * i}"})
    return Trajectory(
        id=tid, env_id="E", task={"id": tid[0]}, messages=msgs, steps=steps, final_answer=str(6 * k)
    )


@pytest.fixture(scope="module")
def tok():
    # repeated text so that the tags become few tokens (a warm-started model then writes them)
    return build_tiny_tokenizer(
        ["<math_exp> 6 * 2 </math_exp> 6 * 2 -> 12 <answer> 12 </answer>"] * 20, vocab_size=400
    )


def test_rloo_advantages_leave_one_out():
    adv = rloo_advantages([1.0, 0.0, 1.0, 0.5, 0.5, 7.0], ["a", "a", "a", "b", "b", "c"])
    assert adv[:3] == pytest.approx([1 - 0.5, 0 - 1.0, 1 - 0.5])
    assert adv[3:5] == [0.0, 0.0] and adv[5] == 0.0  # equal rewards / a group of one: no signal
    assert sum(adv[:3]) == pytest.approx(0.0)  # leave-one-out advantages sum to zero in a group


def test_episode_loss_gradient_equals_sum_over_steps(tok):
    """The policy-gradient loss of whole episodes, from one pass per episode in token-bounded
    micro-batches, has the gradient of the naive sum over every action of every episode."""
    model = build_tiny_model(tok, hidden_size=32, num_layers=2, seed=2).double()
    trajs = [episode("a0", 3), episode("a1", 1), episode("b0", 4)]
    seqs = episode_sequences(trajs, tok, max_length=None)
    assert [len(s) for s in seqs] == [1, 1, 1]
    weights = [0.7, -1.3, 0.4]

    model.zero_grad()
    totals = _episode_logprobs(
        model,
        seqs,
        pad_token_id=tok.pad_token_id,
        temperature=1.0,
        micro_batch_tokens=120,  # forces several micro-batches
        device="cpu",
        grad=True,
        weights=weights,
        backward=lambda loss: loss.backward(),
        scale=1 / 3,
    )
    g_single = [p.grad.clone() for p in model.parameters()]

    model.zero_grad()
    naive_totals = []
    loss = 0.0
    for w, t in zip(weights, trajs):
        subs = encode_substeps(tok, t.messages, [s.message_index for s in t.steps])
        lp, _ = step_logprobs(model, collate_sequences(subs, pad_token_id=tok.pad_token_id))
        naive_totals.append(float(lp.sum().detach()))
        loss = loss - w * lp.sum() / 3
    loss.backward()
    g_naive = [p.grad.clone() for p in model.parameters()]
    assert totals == pytest.approx(naive_totals, abs=1e-9)
    # Llama's RMSNorm computes its variance in float32 even in a float64 model, so gradients that are
    # summed in a different order (one pass vs K passes) differ at float32 rounding: relative 1e-6
    scale = max(b.abs().max().item() for b in g_naive)
    diff = max((a - b).abs().max().item() for a, b in zip(g_single, g_naive))
    assert diff < 1e-6 * scale, (diff, scale)

    with torch.no_grad():
        no_grad = _episode_logprobs(
            model, seqs, pad_token_id=tok.pad_token_id, temperature=1.0, micro_batch_tokens=4096, device="cpu"
        )
    assert no_grad == pytest.approx(naive_totals, abs=1e-9)


def test_episode_sequences_truncate(tok):
    t = episode("a0", 4)
    full = episode_sequences([t], tok, max_length=None)[0][0]
    cut = episode_sequences([t], tok, max_length=full.spans[1].end)[0][0]
    assert [s.step_index for s in cut.spans] == [0, 1]
    assert episode_sequences([t], tok, max_length=3) == [[]]


# ------------------------------------------------------------------------------------------ the loop
def make_add_env(**kwargs):
    """A toy registered env: integer addition with a calculator tool."""
    from swirl_env import Task, Tool, ToolEnv, ToolResult

    class AddTool(Tool):
        name = "calculator"
        tag = "math_exp"

        def run(self, argument: str) -> ToolResult:
            return ToolResult(str(sum(int(x) for x in argument.split("+"))))

    # every single digit is accepted: a warm-started tiny model gets a mix of right and wrong episodes
    digits = tuple(str(d) for d in range(10))
    tasks = [Task(f"add-{i}", f"What is {i} + 1?", (str(i + 1), *digits), "add", "train") for i in range(6)]
    return ToolEnv(
        tasks, [AddTool()], metric=lambda p, g: {"em": float(p.strip() in g)}, primary_metric="em", **kwargs
    )


@pytest.fixture(scope="module")
def add_env_id():
    import gymnasium as gym

    env_id = "SwiRLTest-AddORL-v0"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=make_add_env, kwargs={"max_tool_calls": 1})
    return env_id


def warm_start(tok, tmp_path):
    """A tiny model SFT-ed to answer '<answer> D </answer>' (random digit D) to any question."""
    import random

    from swirl_algos.learners.config import SupervisedConfig
    from swirl_algos.learners.sft import train_sft

    rng = random.Random(0)
    env = make_add_env()
    records = [
        {
            "prompt": [{"role": "user", "content": env.build_prompt(t)}],
            "completion": [{"role": "assistant", "content": f"<answer> {rng.randint(0, 9)} </answer>"}],
            "trajectory_id": f"{t.id}#{k}",
        }
        for t in env.tasks
        for k in range(4)
    ]
    cfg = SupervisedConfig(
        output_dir=str(tmp_path / "warm"),
        max_steps=30,
        learning_rate=1e-2,
        per_device_train_batch_size=8,
        save_steps=0,
    )
    model = build_tiny_model(tok, hidden_size=32, num_layers=1)
    train_sft(cfg, records, model=model, tokenizer=tok)
    return model


def test_outcome_rl_trains_checkpoints_resumes_and_saves(tok, tmp_path, add_env_id):
    from transformers import AutoModelForCausalLM

    from swirl_algos.learners.config import OutcomeRLConfig
    from swirl_algos.learners.outcome_rl import train_outcome_rl

    def cfg(**kw):
        base = {
            "output_dir": str(tmp_path / "orl"),
            "env_id": add_env_id,
            "n_tasks": 4,
            "tasks_per_step": 2,
            "num_generations": 4,
            "max_steps": 2,
            "max_new_tokens": 8,
            "num_envs": 4,
            "learning_rate": 1e-3,
            "save_steps": 1,
            "logging_steps": 1,
        }
        return OutcomeRLConfig(**{**base, **kw})

    model = warm_start(tok, tmp_path)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train_outcome_rl(cfg(), model=model, tokenizer=tok)
    assert [h["step"] for h in result.log_history] == [1, 2]
    assert all(h["episodes"] == 8 and h["steps_per_episode"] >= 1 for h in result.log_history)
    assert 0 < sum(h["reward"] for h in result.log_history) < 2  # a mix of right and wrong episodes
    assert (tmp_path / "orl" / "checkpoint-2" / "outcome_rl_state.json").exists()
    assert (
        not (tmp_path / "orl" / "checkpoint-1").exists()
        or len(list((tmp_path / "orl").glob("checkpoint-*"))) <= 2
    )
    trained = AutoModelForCausalLM.from_pretrained(result.model_dir)
    # KL-shaped rewards differ between episodes, so the weights moved
    assert any(not torch.equal(before[n], p) for n, p in trained.named_parameters() if n in before)
    resumed = train_outcome_rl(
        cfg(max_steps=3, resume_from_checkpoint=True), model=warm_start(tok, tmp_path), tokenizer=tok
    )
    assert [h["step"] for h in resumed.log_history] == [1, 2, 3]
    # after the first update the policy differs from its frozen initial copy: the KL is measured
    assert result.log_history[1]["kl"] != 0.0 and resumed.log_history[2]["kl"] != 0.0
