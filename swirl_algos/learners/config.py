"""Configuration dataclasses of the learners, and their mapping onto TRL / transformers configs.

One dataclass per algorithm, sharing :class:`TrainingConfig` (optimisation, precision, memory,
checkpointing, logging, LoRA). Every field is documented in the class docstring; anything TRL
offers that is not a field here can be passed through ``trainer_kwargs`` (checked against the TRL
config's fields, so a typo is an error, not a silent no-op).

Example:
    >>> cfg = SwirlConfig(output_dir="/tmp/swirl-run", num_generations=4, beta=0.05)
    >>> trl_args = cfg.to_trl()
    >>> (type(trl_args).__name__, trl_args.num_generations, trl_args.beta)
    ('RLOOConfig', 4, 0.05)
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from swirl_algos.filtering import FILTER_LEVELS, FILTER_MODES
from swirl_algos.learners.config_checks import Bound, check_fields
from swirl_env.checks import int_at_least
from swirl_env.rewards.judges.base import REWARD_MODES

logger = logging.getLogger(__name__)

#: how a judgement becomes SWiRL's reward (the one list, next to the mapping itself)
REWARD_SOURCES = REWARD_MODES
JUDGE_FAILURE_POLICIES = ("skip", "zero")
ADVANTAGES = ("rloo", "group_norm")
ENGINES = ("native", "trl")
DYNAMIC_SAMPLING = ("none", "drop", "resample")
SFT_MODES = ("single_pass", "per_step")


def cuda_bf16_available() -> bool:
    """True when a CUDA device with bfloat16 support is visible."""
    try:
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    except Exception:  # pragma: no cover - exotic builds
        return False


def accelerator_available() -> bool:
    """True when a CUDA (or other torch accelerator) device is visible."""
    import torch

    return bool(torch.cuda.is_available())


@dataclass
class TrainingConfig:
    """Knobs shared by every learner.

    Attributes:
        output_dir: where checkpoints (``checkpoint-N/``), logs and the final model are written.
        learning_rate: peak learning rate of AdamW.
        num_train_epochs: passes over the training data (ignored when ``max_steps > 0``).
        max_steps: number of optimiser steps; ``-1`` = derived from ``num_train_epochs``.
        per_device_train_batch_size: sequences per device per micro-batch. For SWiRL this counts
            sampled actions, not states (see :class:`SwirlConfig`).
        gradient_accumulation_steps: micro-batches per optimiser step.
        lr_scheduler_type: any ``transformers`` scheduler name (``"constant"``, ``"linear"``, ``"cosine"``...).
        warmup_steps: warm-up steps (an int) or fraction of training (a float < 1).
        weight_decay: AdamW weight decay.
        max_grad_norm: gradient clipping norm.
        seed: random seed (data order, sampling, LoRA init).
        bf16: bfloat16 mixed precision; ``None`` = on when a bf16-capable CUDA device is visible,
            off on CPU (automatic), ``True``/``False`` to force.
        gradient_checkpointing: recompute activations in the backward pass to save memory;
            ``None`` = on when an accelerator is visible, off on CPU.
        logging_steps: log every N optimiser steps.
        save_steps: write ``checkpoint-N`` every N optimiser steps (``0`` = only at the end).
        save_total_limit: keep at most this many checkpoints (``None`` = all).
        report_to: experiment trackers, e.g. ``["tensorboard"]``, ``["wandb"]``; ``["none"]`` for none.
        resume_from_checkpoint: ``True`` = resume from the latest ``checkpoint-*`` in ``output_dir``,
            a path = resume from that checkpoint, ``None`` = start fresh.
        use_peft: train LoRA adapters (peft) instead of all weights.
        lora_r / lora_alpha / lora_dropout: LoRA rank, scaling and dropout.
        lora_target_modules: modules to adapt (``"all-linear"`` or a list of names).
        merge_lora_on_save: also write the merged full model to ``output_dir/merged`` after LoRA training
            (what :func:`~swirl_algos.learners.common.load_trained_model` and evaluation load).
        chat_template_kwargs: extra keyword arguments for ``apply_chat_template`` (e.g. ``{"enable_thinking": False}``);
            ``swirl train`` defaults to those saved with ``--model`` (``swirl_prompt.json``), if any.
        model_init_kwargs: keyword arguments for ``AutoModelForCausalLM.from_pretrained`` when a path is given
            (e.g. ``{"dtype": "bfloat16", "attn_implementation": "sdpa"}``).
        data_filter: the paper's filters applied to the training records: ``"none"``,
            ``"process"`` (every step judged GOOD), ``"outcome"`` (correct final answer) or
            ``"process+outcome"`` (RFT always adds ``outcome``). Usually the data was already
            filtered by ``swirl filter``; records lacking a label fail an active filter.
        filter_level: ``"trajectory"`` (the paper: a trajectory is kept or dropped whole) or ``"step"``.
        outcome_threshold: minimum ``outcome_score`` for the outcome filter.
        trainer_kwargs: any further field of the underlying TRL/transformers config (e.g.
            ``{"use_vllm": True, "vllm_mode": "colocate"}``); unknown names raise an error.
    """

    output_dir: str = "outputs/run"
    learning_rate: float = 1e-5
    num_train_epochs: float = 1.0
    max_steps: int = -1
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    lr_scheduler_type: str = "constant_with_warmup"
    warmup_steps: float = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    bf16: bool | None = None
    gradient_checkpointing: bool | None = None
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 2
    report_to: list[str] = field(default_factory=lambda: ["none"])
    resume_from_checkpoint: str | bool | None = None
    use_peft: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | str = "all-linear"
    merge_lora_on_save: bool = True
    chat_template_kwargs: dict[str, Any] | None = None
    model_init_kwargs: dict[str, Any] | None = None
    data_filter: str = field(default="none", metadata={"choices": FILTER_MODES})
    filter_level: str = field(default="trajectory", metadata={"choices": FILTER_LEVELS})
    outcome_threshold: float = 1.0
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)

    #: ranges of the numeric fields (a subclass adds its own); types come from the annotations
    BOUNDS: ClassVar[dict[str, Bound]] = {
        "learning_rate": Bound(low=0, low_open=True),
        "seed": Bound(low=0, high=2**32 - 1),  # numpy's seed range
        "num_train_epochs": Bound(low=0),
        "max_steps": Bound(low=-1),
        "per_device_train_batch_size": Bound(low=1),
        "gradient_accumulation_steps": Bound(low=1),
        "warmup_steps": Bound(low=0),
        "weight_decay": Bound(low=0),
        "max_grad_norm": Bound(low=0),
        "logging_steps": Bound(low=1),
        "save_steps": Bound(low=0),
        "save_total_limit": Bound(low=1),
        "lora_r": Bound(low=1),
        "lora_alpha": Bound(low=1),
        "lora_dropout": Bound(low=0, high=1, high_open=True),
    }

    def __post_init__(self) -> None:
        if isinstance(self.report_to, str):
            self.report_to = [self.report_to]
        check_fields(self)  # every field's type and range, named in the error
        if not all(isinstance(r, str) and r for r in self.report_to):
            raise TypeError(f"report_to must be a list of tracker names, got {self.report_to!r}")
        for f in dataclasses.fields(self):  # every field with choices (its flag's choices too)
            choices = f.metadata.get("choices")
            if choices is not None and getattr(self, f.name) not in choices:
                raise ValueError(f"{f.name} must be one of {tuple(choices)}, got {getattr(self, f.name)!r}")

    # ------------------------------------------------------------------ helpers
    def resolved_bf16(self) -> bool:
        if self.bf16 is None:
            return cuda_bf16_available()
        if self.bf16 and not cuda_bf16_available():
            logger.warning(
                "bf16=True requested without a bf16-capable CUDA device; training runs on CPU in bf16"
            )
        return bool(self.bf16)

    def resolved_gradient_checkpointing(self) -> bool:
        if self.gradient_checkpointing is None:
            return accelerator_available()
        return bool(self.gradient_checkpointing)

    def peft_config(self) -> Any:
        """A ``peft.LoraConfig`` when ``use_peft`` (else ``None``)."""
        if not self.use_peft:
            return None
        try:
            from peft import LoraConfig
        except ImportError as e:  # pragma: no cover - peft is installed in dev/test
            raise ImportError("use_peft=True needs the peft package: pip install 'swirl[peft]'") from e
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=self.lora_target_modules,
            task_type="CAUSAL_LM",
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def trl_kwargs(self, trl_cls: type, **fixed: Any) -> Any:
        """Build ``trl_cls`` (a TRL/transformers config) from this config.

        Every field whose name is also a field of ``trl_cls`` is copied as it is (one name for
        one knob); the fields with a resolved or translated value (``bf16``,
        ``gradient_checkpointing``, ``save_steps``) are resolved here; ``fixed`` are settings the
        learner needs (e.g. ``remove_unused_columns=False``); ``trainer_kwargs`` go last, so they
        override anything, and an unknown name in them is an error.
        """
        names = {f.name for f in dataclasses.fields(trl_cls)}
        kwargs = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name in names and f.name not in _LEARNER_ONLY
        }
        checkpointing = self.resolved_gradient_checkpointing()
        kwargs.update(
            bf16=self.resolved_bf16(),
            gradient_checkpointing=checkpointing,
            activation_checkpointing=checkpointing,  # the transformers >= 5.2 name
            save_strategy="steps" if self.save_steps > 0 else "no",
            save_steps=max(self.save_steps, 1),
            report_to=list(self.report_to),
            dataloader_pin_memory=accelerator_available(),
            **fixed,
        )
        unknown = sorted(set(self.trainer_kwargs) - names)
        if unknown:
            where = " (engine='native')" if trl_cls.__name__ == "TrainingArguments" else ""
            raise ValueError(f"unknown {trl_cls.__name__} fields in trainer_kwargs{where}: {unknown}")
        kwargs.update(self.trainer_kwargs)
        return trl_cls(**{k: v for k, v in kwargs.items() if k in names})


#: fields the learner uses itself and never copies into TRL's config (``trainer.train(resume_from_checkpoint=...)``)
_LEARNER_ONLY = frozenset({"resume_from_checkpoint"})


@dataclass
class SwirlConfig(TrainingConfig):
    """SWiRL step-wise RL (Stage 2): sample actions at stored states, reward them with a judge.

    The objective is ``J(theta) = E_{s in T, a ~ pi_theta(s)} [R(a | s)]`` over the states ``T`` of
    the (filtered) trajectories; sampled actions are never executed. Defaults follow the paper's
    description (a REINFORCE variant with a KL penalty to the initial model): several samples per
    state, leave-one-out baseline, KL to the frozen initial policy, loss on action tokens only.

    Attributes (in addition to :class:`TrainingConfig`):
        num_generations: actions sampled per state (G). ``per_device_train_batch_size x
            gradient_accumulation_steps x processes`` (sampled actions per optimiser step) must be
            a multiple of it.
        advantage: ``"rloo"``: leave-one-out baseline ``r_j - mean_{k != j} r_k`` with the KL
            penalty folded into the reward (TRL ``RLOOTrainer``; the default); ``"group_norm"``:
            group-normalised advantages ``(r_j - mean) / std`` with a per-token KL term in the loss
            (TRL ``GRPOTrainer``).
        beta: KL coefficient towards the frozen initial policy (> 0 keeps the policy close; 0
            disables the reference model).
        temperature / top_p / top_k: sampling settings for the actions (also used in the log-probs).
        max_completion_length: maximum new tokens per sampled action (generation also stops at the
            end of the first tool call or answer).
        max_prompt_length: states longer than this many tokens are left out (logged); ``None`` keeps all.
        reward: ``"label"``: 1 for GOOD, 0 for BAD; ``"score"``: the judge's soft score in [0, 1].
        judge_failure: what a failed judgement (``label=None``) becomes. ``"skip"``: no reward
            (excluded from the baseline, advantage 0); ``"zero"``: reward 0. Failures are counted
            and logged (``judge/failure_rate``) either way.
        deduplicate_states: train on each distinct state once (several trajectories of the same
            question share their first state); ``False`` keeps the multiset of states.
        tool_tags: ``{tag: tool_name}`` of the action syntax; ``None`` = read from the environment
            of each record's ``env_id``. Sets the parser (for the judge's ``step``) and the stop strings.
        stop_at_call: cut every sampled action right after the first closing tag (``</answer>``,
            ``</math_exp>``...) exactly as the environment would, and mask the tokens after it.
        num_iterations: optimisation passes per generated batch (1 = on-policy REINFORCE/RLOO;
            > 1 uses the clipped importance ratio with ``epsilon``).
        epsilon: clipping range of the importance ratio (only used when ``num_iterations > 1``).
        normalize_advantages: standardise advantages over the batch (RLOO only).
        loss_type: GRPO loss aggregation (``"dapo"``, ``"dr_grpo"``, ``"grpo"``...; ``engine="trl"``
            with ``group_norm`` only).
        log_completions: log a table of sampled actions and rewards every ``logging_steps`` (``engine="trl"``).
        engine: ``"native"`` (the default): :class:`~swirl_algos.learners.swirl_trainer.SwirlTrainer`,
            each state encoded once and its G actions branched from it in sampling and in every
            scoring pass, no old-policy pass, KL estimate in the loss; ``"trl"``: TRL's
            ``RLOOTrainer``/``GRPOTrainer`` (every action re-encodes its state), needed for vLLM
            generation (``trainer_kwargs={"use_vllm": True, ...}``) and ``num_iterations > 1``.
        dynamic_sampling: states whose G rewards are all equal carry no signal. ``"resample"``:
            replace them with fresh states (up to ``max_resample_rounds`` rounds); ``"drop"``: leave
            them out of the loss; ``"none"``: keep them (zero advantage, KL only). Counts are
            logged (``groups/zero_std_frac``, ``groups/resampled``, ``groups/dropped``). Native engine.
        max_resample_rounds: resampling rounds per micro-batch with ``dynamic_sampling="resample"``.
        mask_truncated_completions: leave actions that hit ``max_completion_length`` without
            ending (no closing tag, no end of turn) out of the loss.
        greedy_branches: of the G actions at each state, how many are the greedy (argmax) action
            instead of a sample (0, the default: all sampled, as in the paper). The leave-one-out
            baseline then compares the action greedy decoding takes with the sampled ones, so the
            update pushes the argmax itself off BAD actions; the greedy action is not a sample of
            the policy, so this trades the estimator's unbiasedness for that signal. Native engine.
        negative_advantage_scale: factor on the negative advantages (actions worse than their
            group's baseline), in [0, 10]. 1.0 (the default): the policy gradient as in the paper;
            0.0: only the actions better than the baseline are reinforced (positive-sample
            reinforcement); above 1: the worse actions weigh more than the better ones (with Adam
            and gradient clipping the update depends on that ratio, not on the overall scale, so
            3.0 is the same as the better actions at a third of the weight). Native engine.
    """

    output_dir: str = "outputs/swirl"
    learning_rate: float = 1e-6
    num_generations: int = 4
    advantage: str = field(default="rloo", metadata={"choices": ADVANTAGES})
    beta: float = 0.05
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_completion_length: int = 256
    max_prompt_length: int | None = 4096
    reward: str = field(default="label", metadata={"choices": REWARD_SOURCES})
    judge_failure: str = field(default="skip", metadata={"choices": JUDGE_FAILURE_POLICIES})
    deduplicate_states: bool = False
    tool_tags: dict[str, str] | None = None
    stop_at_call: bool = True
    num_iterations: int = 1
    epsilon: float = 0.2
    normalize_advantages: bool = False
    loss_type: str = "dapo"
    log_completions: bool = False
    engine: str = field(default="native", metadata={"choices": ENGINES})
    dynamic_sampling: str = field(default="resample", metadata={"choices": DYNAMIC_SAMPLING})
    max_resample_rounds: int = 2
    mask_truncated_completions: bool = False
    greedy_branches: int = 0
    negative_advantage_scale: float = 1.0

    BOUNDS: ClassVar[dict[str, Bound]] = {
        "num_generations": Bound(low=2),  # the baseline needs other samples of the same state
        "beta": Bound(low=0),
        "temperature": Bound(low=0, low_open=True),  # the log-probs divide the logits by it
        "top_p": Bound(low=0, high=1, low_open=True),
        "top_k": Bound(low=0),
        "max_completion_length": Bound(low=1),
        "max_prompt_length": Bound(low=1),
        "num_iterations": Bound(low=1),
        "epsilon": Bound(low=0, low_open=True),
        "max_resample_rounds": Bound(low=0),
        "greedy_branches": Bound(low=0),
        "negative_advantage_scale": Bound(low=0, high=10),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.greedy_branches < self.num_generations:
            raise ValueError(
                f"greedy_branches must be in [0, num_generations - 1] (at least one sampled action per "
                f"state), got {self.greedy_branches} with num_generations={self.num_generations}"
            )
        if self.greedy_branches and self.engine != "native":
            raise ValueError("greedy_branches needs engine='native'")
        if self.negative_advantage_scale != 1.0 and self.engine != "native":
            raise ValueError("negative_advantage_scale needs engine='native'")
        if self.tool_tags is not None:
            from swirl_env.parsing import ActionParser

            try:
                ActionParser(self.tool_tags)
            except ValueError as e:
                raise ValueError(f"tool_tags: {e}") from None
        if self.engine == "native":
            if self.num_iterations != 1:
                raise ValueError(
                    "engine='native' makes one update per sampled batch; use engine='trl' for num_iterations > 1"
                )
            if self.trainer_kwargs.get("use_vllm"):
                raise ValueError("vLLM generation runs through TRL: set engine='trl' with use_vllm")
            if self.gradient_checkpointing:
                raise ValueError(
                    "engine='native' keeps each state's key/value cache, which activation checkpointing "
                    "disables; set gradient_checkpointing=False or engine='trl'"
                )
        if (self.per_device_train_batch_size * self.gradient_accumulation_steps) % self.num_generations:
            raise ValueError(
                f"per_device_train_batch_size x gradient_accumulation_steps "
                f"({self.per_device_train_batch_size} x {self.gradient_accumulation_steps}) must be a multiple "
                f"of num_generations ({self.num_generations})"
            )

    def states_per_micro_batch(self) -> int:
        """States per device and micro-batch: ``per_device_train_batch_size / num_generations``."""
        return max(1, self.per_device_train_batch_size // self.num_generations)

    def resolved_gradient_checkpointing(self) -> bool:
        if self.engine == "native":  # the shared prefix needs the cache (checked in __post_init__)
            return False
        return super().resolved_gradient_checkpointing()

    def trainer_arguments(self) -> Any:
        """The ``transformers.TrainingArguments`` of the native engine (its batch counts states:
        ``per_device_train_batch_size / num_generations``)."""
        from transformers import TrainingArguments

        return self.trl_kwargs(
            TrainingArguments,
            per_device_train_batch_size=self.states_per_micro_batch(),
            remove_unused_columns=False,
        )

    def to_trl(self) -> Any:
        """The ``trl.RLOOConfig`` (``advantage="rloo"``) or ``trl.GRPOConfig`` (``"group_norm"``)."""
        if self.advantage == "rloo":
            from trl import RLOOConfig

            return self.trl_kwargs(RLOOConfig, remove_unused_columns=False, disable_dropout=True)
        from trl import GRPOConfig

        return self.trl_kwargs(
            GRPOConfig, remove_unused_columns=False, disable_dropout=True, scale_rewards="group"
        )


@dataclass
class SupervisedConfig(TrainingConfig):
    """SFT on sub-trajectories (the paper's baseline) and RFT (SFT on outcome-filtered data).

    The loss is the negative log-likelihood of each kept action ``a_i`` given its state ``s_i``,
    on action tokens only, averaged over the action tokens of the batch.

    Attributes (in addition to :class:`TrainingConfig`):
        sft_mode: ``"single_pass"``: one sequence per trajectory, every kept action of it trained
            from one forward pass (same loss, far fewer tokens; see ``docs/algorithms.md``);
            ``"per_step"``: one sequence per sub-trajectory (TRL's prompt-completion path).
        max_length: sequences are cut to this many tokens (``keep_start``); ``None`` = no limit.
    """

    output_dir: str = "outputs/sft"
    learning_rate: float = 1e-5
    sft_mode: str = field(default="single_pass", metadata={"choices": SFT_MODES})
    max_length: int | None = 4096

    BOUNDS: ClassVar[dict[str, Bound]] = {"max_length": Bound(low=1)}

    def to_trl(self) -> Any:
        """The ``trl.SFTConfig``."""
        from trl import SFTConfig

        return self.trl_kwargs(SFTConfig, completion_only_loss=True, packing=False)


@dataclass
class OutcomeRLConfig(TrainingConfig):
    """Trajectory-level outcome-reward RL (the "single-step" baseline SWiRL argues against).

    Each iteration runs ``num_generations`` whole episodes per task in the environment with the
    real tools, gives each episode its terminal outcome reward, forms leave-one-out advantages
    within the task's group (KL penalty to the initial policy folded into the reward, as in RLOO),
    and updates every action token of the episode with that one advantage, using the single-pass
    loss over the full conversation.

    Attributes (in addition to :class:`TrainingConfig`):
        env_id / env_kwargs: the environment to train in.
        task_indices: the training tasks (indices into the env's tasks); ``None`` = the first ``n_tasks``.
        n_tasks: number of training tasks when ``task_indices`` is ``None`` (``None`` = all).
        tasks_per_step: tasks per iteration (each gives ``num_generations`` episodes).
        num_generations: episodes per task (>= 2 for the leave-one-out baseline).
        beta: KL coefficient towards the initial policy (sequence-level, on action tokens).
        temperature / top_p: sampling settings of the rollouts.
        max_new_tokens: maximum new tokens per action.
        num_envs: environments stepped in parallel by the rollout.
        max_length: conversations longer than this are cut for the loss (``keep_start``).
        micro_batch_tokens: padded tokens per forward/backward micro-batch.
        reward_key: which outcome value is the reward (``"score"``: the env's primary metric).
    """

    output_dir: str = "outputs/outcome-rl"
    learning_rate: float = 1e-6
    env_id: str = "SwiRL-GSM8K-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    task_indices: list[int] | None = None
    n_tasks: int | None = None
    tasks_per_step: int = 4
    num_generations: int = 4
    beta: float = 0.05
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    num_envs: int = 8
    max_length: int | None = 4096
    micro_batch_tokens: int = 16384
    reward_key: str = "score"

    BOUNDS: ClassVar[dict[str, Bound]] = {
        "n_tasks": Bound(low=1),
        "tasks_per_step": Bound(low=1),
        "num_generations": Bound(low=2),  # leave-one-out baseline
        "beta": Bound(low=0),
        "temperature": Bound(low=0, low_open=True),
        "top_p": Bound(low=0, high=1, low_open=True),
        "max_new_tokens": Bound(low=1),
        "num_envs": Bound(low=1),
        "max_length": Bound(low=1),
        "micro_batch_tokens": Bound(low=1),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        for i in self.task_indices or ():
            int_at_least("task_indices[]", i, 0)
        if self.trainer_kwargs:  # read by the TRL trainers only; this learner has its own loop
            raise ValueError(f"trainer_kwargs is not used by outcome RL: {sorted(self.trainer_kwargs)}")
