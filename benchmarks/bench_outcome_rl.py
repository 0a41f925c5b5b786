"""The outcome-RL baseline two ways on the same task and budget: our loop against TRL's
``GRPOTrainer(environment_factory=...)``.

Both train the same model (random weights, Qwen2.5's own chat template, which TRL ships) on
``SwiRL-Arithmetic-v0`` for the same number of optimizer steps, each step on the same
``tasks x G`` episodes (G per task, leave-one-out / group baselines), with the same action budget
(``max_new_tokens`` per turn for ours; ``turns x max_new_tokens`` per episode for TRL, which counts
an episode's tokens together), at most ``max_tool_calls`` tool calls, the same sampling
temperature, learning rate and KL coefficient. Ours runs the env in its native tool style
(``tool_style="native"``: the same tool schemas through the same template); TRL runs the env
through :mod:`swirl_algos.trl_env`. It reports wall time per step, episodes per second and the
mean episode reward side by side, and their ratio.

What it does not measure: learning. From random weights neither path earns a reward, and a warm
start that both formats share (our answer tags, TRL's ``answer`` tool) is not built here;
docs/algorithms.md says what the decision rests on.

Usage:
    python -m benchmarks.bench_outcome_rl --steps 3 --json out.json

Example:
    >>> # rows = run(steps=2, tasks_per_step=2, generations=2)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from typing import Any

from benchmarks.common import fmt_ratio, machine_info, print_rows, ratio, write_json

logger = logging.getLogger(__name__)

ENV_ID = "SwiRL-Arithmetic-v0"


def _model(tmp: str, env_kwargs: dict[str, Any]) -> str:
    """A tiny random model with Qwen2.5's chat template, saved in ``tmp/model``."""
    from trl.chat_template_utils import qwen2_5_chat_template

    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
    from swirl_algos.trl_env import trl_dataset

    prompt = trl_dataset(ENV_ID, n_tasks=1, env_kwargs=env_kwargs)[0]["prompt"][0]["content"]
    tok = build_tiny_tokenizer([prompt, qwen2_5_chat_template, '<tool_call>{"name": "calculator"}'], 400)
    tok.chat_template = qwen2_5_chat_template
    model = build_tiny_model(tok, hidden_size=64, num_layers=2, seed=0)
    path = os.path.join(tmp, "model")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _ours(model: str, out: str, env_kwargs: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    from swirl_algos.learners.config import OutcomeRLConfig
    from swirl_algos.learners.outcome_rl import train_outcome_rl

    cfg = OutcomeRLConfig(
        output_dir=out,
        env_id=ENV_ID,
        env_kwargs={**env_kwargs, "tool_style": "native", "max_tool_calls": a.max_tool_calls},
        tasks_per_step=a.tasks_per_step,
        num_generations=a.generations,
        max_steps=a.steps,
        max_new_tokens=a.max_new_tokens,
        num_envs=a.tasks_per_step * a.generations,
        temperature=1.0,
        learning_rate=a.learning_rate,
        beta=a.beta,
        save_steps=0,
        report_to=["none"],
        seed=0,
    )
    t0 = time.perf_counter()
    result = train_outcome_rl(cfg, model=model)
    seconds = time.perf_counter() - t0
    hist = result.log_history
    return {
        "impl": "ours (accelerate loop, native tool style)",
        "steps": len(hist),
        "s_per_step": seconds / max(1, len(hist)),
        "episodes_per_s": sum(h["episodes"] for h in hist) / seconds,
        "reward": sum(h["reward"] for h in hist) / max(1, len(hist)),
        "turns_per_episode": sum(h["steps_per_episode"] for h in hist) / max(1, len(hist)),
    }


def _trl(model: str, out: str, env_kwargs: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from swirl_algos.trl_env import environment_factory, trl_dataset

    kwargs = {**env_kwargs, "max_tool_calls": a.max_tool_calls}
    args = GRPOConfig(
        output_dir=out,
        per_device_train_batch_size=a.tasks_per_step * a.generations,
        num_generations=a.generations,
        max_completion_length=a.max_new_tokens * (a.max_tool_calls + 1),
        max_tool_calling_iterations=a.max_tool_calls,
        max_steps=a.steps,
        learning_rate=a.learning_rate,
        beta=a.beta,
        temperature=1.0,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model),
        processing_class=AutoTokenizer.from_pretrained(model),
        args=args,
        train_dataset=trl_dataset(ENV_ID, env_kwargs=kwargs),
        environment_factory=environment_factory(ENV_ID, env_kwargs=kwargs),
    )
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    logs = [h for h in trainer.state.log_history if "reward" in h]
    episodes = len(logs) * a.tasks_per_step * a.generations
    return {
        "impl": "TRL GRPOTrainer(environment_factory)",
        "steps": len(logs),
        "s_per_step": seconds / max(1, len(logs)),
        "episodes_per_s": episodes / seconds,
        "reward": sum(h["reward"] for h in logs) / max(1, len(logs)),
        "turns_per_episode": float("nan"),
    }


def run(
    steps: int = 3,
    tasks_per_step: int = 4,
    generations: int = 4,
    max_new_tokens: int = 24,
    max_tool_calls: int = 2,
    learning_rate: float = 1e-4,
    beta: float = 0.04,
) -> list[dict[str, Any]]:
    """Train both for ``steps`` steps on the same budget; one row per implementation."""
    a = argparse.Namespace(
        steps=steps,
        tasks_per_step=tasks_per_step,
        generations=generations,
        max_new_tokens=max_new_tokens,
        max_tool_calls=max_tool_calls,
        learning_rate=learning_rate,
        beta=beta,
    )
    env_kwargs = {"n_tasks": 64, "max_ops": 2}
    with tempfile.TemporaryDirectory() as tmp:
        model = _model(tmp, env_kwargs)
        rows = [_ours(model, os.path.join(tmp, "ours"), env_kwargs, a)]
        rows.append(_trl(model, os.path.join(tmp, "trl"), env_kwargs, a))
    rows[0]["speed_vs_trl"] = ratio(rows[1]["s_per_step"], rows[0]["s_per_step"])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--tasks-per-step", type=int, default=4)
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=24, help="tokens per turn")
    p.add_argument("--max-tool-calls", type=int, default=2)
    p.add_argument("--json", help="write the rows and the machine info here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rows = run(args.steps, args.tasks_per_step, args.generations, args.max_new_tokens, args.max_tool_calls)
    print_rows(
        rows,
        [
            ("impl", "implementation"),
            ("steps", "steps"),
            ("s_per_step", "s / step"),
            ("episodes_per_s", "episodes / s"),
            ("reward", "mean reward"),
            ("turns_per_episode", "turns / episode"),
        ],
        title=f"outcome RL on {ENV_ID}: {args.tasks_per_step} tasks x G={args.generations} per step",
    )
    print(f"our loop vs TRL, time per step: {fmt_ratio(rows[0]['speed_vs_trl'])} faster")
    if args.json:
        write_json(args.json, {"machine": machine_info(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
