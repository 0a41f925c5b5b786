"""The paper suite's settings and units of work: one function per unit (a base model, a judged
rollout, a trained model, an evaluation), each writing into its own folder; :mod:`benchmarks.paper`
runs and reports them.

Example:
    >>> PaperConfig().train_env, TRAIN_ENVS["arithmetic"]
    ('arithmetic', 'SwiRL-Arithmetic-v0')
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from swirl_algos.filtering import FILTER_MODES
from swirl_algos.learners.config import SupervisedConfig, SwirlConfig
from swirl_algos.stages import read_model_dir, write_model_dir
from swirl_algos.suite_config import SuiteConfig, accepts_renamed, nested_config
from swirl_algos.terminal import trainer_logs_to

logger = logging.getLogger(__name__)

__all__ = [
    "EVAL_ENVS",
    "EVAL_ROW",
    "EXPERIMENTS",
    "EXTRA_EVAL_ENVS",
    "FILTER_MODES",
    "PAPER_TABLE2",
    "TABLE2_TRAIN",
    "TRAIN_ENVS",
    "PaperConfig",
    "arithmetic_base",
    "env_kwargs_for",
    "evaluate_unit",
    "format_metric",
    "generate_unit",
    "tiny_base",
    "train_model",
    "unit_metric",
    "unit_model_dir",
    "unit_records",
]

EXPERIMENTS = ("table2", "filters", "scaling")
TRAIN_ENVS = {
    "gsm8k": "SwiRL-GSM8K-v0",
    "hotpotqa": "SwiRL-HotPotQA-v0",
    "arithmetic": "SwiRL-Arithmetic-v0",
}
#: Table 2's training columns (the paper trains on GSM8K and on HotPotQA)
TABLE2_TRAIN = ("gsm8k", "hotpotqa")
#: the evaluation row of each training environment (filters, scaling)
EVAL_ROW = {"gsm8k": "GSM8K", "hotpotqa": "HotPotQA", "arithmetic": "Arithmetic"}
#: rows of Table 2: name -> (env id, evaluation split)
EVAL_ENVS: dict[str, tuple[str, str | None]] = {
    "GSM8K": ("SwiRL-GSM8K-v0", "test"),
    "HotPotQA": ("SwiRL-HotPotQA-v0", "dev"),
    "MuSiQue": ("SwiRL-MuSiQue-v0", "dev"),
    "BeerQA": ("SwiRL-BeerQA-v0", None),
    "CofCA": ("SwiRL-CofCA-v0", None),
}
#: evaluation targets outside Table 2
EXTRA_EVAL_ENVS: dict[str, tuple[str, str | None]] = {"Arithmetic": ("SwiRL-Arithmetic-v0", "test")}
#: the paper's Table 2 (Gemma-2-27B, LLM-judged accuracy): row -> (base, GSM8K-trained, HotPotQA-trained)
PAPER_TABLE2 = {
    "GSM8K": (0.65, 0.79, 0.76),
    "HotPotQA": (0.65, 0.71, 0.73),
    "CofCA": (0.54, 0.56, 0.62),
    "BeerQA": (0.59, 0.68, 0.68),
    "MuSiQue": (0.45, 0.49, 0.50),
}


def _swirl_defaults() -> SwirlConfig:
    return SwirlConfig(
        learning_rate=1e-4,
        beta=0.02,
        num_generations=8,
        per_device_train_batch_size=32,
        max_steps=60,
        lr_scheduler_type="constant",
        logging_steps=6,
        save_steps=0,
    )


def _sft_defaults() -> SupervisedConfig:
    return SupervisedConfig(
        learning_rate=1e-4,
        num_train_epochs=1.0,
        per_device_train_batch_size=32,
        logging_steps=5,
        save_steps=0,
    )


@accepts_renamed
@dataclass
class PaperConfig(SuiteConfig):
    """Settings of the paper suite (see the module docstring and ``--help``).

    SWiRL and SFT are the learners' own configs (``swirl``, ``sft``), nested with the suite's
    defaults and set by dotted name (``--set swirl.learning_rate=1e-6``); the suite sets their
    ``output_dir`` and ``seed`` (the suite's ``seed``), and SWiRL's ``max_completion_length`` and
    ``temperature`` (the suite's ``max_new_tokens`` and ``temperature``) for every run.
    """

    output_dir: str = "runs/bench/paper"
    model: str = "tiny"
    device: str = "cpu"
    n_questions: int = 150
    samples: int = 2
    n_eval: int = 100
    judge: str = "rule"
    outcome_judge: str | None = None
    judge_cache: str | None = None
    train_env: str = "arithmetic"
    sizes: list[int] = field(default_factory=lambda: [50, 100, 300])
    swirl: SwirlConfig = nested_config(
        _swirl_defaults,
        per_run=("output_dir", "seed", "max_completion_length", "temperature"),
        scaled={"logging_steps": lambda n: max(1, n // 10)},
    )
    sft: SupervisedConfig = nested_config(_sft_defaults, per_run=("output_dir", "seed"))
    temperature: float = 0.7
    max_new_tokens: int = 48
    num_envs: int = 16
    data: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    tiny_warmstart_steps: int = 150
    tiny_warmstart_tasks: int = 400
    arithmetic_base: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    RENAMED: ClassVar[dict[str, str | tuple[str, ...]]] = {
        "swirl_steps": "swirl.max_steps",
        "swirl_lr": "swirl.learning_rate",
        "beta": "swirl.beta",
        "num_generations": "swirl.num_generations",
        "batch_size": ("swirl.per_device_train_batch_size", "sft.per_device_train_batch_size"),
        "sft_epochs": "sft.num_train_epochs",
        "sft_lr": "sft.learning_rate",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.train_env not in TRAIN_ENVS:
            raise ValueError(f"train_env must be one of {sorted(TRAIN_ENVS)}, got {self.train_env!r}")
        for name in ("n_questions", "samples", "n_eval"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.swirl.max_steps < 1:
            raise ValueError(f"swirl.max_steps must be >= 1, got {self.swirl.max_steps}")
        known = {k.lower() for k in EVAL_ENVS} | {f"{k}-train" for k in TABLE2_TRAIN}
        bad = sorted(set(self.data) - known)
        if bad:
            raise ValueError(f"--data names {bad} unknown; use {sorted(known)}")


# ---------------------------------------------------------------------------------------------- pieces
def env_kwargs_for(cfg: PaperConfig, name: str, *, train: bool) -> dict[str, Any] | None:
    """``gym.make`` kwargs of a dataset (None when its data is missing)."""
    key = name.lower()
    if key == "arithmetic":  # generated on demand; training questions come after the warm start's
        demo = _arithmetic_demo_config(cfg, Path())
        if train:
            return {**demo.env_kwargs, "split": "train", "offset": demo.oracle_tasks, "n_tasks": 100_000}
        return {**demo.env_kwargs, "split": "test", "n_tasks": cfg.n_eval}
    if train:
        env_kwargs: dict[str, Any] = {"split": "train"}
        if f"{key}-train" in cfg.data:
            env_kwargs = {"path": cfg.data[f"{key}-train"]}
        return env_kwargs
    _, split = EVAL_ENVS[name]
    if key in cfg.data:
        return {"path": cfg.data[key]}
    if split is None:
        return None
    return {"split": split}


def _arithmetic_demo_config(cfg: PaperConfig, out: Path) -> Any:
    """The demo's settings for the tiny arithmetic base model (``cfg.arithmetic_base`` overrides)."""
    from swirl_algos.demo import DemoConfig

    return DemoConfig(
        **{"output_dir": str(out), "progress": cfg.progress, "data_seed": cfg.seed, **cfg.arithmetic_base}
    )


def _judges(cfg: PaperConfig, env_id: str | None = None) -> tuple[Any, Any]:
    """Process and outcome judges: ``cfg.judge`` / ``cfg.outcome_judge``; ``"rule"`` (the default)
    is each env's registered rule judge (its :class:`~swirl_env.registration.EnvSpec`: the
    gold-aware ``arithmetic`` judge for SwiRL-Arithmetic-v0, ``rule`` for the others)."""
    from swirl_algos.evaluation import load_judge
    from swirl_env.registration import env_spec

    spec = env_spec(env_id) if env_id else None

    def named(given: str | None, kind: str) -> str:
        if given not in (None, "rule"):
            return given
        return getattr(spec, f"{kind}_judge") if spec is not None else "rule"

    process = load_judge(named(cfg.judge, "process"), "process", cache=cfg.judge_cache)
    outcome = load_judge(named(cfg.outcome_judge or cfg.judge, "outcome"), "outcome", cache=cfg.judge_cache)
    return process, outcome


def _policy(model_dir: str, cfg: PaperConfig, *, greedy: bool = False) -> Any:
    from swirl_algos.policies.hf import HFPolicy

    return HFPolicy.from_pretrained(
        str(model_dir),
        device=cfg.device,
        max_new_tokens=cfg.max_new_tokens,
        batch_size=cfg.num_envs,
        do_sample=not greedy,
        temperature=cfg.temperature,
    )


def tiny_base(cfg: PaperConfig, out: Path) -> None:
    """A tiny Llama warm-started on scripted gold trajectories of GSM8K and HotPotQA (train splits)."""
    import gymnasium as gym

    from swirl_algos.decompose import decompose
    from swirl_algos.learners.config import SupervisedConfig
    from swirl_algos.learners.sft import train_sft
    from swirl_algos.policies.gold_search import GoldSearchPolicy
    from swirl_algos.policies.scripted import GoldReplayPolicy
    from swirl_algos.rollout import rollout
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

    trajs = []
    for name in TABLE2_TRAIN:
        env_id = TRAIN_ENVS[name]
        kwargs = env_kwargs_for(cfg, name, train=True) or {}
        env = gym.make(env_id, **kwargs)
        tasks = list(env.unwrapped.tasks)
        env.close()
        policy = GoldReplayPolicy(tasks, error_rate=0.1) if name == "gsm8k" else GoldSearchPolicy(tasks)
        trajs += rollout(
            env_id,
            policy,
            env_kwargs=kwargs,
            n_tasks=min(len(tasks), cfg.tiny_warmstart_tasks),
            num_envs=16,
            progress=False,
        )
    texts = ["\n".join(m["content"] for m in t.messages) for t in trajs]
    tok = build_tiny_tokenizer(texts, vocab_size=2048)
    model = build_tiny_model(tok, hidden_size=128, num_layers=4, num_heads=4, max_position_embeddings=4096)
    cfg_sft = SupervisedConfig(
        output_dir=str(out),
        learning_rate=1e-3,
        max_steps=cfg.tiny_warmstart_steps,
        per_device_train_batch_size=8,
        lr_scheduler_type="cosine",
        warmup_steps=10,
        save_steps=0,
        logging_steps=25,
        max_length=2048,
        seed=cfg.seed,
    )
    with trainer_logs_to(out / "train.log"):
        result = train_sft(cfg_sft, decompose(trajs), model=model, tokenizer=tok)
    write_model_dir(out, result.model_dir)


def arithmetic_base(cfg: PaperConfig, out: Path) -> None:
    """The demo's base model: a tiny Llama warm-started on imperfect scripted arithmetic trajectories."""
    from swirl_algos.demo import build_base_model

    model_dir = build_base_model(_arithmetic_demo_config(cfg, out))
    write_model_dir(out, model_dir)


def generate_unit(cfg: PaperConfig, base: str, name: str, n_questions: int, out: Path) -> None:
    from swirl_algos.judging import judge_file
    from swirl_algos.rollout import rollout

    process, outcome = _judges(cfg, TRAIN_ENVS[name])
    rollout(
        TRAIN_ENVS[name],
        _policy(base, cfg),
        env_kwargs=env_kwargs_for(cfg, name, train=True),
        n_tasks=n_questions,
        samples_per_task=cfg.samples,
        num_envs=cfg.num_envs,
        seed=cfg.seed,
        output=out / "trajectories.jsonl",
        progress=cfg.progress,
    )
    judge_file(out / "trajectories.jsonl", out / "judged.jsonl", process, outcome, progress=cfg.progress)


def unit_records(data_dir: Path, mode: str, limit: int | None = None) -> list[dict[str, Any]]:
    from swirl_algos.decompose import decompose
    from swirl_algos.filtering import filter_trajectories
    from swirl_algos.jsonl import read_trajectories

    trajs = read_trajectories(data_dir / "judged.jsonl")
    if limit is not None:
        trajs = trajs[:limit]
    return decompose(filter_trajectories(trajs, mode))


def train_model(
    cfg: PaperConfig, algo: str, base: str, records: list[dict[str, Any]], env_id: str, out: Path
) -> None:
    if not records:
        write_model_dir(out, None)  # nothing kept: the base model stands in
        return
    if algo == "swirl":
        from swirl_algos.learners.swirl import train_swirl

        process, _ = _judges(cfg, env_id)
        swirl = dataclasses.replace(
            cfg.swirl,
            output_dir=str(out),
            seed=cfg.seed,
            max_completion_length=cfg.max_new_tokens,
            temperature=cfg.temperature,
        )
        with trainer_logs_to(out / "train.log"):
            result = train_swirl(swirl, records, process, model=base)
    else:
        from swirl_algos.learners.sft import train_sft

        sft = dataclasses.replace(cfg.sft, output_dir=str(out), seed=cfg.seed)
        with trainer_logs_to(out / "train.log"):
            result = train_sft(sft, records, model=base)
    write_model_dir(out, result.model_dir)
    (out / "log_history.json").write_text(json.dumps(result.log_history), encoding="utf-8")


def unit_model_dir(unit: Path, base: str) -> str:
    path = read_model_dir(unit)
    if path is None:
        return base
    # relative to the working directory when it is below it: the string the eval units fingerprint
    return os.path.relpath(path) if path.is_absolute() and path.is_relative_to(Path.cwd()) else str(path)


def evaluate_unit(
    cfg: PaperConfig, model_dir: str, env_id: str, env_kwargs: dict[str, Any], out: Path
) -> None:
    from swirl_algos.evaluation import evaluate

    process, outcome = _judges(cfg, env_id)
    evaluate(
        env_id,
        _policy(model_dir, cfg),
        env_kwargs=env_kwargs,
        n_tasks=cfg.n_eval,
        outcome_judge=outcome,
        process_judge=process,
        output_dir=out,
        seed=cfg.seed,
        num_envs=cfg.num_envs,
        progress=cfg.progress,
    )


def unit_metric(unit: Path, name: str = "accuracy") -> dict[str, Any]:
    m = json.loads((unit / "results.json").read_text(encoding="utf-8"))["metrics"].get(name) or {}
    return {
        "mean": m.get("mean", math.nan),
        "ci_low": m.get("ci_low", math.nan),
        "ci_high": m.get("ci_high", math.nan),
    }


def format_metric(m: Mapping[str, Any] | None) -> str:
    if not m or m.get("mean") is None or math.isnan(m["mean"]):
        return "no data"
    return f"{m['mean']:.3f} [{m['ci_low']:.2f}, {m['ci_high']:.2f}]"


# ---------------------------------------------------------------------------------------------- experiments
