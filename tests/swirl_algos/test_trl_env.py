"""SwiRL envs as TRL environments: tool methods, rewards, and GRPOTrainer(environment_factory=...)."""

from __future__ import annotations

import pytest
from transformers.utils import get_json_schema

from swirl_algos.trl_env import environment_factory, tool_schema, trl_dataset

ARITH = {"n_tasks": 4, "min_ops": 1, "max_ops": 2, "max_distractors": 0}


def test_tool_methods_run_the_real_env_and_the_reward_is_its_outcome():
    Env = environment_factory("SwiRL-Arithmetic-v0", env_kwargs=ARITH)
    env = Env()
    env.reset(task_index=1, prompt=[{"role": "user", "content": "ignored"}])
    steps = env.env.task.metadata["solution_steps"]
    for s in steps:
        assert env.calculator(expression=s["expression"]) == str(s["value"])
    assert env.calculator("1 +").startswith("Error")  # a bad call is an informative result
    assert env.get_reward() == 0.0
    assert env.answer(str(steps[-1]["value"])) == "Answer recorded: the episode is over."
    assert env.get_reward() == 1.0
    assert env.calculator("1 + 1").startswith("Error: the episode is over")
    traj = env.episode
    assert [s.kind for s in traj.steps] == ["call"] * (len(steps) + 1) + ["answer"]
    env.reset(task_index=1)
    assert env.answer("-12345") and env.get_reward() == 0.0  # a wrong answer
    # the schema TRL renders comes from the method's signature and docstring
    schema = get_json_schema(env.calculator)["function"]
    assert schema["name"] == "calculator" and schema["parameters"]["required"] == ["expression"]
    assert tool_schema(env.env.tools["calculator"])["function"]["name"] == "calculator"


def test_step_cap_ends_the_episode_unanswered():
    Env = environment_factory("SwiRL-Arithmetic-v0", env_kwargs={**ARITH, "max_tool_calls": 1})
    env = Env()
    env.reset(task_index=0)
    env.calculator("1 + 1")
    assert "step cap" in env.calculator("2 + 2")
    assert env.get_reward() == 0.0


def test_dataset_rows_select_the_task():
    ds = trl_dataset("SwiRL-Arithmetic-v0", env_kwargs=ARITH)
    assert len(ds) == 4 and ds[2]["task_index"] == 2
    Env = environment_factory("SwiRL-Arithmetic-v0", env_kwargs=ARITH)
    env = Env()
    env.reset(**ds[2])
    assert env.env.task.question in ds[2]["prompt"][0]["content"]


@pytest.mark.filterwarnings("ignore")
def test_grpo_trainer_runs_on_a_swirl_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen2_5_chat_template

    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

    ds = trl_dataset("SwiRL-Arithmetic-v0", env_kwargs=ARITH)
    tok = build_tiny_tokenizer(
        [ds[0]["prompt"][0]["content"], qwen2_5_chat_template, '<tool_call>{"name": "calculator"}'],
        vocab_size=400,
    )
    tok.chat_template = qwen2_5_chat_template  # a real tool-calling template (Qwen2.5's)
    model = build_tiny_model(tok, hidden_size=32, num_layers=1)
    Env = environment_factory("SwiRL-Arithmetic-v0", env_kwargs=ARITH)
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=12,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        max_tool_calling_iterations=2,
    )
    trainer = GRPOTrainer(
        model=model, processing_class=tok, args=args, train_dataset=ds, environment_factory=Env
    )
    # the env's tools are declared to the chat template, and its outcome is a reward source
    assert {t.__name__ for t in trainer.tools} == {"calculator", "answer"}
    assert trainer.reward_func_names == ["SwiRLArithmeticTRLEnv"]
    rendered = tok.apply_chat_template(ds[0]["prompt"], tools=trainer.tools, tokenize=False)
    assert '"name": "calculator"' in rendered and "<tools>" in rendered
    trainer.train()
    logs = [h for h in trainer.state.log_history if "rewards/SwiRLArithmeticTRLEnv/mean" in h]
    assert len(logs) == 2 and all(0.0 <= h["rewards/SwiRLArithmeticTRLEnv/mean"] <= 1.0 for h in logs)
    assert trainer.state.global_step == 2
    # every rollout was an episode of a pooled env instance, reset on its dataset row's task
    pool = trainer._environment_pool[None]
    assert sum(e._episodes for e in pool) >= 2 * args.per_device_train_batch_size
    assert all(e.env.task is not None for e in pool)
