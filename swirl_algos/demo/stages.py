"""The stages of ``swirl demo``: each one a function of the config that writes into its own folder.

:func:`build_base_model` runs stages 1-3 (tiny model, imperfect oracle trajectories, warm start);
:func:`~swirl_algos.demo.main.run_demo` runs them all through :class:`~swirl_algos.stages.Stages`
(fingerprinted, resumable).

Example:
    >>> from swirl_algos.demo.config import DemoConfig
    >>> env_kwargs(DemoConfig(), "test", 5)
    {'max_ops': 3, 'max_distractors': 1, 'split': 'test', 'n_tasks': 5, 'offset': 0}
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from swirl_algos.demo.config import ENV_ID, PROCESS_JUDGES, DemoConfig
from swirl_algos.stages import Stages, read_model_dir, write_model_dir
from swirl_algos.terminal import make_console, quiet_libraries, trainer_logs_to

logger = logging.getLogger(__name__)

__all__ = [
    "base_stages",
    "build_base_model",
    "env_kwargs",
    "environment_info",
    "evaluate_model",
    "generate_data",
    "model_dir",
    "train_model",
    "training_curve",
]


def _process_judge(config: DemoConfig) -> Any:
    from swirl_env.rewards.judges.registry import make_judge

    return make_judge(PROCESS_JUDGES[config.process_judge], "process")


def env_kwargs(config: DemoConfig, split: str, n_tasks: int, offset: int = 0) -> dict[str, Any]:
    return {**config.env_kwargs, "split": split, "n_tasks": int(n_tasks), "offset": int(offset)}


def _oracle_policy(config: DemoConfig, *, seed: int) -> Any:
    from swirl_algos.policies.arithmetic_oracle import ArithmeticOraclePolicy

    return ArithmeticOraclePolicy(
        config.oracle_error_rate, misreading_rate=config.oracle_misreading_rate, seed=seed
    )


def _build_tiny(config: DemoConfig, out: Path) -> None:
    from swirl_algos.rollout import rollout
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
    from swirl_env.envs.arithmetic.tasks import ArithmeticConfig, ArithmeticTasks, task_texts

    knobs = {
        k: v
        for k, v in config.env_kwargs.items()
        if k in {f.name for f in dataclasses.fields(ArithmeticConfig)}
    }
    tasks = ArithmeticTasks(
        1000, seed=config.data_seed + 7919, split="train", config=ArithmeticConfig(**knobs)
    )
    # the tokenizer also sees the prompt and the tool-result turns, as the model will
    sample = rollout(
        ENV_ID,
        _oracle_policy(config, seed=config.data_seed + 1),
        env_kwargs=env_kwargs(config, "train", 200, offset=10_000_000),
        n_tasks=200,
        num_envs=16,
        seed=config.data_seed,
        progress=False,
    )
    texts = task_texts(tasks) + ["\n".join(m["content"] for m in t.messages) for t in sample]
    tokenizer = build_tiny_tokenizer(texts, vocab_size=config.vocab_size)
    model = build_tiny_model(
        tokenizer,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        max_position_embeddings=2048,
        seed=config.data_seed,
    )
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    n_params = sum(p.numel() for p in model.parameters())
    (out / "model_info.json").write_text(
        json.dumps({"parameters": n_params, "vocab_size": len(tokenizer)}, indent=2), encoding="utf-8"
    )


def _policy(model_dir: Path | str, config: DemoConfig, *, greedy: bool = False) -> Any:
    from swirl_algos.policies.hf import HFPolicy

    return HFPolicy.from_pretrained(
        str(model_dir),
        device="cpu",
        max_new_tokens=config.max_new_tokens,
        batch_size=config.num_envs,
        do_sample=not greedy,
        temperature=config.temperature,
        torch_dtype="float32",
    )


def _oracle(config: DemoConfig, out: Path) -> None:
    from swirl_algos.judging import judge_file
    from swirl_algos.rollout import rollout
    from swirl_env.envs.arithmetic import ArithmeticProcessJudge
    from swirl_env.rewards.judges.rule import RuleOutcomeJudge

    rollout(
        ENV_ID,
        _oracle_policy(config, seed=config.data_seed),
        env_kwargs=env_kwargs(config, "train", config.oracle_tasks),
        n_tasks=config.oracle_tasks,
        num_envs=64,
        seed=config.data_seed,
        output=out / "trajectories.jsonl",
        progress=config.progress,
    )
    judge_file(
        out / "trajectories.jsonl",
        out / "judged.jsonl",
        ArithmeticProcessJudge(),
        RuleOutcomeJudge(),
        progress=config.progress,
    )


def _train_log(result: Any, out: Path) -> None:
    (out / "log_history.json").write_text(json.dumps(result.log_history, indent=1), encoding="utf-8")
    (out / "compute.json").write_text(json.dumps(_compute(result.log_history), indent=1), encoding="utf-8")
    write_model_dir(out, result.model_dir)


def _compute(history: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Optimiser steps, tokens the model processed and training seconds of one run, from its log.

    SWiRL logs ``tokens_processed`` (every token position of sampling and scoring); SFT logs
    TRL's ``num_tokens`` (the tokens of its training batches)."""
    steps = max((float(h.get("step", 0)) for h in history), default=0.0)
    tokens = [float(h[k]) for h in history for k in ("tokens_processed", "num_tokens") if k in h]
    seconds = [float(h["train_runtime"]) for h in history if "train_runtime" in h]
    return {"optimizer_steps": steps, "tokens": max(tokens, default=math.nan), "seconds": sum(seconds)}


def model_dir(stage: Path) -> Path:
    path = read_model_dir(stage)
    if path is None:
        raise FileNotFoundError(f"{stage} names no model")
    return path


def _warmstart(config: DemoConfig, tiny: Path, oracle: Path, out: Path) -> None:
    from swirl_algos.decompose import decompose
    from swirl_algos.jsonl import read_trajectories
    from swirl_algos.learners.sft import train_sft

    records = decompose(read_trajectories(oracle / "judged.jsonl"))
    cfg = dataclasses.replace(config.warmstart, output_dir=str(out), seed=config.data_seed)
    with trainer_logs_to(out / "train.log"):
        result = train_sft(cfg, records, model=str(tiny / "model"))
    _train_log(result, out)


def generate_data(config: DemoConfig, base: Path, out: Path) -> None:
    from swirl_algos.decompose import decompose
    from swirl_algos.filtering import filter_counts, filter_trajectories
    from swirl_algos.jsonl import read_trajectories, write_jsonl
    from swirl_algos.judging import judge_file
    from swirl_algos.rollout import rollout
    from swirl_env.rewards.judges.rule import RuleOutcomeJudge

    # new training questions: the stream after the oracle's
    rollout(
        ENV_ID,
        _policy(base, config),
        env_kwargs=env_kwargs(config, "train", config.gen_tasks, offset=config.oracle_tasks),
        n_tasks=config.gen_tasks,
        samples_per_task=config.gen_samples,
        num_envs=config.num_envs,
        seed=config.data_seed + 1,
        output=out / "trajectories.jsonl",
        progress=config.progress,
    )
    counts = judge_file(
        out / "trajectories.jsonl",
        out / "judged.jsonl",
        _process_judge(config),
        RuleOutcomeJudge(),
        progress=config.progress,
    )
    trajs = read_trajectories(out / "judged.jsonl")
    modes = sorted(set(config.swirl_filters) | set(config.sft_filters))
    for mode in modes:
        kept = filter_trajectories(trajs, mode)
        write_jsonl(out / f"steps-{mode}.jsonl", decompose(kept))
    from swirl_algos.stats import trajectory_stats

    info = {"judging": counts, "filters": filter_counts(trajs), "stats": trajectory_stats(trajs)}
    (out / "data.json").write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")


def train_model(
    config: DemoConfig, algo: str, mode: str, seed: int, base: Path, data: Path, out: Path
) -> None:
    from swirl_algos.jsonl import read_jsonl

    records = read_jsonl(data / f"steps-{mode}.jsonl")
    if not records:
        # nothing to train on: the "trained" model is the base model, and the results say so
        logger.warning(
            "the %r filter kept no trajectories: %s-%s seed %d is the base model", mode, algo, mode, seed
        )
        (out / "skipped.json").write_text(
            json.dumps({"reason": f"the {mode} filter kept no data"}), encoding="utf-8"
        )
        write_model_dir(out, base)
        return
    if algo == "swirl":
        from swirl_algos.learners.swirl import train_swirl

        cfg = dataclasses.replace(
            config.swirl, output_dir=str(out), seed=seed, max_completion_length=config.max_new_tokens
        )
        with trainer_logs_to(out / "train.log"):
            result = train_swirl(cfg, records, _process_judge(config), model=str(base))
    else:
        from swirl_algos.learners.sft import train_sft

        cfg = dataclasses.replace(config.sft, output_dir=str(out), seed=seed)
        with trainer_logs_to(out / "train.log"):
            result = train_sft(cfg, records, model=str(base))
    _train_log(result, out)


def evaluate_model(config: DemoConfig, model_dir: Path, seed: int, greedy: bool, out: Path) -> None:
    from swirl_algos.evaluation import evaluate

    evaluate(
        ENV_ID,
        _policy(model_dir, config, greedy=greedy),
        env_kwargs=env_kwargs(config, "test", config.eval_tasks),
        n_tasks=config.eval_tasks,
        process_judge=_process_judge(config),
        output_dir=out,
        seed=seed,
        num_envs=config.num_envs,
        progress=config.progress,
    )


def training_curve(stage: Path, key: str) -> list[tuple[float, float]]:
    path = stage / "log_history.json"
    if not path.exists():
        return []
    history = json.loads(path.read_text(encoding="utf-8"))
    return [(float(h["step"]), float(h[key])) for h in history if key in h and "step" in h]


def environment_info(config: DemoConfig) -> dict[str, Any]:
    import torch
    import transformers
    import trl

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
    }


def base_stages(config: DemoConfig, stages: Stages) -> tuple[Path, str]:
    """Stages 1-3 (tiny model, imperfect oracle data, warm start); the base model's folder and fingerprint."""
    from transformers import set_seed

    root = stages.root
    set_seed(config.data_seed)
    fp_tiny = stages.run(
        "tiny",
        config.stage_settings("tiny"),
        lambda out: _build_tiny(config, out),
        title="1. tiny tokenizer and model",
    )
    fp_oracle = stages.run(
        "oracle",
        config.stage_settings("oracle"),
        lambda out: _oracle(config, out),
        resumable=True,
        title="2. imperfect scripted trajectories (oracle)",
    )
    set_seed(config.data_seed)
    fp_base = stages.run(
        "warmstart",
        {
            "tiny": fp_tiny,
            "oracle": fp_oracle,
            **config.stage_settings("warmstart"),
        },
        lambda out: _warmstart(config, root / "tiny", root / "oracle", out),
        title="3. warm start: SFT on the imperfect trajectories -> base model",
    )
    return model_dir(root / "warmstart"), fp_base


def build_base_model(config: DemoConfig, *, console: Any = None) -> Path:
    """Build (or reuse) the demo's warm-started base model under ``config.output_dir``.

    Runs stages 1-3 only: tiny tokenizer and model, imperfect oracle trajectories, warm-start
    SFT. The benchmark suites use it as the small-scale base model of ``SwiRL-Arithmetic-v0``.

    Returns:
        The folder of the base model (loadable with ``from_pretrained``).

    Example:
        >>> # base = build_base_model(DemoConfig(output_dir="runs/base"))
    """
    root = Path(config.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    with quiet_libraries():
        base, _ = base_stages(config, Stages(root, console or make_console()))
    return base
