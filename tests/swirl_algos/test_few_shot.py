"""Few-shot demonstrations from the scripted oracles, and chat_template_kwargs end to end."""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import pytest

import swirl_env  # noqa: F401
from swirl_algos.few_shot import oracle_demonstrations, with_few_shot
from swirl_algos.policies.arithmetic_oracle import ArithmeticOraclePolicy
from swirl_algos.policies.hf import HFPolicy, _render_prompts
from swirl_algos.policies.openai import OpenAIPolicy
from swirl_algos.prompt_settings import (
    load_prompt_settings,
    resolve_chat_template_kwargs,
    save_prompt_settings,
)
from swirl_algos.rollout import rollout
from swirl_env.envs.gsm8k.tasks import load_gsm8k
from swirl_env.rewards.prompts import question_of


def test_gsm8k_demonstrations_are_solved_training_episodes():
    demos = oracle_demonstrations("SwiRL-GSM8K-v0", 2)
    train = {t.question for t in load_gsm8k("train")}
    test = {t.question for t in load_gsm8k("test")}
    assert len(demos) == 2
    for d in demos:
        assert d["question"] in train and d["question"] not in test
        assert d["turns"][0].startswith("<math_exp>") and " -> " in d["turns"][1]
        assert d["turns"][-1].startswith("<answer>")
        assert len(d["turns"]) % 2 == 1  # call, result, ..., answer


def test_env_shows_demonstrations_before_the_question_and_records_them(tmp_path):
    kwargs = with_few_shot("SwiRL-Arithmetic-v0", {"max_ops": 2, "n_tasks": 4}, 2)
    env = gym.make("SwiRL-Arithmetic-v0", **kwargs)
    obs, info = env.reset(options={"task_index": 0})
    question = info["task"]["question"]
    assert obs.count("Question:") == 3 and obs.index("Example 1:") < obs.index("Example 2:")
    assert obs.rstrip().endswith(f"Question: {question}")
    # the judges and the oracles read the real question (the last "Question:")
    assert question_of(None, info["messages"]) == question
    trajs = rollout(
        "SwiRL-Arithmetic-v0",
        ArithmeticOraclePolicy(error_rates=0.0),
        env_kwargs=kwargs,
        n_tasks=4,
        progress=False,
        output=tmp_path / "t.jsonl",
    )
    assert [t.outcome["score"] for t in trajs] == [1.0] * 4
    assert trajs[0].env_kwargs["demonstrations"] == kwargs["demonstrations"]
    # the recorded kwargs rebuild the same prompt
    again = gym.make("SwiRL-Arithmetic-v0", **trajs[0].env_kwargs).reset(options={"task_index": 0})[0]
    assert again == obs


def test_malformed_demonstrations_fail_at_construction():
    with pytest.raises(ValueError, match="demonstration 1"):
        gym.make("SwiRL-GSM8K-v0", n_tasks=1, demonstrations=[{"question": "q", "turns": "not a list"}])


def test_too_few_solvable_tasks_is_a_clear_error():
    with pytest.raises(ValueError, match="only 0 of the 2"):
        oracle_demonstrations("SwiRL-Arithmetic-v0", 2, min_tool_calls=99, max_candidates=3)


def test_openai_policy_sends_chat_template_kwargs():
    p = OpenAIPolicy("http://127.0.0.1:9/v1", "m", chat_template_kwargs={"enable_thinking": False})
    body = p._body([{"role": "user", "content": "hi"}], seed=1)
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert p.describe()["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in OpenAIPolicy("http://127.0.0.1:9/v1", "m")._body([], None)
    p.close()


def test_hf_rendering_uses_chat_template_kwargs():
    from swirl_algos.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer(["hi"], vocab_size=300)
    tok.chat_template = (
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
        "{% if enable_thinking is defined and not enable_thinking %}/no_think{% endif %}"
    )
    state = [[{"role": "user", "content": "hi"}]]
    assert _render_prompts(tok, state, None) == ["hi"]
    assert _render_prompts(tok, state, {"enable_thinking": False}) == ["hi/no_think"]


def test_saved_prompt_settings_are_reused_by_evaluate_and_generate(tmp_path):
    from swirl_algos import evaluation, pipeline_cli
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

    tok = build_tiny_tokenizer(["<answer> 1 </answer>"], vocab_size=300)
    model = build_tiny_model(tok, hidden_size=16, num_layers=1)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    save_prompt_settings(tmp_path / "m", {"enable_thinking": False})
    assert json.loads((tmp_path / "m" / "swirl_prompt.json").read_text()) == {
        "chat_template_kwargs": {"enable_thinking": False}
    }
    assert resolve_chat_template_kwargs(None, str(tmp_path / "m")) == {"enable_thinking": False}
    assert resolve_chat_template_kwargs({}, str(tmp_path / "m")) == {}  # an explicit value wins
    args = argparse.Namespace(
        model=str(tmp_path / "m"), chat_template_kwargs=None, temperature=0.0, max_new_tokens=4,
        top_p=1.0, batch_size=2, device="cpu", top_k=0, num_envs=2, seed=0,
    )  # fmt: skip
    assert isinstance(evaluation.build_policy(args), HFPolicy)
    assert evaluation.build_policy(args).chat_template_kwargs == {"enable_thinking": False}
    assert pipeline_cli.build_policy(args).chat_template_kwargs == {"enable_thinking": False}
    args.chat_template_kwargs = '{"enable_thinking": true}'
    assert evaluation.build_policy(args).chat_template_kwargs == {"enable_thinking": True}
    (tmp_path / "m" / "swirl_prompt.json").write_text("[1]")
    with pytest.raises(ValueError, match="chat_template_kwargs"):
        load_prompt_settings(tmp_path / "m")
    args.chat_template_kwargs = "{bad"
    with pytest.raises(SystemExit, match="invalid JSON"):
        evaluation.build_policy(args)


def test_hf_judge_renders_with_chat_template_kwargs_and_keys_the_cache_on_them():
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
    from swirl_env.rewards.judges.base import ProcessRequest
    from swirl_env.rewards.judges.hf import HFProcessJudge
    from swirl_env.tasks.base import Task

    tok = build_tiny_tokenizer(["GOOD BAD"], vocab_size=300)
    tok.chat_template = (
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
        "{% if enable_thinking is defined and not enable_thinking %}/no_think{% endif %}"
    )
    model = build_tiny_model(tok, hidden_size=16, num_layers=1)
    req = ProcessRequest(
        task=Task("q", "2 + 3?", ("5",), "gsm8k", "test"),
        context=[{"role": "user", "content": "Question: 2 + 3?"}],
        action="<math_exp> 2 + 3 </math_exp>",
    )
    plain = HFProcessJudge(model, tok, judge_id="tiny", max_new_tokens=4)
    off = HFProcessJudge(
        model, tok, judge_id="tiny", max_new_tokens=4, chat_template_kwargs={"enable_thinking": False}
    )
    assert off.prompt_text(req) == plain.prompt_text(req) + "/no_think"
    assert off.config()["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in plain.config()


def test_train_saves_chat_template_kwargs_with_the_model(tmp_path):
    from swirl_algos.cli import main
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

    rollout(
        "SwiRL-Arithmetic-v0",
        ArithmeticOraclePolicy(error_rates=0.0),
        env_kwargs={"max_ops": 2, "n_tasks": 2},
        progress=False,
        output=tmp_path / "t.jsonl",
    )
    tok = build_tiny_tokenizer(["<math_exp> 1 + 2 </math_exp>"], vocab_size=300)
    build_tiny_model(tok, hidden_size=16, num_layers=1).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    out = tmp_path / "sft"
    argv = ["train", "--algo", "sft", "--data", str(tmp_path / "t.jsonl"), "--model", str(tmp_path / "m")]
    argv += [
        "--output",
        str(out),
        "--max-steps",
        "1",
        "--per-device-train-batch-size",
        "2",
        "--report-to",
        "none",
    ]
    assert main([*argv, "--chat-template-kwargs", '{"enable_thinking": false}']) == 0
    assert load_prompt_settings(out)["chat_template_kwargs"] == {"enable_thinking": False}
    # a model trained from that one inherits the settings, unless told otherwise
    from swirl_algos.learners import cli as train_cli

    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    again = [*argv[1:6], str(out), "--output", str(tmp_path / "sft2")]
    assert train_cli.build_config(parser.parse_args(again)).chat_template_kwargs == {"enable_thinking": False}
    told = parser.parse_args([*again, "--chat-template-kwargs", "{}"])
    assert train_cli.build_config(told).chat_template_kwargs == {}
