"""The settings of ``swirl demo``: :class:`DemoConfig`, and the demo's names for its methods.

Example:
    >>> DemoConfig().methods()
    ['base', 'sft-process', 'swirl-process']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ENV_ID", "METHOD_LABELS", "PROCESS_JUDGES", "DemoConfig"]

ENV_ID = "SwiRL-Arithmetic-v0"
#: ``DemoConfig.process_judge`` -> the judge's short name in the judge registry
PROCESS_JUDGES = {"step": "arithmetic-step", "gold": "arithmetic"}
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


@dataclass
class DemoConfig:
    """Every setting of the demo (defaults: the full run; its measured time is in docs/benchmarks.md).

    Each field that a stage's output depends on is tagged with that stage (``metadata["stages"]``:
    ``tiny``, ``oracle``, ``warmstart``, ``generate``, ``swirl``, ``sft``, ``eval``); the stage's
    fingerprint is made of those fields (:meth:`stage_settings`), so a new setting is declared
    in one place.

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
    env_kwargs: dict[str, Any] = field(
        default_factory=lambda: {"max_ops": 3, "max_distractors": 1},
        metadata={"stages": ("tiny", "oracle", "eval")},
    )
    vocab_size: int = field(default=700, metadata={"stages": ("tiny",)})
    hidden_size: int = field(default=128, metadata={"stages": ("tiny",)})
    num_layers: int = field(default=4, metadata={"stages": ("tiny",)})
    num_heads: int = field(default=4, metadata={"stages": ("tiny",)})
    oracle_tasks: int = field(default=4000, metadata={"stages": ("oracle",)})
    oracle_error_rate: float = field(default=0.1, metadata={"stages": ("tiny", "oracle")})
    warmstart_steps: int = field(default=600, metadata={"stages": ("warmstart",)})
    warmstart_lr: float = field(default=1e-3, metadata={"stages": ("warmstart",)})
    warmstart_batch_size: int = field(default=16, metadata={"stages": ("warmstart",)})
    gen_tasks: int = field(default=300, metadata={"stages": ("generate",)})
    gen_samples: int = field(default=2, metadata={"stages": ("generate",)})
    temperature: float = field(default=0.7, metadata={"stages": ("generate", "eval")})
    max_new_tokens: int = field(default=24, metadata={"stages": ("generate", "eval", "swirl")})
    process_judge: str = field(default="step", metadata={"stages": ("generate", "eval", "swirl")})
    swirl_filters: list[str] = field(default_factory=lambda: ["process"])
    sft_filters: list[str] = field(default_factory=lambda: ["process"])
    swirl_steps: int = field(default=60, metadata={"stages": ("swirl",)})
    swirl_lr: float = field(default=1e-4, metadata={"stages": ("swirl",)})
    swirl_beta: float = field(default=0.1, metadata={"stages": ("swirl",)})
    swirl_advantage: str = field(default="rloo", metadata={"stages": ("swirl",)})
    swirl_temperature: float = field(default=1.0, metadata={"stages": ("swirl",)})
    swirl_dynamic_sampling: str = field(default="resample", metadata={"stages": ("swirl",)})
    swirl_lr_scheduler: str = field(default="constant_with_warmup", metadata={"stages": ("swirl",)})
    num_generations: int = field(default=8, metadata={"stages": ("swirl",)})
    swirl_batch_size: int = field(default=64, metadata={"stages": ("swirl",)})
    sft_epochs: float = field(default=2.0, metadata={"stages": ("sft",)})
    sft_lr: float = field(default=1e-4, metadata={"stages": ("sft",)})
    sft_batch_size: int = field(default=16, metadata={"stages": ("sft",)})
    eval_tasks: int = field(default=200, metadata={"stages": ("eval",)})
    eval_greedy: bool = True
    num_envs: int = field(default=64, metadata={"stages": ("generate",)})
    data_seed: int = field(default=0, metadata={"stages": ("tiny", "oracle")})
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

    def stage_settings(self, stage: str) -> dict[str, Any]:
        """The settings a stage's output depends on (the fields tagged with ``stage``), for its fingerprint.

        Example:
            >>> sorted(DemoConfig().stage_settings("sft"))
            ['sft_batch_size', 'sft_epochs', 'sft_lr']
        """
        values = self.to_dict()
        return {
            f.name: values[f.name] for f in dataclasses.fields(self) if stage in f.metadata.get("stages", ())
        }

    def methods(self) -> list[str]:
        """Method names in table order: ``base``, the SFT runs, the SWiRL runs."""
        return ["base", *(f"sft-{m}" for m in self.sft_filters), *(f"swirl-{m}" for m in self.swirl_filters)]
