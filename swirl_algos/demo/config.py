"""The settings of ``swirl demo``: :class:`DemoConfig`, and the demo's names for its methods.

Example:
    >>> DemoConfig().methods()
    ['base', 'sft-process', 'swirl-process']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from swirl_algos.learners.config import SupervisedConfig, SwirlConfig
from swirl_algos.learners.config_checks import Bound
from swirl_algos.suite_config import (
    SuiteConfig,
    accepts_renamed,
    merge_settings,
    nested_config,
    nested_settings,
)

__all__ = ["ENV_ID", "METHOD_LABELS", "PER_RUN", "PROCESS_JUDGES", "RENAMED", "DemoConfig"]

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


def _swirl_defaults() -> SwirlConfig:
    # lr 3e-5: the better of 1e-4 and 3e-5 on both sampled and greedy accuracy over two seeds
    # (docs/benchmarks.md, "Sweep of SWiRL's learning rate and KL coefficient")
    return SwirlConfig(
        learning_rate=3e-5,
        beta=0.1,
        advantage="rloo",
        num_generations=8,
        per_device_train_batch_size=64,
        max_steps=60,
        temperature=1.0,
        dynamic_sampling="resample",
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=5,
        logging_steps=5,
        save_steps=0,
    )


def _sft_defaults() -> SupervisedConfig:
    return SupervisedConfig(
        learning_rate=1e-4,
        num_train_epochs=2.0,
        per_device_train_batch_size=16,
        lr_scheduler_type="constant",
        logging_steps=2,
        save_steps=0,
        max_length=1024,
    )


def _warmstart_defaults() -> SupervisedConfig:
    return SupervisedConfig(
        learning_rate=1e-3,
        max_steps=600,
        per_device_train_batch_size=16,
        lr_scheduler_type="cosine",
        warmup_steps=30,
        logging_steps=25,
        save_steps=0,
        max_length=1024,
    )


#: the fields the demo sets itself for every training run of a nested learner config
PER_RUN = ("output_dir", "seed")
#: and of SWiRL's (``max_completion_length`` is the demo's ``max_new_tokens``)
SWIRL_PER_RUN = (*PER_RUN, "max_completion_length")
#: the demo's earlier flat names -> the nested fields that replaced them (accepted for one release)
RENAMED: dict[str, str | tuple[str, ...]] = {
    "warmstart_steps": "warmstart.max_steps",
    "warmstart_lr": "warmstart.learning_rate",
    "warmstart_batch_size": "warmstart.per_device_train_batch_size",
    "swirl_steps": "swirl.max_steps",
    "swirl_lr": "swirl.learning_rate",
    "swirl_beta": "swirl.beta",
    "swirl_advantage": "swirl.advantage",
    "swirl_temperature": "swirl.temperature",
    "swirl_dynamic_sampling": "swirl.dynamic_sampling",
    "swirl_lr_scheduler": "swirl.lr_scheduler_type",
    "num_generations": "swirl.num_generations",
    "swirl_batch_size": "swirl.per_device_train_batch_size",
    "sft_epochs": "sft.num_train_epochs",
    "sft_lr": "sft.learning_rate",
    "sft_batch_size": "sft.per_device_train_batch_size",
}


@accepts_renamed
@dataclass
class DemoConfig(SuiteConfig):
    """Every setting of the demo (defaults: the full run; its measured time is in docs/benchmarks.md).

    Each field that a stage's output depends on is tagged with that stage (``metadata["stages"]``:
    ``tiny``, ``oracle``, ``warmstart``, ``generate``, ``swirl``, ``sft``, ``eval``); the stage's
    fingerprint is made of those fields (:meth:`stage_settings`), so a new setting is declared
    in one place. The three trainings are the learners' own configs, nested with the demo's
    defaults (``swirl``, ``sft``, ``warmstart``) and fingerprinted whole; the demo sets their
    ``output_dir``, ``seed`` and ``max_completion_length`` for every run. Set a nested field by
    its dotted name: ``swirl demo --set swirl.learning_rate=3e-4``, or
    ``DemoConfig(swirl={"learning_rate": 3e-4})`` (merged onto the demo's defaults).

    Attributes:
        output_dir: where every stage's output goes (re-used on re-runs).
        seeds: training/evaluation seeds; each trained method runs once per seed.
        env_kwargs: ``SwiRL-Arithmetic-v0`` difficulty knobs for every stage (``max_ops``...).
        vocab_size / hidden_size / num_layers / num_heads: the tiny model.
        oracle_tasks: training questions the scripted oracle solves for the warm start.
        oracle_error_rate: per-step mistake probability of the oracle (spread over its error types).
        oracle_misreading_rate: probability that the oracle reads a transfer sentence ("gets 5 more
            from Tom", "gives 5 to Tom") with the other operator, at every such sentence: a
            systematic error the warm-started model inherits
            (:class:`~swirl_algos.policies.arithmetic_oracle.ArithmeticOraclePolicy`).
        warmstart: the warm-start SFT on the oracle's trajectories
            (:class:`~swirl_algos.learners.config.SupervisedConfig`; its seed is ``data_seed``).
        gen_tasks / gen_samples: Stage 1: new training questions and trajectories per question.
        temperature: sampling temperature of generation and evaluation (SWiRL's sampled actions
            use ``swirl.temperature``).
        max_new_tokens: longest action in tokens (actions also stop at the first closing tag);
            also SWiRL's ``max_completion_length``.
        process_judge: the process judge of Stage 1, of SWiRL's reward and of the evaluation's
            process label: ``"step"`` (the default, as the paper's judge: it sees the question and
            the conversation, never the gold answer or solution;
            :class:`~swirl_env.envs.arithmetic.ArithmeticStepJudge`) or ``"gold"`` (checks each
            step against the gold solution; :class:`~swirl_env.envs.arithmetic.ArithmeticProcessJudge`).
            The outcome judge always compares the final answer with the gold answer.
        swirl_filters: the filters SWiRL is trained with (one run per filter and seed).
        sft_filters: the filters the SFT baseline is trained with.
        swirl: SWiRL (:class:`~swirl_algos.learners.config.SwirlConfig`;
            ``per_device_train_batch_size`` counts sampled actions, so states per step = batch / G).
        sft: the SFT baseline on the filtered sub-trajectories
            (:class:`~swirl_algos.learners.config.SupervisedConfig`).
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
    oracle_misreading_rate: float = field(default=0.0, metadata={"stages": ("tiny", "oracle")})
    warmstart: SupervisedConfig = nested_config(
        _warmstart_defaults,
        stages=("warmstart",),
        per_run=PER_RUN,
        scaled={
            "warmup_steps": lambda n: min(30, max(1, n // 10)),
            "logging_steps": lambda n: max(1, min(25, n // 8)),
        },
    )
    gen_tasks: int = field(default=300, metadata={"stages": ("generate",)})
    gen_samples: int = field(default=2, metadata={"stages": ("generate",)})
    temperature: float = field(default=0.7, metadata={"stages": ("generate", "eval")})
    max_new_tokens: int = field(default=24, metadata={"stages": ("generate", "eval", "swirl")})
    process_judge: str = field(default="step", metadata={"stages": ("generate", "eval", "swirl")})
    swirl_filters: list[str] = field(default_factory=lambda: ["process"])
    sft_filters: list[str] = field(default_factory=lambda: ["process"])
    swirl: SwirlConfig = nested_config(
        _swirl_defaults,
        stages=("swirl",),
        per_run=SWIRL_PER_RUN,
        scaled={
            "warmup_steps": lambda n: min(5, max(0, n // 10)),
            "logging_steps": lambda n: max(1, min(5, n // 4)),
        },
    )
    sft: SupervisedConfig = nested_config(_sft_defaults, stages=("sft",), per_run=PER_RUN)
    eval_tasks: int = field(default=200, metadata={"stages": ("eval",)})
    eval_greedy: bool = True
    num_envs: int = field(default=64, metadata={"stages": ("generate",)})
    data_seed: int = field(default=0, metadata={"stages": ("tiny", "oracle")})
    threads: int | None = None
    progress: bool = True
    bootstrap: int = 2000

    RENAMED: ClassVar[dict[str, str | tuple[str, ...]]] = RENAMED
    BOUNDS: ClassVar[dict[str, Bound]] = {
        **{name: Bound(low=1) for name in ("vocab_size", "hidden_size", "num_layers", "num_heads")},
        **{name: Bound(low=1) for name in ("oracle_tasks", "gen_tasks", "gen_samples", "eval_tasks")},
        **{name: Bound(low=1) for name in ("max_new_tokens", "num_envs", "threads", "bootstrap")},
        "oracle_error_rate": Bound(low=0, high=1),
        "oracle_misreading_rate": Bound(low=0, high=1),
        "temperature": Bound(low=0, low_open=True),
    }

    def __post_init__(self) -> None:
        from swirl_algos.filtering import FILTER_MODES

        super().__post_init__()
        if any(isinstance(x, bool) or not isinstance(x, int) for x in self.seeds):
            raise TypeError(f"seeds must be a list of integers, got {self.seeds!r}")
        self.seeds = list(self.seeds)
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
        if self.hidden_size % self.num_heads or (self.hidden_size // self.num_heads) % 2:
            raise ValueError(
                f"hidden_size / num_heads ({self.hidden_size} / {self.num_heads}) must be an even integer "
                "(the rotary embedding's head dimension)"
            )
        for name in ("warmstart", "swirl"):
            if getattr(self, name).max_steps < 1:
                raise ValueError(f"{name}.max_steps must be >= 1, got {getattr(self, name).max_steps}")
        if self.process_judge not in PROCESS_JUDGES:
            raise ValueError(
                f"process_judge must be one of {sorted(PROCESS_JUDGES)}, got {self.process_judge!r}"
            )

    @classmethod
    def from_assignments(cls, values: dict[str, Any], *, quick: bool = False) -> DemoConfig:
        """A config from flat assignments (``{"swirl.learning_rate": 3e-4, "seeds": [0]}``; the
        earlier flat names such as ``swirl_lr`` still work, with a ``FutureWarning``), on top of
        the full run's defaults or, with ``quick``, of :meth:`quick_config`'s.

        Example:
            >>> DemoConfig.from_assignments({"swirl.beta": 0.2}, quick=True).swirl.beta
            0.2
        """
        return super().from_assignments(values, build=cls.quick_config if quick else cls)

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
            "warmstart": {"max_steps": 300, "learning_rate": 2e-3},
            "gen_tasks": 24,
            "gen_samples": 2,
            "max_new_tokens": 16,
            "swirl": {
                "max_steps": 3,
                "num_generations": 4,
                "per_device_train_batch_size": 8,
                "warmup_steps": 0,
                "logging_steps": 1,
            },
            "sft": {"num_train_epochs": 1.0},
            "swirl_filters": ["none", "process"],
            "sft_filters": ["none"],
            "eval_tasks": 24,
            "num_envs": 24,
            "bootstrap": 300,
        }
        return cls(**merge_settings(cls, quick, overrides))  # nested configs given as dicts merge

    def stage_settings(self, stage: str) -> dict[str, Any]:
        """The settings a stage's output depends on (the fields tagged with ``stage``), for its fingerprint.

        Example:
            >>> settings = DemoConfig().stage_settings("sft")
            >>> list(settings), settings["sft"]["learning_rate"], "seed" in settings["sft"]
            (['sft'], 0.0001, False)
        """
        values = self.to_dict()
        return {
            f.name: nested_settings(self, f.name) if "nested" in f.metadata else values[f.name]
            for f in dataclasses.fields(self)
            if stage in f.metadata.get("stages", ())
        }

    def methods(self) -> list[str]:
        """Method names in table order: ``base``, the SFT runs, the SWiRL runs."""
        return ["base", *(f"sft-{m}" for m in self.sft_filters), *(f"swirl-{m}" for m in self.swirl_filters)]
