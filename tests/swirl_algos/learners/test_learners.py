"""SWiRL, SFT and RFT learners on a tiny random model (CPU): they train, learn, save, reload, resume."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch
import toys
from toys import RecordingJudge
from transformers import AutoModelForCausalLM, AutoTokenizer

from swirl_algos.learners.common import filter_records, load_records, load_trained_model
from swirl_algos.learners.config import OutcomeRLConfig, SupervisedConfig, SwirlConfig
from swirl_algos.learners.shared_prefix import end_of_turn_ids
from swirl_algos.learners.swirl import (
    ProcessJudgeReward,
    build_swirl_trainer,
    prepare_state_dataset,
    train_swirl,
)
from swirl_algos.learners.swirl_trl import check_trl_version, cut_at_stop
from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
from swirl_env.rewards.judges.base import Judgement, ProcessJudge
from swirl_env.tasks.base import Task

TOOL_TAGS = {"math_exp": "calculator"}
PROMPT = (
    "Answer step by step. If a calculator would help, write <math_exp> EXPRESSION </math_exp>. "
    "When you know the answer, write <answer> ANSWER </answer>.\n\nQuestion: {q}"
)


class FirstDigitJudge(ProcessJudge):
    """GOOD iff the action starts with a digit: a checkable behaviour a random tiny model rarely shows."""

    name = "first-digit"

    def judge_steps(self, requests):
        return [
            Judgement(label=r.action.strip()[:1].isdigit(), score=None, judge=self.name) for r in requests
        ]


class FlakyJudge(ProcessJudge):
    """Fails (label None) on every other request, GOOD otherwise."""

    name = "flaky"

    def judge_steps(self, requests):
        return [
            Judgement(label=None, error="timeout") if i % 2 else Judgement(label=True, score=1.0)
            for i, _ in enumerate(requests)
        ]


class BrokenJudge(ProcessJudge):
    name = "broken"

    def judge_steps(self, requests):
        raise ConnectionError("judge server down")


def task_json(i: int) -> str:
    return json.dumps(Task(f"q{i}", f"What is {i} + 1?", (str(i + 1),), "toy", "train").to_dict())


def make_records(n: int = 12, *, offset: int = 0) -> list[dict]:
    """Two-step trajectories (a calculator call, then the answer) as step records."""
    recs = []
    for i in range(offset, offset + n):
        s1 = [{"role": "user", "content": PROMPT.format(q=f"What is {i} + 1?")}]
        a1 = {"role": "assistant", "content": f"<math_exp> {i} + 1 </math_exp>"}
        obs = {"role": "user", "content": f"{i} + 1 -> {i + 1}"}
        a2 = {"role": "assistant", "content": f"<answer> {i + 1} </answer>"}
        common = {
            "trajectory_id": f"q{i}#0",
            "num_steps": 2,
            "env_id": "SwiRL-Toy-v0",
            "task": task_json(i),
            "outcome_score": float(i % 2 == 0),
        }
        recs.append(
            {
                "prompt": s1,
                "completion": [a1],
                "step_index": 0,
                "process_label": True,
                "process_score": 1.0,
                **common,
            }
        )
        recs.append(
            {
                "prompt": [*s1, a1, obs],
                "completion": [a2],
                "step_index": 1,
                "process_label": i % 3 != 0,
                "process_score": None,
                **common,
            }
        )
    return recs


@pytest.fixture(scope="module")
def tok():
    texts = [m["content"] for r in make_records(4) for m in [*r["prompt"], *r["completion"]]]
    return build_tiny_tokenizer(texts, vocab_size=300)


def tiny(tok, seed: int = 0):
    return build_tiny_model(tok, hidden_size=32, num_layers=1, seed=seed)


def swirl_config(tmp_path, **kw) -> SwirlConfig:
    base = {
        "output_dir": str(tmp_path / "swirl"),
        "num_generations": 4,
        "per_device_train_batch_size": 8,
        "max_steps": 3,
        "learning_rate": 1e-3,
        "max_completion_length": 8,
        "tool_tags": TOOL_TAGS,
        "logging_steps": 1,
        "save_steps": 2,
        "report_to": ["none"],
        "dynamic_sampling": "none",  # exact sample counts; resampling has its own tests
    }
    return SwirlConfig(**{**base, **kw})


# ------------------------------------------------------------------------------------------ SWiRL
@pytest.mark.parametrize("engine", ["native", "trl"])
def test_swirl_trains_saves_checkpoint_and_reloads(tok, tmp_path, engine):
    judge = RecordingJudge()
    cfg = swirl_config(tmp_path, engine=engine)
    result = train_swirl(cfg, make_records(), judge, model=tiny(tok), tokenizer=tok)
    out = Path(result.output_dir)
    assert (out / "checkpoint-2" / "model.safetensors").exists()
    # the frozen KL reference: an in-memory copy (native) or TRL's reload of the initial weights
    assert (out / "initial_policy" / "config.json").exists() == (engine == "trl")
    # 3 steps x 8 sampled actions, each judged once
    assert result.stats["reward/judged"] == 24 and result.stats["judge_failure_rate"] == 0.0
    steps = [h for h in result.log_history if "reward" in h]
    assert len(steps) == 3 and all("kl" in h for h in steps)
    model = AutoModelForCausalLM.from_pretrained(result.model_dir)
    tokenizer = AutoTokenizer.from_pretrained(result.model_dir)
    ids = tokenizer.apply_chat_template(
        make_records(1)[0]["prompt"], add_generation_prompt=True, return_tensors="pt"
    )
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    assert model.generate(ids, max_new_tokens=3, do_sample=False).shape[1] == ids.shape[1] + 3
    # the judge saw states, un-executed parsed actions and the task
    req = judge.requests[0]
    assert req.task is not None and req.task.id.startswith("q")
    assert req.context[-1]["role"] == "user" and req.step["tool_result"] is None
    assert req.step["kind"] in ("call", "answer", "none", "malformed")
    assert json.loads((out / "swirl_stats.json").read_text())["reward/judged"] == 24


def heldout_reward(model, tok, n: int = 48, samples: int = 4, seed: int = 123) -> float:
    """Mean FirstDigitJudge reward of sampled actions on states never seen in training."""
    prompts = [
        tok.apply_chat_template(
            [{"role": "user", "content": PROMPT.format(q=f"What is {i} * 3?")}],
            add_generation_prompt=True,
            tokenize=False,
        )
        for i in range(n)
    ]
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(seed)
    model.eval()
    with torch.no_grad():
        out = model.generate(**enc, do_sample=True, max_new_tokens=8, num_return_sequences=samples)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return sum(t.strip()[:1].isdigit() for t in texts) / len(texts)


def test_swirl_learns_rewarded_behaviour_on_heldout_states(tok, tmp_path, capsys):
    """A learning test: the judge rewards actions that start with a digit (~4% of random samples);
    40 SWiRL steps on 64 training states raise the rate on 48 HELD-OUT states (questions never
    trained on) far above the start, for each of 3 seeds."""
    results = []
    for seed in range(3):
        model = tiny(tok, seed=seed)
        before = heldout_reward(model, tok)
        records = [r for r in make_records(64, offset=1000) if r["step_index"] == 0]
        cfg = swirl_config(
            tmp_path / f"learn{seed}",
            num_generations=8,
            per_device_train_batch_size=32,
            max_steps=40,
            learning_rate=2e-2,
            beta=0.02,
            save_steps=0,
            logging_steps=10,
            seed=seed,
            dynamic_sampling="resample",  # the default
        )
        trainer = build_swirl_trainer(cfg, records, FirstDigitJudge(), model=model, tokenizer=tok)
        trainer.train()
        after = heldout_reward(trainer.model, tok)
        results.append((seed, before, after))
    with capsys.disabled():
        print("\nSWiRL held-out judge reward (first-digit rule), before -> after 40 steps:")
        for seed, b, a in results:
            print(f"  seed {seed}: {b:.3f} -> {a:.3f}")
    for _, before, after in results:
        assert before < 0.15
        assert after > before + 0.5
    assert sum(a for _, _, a in results) / 3 > 0.8


def test_swirl_with_a_local_model_judge_and_soft_rewards(tok, tmp_path):
    """The real HF judge (score mode: P(GOOD)) as SWiRL's reward model, with reward='score'."""
    from swirl_algos.evaluation import load_judge

    judge_tok = build_tiny_tokenizer(["Verdict: GOOD BAD"], vocab_size=300)
    build_tiny_model(judge_tok, hidden_size=16, num_layers=1, seed=5).save_pretrained(tmp_path / "judge")
    judge_tok.save_pretrained(tmp_path / "judge")
    judge = load_judge(f"hf:{tmp_path / 'judge'}", "process", {"mode": "score"})
    cfg = swirl_config(tmp_path, reward="score", max_steps=2, save_steps=0)
    trainer = build_swirl_trainer(cfg, make_records(), judge, model=tiny(tok), tokenizer=tok)
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    assert len(rewards) == 2 and all(0.0 < r < 1.0 for r in rewards)  # soft scores, not 0/1 labels
    assert trainer.swirl_reward.stats["failed"] == 0


def test_rule_judge_scores_unexecuted_sampled_actions():
    """The rule-based process judge through SWiRL's reward function: actions are judged from the
    text and the state only (never executed)."""
    from swirl_env.rewards.judges.rule import RuleProcessJudge

    task = Task("q", "Tom has 3 bags of 4 apples. How many apples?", ("12",), "gsm8k", "train")
    state = [{"role": "user", "content": PROMPT.format(q=task.question)}]
    actions = {
        "<math_exp> 3 * 4 </math_exp>": 1.0,  # operands from the question
        "Let me compute. <math_exp> 3 * 5 </math_exp> and more": 0.0,  # 5 is made up
        "I think the answer is twelve": 0.0,  # no call at all
        "<answer> 12 </answer>": 0.0,  # answers before the needed calculation
    }
    reward = ProcessJudgeReward(RuleProcessJudge(), tool_tags=TOOL_TAGS)
    got = reward(
        [state] * len(actions),
        [[{"role": "assistant", "content": a}] for a in actions],
        task=[json.dumps(task.to_dict())] * len(actions),
        step_index=[0] * len(actions),
    )
    assert got == list(actions.values())
    assert reward.stats["failed"] == 0 and reward.stats["kind/call"] == 2


def test_judge_reward_failures_parse_and_batch_errors():
    prompts = [[{"role": "user", "content": "Q?"}]] * 4
    comps = [[{"role": "assistant", "content": f"<answer> {i} </answer> trailing"}] for i in range(4)]
    skip = ProcessJudgeReward(FlakyJudge(), tool_tags=TOOL_TAGS)
    logged = []
    assert skip(prompts, comps, log_metric=lambda k, v: logged.append((k, v))) == [1.0, None, 1.0, None]
    assert skip.stats["failed"] == 2 and ("judge/failure_rate", 0.5) in logged
    zero = ProcessJudgeReward(FlakyJudge(), tool_tags=TOOL_TAGS, on_failure="zero")
    assert zero(prompts, comps) == [1.0, 0.0, 1.0, 0.0]
    broken = ProcessJudgeReward(BrokenJudge(), tool_tags=TOOL_TAGS)
    assert broken(prompts, comps) == [None] * 4 and broken.stats["failed"] == 4
    soft = ProcessJudgeReward(RecordingJudge(), tool_tags=TOOL_TAGS, reward="score")
    assert soft(prompts, comps, task=[task_json(1)] * 4, step_index=[3] * 4) == [0.25] * 4
    req = soft.judge.requests[0]
    # the action is cut after the first complete call, as the env would, and parsed
    assert req.action == "<answer> 0 </answer>" and req.step["ignored_chars"] == len(" trailing")
    assert (req.step["kind"], req.step["argument"], req.step["index"]) == ("answer", "0", 3)
    assert req.task.answers == ("2",)
    with pytest.raises(TypeError):
        ProcessJudgeReward(object())
    with pytest.raises(ValueError):
        ProcessJudgeReward(FlakyJudge(), on_failure="ignore")


@pytest.mark.parametrize("policy", ["skip", "zero"])
def test_training_with_a_failing_judge_stays_finite_and_counts_failures(tok, tmp_path, policy):
    cfg = swirl_config(tmp_path, judge_failure=policy, max_steps=2, save_steps=0)
    trainer = build_swirl_trainer(cfg, make_records(), FlakyJudge(), model=tiny(tok), tokenizer=tok)
    trainer.train()
    assert trainer.swirl_reward.stats["failed"] == 8 and trainer.swirl_reward.stats["judged"] == 16
    logs = [h for h in trainer.state.log_history if "judge/failure_rate" in h]
    assert logs and all(h["judge/failure_rate"] == 0.5 for h in logs)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert all(math.isfinite(h["loss"]) for h in trainer.state.log_history if "loss" in h)


def test_cut_at_stop_masks_tokens_after_the_call(tok):
    ids = tok.encode("think <math_exp> 2 + 2 </math_exp> 2 + 2 -> 4 <answer> 4 </answer>")
    cut, stopped = cut_at_stop(ids, tok, ["</math_exp>", "</answer>"])
    assert stopped and tok.decode(cut).endswith("</math_exp>")
    assert "</math_exp>" not in tok.decode(cut[:-1])  # shortest such prefix
    assert cut_at_stop(ids, tok, ["</search_query>"]) == (ids, False)
    assert cut_at_stop([], tok, ["</answer>"]) == ([], False)


def test_trainer_samples_stop_at_the_first_call(tok, tmp_path):
    """Inside the trainer, sampled completions (ids, text, loss mask) end at the first stop string."""
    cfg = swirl_config(tmp_path, max_steps=2, save_steps=0, max_completion_length=16, beta=0.0, engine="trl")
    trainer = build_swirl_trainer(cfg, make_records(), RecordingJudge(), model=tiny(tok), tokenizer=tok)
    assert trainer.swirl_stop_strings == ["</math_exp>", "</answer>", "</tool_call>"]
    assert trainer.generation_config.stop_strings == ["</math_exp>", "</answer>", "</tool_call>"]
    # a stop string the random model emits often, to exercise the cut inside training
    stop = "e"
    trainer.swirl_stop_strings = [stop]
    trainer.swirl_env_stops = {e: [stop] for e in trainer.swirl_env_stops}
    trainer.generation_config.stop_strings = [stop]
    seen = []
    reward = trainer.reward_funcs[0]

    def spy(prompts, completions, completion_ids, **kw):
        seen.extend(zip(completions, completion_ids))
        return reward(prompts, completions, completion_ids=completion_ids, **kw)

    spy.__name__ = reward.__name__
    trainer.reward_funcs[0] = spy
    trainer.train()
    assert len(seen) == 16
    stopped = [(c, ids) for c, ids in seen if stop in c[0]["content"]]
    assert stopped, "the random model should emit the stop string sometimes"
    for _, ids in stopped:
        assert ids[-1] == tok.eos_token_id  # a cut action ends its turn (TRL counts it terminated)
        assert stop in tok.decode(ids, skip_special_tokens=True)
        assert stop not in tok.decode(ids[:-2], skip_special_tokens=True)  # nothing after the stop token
    assert any(len(ids) < 16 for _, ids in stopped)
    assert "completions/stopped_at_call" in trainer.state.log_history[0]


def test_group_norm_advantage_uses_grpo(tok, tmp_path):
    cfg = swirl_config(tmp_path, advantage="group_norm", max_steps=2, save_steps=0, engine="trl")
    trainer = build_swirl_trainer(cfg, make_records(), RecordingJudge(), model=tiny(tok), tokenizer=tok)
    assert type(trainer).__name__ == "SwirlGRPOTrainer" and trainer.beta == cfg.beta
    trainer.train()
    assert trainer.state.global_step == 2


def test_swirl_lora_saves_adapter_and_merged_model(tok, tmp_path):
    cfg = swirl_config(
        tmp_path, use_peft=True, lora_r=4, lora_target_modules=["q_proj", "v_proj"], max_steps=2
    )
    result = train_swirl(cfg, make_records(), RecordingJudge(), model=tiny(tok), tokenizer=tok)
    out = Path(result.output_dir)
    assert (out / "adapter_config.json").exists() and result.model_dir == str(out / "merged")
    assert not (out / "initial_policy").exists()  # the reference is the base with the adapter disabled
    merged = AutoModelForCausalLM.from_pretrained(result.model_dir)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    model, _ = load_trained_model(out)
    assert type(model).__name__ == "LlamaForCausalLM"


def test_swirl_resumes_from_checkpoint(tok, tmp_path):
    records = make_records()
    train_swirl(
        swirl_config(tmp_path, max_steps=2, save_steps=1),
        records,
        RecordingJudge(),
        model=tiny(tok),
        tokenizer=tok,
    )
    assert (tmp_path / "swirl" / "checkpoint-2").exists()
    resumed = train_swirl(
        swirl_config(tmp_path, max_steps=3, save_steps=1, resume_from_checkpoint=True),
        records,
        RecordingJudge(),
        model=tiny(tok),
        tokenizer=tok,
    )
    steps = [h["step"] for h in resumed.log_history if "reward" in h]
    assert steps == [1, 2, 3]  # history restored, one new step
    assert resumed.stats["reward/judged"] == 8  # only the new step sampled


def test_state_dataset_filters_deduplicates_and_checks(tok):
    recs = make_records(6)
    stats = Counter()
    ds = prepare_state_dataset(recs, data_filter="process", stats=stats)
    # trajectories 0 and 3 have a BAD step: the paper's filter drops the whole trajectory
    assert sorted(set(ds["trajectory_id"])) == ["q1#0", "q2#0", "q4#0", "q5#0"]
    assert stats["filter/dropped_process"] == 4
    ds = prepare_state_dataset(recs, data_filter="process", filter_level="step")
    assert len(ds) == 10
    dup = [*recs, dict(recs[0], trajectory_id="q0#1")]
    stats = Counter()
    assert (
        len(prepare_state_dataset(dup, deduplicate=True, stats=stats)) == 12
        and stats["states_duplicate"] == 1
    )
    stats = Counter()
    short = prepare_state_dataset(
        recs, tokenizer=tok, max_prompt_length=len(tok.encode(PROMPT)) + 20, stats=stats
    )
    assert len(short) == 6 and stats["states_too_long"] == 6
    assert set(short["step_index"]) == {0}
    with pytest.raises(ValueError, match="no training states"):
        prepare_state_dataset(recs, tokenizer=tok, max_prompt_length=5)
    with pytest.raises(ValueError, match="list of chat messages"):
        prepare_state_dataset([{"prompt": "text"}])
    with pytest.raises(ValueError, match="assistant turn"):
        prepare_state_dataset([{"prompt": [{"role": "assistant", "content": "x"}]}])
    with pytest.raises(FileNotFoundError):
        load_records("/nonexistent/steps.jsonl")


def test_records_load_from_jsonl_and_directories(tmp_path):
    recs = make_records(3)
    path = tmp_path / "steps.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in recs) + '\n{"prompt": [{"ro')  # half-written last line
    assert len(load_records(path)) == 6
    assert len(load_records(tmp_path)) == 6
    (tmp_path / "bad.jsonl").write_text('{"x": 1\n{"prompt": []}\n')
    with pytest.raises(ValueError, match="invalid JSON"):
        load_records(tmp_path)
    from datasets import Dataset

    Dataset.from_list(recs).save_to_disk(str(tmp_path / "saved"))
    assert len(load_records(tmp_path / "saved")) == 6
    kept, counts = filter_records(recs, "process+outcome")
    assert {r["trajectory_id"] for r in kept} == {"q2#0"} and counts["kept"] == 2


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("temperature", 0), ("temperature", -1.0), ("temperature", math.nan), ("temperature", math.inf),
        ("top_p", 0), ("top_p", 1.5), ("top_p", math.nan), ("top_k", -1), ("top_k", 2.5),
        ("max_completion_length", 0), ("max_completion_length", 2.5), ("beta", math.nan), ("beta", math.inf),
        ("beta", -0.1), ("learning_rate", math.nan), ("learning_rate", math.inf), ("learning_rate", "1e-5"),
        ("num_generations", 2.5), ("num_generations", "4"), ("num_generations", 0), ("num_generations", -3),
        ("greedy_branches", True), ("greedy_branches", 1.5), ("max_resample_rounds", 1.5),
        ("max_resample_rounds", -1), ("mask_truncated_completions", "no"), ("mask_truncated_completions", 2),
        ("mask_truncated_completions", None), ("epsilon", math.nan), ("epsilon", -1), ("max_prompt_length", 0),
        ("per_device_train_batch_size", 8.0), ("lora_dropout", 1.0), ("num_iterations", 0),
        ("negative_advantage_scale", -0.5), ("negative_advantage_scale", 10.5),
        ("negative_advantage_scale", math.nan), ("negative_advantage_scale", "0"),
        ("tool_tags", {"x": 1}), ("tool_tags", {"answer": "x"}), ("tool_tags", {"a b": "x"}),
        ("seed", -1), ("seed", 2**32), ("report_to", [1]), ("report_to", [""]),
    ],
)  # fmt: skip
def test_swirl_config_rejects_hostile_values_naming_the_field(field_name, value):
    kwargs = {field_name: value}
    if field_name == "num_generations" and value == 2.5:
        kwargs["per_device_train_batch_size"] = 5  # a multiple of it, so only the type can fail
    if field_name == "num_iterations":
        kwargs["engine"] = "trl"
    with pytest.raises((TypeError, ValueError), match=field_name):
        SwirlConfig(**kwargs)


def test_every_learner_config_checks_its_own_fields():
    with pytest.raises(ValueError, match="max_length"):
        SupervisedConfig(max_length=0)
    with pytest.raises(ValueError, match="tasks_per_step"):
        OutcomeRLConfig(tasks_per_step=0)
    with pytest.raises(ValueError, match="task_indices"):
        OutcomeRLConfig(task_indices=[0, -5])
    with pytest.raises(ValueError, match="trainer_kwargs is not used"):
        OutcomeRLConfig(trainer_kwargs={"gradient_checkpointing_kwargs": {}})
    with pytest.raises(TypeError, match="use_peft"):
        SupervisedConfig(use_peft="yes")
    assert SupervisedConfig(max_length=None, save_total_limit=None).max_length is None
    assert SwirlConfig(temperature=0.7, top_p=1, learning_rate=1, warmup_steps=0.1).top_p == 1


def test_config_validation_and_trl_mapping(tmp_path):
    with pytest.raises(ValueError, match="num_generations"):
        SwirlConfig(num_generations=1)
    with pytest.raises(ValueError, match="multiple"):
        SwirlConfig(num_generations=3, per_device_train_batch_size=8)
    with pytest.raises(ValueError, match="advantage"):
        SwirlConfig(advantage="ppo")
    with pytest.raises(ValueError, match="greedy_branches"):
        SwirlConfig(num_generations=4, greedy_branches=4)  # no sampled action left
    with pytest.raises(ValueError, match="greedy_branches needs engine='native'"):
        SwirlConfig(greedy_branches=1, engine="trl")
    with pytest.raises(ValueError, match="negative_advantage_scale needs engine='native'"):
        SwirlConfig(negative_advantage_scale=0.5, engine="trl")
    with pytest.raises(ValueError, match="data_filter"):
        SupervisedConfig(data_filter="best")
    with pytest.raises(ValueError, match="unknown RLOOConfig fields"):
        SwirlConfig(output_dir=str(tmp_path), trainer_kwargs={"not_a_field": 1}).to_trl()
    args = SwirlConfig(output_dir=str(tmp_path), trainer_kwargs={"sync_ref_model": True}).to_trl()
    assert args.sync_ref_model and not args.bf16 and not args.gradient_checkpointing  # CPU: auto off
    assert args.remove_unused_columns is False and args.beta == 0.05
    sft = SupervisedConfig(output_dir=str(tmp_path), bf16=False).to_trl()
    assert sft.completion_only_loss and type(sft).__name__ == "SFTConfig"


# ------------------------------------------------------------------------------------------ SFT / RFT
@pytest.mark.parametrize("mode", ["single_pass", "per_step"])
def test_sft_trains_and_saves(tok, tmp_path, mode):
    from swirl_algos.learners.sft import train_sft

    cfg = SupervisedConfig(
        output_dir=str(tmp_path / mode),
        sft_mode=mode,
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=5e-3,
        logging_steps=1,
        save_steps=2,
    )
    result = train_sft(cfg, make_records(), model=tiny(tok), tokenizer=tok)
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert (Path(result.output_dir) / "checkpoint-2").exists()
    assert result.stats["records/kept"] == 24
    assert result.stats["examples"] == (12 if mode == "single_pass" else 24)
    AutoModelForCausalLM.from_pretrained(result.model_dir)


def test_sft_lora_saves_adapter_and_merged_model(tok, tmp_path):
    from swirl_algos.learners.sft import train_sft

    cfg = SupervisedConfig(
        output_dir=str(tmp_path / "lora"),
        max_steps=2,
        per_device_train_batch_size=4,
        save_steps=0,
        use_peft=True,
        lora_r=4,
        lora_target_modules=["q_proj", "v_proj"],
    )
    result = train_sft(cfg, make_records(), model=tiny(tok), tokenizer=tok)
    assert (Path(cfg.output_dir) / "adapter_config.json").exists()
    assert result.model_dir.endswith("merged")
    AutoModelForCausalLM.from_pretrained(result.model_dir)


def test_rft_keeps_only_correct_trajectories(tok, tmp_path):
    from swirl_algos.learners.sft import train_rft

    cfg = SupervisedConfig(
        output_dir=str(tmp_path / "rft"), max_steps=1, per_device_train_batch_size=4, save_steps=0
    )
    result = train_rft(cfg, make_records(), model=tiny(tok), tokenizer=tok)
    assert result.stats["records/dropped_outcome"] == 12 and result.stats["records/kept"] == 12
    assert result.stats["trajectories"] == 6
    with pytest.raises(ValueError, match="no step records left"):
        train_rft(
            cfg, [r for r in make_records() if r["outcome_score"] == 0.0], model=tiny(tok), tokenizer=tok
        )


# ------------------------------------------------------------------------------------------ command line
def test_train_command_runs_in_process(tok, tmp_path):
    """`swirl train` without accelerate launch: one CPU process, same code path as multi-GPU."""
    from swirl_algos.learners import cli

    model_dir = tmp_path / "init"
    tiny(tok).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    data = tmp_path / "steps.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in make_records()) + "\n")
    common = ["--data", str(data), "--model", str(model_dir), "--max-steps", "2", "--save-steps", "0"]
    assert (
        cli.main(
            [
                "--algo",
                "sft",
                "--output",
                str(tmp_path / "sft"),
                "--per-device-train-batch-size",
                "4",
                *common,
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "sft" / "train_summary.json").read_text())
    assert summary["algo"] == "sft" and summary["stats"]["examples"] == 12
    rc = cli.main(
        [
            "--algo",
            "swirl",
            "--output",
            str(tmp_path / "swirl"),
            "--process-judge",
            f"{FirstDigitJudge.__module__}:FirstDigitJudge",
            "--num-generations",
            "4",
            "--per-device-train-batch-size",
            "8",
            "--max-completion-length",
            "6",
            "--tool-tags",
            json.dumps(TOOL_TAGS),
            "--set",
            "beta=0.1",
            *common,
        ]
    )
    assert rc == 0
    model, _ = load_trained_model(tmp_path / "swirl")
    assert model is not None
    with pytest.raises(SystemExit, match="process-judge"):
        cli.main(["--algo", "swirl", "--output", str(tmp_path / "x"), *common])
    with pytest.raises(SystemExit, match="unknown SwirlConfig fields"):
        cli.main(["--algo", "swirl", "--output", str(tmp_path / "x"), "--set", "nope=1", *common])


def _eval_env_id() -> str:
    """SwiRL-GSM8K-v0 when its data is available, else a toy registered calculator env."""
    import gymnasium as gym

    import swirl_env  # noqa: F401

    try:
        gym.make("SwiRL-GSM8K-v0").close()
        return "SwiRL-GSM8K-v0"
    except Exception:
        pass
    return toys.register_add_env(
        "SwiRLTest-LearnersAdd-v0", max_tool_calls=2, n_tasks=4, dataset="toy", prompt="generic-v1"
    )


@pytest.mark.parametrize("algo", ["swirl", "sft"])
def test_trained_checkpoint_loads_and_evaluates_on_a_registered_env(tok, tmp_path, algo):
    import swirl_algos.policies.hf as hf
    from swirl_algos.evaluation import evaluate
    from swirl_algos.learners.sft import train_sft

    if algo == "swirl":
        result = train_swirl(
            swirl_config(tmp_path, max_steps=2, save_steps=0),
            make_records(),
            RecordingJudge(),
            model=tiny(tok),
            tokenizer=tok,
        )
    else:
        cfg = SupervisedConfig(
            output_dir=str(tmp_path / "sft"), max_steps=2, per_device_train_batch_size=4, save_steps=0
        )
        result = train_sft(cfg, make_records(), model=tiny(tok), tokenizer=tok)
    policy = hf.HFPolicy.from_pretrained(result.model_dir, max_new_tokens=4, do_sample=False)
    results = evaluate(_eval_env_id(), policy, n_tasks=2, output_dir=tmp_path / "eval", progress=False)
    assert results["n_episodes"] == 2
    assert 0.0 <= results["metrics"]["accuracy"]["mean"] <= 1.0
    assert results["metrics"]["steps_per_episode"]["mean"] >= 1
    assert (tmp_path / "eval" / "results.json").exists()


# ------------------------------------------------------------------------------------------ engines
@pytest.mark.parametrize("engine", ["native", "trl"])
def test_reference_is_this_runs_initial_model_and_callers_model_keeps_its_name(tok, tmp_path, engine):
    """Rerunning into the same output directory with another model anchors the KL to THAT model."""
    for seed in (0, 1):
        model = tiny(tok, seed=seed)
        name = model.config._name_or_path
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        cfg = swirl_config(tmp_path, engine=engine, max_steps=1, save_steps=0)
        trainer = build_swirl_trainer(cfg, make_records(), RecordingJudge(), model=model, tokenizer=tok)
        assert model.config._name_or_path == name  # the caller's model is not renamed
        ref = trainer.ref_model
        for k, v in ref.state_dict().items():
            torch.testing.assert_close(v, initial[k])
    assert (tmp_path / "swirl" / "initial_policy").exists() == (engine == "trl")


def test_native_engine_ends_cut_actions_with_the_turn_and_resamples_flat_groups(tok, tmp_path):
    seen = []

    class Spy(RecordingJudge):
        def judge_steps(self, reqs):
            seen.extend(reqs)
            # reward by parity of the action length: most groups have both values
            return [Judgement(label=len(r.action) % 2 == 0) for r in reqs]

    cfg = swirl_config(
        tmp_path, max_steps=2, save_steps=0, max_completion_length=16, dynamic_sampling="resample"
    )
    trainer = build_swirl_trainer(cfg, make_records(), Spy(), model=tiny(tok), tokenizer=tok)
    trainer.stop_strings_by_env = {e: ["e"] for e in trainer.stop_strings_by_env}
    done = trainer._complete([5, 6], stopped=True, ended=False)
    assert done[-2:] == end_of_turn_ids(tok) and done[:2] == [5, 6]
    trainer.train()
    logs = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logs) == 2
    for h in logs:
        assert h["completions/clipped_ratio"] < 1.0  # cut actions count as terminated
        assert "groups/zero_std_frac" in h and "groups/resampled" in h and h["tokens_processed"] > 0
    assert len(seen) >= 16


def test_trl_version_outside_the_tested_range_is_a_clear_error():
    check_trl_version("1.16.0")
    with pytest.raises(ImportError, match="engine='native'"):
        check_trl_version("0.19.0")
    with pytest.raises(ImportError, match=r">=1\.16"):
        check_trl_version("2.0.0")
