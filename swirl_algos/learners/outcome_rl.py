"""Trajectory-level outcome-reward RL: the "single-step" baseline that SWiRL argues against.

Each iteration runs whole multi-step episodes in the environment WITH the real tools
(:func:`swirl_algos.rollout.rollout`), ``num_generations`` episodes per task; the only reward is the
terminal outcome (the env's primary metric: exact match, numeric equivalence...). Every action token
of an episode gets the same advantage: the episode's reward minus the leave-one-out mean of the
other episodes of its task (RLOO), with a KL penalty to the initial policy folded into the reward
(``r - beta * KL(episode)``, KL summed over action tokens, as TRL's RLOO does for one turn).

The loss ``-mean_j A_j * log pi(actions of episode j)`` comes from ONE forward pass per episode
over its full conversation (:mod:`swirl_algos.learners.stepwise`), with tool-result turns as
context only. TRL's trainers are single-turn, so this is a small accelerate loop: it runs on one
CPU process as is, and on several GPUs with ``accelerate launch`` (each process rolls out its own
tasks; gradients are averaged).

Note: the loss is computed on the re-tokenized text of each kept action (what the environment
recorded, cut after the first call), which can differ from the sampled token ids at the cut.

Example:
    >>> from swirl_algos.learners.config import OutcomeRLConfig
    >>> # train_outcome_rl(OutcomeRLConfig(env_id="SwiRL-GSM8K-v0", n_tasks=256, max_steps=50), model="path")
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from swirl_algos.learners.common import TrainResult, is_peft_model, load_model_and_tokenizer
from swirl_algos.learners.config import OutcomeRLConfig
from swirl_algos.learners.stepwise import (
    StepwiseSequence,
    collate_sequences,
    encode_trajectory,
    token_logprobs,
    truncate_sequence,
)
from swirl_algos.prompt_settings import template_kwargs

logger = logging.getLogger(__name__)

STATE_FILE = "outcome_rl_state.json"


def rloo_advantages(rewards: Sequence[float], groups: Sequence[Any]) -> list[float]:
    """Leave-one-out advantages within groups: ``r_j - mean_{k != j, same group} r_k``
    (0 for a group of one).

    Example:
        >>> rloo_advantages([1.0, 0.0, 0.0, 1.0], ["a", "a", "b", "b"])
        [1.0, -1.0, -1.0, 1.0]
    """
    by: dict[Any, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by[g].append(i)
    adv = [0.0] * len(rewards)
    for idx in by.values():
        if len(idx) < 2:
            continue
        total = sum(rewards[i] for i in idx)
        for i in idx:
            adv[i] = rewards[i] - (total - rewards[i]) / (len(idx) - 1)
    return adv


def episode_sequences(
    trajs: Sequence[Any], tokenizer: Any, *, max_length: int | None, chat_template_kwargs: Any = None
) -> list[list[StepwiseSequence]]:
    """The single-pass encoding of each episode (all its actions), cut to ``max_length``."""
    out = []
    for t in trajs:
        idx = [s.message_index for s in t.steps if s.message_index < len(t.messages)]
        seqs = encode_trajectory(
            tokenizer,
            t.messages,
            idx,
            key=t.id,
            chat_template_kwargs=template_kwargs(chat_template_kwargs, t.tools),
        )
        kept = [c for c in (truncate_sequence(s, max_length) for s in seqs) if c is not None]
        out.append(kept)
    return out


def _episode_logprobs(
    model: Any,
    per_episode: Sequence[Sequence[StepwiseSequence]],
    *,
    pad_token_id: int,
    temperature: float,
    micro_batch_tokens: int,
    device: Any,
    grad: bool = False,
    weights: Sequence[float] | None = None,
    backward: Any = None,
    scale: float = 1.0,
) -> list[float]:
    """Summed action log-prob of each episode (no grad), or, with ``weights``/``backward``, the
    backward pass of ``-scale * sum_j w_j * logp_j`` in token-bounded micro-batches."""
    flat = [(j, s) for j, seqs in enumerate(per_episode) for s in seqs]
    flat.sort(key=lambda x: len(x[1].input_ids))
    totals = [0.0] * len(per_episode)
    i = 0
    while i < len(flat):
        chunk = [flat[i]]
        longest = len(flat[i][1].input_ids)
        i += 1
        while (
            i < len(flat) and max(longest, len(flat[i][1].input_ids)) * (len(chunk) + 1) <= micro_batch_tokens
        ):
            chunk.append(flat[i])
            longest = max(longest, len(flat[i][1].input_ids))
            i += 1
        batch = collate_sequences([s for _, s in chunk], pad_token_id=pad_token_id).to(device)
        row_episode = torch.tensor([j for j, _ in chunk], device=device)
        ctx = torch.enable_grad() if grad else torch.no_grad()
        with ctx:
            tok_lp = token_logprobs(model, batch, temperature=temperature)
            per_row = (tok_lp * (batch.target_step >= 0)).sum(-1)
            if grad:
                w = torch.tensor([weights[j] for j, _ in chunk], device=device, dtype=per_row.dtype)
                loss = -(w * per_row).sum() * scale
                backward(loss)
        for r, j in enumerate(row_episode.tolist()):
            totals[j] += float(per_row[r].detach())
        del batch
    return totals


def train_outcome_rl(
    config: OutcomeRLConfig,
    *,
    model: Any,
    tokenizer: Any = None,
) -> TrainResult:
    """Train with trajectory-level outcome rewards (REINFORCE with a leave-one-out baseline).

    Args:
        config: an :class:`~swirl_algos.learners.config.OutcomeRLConfig` (env, tasks, G, beta...).
        model: a path/hub id or a ``PreTrainedModel``.
        tokenizer: the tokenizer (loaded from ``model`` when a path is given).

    Returns:
        A :class:`~swirl_algos.learners.common.TrainResult` (``log_history``: one entry per step
        with reward, KL, loss, steps/episode).

    Example:
        >>> # train_outcome_rl(OutcomeRLConfig(env_id="SwiRL-GSM8K-v0", max_steps=20), model="path/to/model")
    """
    import copy

    import gymnasium as gym
    from accelerate import Accelerator
    from transformers import get_scheduler

    import swirl_env  # noqa: F401  (registers the ids)
    from swirl_algos.policies.hf import HFPolicy
    from swirl_algos.rollout import rollout

    accelerator = Accelerator(
        mixed_precision="bf16" if config.resolved_bf16() else "no",
        log_with=[r for r in config.report_to if r != "none"] or None,
        project_dir=config.output_dir,
    )
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    model, tokenizer = load_model_and_tokenizer(model, tokenizer, model_init_kwargs=config.model_init_kwargs)
    peft_config = config.peft_config()
    if peft_config is not None and not is_peft_model(model):
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
    ref_model = None
    if config.beta > 0 and not is_peft_model(model):
        ref_model = copy.deepcopy(model).eval()
        # A model that went through a TRL trainer carries an instance-level `forward` closure bound
        # to the ORIGINAL module (TRL's fused LM head); a deep copy would keep calling the policy.
        ref_model.__dict__.pop("forward", None)
        for p in ref_model.parameters():
            p.requires_grad_(False)
        ref_model.to(accelerator.device)
    if config.resolved_gradient_checkpointing():
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False

    env = gym.make(config.env_id, **config.env_kwargs)
    n_available = len(env.unwrapped.tasks)
    env.close()
    if config.task_indices is not None:
        tasks = list(config.task_indices)
        bad = [i for i in tasks if not 0 <= i < n_available]
        if bad:
            raise IndexError(f"task indices out of range [0, {n_available}): {bad[:5]}")
    else:
        tasks = list(range(min(config.n_tasks or n_available, n_available)))
    if not tasks:
        raise ValueError("no training tasks")
    world = accelerator.num_processes
    per_step = config.tasks_per_step * world
    steps_per_epoch = max(1, math.ceil(len(tasks) / per_step))
    total_steps = (
        config.max_steps if config.max_steps > 0 else math.ceil(config.num_train_epochs * steps_per_epoch)
    )

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = (
        int(config.warmup_steps * total_steps) if 0 < config.warmup_steps < 1 else int(config.warmup_steps)
    )
    scheduler = get_scheduler(
        config.lr_scheduler_type, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps
    )
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    if accelerator.log_with:
        accelerator.init_trackers("outcome-rl", config={k: str(v) for k, v in config.to_dict().items()})

    out_dir = Path(config.output_dir)
    start_step, history = 0, []
    resume = _resolve_checkpoint(out_dir, config.resume_from_checkpoint)
    if resume is not None:
        accelerator.load_state(str(resume))
        state = json.loads((resume / STATE_FILE).read_text())
        start_step, history = int(state["step"]), list(state.get("log_history", []))
        logger.info("resumed from %s at step %d", resume, start_step)

    unwrapped = accelerator.unwrap_model(model)
    policy = HFPolicy(
        unwrapped,
        tokenizer,
        max_new_tokens=config.max_new_tokens,
        do_sample=True,
        temperature=config.temperature,
        top_p=config.top_p,
        batch_size=max(1, config.num_envs),
        device=accelerator.device,
    )
    epoch_orders: dict[int, list[int]] = {}

    def tasks_for(step: int) -> list[int]:
        epoch, pos = divmod(step, steps_per_epoch)
        if epoch not in epoch_orders:
            order = list(tasks)
            random.Random(config.seed + epoch).shuffle(order)
            epoch_orders[epoch] = order
        chunk = epoch_orders[epoch][pos * per_step : (pos + 1) * per_step]
        return chunk[accelerator.process_index :: world]

    from tqdm.auto import tqdm

    bar = tqdm(
        range(start_step, total_steps),
        desc="outcome-rl",
        disable=not accelerator.is_local_main_process,
        initial=start_step,
        total=total_steps,
    )
    for step in bar:
        local_tasks = tasks_for(step)
        model.eval()
        trajs = (
            rollout(
                config.env_id,
                policy,
                env_kwargs=dict(config.env_kwargs),
                task_indices=local_tasks,
                samples_per_task=config.num_generations,
                num_envs=config.num_envs,
                seed=config.seed + 1000 * step + accelerator.process_index,
                progress=False,
            )
            if local_tasks
            else []
        )
        model.train()
        seqs = episode_sequences(
            trajs, tokenizer, max_length=config.max_length, chat_template_kwargs=config.chat_template_kwargs
        )
        rewards = [float((t.outcome or {}).get(config.reward_key, 0.0) or 0.0) for t in trajs]
        groups = [str(t.task.get("id", t.id)) for t in trajs]
        kl = [0.0] * len(trajs)
        common = {
            "pad_token_id": tokenizer.pad_token_id,
            "temperature": config.temperature,
            "micro_batch_tokens": config.micro_batch_tokens,
            "device": accelerator.device,
        }
        if config.beta > 0 and trajs:
            logp_old = _episode_logprobs(model, seqs, **common)
            if ref_model is not None:
                logp_ref = _episode_logprobs(ref_model, seqs, **common)
            else:  # LoRA: the initial policy is the base model with the adapter disabled
                with accelerator.unwrap_model(model).disable_adapter():
                    logp_ref = _episode_logprobs(model, seqs, **common)
            kl = [a - b for a, b in zip(logp_old, logp_ref)]
        shaped = [r - config.beta * k for r, k in zip(rewards, kl)]
        adv = rloo_advantages(shaped, groups)
        n = max(1, len(trajs))
        if trajs and any(a != 0 for a in adv):
            logp = _episode_logprobs(
                model,
                seqs,
                grad=True,
                weights=adv,
                backward=accelerator.backward,
                scale=1.0 / n,
                **common,
            )
        else:  # keep processes in step even without a signal (DDP needs a backward)
            logp = [0.0] * len(trajs)
            dummy = sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0
            accelerator.backward(dummy)
        if config.max_grad_norm and config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        stats = torch.tensor(
            [
                sum(rewards),
                sum(kl),
                sum(t.num_steps for t in trajs),
                sum(t.final_answer is not None for t in trajs),
                sum(a * lp for a, lp in zip(adv, logp)),
                len(trajs),
            ],
            device=accelerator.device,
            dtype=torch.float64,
        )
        stats = accelerator.reduce(stats, reduction="sum")
        count = max(1.0, float(stats[5]))
        entry = {
            "step": step + 1,
            "reward": float(stats[0]) / count,
            "kl": float(stats[1]) / count,
            "steps_per_episode": float(stats[2]) / count,
            "answered_rate": float(stats[3]) / count,
            "loss": -float(stats[4]) / count,
            "episodes": int(count),
            "learning_rate": scheduler.get_last_lr()[0],
        }
        history.append(entry)
        bar.set_postfix(reward=f"{entry['reward']:.3f}", kl=f"{entry['kl']:.3f}")
        if (step + 1) % max(1, config.logging_steps) == 0:
            logger.info(
                "step %d: %s", step + 1, {k: round(v, 4) for k, v in entry.items() if isinstance(v, float)}
            )
            if accelerator.log_with:
                accelerator.log({f"train/{k}": v for k, v in entry.items()}, step=step + 1)
        if config.save_steps > 0 and ((step + 1) % config.save_steps == 0 or step + 1 == total_steps):
            _save_checkpoint(accelerator, out_dir / f"checkpoint-{step + 1}", step + 1, history, config)

    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    model_dir = str(out_dir)
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        unwrapped.save_pretrained(out_dir, state_dict=accelerator.get_state_dict(model))
        tokenizer.save_pretrained(out_dir)
        if is_peft_model(unwrapped) and config.merge_lora_on_save:
            merged = unwrapped.merge_and_unload()  # training is over: merge in place
            merged.save_pretrained(out_dir / "merged")
            tokenizer.save_pretrained(out_dir / "merged")
        (out_dir / "outcome_rl_log.json").write_text(json.dumps(history, indent=2))
    if is_peft_model(unwrapped) and config.merge_lora_on_save:
        model_dir = str(out_dir / "merged")
    accelerator.wait_for_everyone()
    if accelerator.log_with:
        accelerator.end_training()
    return TrainResult(config.output_dir, model_dir, history, {"tasks": len(tasks), "steps": total_steps})


def _resolve_checkpoint(out_dir: Path, resume: str | bool | None) -> Path | None:
    if not resume:
        return None
    if resume is True:
        ckpts = sorted(out_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        ckpts = [c for c in ckpts if (c / STATE_FILE).exists()]
        if not ckpts:
            logger.warning("resume requested but no checkpoint in %s; starting fresh", out_dir)
            return None
        return ckpts[-1]
    path = Path(resume)
    if not (path / STATE_FILE).exists():
        raise FileNotFoundError(f"{path} is not an outcome-RL checkpoint (no {STATE_FILE})")
    return path


def _save_checkpoint(accelerator: Any, path: Path, step: int, history: list, config: OutcomeRLConfig) -> None:
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / STATE_FILE).write_text(json.dumps({"step": step, "log_history": history}))
        if config.save_total_limit:
            ckpts = sorted(path.parent.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
            for old in ckpts[: -config.save_total_limit]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    logger.info("saved %s", path)


__all__ = ["episode_sequences", "rloo_advantages", "train_outcome_rl"]
