"""``swirl demo``: the whole SWiRL method, end to end, on a CPU, in minutes.

No pretrained language model can be assumed offline, so the demo builds one: a tiny Llama with a
byte-level BPE tokenizer trained on the spot (:mod:`swirl_algos.tiny`). It then runs every stage
of the paper on the default task, ``SwiRL-Arithmetic-v0`` (multi-step arithmetic word problems
solved with the SymPy calculator):

1. **tiny**: tokenizer and randomly initialised model.
2. **oracle**: an imperfect scripted solver
   (:class:`~swirl_algos.policies.arithmetic_oracle.ArithmeticOraclePolicy`: wrong operands and
   operators, distractor numbers, skipped steps, guesses...) plays ``oracle_tasks`` training
   questions through the environment.
3. **warmstart**: SFT of the tiny model on those imperfect trajectories (all of them, mistakes
   included) gives the *base* model: it has learnt the format and most of the skill, and makes
   mistakes of its own.
4. **generate** (Stage 1): the base model answers ``gen_tasks`` new training questions,
   ``gen_samples`` times each, with the real calculator.
5. **judge**: every step is judged GOOD/BAD by the gold-free rule judge
   (:class:`~swirl_env.envs.arithmetic.ArithmeticStepJudge`: the question and the conversation,
   never the gold; ``process_judge="gold"`` for the gold-aware one), every final answer YES/NO
   against the gold answer; then the paper's filters (``process``, ``outcome``...) and the
   step-wise decomposition into (state, action) records.
6. **train** (Stage 2), from the base model, for each seed: SWiRL (shared-prefix RLOO policy
   gradient on fresh actions sampled at the stored states and rewarded by the process judge; no
   tool runs) on the ``swirl_filters`` data (process-filtered by default; add ``"outcome"`` for the
   paper's filter contrast) and the SFT baseline on the ``sft_filters`` data.
7. **evaluate**: multi-step episodes with the real tools on held-out *test* questions (a split
   disjoint from training by construction), for the base model and every trained model and seed,
   sampled and greedy: accuracy, mean process label, steps per episode, with 95% confidence
   intervals (a two-level bootstrap over training seeds and test questions; differences are
   paired by question and seed).

Then it prints the table, writes ``results.json`` (every number, per seed), and saves
``accuracy.png`` and ``learning_curves.png`` in the output directory.

Every stage writes its output under the output directory with a fingerprint of the settings it
depends on (``stage.json``). A re-run reuses each finished stage whose fingerprint matches (an
interrupted rollout continues where it stopped) and redoes the others, so changing e.g. the SWiRL
learning rate only re-runs SWiRL training and its evaluations.

Example:
    >>> config = DemoConfig.quick_config(output_dir="/tmp/swirl-demo-quick")
    >>> config.seeds
    [0, 1]
    >>> # results = run_demo(config)   # about 1-2 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from swirl_algos.stages import Stages
from swirl_algos.terminal import make_console, quiet_libraries, trainer_logs_to

logger = logging.getLogger(__name__)

__all__ = ["DemoConfig", "add_arguments", "build_base_model", "run", "run_demo"]

ENV_ID = "SwiRL-Arithmetic-v0"
#: ``DemoConfig.process_judge`` -> the judge class in :mod:`swirl_env.envs.arithmetic`
PROCESS_JUDGES = {"step": "ArithmeticStepJudge", "gold": "ArithmeticProcessJudge"}
METHOD_LABELS = {
    "base": "base (warm-started)",
    "sft-process": "SFT, process-filtered",
    "sft-outcome": "SFT, outcome-filtered",
    "sft-none": "SFT, unfiltered",
    "sft-process+outcome": "SFT, process+outcome",
    "swirl-process": "SWiRL, process-filtered",
    "swirl-outcome": "SWiRL, outcome-filtered",
    "swirl-none": "SWiRL, unfiltered",
    "swirl-process+outcome": "SWiRL, process+outcome",
}


# ---------------------------------------------------------------------------------------------- config
@dataclass
class DemoConfig:
    """Every setting of the demo (defaults: the full run; its measured time is in docs/benchmarks.md).

    Attributes:
        output_dir: where every stage's output goes (re-used on re-runs).
        seeds: training/evaluation seeds; each trained method runs once per seed.
        env_kwargs: ``SwiRL-Arithmetic-v0`` difficulty knobs for every stage (``max_ops``...).
        vocab_size / hidden_size / num_layers / num_heads: the tiny model.
        oracle_tasks: training questions the scripted oracle solves for the warm start.
        oracle_error_rate: per-step mistake probability of the oracle (spread over its error types).
        warmstart_steps / warmstart_lr / warmstart_batch_size: the warm-start SFT.
        gen_tasks / gen_samples: Stage 1: new training questions and trajectories per question.
        temperature: sampling temperature of generation, SWiRL's sampled actions and evaluation.
        max_new_tokens: longest action in tokens (actions also stop at the first closing tag).
        process_judge: the process judge of Stage 1, of SWiRL's reward and of the evaluation's
            process label: ``"step"`` (the default, as the paper's judge: it sees the question and
            the conversation, never the gold answer or solution;
            :class:`~swirl_env.envs.arithmetic.ArithmeticStepJudge`) or ``"gold"`` (checks each
            step against the gold solution; :class:`~swirl_env.envs.arithmetic.ArithmeticProcessJudge`).
            The outcome judge always compares the final answer with the gold answer.
        swirl_filters: the filters SWiRL is trained with (one run per filter and seed).
        sft_filters: the filters the SFT baseline is trained with.
        swirl_steps / swirl_lr / swirl_beta / num_generations / swirl_batch_size: SWiRL
            (``swirl_batch_size`` counts sampled actions, so states per step = batch / G).
        swirl_advantage: ``"rloo"`` (leave-one-out baseline) or ``"group_norm"`` (GRPO-style).
        swirl_temperature: sampling temperature of SWiRL's actions at the stored states (exploration;
            generation and evaluation use ``temperature``).
        swirl_dynamic_sampling: ``SwirlConfig.dynamic_sampling`` (``"resample"``: states whose G
            rewards are all equal are replaced by fresh ones).
        swirl_lr_scheduler: the SWiRL learning-rate schedule (a ``transformers`` scheduler name).
        sft_epochs / sft_lr / sft_batch_size: the SFT baseline on the filtered sub-trajectories.
        eval_tasks: held-out test questions per evaluation.
        eval_greedy: also evaluate every model with greedy decoding (deterministic).
        num_envs: episodes generated together (the batch of the HF policy).
        data_seed: seed of the oracle, the tokenizer text and Stage-1 generation.
        threads: torch CPU threads (``None``: torch's default).
        progress: progress bars.
        bootstrap: resamples for the confidence intervals.
    """

    output_dir: str = "runs/demo"
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    env_kwargs: dict[str, Any] = field(default_factory=lambda: {"max_ops": 3, "max_distractors": 1})
    vocab_size: int = 700
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    oracle_tasks: int = 4000
    oracle_error_rate: float = 0.1
    warmstart_steps: int = 600
    warmstart_lr: float = 1e-3
    warmstart_batch_size: int = 16
    gen_tasks: int = 300
    gen_samples: int = 2
    temperature: float = 0.7
    max_new_tokens: int = 24
    process_judge: str = "step"
    swirl_filters: list[str] = field(default_factory=lambda: ["process"])
    sft_filters: list[str] = field(default_factory=lambda: ["process"])
    swirl_steps: int = 60
    swirl_lr: float = 1e-4
    swirl_beta: float = 0.1
    swirl_advantage: str = "rloo"
    swirl_temperature: float = 1.0
    swirl_dynamic_sampling: str = "resample"
    swirl_lr_scheduler: str = "constant_with_warmup"
    num_generations: int = 8
    swirl_batch_size: int = 64
    sft_epochs: float = 2.0
    sft_lr: float = 1e-4
    sft_batch_size: int = 16
    eval_tasks: int = 200
    eval_greedy: bool = True
    num_envs: int = 64
    data_seed: int = 0
    threads: int | None = None
    progress: bool = True
    bootstrap: int = 2000

    def __post_init__(self) -> None:
        from swirl_algos.filtering import FILTER_MODES

        self.seeds = [int(s) for s in self.seeds]
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and non-empty, got {self.seeds}")
        for name in ("swirl_filters", "sft_filters"):
            modes = list(getattr(self, name))
            bad = [m for m in modes if m not in FILTER_MODES]
            if bad:
                raise ValueError(f"{name}: unknown filter modes {bad}; choose from {FILTER_MODES}")
            setattr(self, name, modes)
        if not self.swirl_filters:
            raise ValueError("swirl_filters must name at least one filter")
        for name in (
            "oracle_tasks",
            "warmstart_steps",
            "gen_tasks",
            "gen_samples",
            "swirl_steps",
            "eval_tasks",
            "num_envs",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_generations < 2 or self.swirl_batch_size % self.num_generations:
            raise ValueError("num_generations must be >= 2 and divide swirl_batch_size")
        if not 0.0 <= self.oracle_error_rate <= 1.0:
            raise ValueError(f"oracle_error_rate must be in [0, 1], got {self.oracle_error_rate}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.process_judge not in PROCESS_JUDGES:
            raise ValueError(
                f"process_judge must be one of {sorted(PROCESS_JUDGES)}, got {self.process_judge!r}"
            )

    @classmethod
    def quick_config(cls, **overrides: Any) -> DemoConfig:
        """The ``--quick`` smoke setting: every stage runs, on a toy scale (1-2 minutes).

        The numbers it prints are not meaningful (the model is far too small and briefly
        trained); use it to check an installation or a change to the pipeline.
        """
        quick: dict[str, Any] = {
            "output_dir": "runs/demo-quick",
            "seeds": [0, 1],
            "env_kwargs": {"min_ops": 1, "max_ops": 1, "max_distractors": 0, "max_tool_calls": 3},
            "vocab_size": 400,
            "hidden_size": 48,
            "num_layers": 2,
            "num_heads": 4,
            "oracle_tasks": 600,
            "warmstart_steps": 300,
            "warmstart_lr": 2e-3,
            "gen_tasks": 24,
            "gen_samples": 2,
            "max_new_tokens": 16,
            "swirl_steps": 3,
            "num_generations": 4,
            "swirl_batch_size": 8,
            "sft_epochs": 1.0,
            "swirl_filters": ["none", "process"],
            "sft_filters": ["none"],
            "eval_tasks": 24,
            "num_envs": 24,
            "bootstrap": 300,
        }
        quick.update(overrides)
        return cls(**quick)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def methods(self) -> list[str]:
        """Method names in table order: ``base``, the SFT runs, the SWiRL runs."""
        return ["base", *(f"sft-{m}" for m in self.sft_filters), *(f"swirl-{m}" for m in self.swirl_filters)]


# ---------------------------------------------------------------------------------------------- pieces
def _process_judge(config: DemoConfig) -> Any:
    from swirl_env.envs import arithmetic

    return getattr(arithmetic, PROCESS_JUDGES[config.process_judge])()


def _env_kwargs(config: DemoConfig, split: str, n_tasks: int, offset: int = 0) -> dict[str, Any]:
    return {**config.env_kwargs, "split": split, "n_tasks": int(n_tasks), "offset": int(offset)}


def _build_tiny(config: DemoConfig, out: Path) -> None:
    from swirl_algos.policies.arithmetic_oracle import ArithmeticOraclePolicy
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
        ArithmeticOraclePolicy(config.oracle_error_rate, seed=config.data_seed + 1),
        env_kwargs=_env_kwargs(config, "train", 200, offset=10_000_000),
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
    from swirl_algos.policies.arithmetic_oracle import ArithmeticOraclePolicy
    from swirl_algos.rollout import rollout
    from swirl_env.envs.arithmetic import ArithmeticProcessJudge
    from swirl_env.rewards.judges.rule import RuleOutcomeJudge

    rollout(
        ENV_ID,
        ArithmeticOraclePolicy(config.oracle_error_rate, seed=config.data_seed),
        env_kwargs=_env_kwargs(config, "train", config.oracle_tasks),
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
    (out / "model_dir.txt").write_text(str(result.model_dir), encoding="utf-8")


def _compute(history: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Optimiser steps, tokens the model processed and training seconds of one run, from its log.

    SWiRL logs ``tokens_processed`` (every token position of sampling and scoring); SFT logs
    TRL's ``num_tokens`` (the tokens of its training batches)."""
    steps = max((float(h.get("step", 0)) for h in history), default=0.0)
    tokens = [float(h[k]) for h in history for k in ("tokens_processed", "num_tokens") if k in h]
    seconds = [float(h["train_runtime"]) for h in history if "train_runtime" in h]
    return {"optimizer_steps": steps, "tokens": max(tokens, default=math.nan), "seconds": sum(seconds)}


def _model_dir(stage: Path) -> Path:
    return Path((stage / "model_dir.txt").read_text(encoding="utf-8").strip())


def _warmstart(config: DemoConfig, tiny: Path, oracle: Path, out: Path) -> None:
    from swirl_algos.decompose import decompose
    from swirl_algos.jsonl import read_trajectories
    from swirl_algos.learners.config import SupervisedConfig
    from swirl_algos.learners.sft import train_sft

    records = decompose(read_trajectories(oracle / "judged.jsonl"))
    cfg = SupervisedConfig(
        output_dir=str(out),
        learning_rate=config.warmstart_lr,
        max_steps=config.warmstart_steps,
        per_device_train_batch_size=config.warmstart_batch_size,
        lr_scheduler_type="cosine",
        warmup_steps=min(30, max(1, config.warmstart_steps // 10)),
        weight_decay=0.0,
        logging_steps=max(1, min(25, config.warmstart_steps // 8)),
        save_steps=0,
        seed=config.data_seed,
        max_length=1024,
    )
    with trainer_logs_to(out / "train.log"):
        result = train_sft(cfg, records, model=str(tiny / "model"))
    _train_log(result, out)


def _generate(config: DemoConfig, base: Path, out: Path) -> None:
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
        env_kwargs=_env_kwargs(config, "train", config.gen_tasks, offset=config.oracle_tasks),
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


def _train(config: DemoConfig, algo: str, mode: str, seed: int, base: Path, data: Path, out: Path) -> None:
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
        (out / "model_dir.txt").write_text(str(base), encoding="utf-8")
        return
    if algo == "swirl":
        from swirl_algos.learners.config import SwirlConfig
        from swirl_algos.learners.swirl import train_swirl

        cfg = SwirlConfig(
            output_dir=str(out),
            learning_rate=config.swirl_lr,
            beta=config.swirl_beta,
            advantage=config.swirl_advantage,
            num_generations=config.num_generations,
            per_device_train_batch_size=config.swirl_batch_size,
            max_steps=config.swirl_steps,
            max_completion_length=config.max_new_tokens,
            temperature=config.swirl_temperature,
            dynamic_sampling=config.swirl_dynamic_sampling,
            lr_scheduler_type=config.swirl_lr_scheduler,
            warmup_steps=min(5, max(0, config.swirl_steps // 10)),
            logging_steps=max(1, min(5, config.swirl_steps // 4)),
            save_steps=0,
            seed=seed,
        )
        with trainer_logs_to(out / "train.log"):
            result = train_swirl(cfg, records, _process_judge(config), model=str(base))
    else:
        from swirl_algos.learners.config import SupervisedConfig
        from swirl_algos.learners.sft import train_sft

        cfg = SupervisedConfig(
            output_dir=str(out),
            learning_rate=config.sft_lr,
            num_train_epochs=config.sft_epochs,
            per_device_train_batch_size=config.sft_batch_size,
            lr_scheduler_type="constant",
            logging_steps=2,
            save_steps=0,
            seed=seed,
            max_length=1024,
        )
        with trainer_logs_to(out / "train.log"):
            result = train_sft(cfg, records, model=str(base))
    _train_log(result, out)


def _evaluate(config: DemoConfig, model_dir: Path, seed: int, greedy: bool, out: Path) -> None:
    from swirl_algos.evaluation import evaluate

    evaluate(
        ENV_ID,
        _policy(model_dir, config, greedy=greedy),
        env_kwargs=_env_kwargs(config, "test", config.eval_tasks),
        n_tasks=config.eval_tasks,
        process_judge=_process_judge(config),
        output_dir=out,
        seed=seed,
        num_envs=config.num_envs,
        progress=config.progress,
    )


# ---------------------------------------------------------------------------------------------- statistics
def _episodes(eval_dir: Path) -> dict[str, dict[str, float]]:
    """task id -> {"correct", "mean_process_label", "steps"} of one evaluation."""
    from swirl_algos.jsonl import iter_trajectories

    out = {}
    for t in iter_trajectories(eval_dir / "judged.jsonl"):
        labels = [float(bool(v)) for v in t.process_labels if v is not None]
        out[str(t.task.get("id"))] = {
            "correct": float(t.outcome.get("score", 0.0) or 0.0),
            "mean_process_label": sum(labels) / len(labels) if labels else math.nan,
            "steps": float(t.num_steps),
        }
    return out


def _bootstrap(matrix: np.ndarray, n: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of the mean of a ``tasks x seeds`` matrix, resampling the training
    seeds AND the test questions (a two-level bootstrap: seed-to-seed spread counts, not only
    question-to-question spread)."""
    rng = np.random.default_rng(seed)
    rows, cols = matrix.shape
    means = np.empty(n)
    for b in range(n):
        r = rng.integers(0, rows, size=rows)
        c = rng.integers(0, cols, size=cols)
        means[b] = np.nanmean(matrix[np.ix_(r, c)])
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def _matrix(runs: Mapping[int, dict[str, dict[str, float]]], tasks: Sequence[str], metric: str) -> np.ndarray:
    """``tasks x seeds`` values of one method."""
    return np.array([[runs[s][t][metric] for s in sorted(runs)] for t in tasks], dtype=float)


def _summaries(
    per_run: Mapping[str, Mapping[int, dict[str, dict[str, float]]]],
    tasks: Sequence[str],
    metric: str,
    *,
    n_boot: int,
    reference: str = "base",
) -> dict[str, dict[str, Any]]:
    """Per method: mean over seeds and tasks, bootstrap CI over seeds and tasks, per-seed means,
    and the difference to ``reference`` paired by (seed, task) with its CI."""
    out: dict[str, dict[str, Any]] = {}
    mats = {method: _matrix(runs, tasks, metric) for method, runs in per_run.items()}
    for method, runs in per_run.items():
        seeds = sorted(runs)
        m = mats[method]
        lo, hi = _bootstrap(m, n_boot, seed=1)
        out[method] = {
            "mean": float(np.nanmean(m)),
            "ci_low": lo,
            "ci_high": hi,
            "per_seed": {str(s): float(np.nanmean(m[:, i])) for i, s in enumerate(seeds)},
            "seed_std": float(np.nanstd([np.nanmean(m[:, i]) for i in range(len(seeds))], ddof=1))
            if len(seeds) > 1
            else 0.0,
            "n_tasks": len(tasks),
            "n_seeds": len(seeds),
        }
    if reference in mats:
        for method in out:
            if method == reference:
                continue
            diff = _paired_matrix(mats[method], mats[reference])
            lo, hi = _bootstrap(diff, n_boot, seed=2)
            out[method]["diff_vs_" + reference] = {
                "mean": float(np.nanmean(diff)),
                "ci_low": lo,
                "ci_high": hi,
            }
    return out


def _paired_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` by (task, seed). A reference evaluated once (the greedy base model, deterministic)
    is the same for every seed; otherwise the common seeds are paired."""
    if b.shape[1] == 1:
        return a - b
    k = min(a.shape[1], b.shape[1])
    return a[:, :k] - b[:, :k]


def _paired(
    per_run: Mapping[str, Mapping[int, dict[str, dict[str, float]]]],
    tasks: Sequence[str],
    a: str,
    b: str,
    metric: str,
    n_boot: int,
) -> dict[str, float] | None:
    if a not in per_run or b not in per_run:
        return None
    diff = _paired_matrix(_matrix(per_run[a], tasks, metric), _matrix(per_run[b], tasks, metric))
    lo, hi = _bootstrap(diff, n_boot, seed=3)
    return {"mean": float(np.nanmean(diff)), "ci_low": lo, "ci_high": hi}


# ---------------------------------------------------------------------------------------------- output
def _fmt_ci(s: Mapping[str, Any], pct: bool = True) -> str:
    k = 100.0 if pct else 1.0
    return f"{s['mean'] * k:.1f} [{s['ci_low'] * k:.1f}, {s['ci_high'] * k:.1f}]"


def _fmt_diff(s: Mapping[str, Any] | None) -> str:
    if not s:
        return "-"
    return f"{s['mean'] * 100:+.1f} [{s['ci_low'] * 100:+.1f}, {s['ci_high'] * 100:+.1f}]"


def print_results(results: Mapping[str, Any], console: Any = None) -> None:
    """Print the demo's table (accuracy with 95% CIs, differences to the base model) and verdicts."""
    from rich.table import Table

    console = console or make_console()
    summary = results["summary"]
    acc, greedy, mpl = summary["accuracy"], summary.get("greedy_accuracy"), summary["mean_process_label"]
    n_tasks = next(iter(acc.values()))["n_tasks"]
    seeds = results["config"]["seeds"]
    table = Table(
        title=f"SwiRL-Arithmetic-v0 test: {n_tasks} held-out questions x {len(seeds)} seeds "
        f"(T={results['config']['temperature']}); % with 95% CI"
    )
    for col in ("method", "accuracy", "vs base", "greedy acc.", "process label", "per-seed acc."):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method in results["methods"]:
        row = [
            METHOD_LABELS.get(method, method),
            _fmt_ci(acc[method]),
            _fmt_diff(acc[method].get("diff_vs_base")),
            _fmt_ci(greedy[method]) if greedy else "-",
            _fmt_ci(mpl[method]),
            " ".join(f"{v * 100:.1f}" for v in acc[method]["per_seed"].values()),
        ]
        table.add_row(*row)
    console.print(table)
    _print_compute(results, console)
    for line in results.get("verdicts", []):
        console.print(line)


def _compute_summary(root: Path, config: DemoConfig) -> dict[str, dict[str, float]]:
    """Per trained method: optimiser steps, tokens processed and training seconds, mean over seeds."""
    out: dict[str, dict[str, float]] = {}
    for method in config.methods():
        if method == "base":
            continue
        runs = [root / "train" / f"{method}-s{s}" / "compute.json" for s in config.seeds]
        vals = [json.loads(p.read_text(encoding="utf-8")) for p in runs if p.exists()]
        if vals:
            out[method] = {k: float(np.nanmean([v[k] for v in vals])) for k in vals[0]}
    return out


def _print_compute(results: Mapping[str, Any], console: Any) -> None:
    from rich.table import Table

    compute = results.get("compute") or {}
    if not compute:
        return
    table = Table(title="training compute per run (mean over seeds)")
    for col in ("method", "optimiser steps", "tokens processed", "train seconds"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method, c in compute.items():
        tokens = "-" if math.isnan(c["tokens"]) else f"{c['tokens']:,.0f}"
        table.add_row(
            METHOD_LABELS.get(method, method), f"{c['optimizer_steps']:.0f}", tokens, f"{c['seconds']:.0f}"
        )
    console.print(table)


def reward_thirds(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Mean logged reward over the first and the last third of a training run."""
    ys = [y for _, y in sorted(points)]
    k = len(ys) // 3
    if k < 1:
        return None
    return float(np.mean(ys[:k])), float(np.mean(ys[-k:]))


def _reward_trend_lines(curves: Mapping[str, Any]) -> list[str]:
    lines = []
    for method, runs in (curves.get("swirl") or {}).items():
        thirds = [t for t in (reward_thirds(p) for p in runs.values()) if t is not None]
        if not thirds:
            continue
        first, last = np.mean([t[0] for t in thirds]), np.mean([t[1] for t in thirds])
        rising = sum(t[1] > t[0] for t in thirds)
        lines.append(
            f"{METHOD_LABELS.get(method, method)}: training reward {first:.3f} (first third) -> {last:.3f} "
            f"(last third); rises in {rising} of {len(thirds)} seeds"
        )
    return lines


def _verdicts(summary: Mapping[str, Any], comparisons: Mapping[str, Any]) -> list[str]:
    lines = []

    def says(name: str, d: Mapping[str, float] | None) -> None:
        if d is None:
            return
        if d["ci_low"] > 0:
            word = "higher (95% CI above 0)"
        elif d["ci_high"] < 0:
            word = "LOWER (95% CI below 0)"
        else:
            word = "no significant difference (95% CI spans 0)"
        lines.append(
            f"{name}: {d['mean'] * 100:+.1f} points [{d['ci_low'] * 100:+.1f}, {d['ci_high'] * 100:+.1f}], {word}"
        )

    for key, d in comparisons.items():
        says(key, d)
    return lines


def _plot(results: Mapping[str, Any], root: Path, curves: Mapping[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = results["methods"]
    summary = results["summary"]
    labels = [  # short, two-line tick labels: "SWiRL\nprocess"
        METHOD_LABELS.get(m, m).replace(", ", "\n").replace("-filtered", "").replace(" (", "\n(")
        for m in methods
    ]
    colors = ["#7f7f7f" if m == "base" else "#1f77b4" if m.startswith("sft") else "#d62728" for m in methods]
    files = []

    panels = [("accuracy", f"accuracy (T={results['config']['temperature']})")]
    if summary.get("greedy_accuracy"):
        panels.append(("greedy_accuracy", "accuracy (greedy)"))
    panels.append(("mean_process_label", "mean process label"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2))
    for ax, (key, title) in zip(np.atleast_1d(axes), panels):
        s = summary[key]
        means = np.array([s[m]["mean"] for m in methods]) * 100
        err = np.array(
            [
                [s[m]["mean"] - s[m]["ci_low"] for m in methods],
                [s[m]["ci_high"] - s[m]["mean"] for m in methods],
            ]
        )
        ax.bar(range(len(methods)), means, yerr=err * 100, color=colors, capsize=4)
        for i, m in enumerate(methods):
            seeds = list(s[m]["per_seed"].values())
            ax.scatter([i] * len(seeds), np.array(seeds) * 100, color="black", s=10, zorder=3)
        ax.set_xticks(range(len(methods)), labels, fontsize=7)
        ax.set_title(title)
        ax.set_ylabel("%")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    n = next(iter(summary["accuracy"].values()))
    fig.suptitle(
        f"SwiRL-Arithmetic-v0, {n['n_tasks']} test questions x {n['n_seeds']} seeds "
        "(bars: 95% bootstrap CI; dots: seeds)",
        fontsize=9,
    )
    fig.tight_layout()
    path = root / "accuracy.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(str(path))

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ws = curves.get("warmstart") or []
    if ws:
        axes[0].plot([p[0] for p in ws], [p[1] for p in ws], color="#7f7f7f")
    axes[0].set_title("warm start: SFT loss on oracle data")
    axes[0].set_xlabel("step")
    axes[0].set_yscale("log")
    for method, runs in curves.get("swirl", {}).items():
        _band(axes[1], runs, METHOD_LABELS.get(method, method))
    axes[1].set_title("SWiRL: judge reward of sampled actions")
    axes[1].set_xlabel("step")
    axes[1].set_ylim(0, 1)
    for method, runs in curves.get("sft", {}).items():
        _band(axes[2], runs, METHOD_LABELS.get(method, method))
    axes[2].set_title("SFT baseline: training loss")
    axes[2].set_xlabel("step")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    path = root / "learning_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(str(path))
    return files


def _band(ax: Any, runs: Mapping[str, Sequence[tuple[float, float]]], label: str) -> None:
    """Mean over seeds with a min-max band (steps aligned by value)."""
    series = [dict(points) for points in runs.values() if points]
    if not series:
        return
    steps = sorted(set().union(*series))
    ys = np.array([[s.get(x, np.nan) for x in steps] for s in series], dtype=float)
    mean = np.nanmean(ys, axis=0)
    line = ax.plot(steps, mean, label=label)[0]
    if len(series) > 1:
        ax.fill_between(
            steps, np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), color=line.get_color(), alpha=0.2
        )


def _curve(stage: Path, key: str) -> list[tuple[float, float]]:
    path = stage / "log_history.json"
    if not path.exists():
        return []
    history = json.loads(path.read_text(encoding="utf-8"))
    return [(float(h["step"]), float(h[key])) for h in history if key in h and "step" in h]


def _environment_info(config: DemoConfig) -> dict[str, Any]:
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


def _base_stages(config: DemoConfig, stages: Stages) -> tuple[Path, str]:
    """Stages 1-3 (tiny model, imperfect oracle data, warm start); the base model's folder and fingerprint."""
    from transformers import set_seed

    root = stages.root
    cfg = config.to_dict()
    model_keys = ("vocab_size", "hidden_size", "num_layers", "num_heads", "env_kwargs", "data_seed")
    set_seed(config.data_seed)
    fp_tiny = stages.run(
        "tiny",
        {k: cfg[k] for k in (*model_keys, "oracle_error_rate")},
        lambda out: _build_tiny(config, out),
        title="1. tiny tokenizer and model",
    )
    fp_oracle = stages.run(
        "oracle",
        {k: cfg[k] for k in ("env_kwargs", "oracle_tasks", "oracle_error_rate", "data_seed")},
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
            **{k: cfg[k] for k in ("warmstart_steps", "warmstart_lr", "warmstart_batch_size")},
        },
        lambda out: _warmstart(config, root / "tiny", root / "oracle", out),
        title="3. warm start: SFT on the imperfect trajectories -> base model",
    )
    return _model_dir(root / "warmstart"), fp_base


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
        base, _ = _base_stages(config, Stages(root, console or make_console()))
    return base


# ---------------------------------------------------------------------------------------------- main
def run_demo(config: DemoConfig, *, console: Any = None) -> dict[str, Any]:
    """Run (or resume) the demo and return every number it produced (also in ``results.json``).

    Args:
        config: the settings (:class:`DemoConfig`; ``DemoConfig.quick_config()`` for a smoke run).
        console: a ``rich`` console for the output (default: a new one).

    Returns:
        ``{"config", "methods", "summary": {"accuracy", "greedy_accuracy", "mean_process_label",
        "steps_per_episode"}, "comparisons", "verdicts", "runs", "data", "timings", "plots",
        "environment"}``.

    Example:
        >>> # results = run_demo(DemoConfig(output_dir="runs/demo"))
        >>> # results["summary"]["accuracy"]["swirl-process"]["diff_vs_base"]
    """
    import torch
    from transformers import set_seed

    console = console or make_console()
    root = Path(config.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(int(config.threads))
    (root / "config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    stages = Stages(root, console)
    t_start = time.perf_counter()
    cfg = config.to_dict()

    with quiet_libraries():
        base_dir, fp_base = _base_stages(config, stages)
        fp_data = stages.run(
            "generate",
            {
                "base": fp_base,
                "filters": sorted(set(config.swirl_filters) | set(config.sft_filters)),
                "process_judge": config.process_judge,
                **{
                    k: cfg[k]
                    for k in ("gen_tasks", "gen_samples", "temperature", "max_new_tokens", "num_envs")
                },
            },
            lambda out: _generate(config, base_dir, out),
            resumable=True,
            title="4-5. Stage 1: generate with the base model, judge, filter, decompose",
        )
        data_dir = root / "generate"

        eval_keys = {
            k: cfg[k] for k in ("eval_tasks", "temperature", "max_new_tokens", "env_kwargs", "process_judge")
        }
        model_fps: dict[str, str] = {"base": fp_base}
        runs: dict[str, dict[int, Path]] = {"base": {}}
        train_jobs = [("sft", m) for m in config.sft_filters] + [("swirl", m) for m in config.swirl_filters]
        for seed in config.seeds:
            for algo, mode in train_jobs:
                name = f"{algo}-{mode}"
                keys = (
                    (
                        "swirl_steps",
                        "swirl_lr",
                        "swirl_beta",
                        "swirl_advantage",
                        "num_generations",
                        "swirl_batch_size",
                        "swirl_temperature",
                        "swirl_dynamic_sampling",
                        "swirl_lr_scheduler",
                        "process_judge",
                        "max_new_tokens",
                    )
                    if algo == "swirl"
                    else ("sft_epochs", "sft_lr", "sft_batch_size")
                )
                set_seed(seed)
                fp = stages.run(
                    f"train/{name}-s{seed}",
                    {"data": fp_data, "base": fp_base, "algo": algo, "filter": mode, "seed": seed}
                    | {k: cfg[k] for k in keys},
                    lambda out, a=algo, m=mode, s=seed: _train(config, a, m, s, base_dir, data_dir, out),
                    title=f"6. Stage 2: {METHOD_LABELS[name]}, seed {seed}",
                )
                model_fps[f"{name}-s{seed}"] = fp
                runs.setdefault(name, {})[seed] = _model_dir(root / "train" / f"{name}-s{seed}")
            runs["base"][seed] = base_dir

        evals: dict[str, dict[int, Path]] = {}
        greedy_evals: dict[str, dict[int, Path]] = {}
        for method in config.methods():
            for seed in config.seeds:
                fp_model = model_fps["base"] if method == "base" else model_fps[f"{method}-s{seed}"]
                set_seed(seed)
                stage = f"eval/{method}-s{seed}"
                stages.run(
                    stage,
                    {"model": fp_model, "seed": seed, **eval_keys},
                    lambda out, m=method, s=seed: _evaluate(config, runs[m][s], s, False, out),
                    resumable=True,
                    title=f"7. evaluate {METHOD_LABELS.get(method, method)}, seed {seed}",
                )
                evals.setdefault(method, {})[seed] = root / stage
                if config.eval_greedy and (method != "base" or seed == config.seeds[0]):
                    gstage = f"eval/{method}-s{seed}-greedy"
                    stages.run(
                        gstage,
                        {"model": fp_model, "greedy": True, **eval_keys},
                        lambda out, m=method, s=seed: _evaluate(config, runs[m][s], 0, True, out),
                        resumable=True,
                        title=f"7. evaluate {METHOD_LABELS.get(method, method)}, seed {seed}, greedy",
                    )
                    greedy_evals.setdefault(method, {})[seed] = root / gstage

    # ------------------------------------------------------------------ numbers
    per_run = {m: {s: _episodes(p) for s, p in by_seed.items()} for m, by_seed in evals.items()}
    tasks = sorted(set.intersection(*(set(ep) for runs_ in per_run.values() for ep in runs_.values())))
    if not tasks:
        raise RuntimeError("the evaluations share no test question")
    n_boot = config.bootstrap
    summary: dict[str, Any] = {
        "accuracy": _summaries(per_run, tasks, "correct", n_boot=n_boot),
        "mean_process_label": _summaries(per_run, tasks, "mean_process_label", n_boot=n_boot),
        "steps_per_episode": _summaries(per_run, tasks, "steps", n_boot=n_boot),
    }
    if greedy_evals:
        g_runs = {m: {s: _episodes(p) for s, p in by_seed.items()} for m, by_seed in greedy_evals.items()}
        summary["greedy_accuracy"] = _summaries(g_runs, tasks, "correct", n_boot=n_boot)
    comparisons: dict[str, Any] = {}
    for mode in config.swirl_filters:
        sw = f"swirl-{mode}"
        comparisons[f"{METHOD_LABELS[sw]} vs base"] = summary["accuracy"][sw].get("diff_vs_base")
        if "greedy_accuracy" in summary:
            comparisons[f"{METHOD_LABELS[sw]} vs base, greedy"] = summary["greedy_accuracy"][sw].get(
                "diff_vs_base"
            )
        for sft in (f"sft-{m}" for m in config.sft_filters):
            comparisons[f"{METHOD_LABELS[sw]} vs {METHOD_LABELS[sft]}"] = _paired(
                per_run, tasks, sw, sft, "correct", n_boot
            )
    for sft in (f"sft-{m}" for m in config.sft_filters):
        comparisons[f"{METHOD_LABELS[sft]} vs base"] = summary["accuracy"][sft].get("diff_vs_base")
    if {"swirl-process", "swirl-outcome"} <= set(per_run):
        comparisons["SWiRL process-filtered vs outcome-filtered"] = _paired(
            per_run, tasks, "swirl-process", "swirl-outcome", "correct", n_boot
        )
    data_info = json.loads((data_dir / "data.json").read_text(encoding="utf-8"))
    curves = {
        "warmstart": _curve(root / "warmstart", "loss"),
        "swirl": {
            f"swirl-{m}": {str(s): _curve(root / "train" / f"swirl-{m}-s{s}", "reward") for s in config.seeds}
            for m in config.swirl_filters
        },
        "sft": {
            f"sft-{m}": {str(s): _curve(root / "train" / f"sft-{m}-s{s}", "loss") for s in config.seeds}
            for m in config.sft_filters
        },
    }
    results: dict[str, Any] = {
        "config": cfg,
        "methods": config.methods(),
        "summary": summary,
        "comparisons": comparisons,
        "verdicts": _verdicts(summary, comparisons) + _reward_trend_lines(curves),
        "runs": {
            m: {
                str(s): json.loads((p / "results.json").read_text(encoding="utf-8"))["metrics"]
                for s, p in by_seed.items()
            }
            for m, by_seed in evals.items()
        },
        "data": data_info,
        "compute": _compute_summary(root, config),
        "skipped_training": sorted(
            str(p.parent.relative_to(root)) for p in (root / "train").glob("*/skipped.json")
        ),
        "model": json.loads((root / "tiny" / "model_info.json").read_text(encoding="utf-8")),
        "curves": curves,
        "timings": {
            "this_run_seconds": time.perf_counter() - t_start,
            "stages_run": stages.timings,
            "stages_reused": stages.reused,
        },
        "environment": _environment_info(config),
    }
    results["plots"] = _plot(results, root, curves)
    (root / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    console.rule("[bold]results")
    print_results(results, console)
    console.print(
        f"\nwrote {root / 'results.json'}, {', '.join(results['plots'])} "
        f"({results['timings']['this_run_seconds']:.0f} s; reused {len(stages.reused)} finished stages)"
    )
    return results


# ---------------------------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl demo``."""
    parser.add_argument("--output", "-o", default=None, help="output directory (default: runs/demo)")
    parser.add_argument(
        "--quick", action="store_true", help="toy-scale smoke run (1-2 minutes; numbers not meaningful)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="training/evaluation seeds")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--eval-tasks", type=int, default=None, help="held-out test questions")
    parser.add_argument("--swirl-steps", type=int, default=None, help="SWiRL optimiser steps per run")
    parser.add_argument("--warmstart-steps", type=int, default=None, help="warm-start SFT steps")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set any DemoConfig field (VALUE parsed as JSON when it parses), e.g. --set swirl_lr=1e-4",
    )
    parser.add_argument(
        "--force", action="store_true", help="recompute every stage (deletes the output directory)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    """The :class:`DemoConfig` of parsed ``swirl demo`` arguments."""
    overrides: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(DemoConfig)}
    for item in args.set:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise SystemExit(f"--set expects FIELD=VALUE with FIELD one of {sorted(names)}, got {item!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    for flag, key in (
        ("output", "output_dir"),
        ("seeds", "seeds"),
        ("threads", "threads"),
        ("eval_tasks", "eval_tasks"),
        ("swirl_steps", "swirl_steps"),
        ("warmstart_steps", "warmstart_steps"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    if args.no_progress:
        overrides["progress"] = False
    try:
        return DemoConfig.quick_config(**overrides) if args.quick else DemoConfig(**overrides)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"swirl demo: {e}") from None


def run(args: argparse.Namespace) -> int:
    """``swirl demo``: run the demo from parsed arguments; returns the exit status."""
    config = config_from_args(args)
    if args.force and Path(config.output_dir).exists():
        shutil.rmtree(config.output_dir)
    run_demo(config)
    return 0
