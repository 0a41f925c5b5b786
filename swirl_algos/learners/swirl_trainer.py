"""``SwirlTrainer``: SWiRL's step-wise RL with shared-prefix sampling and scoring (the default engine).

One optimiser step, read top to bottom (:meth:`SwirlTrainer.compute_loss`):

1. take ``S`` stored states (``per_device_train_batch_size / num_generations`` per micro-batch);
2. encode each state ONCE and sample ``G`` actions from it (:func:`~.shared_prefix.sample_branches`),
   stopping at the end of the first tool call or answer of the state's own environment; a stopped
   action is completed with the chat template's end-of-turn tokens, so it is the assistant turn
   the environment (and the SFT baseline) would see;
3. reward each action with the process judge (:class:`~.swirl.ProcessJudgeReward`; the label, or
   the judge's soft score); with ``dynamic_sampling="resample"``, states whose ``G`` rewards are all
   equal (no learning signal) are replaced by fresh states, up to ``max_resample_rounds`` times;
   with ``"drop"`` they leave the loss;
4. per-token log-probabilities of the actions under the frozen initial policy (no grad) and the
   current policy (with grad), each state's prefix encoded once per pass
   (:func:`~.shared_prefix.branch_logprobs`); no old-policy pass: with one update per batch the
   importance ratio is exactly 1;
5. advantages within each state's group: leave-one-out (``advantage="rloo"``)
   ``r_j - mean_{k != j} r_k`` with the KL penalty folded into the reward
   (``r_j - beta * sum_t (logp_t - ref_t)``), as TRL's ``RLOOTrainer`` does; or group-normalised
   ``(r_j - mean) / std`` (``"group_norm"``) with a per-token KL estimate
   ``exp(ref - logp) - (ref - logp) - 1`` in the loss, as TRL's ``GRPOTrainer`` does; negative
   advantages are scaled by ``negative_advantage_scale`` (1.0: unchanged);
6. loss = mean over actions of ``-A * log pi(a | s)``, where ``log pi(a | s)`` is the sum of the
   action's token log-probs (REINFORCE), plus the GRPO KL term.

Everything else (optimiser, schedule, clipping, accumulation, checkpoints, ``accelerate``/DDP,
logging to trackers) is ``transformers.Trainer``. Each process samples and judges its own states,
and a group never spans processes, so data parallelism needs no extra communication.

Example:
    >>> from swirl_algos.learners.config import SwirlConfig
    >>> cfg = SwirlConfig(output_dir="/tmp/swirl-doc", num_generations=4, per_device_train_batch_size=8)
    >>> cfg.engine, cfg.states_per_micro_batch()
    ('native', 2)
"""

from __future__ import annotations

import copy
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import Trainer

from swirl_algos.learners.shared_prefix import branch_logprobs, end_of_turn_ids, sample_branches
from swirl_algos.learners.stepwise import encode_messages
from swirl_algos.prompt_settings import template_kwargs

logger = logging.getLogger(__name__)

__all__ = ["SwirlTrainer", "group_advantages"]


def group_advantages(
    rewards: torch.Tensor, kind: str = "rloo", eps: float = 1e-4, *, negative_scale: float = 1.0
) -> torch.Tensor:
    """Advantages of ``[S, G]`` rewards within each row (state). NaN rewards (failed judgements)
    are left out of the baseline and get advantage 0; negative advantages are multiplied by
    ``negative_scale`` (``SwirlConfig.negative_advantage_scale``).

    Example:
        >>> [round(a, 4) for a in group_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0]]))[0].tolist()]
        [0.6667, -0.6667, -0.6667, 0.6667]
        >>> [round(a, 4) for a in group_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), negative_scale=0.0)[0].tolist()]
        [0.6667, 0.0, 0.0, 0.6667]
    """
    valid = ~torch.isnan(rewards)
    r = torch.where(valid, rewards, torch.zeros_like(rewards))
    n = valid.sum(-1, keepdim=True).float()
    total = r.sum(-1, keepdim=True)
    if kind == "rloo":
        baseline = (total - r) / (n - 1).clamp(min=1)
        adv = r - baseline
    elif kind == "group_norm":
        mean = total / n.clamp(min=1)
        var = (((r - mean) ** 2) * valid).sum(-1, keepdim=True) / (n - 1).clamp(min=1)
        adv = (r - mean) / (var.sqrt() + eps)
    else:
        raise ValueError(f"unknown advantage {kind!r}")
    adv = torch.where(valid & (n > 1), adv, torch.zeros_like(adv))
    if negative_scale != 1.0:
        adv = adv.clamp(min=0) + negative_scale * adv.clamp(max=0)
    return adv


def _identity_collator(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows


class SwirlTrainer(Trainer):
    """SWiRL Stage 2 on ``transformers.Trainer`` with shared-prefix sampling and scoring.

    Args:
        model: the policy (a ``PreTrainedModel``, possibly a peft model).
        config: the :class:`~swirl_algos.learners.config.SwirlConfig`.
        train_dataset: the states (:func:`~.swirl.prepare_state_dataset`).
        reward: the reward function (:class:`~.swirl.ProcessJudgeReward`).
        processing_class: the tokenizer (with a chat template).
        stop_strings_by_env: ``{env_id: [closing tags]}``; each state stops at its own env's tags.
        callbacks: extra ``TrainerCallback`` objects.

    The frozen reference is the model as given (a copy made here, or the base weights of a peft
    model with its adapter disabled), so it is always this run's initial policy.
    """

    def __init__(
        self,
        model: Any,
        config: Any,
        train_dataset: Any,
        reward: Any,
        processing_class: Any,
        *,
        stop_strings_by_env: Mapping[str, Sequence[str]] | None = None,
        callbacks: Sequence[Any] | None = None,
    ) -> None:
        self.swirl_config = config
        self.reward_fn = reward
        self.num_generations = int(config.num_generations)
        self.stop_strings_by_env = {k: list(v) for k, v in (stop_strings_by_env or {}).items()}
        tokenizer = processing_class
        self.end_of_turn = end_of_turn_ids(tokenizer, config.chat_template_kwargs)
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        if self.end_of_turn and self.end_of_turn[0] not in eos:
            eos.append(self.end_of_turn[0])
        self.eos_token_ids = eos
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
        train_dataset = train_dataset.map(
            lambda row, index: {
                "prompt_ids": encode_messages(
                    tokenizer,
                    row["prompt"],
                    add_generation_prompt=True,
                    chat_template_kwargs=template_kwargs(config.chat_template_kwargs, row.get("tools")),
                ),
                "state_index": index,
            },
            with_indices=True,
        )
        self._pool = train_dataset
        self._pool_gen: torch.Generator | None = None
        self._pool_order: list[int] = []
        self._metrics: dict[str, list[float]] = defaultdict(list)
        self.tokens_processed = 0
        self.ref_model = None
        from swirl_algos.learners.common import is_peft_model

        if config.beta > 0 and not is_peft_model(model):
            self.ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        args = config.trainer_arguments()
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            data_collator=_identity_collator,
            processing_class=tokenizer,
            callbacks=list(callbacks or []),
        )
        if self.ref_model is not None:
            self.ref_model.to(self.args.device)

    # ------------------------------------------------------------------ pieces
    def _generators(self, rows: list[dict[str, Any]], draw: int) -> list[torch.Generator]:
        """One sampling generator per state, seeded by (seed, optimizer step, state, draw): the
        actions sampled for a state do not depend on the other states of its batch or on the
        number of processes, so 2 processes sample what 1 process with gradient accumulation does."""
        step = int(self.state.global_step)
        return [
            torch.Generator(device=self.args.device).manual_seed(
                sampling_seed(int(self.swirl_config.seed), step, int(r["state_index"]), draw)
            )
            for r in rows
        ]

    def _fresh_states(self, n: int) -> list[dict[str, Any]]:
        """``n`` states drawn from a shuffled pass over the data (for resampling)."""
        out = []
        while len(out) < n:
            if not self._pool_order:
                if self._pool_gen is None:  # each process resamples its own states
                    seed = int(self.swirl_config.seed) + 7777 + 1009 * int(self.accelerator.process_index)
                    self._pool_gen = torch.Generator().manual_seed(seed)
                self._pool_order = torch.randperm(len(self._pool), generator=self._pool_gen).tolist()
            out.append(self._pool[self._pool_order.pop()])
        return out

    def _stops(self, row: Mapping[str, Any]) -> list[str]:
        if not self.swirl_config.stop_at_call:
            return []
        return self.stop_strings_by_env.get(str(row.get("env_id") or ""), [])

    def _sample_and_judge(
        self, rows: list[dict[str, Any]], draw: int = 0
    ) -> tuple[list[list[int]], torch.Tensor, Any]:
        cfg, g = self.swirl_config, self.num_generations
        model = self.accelerator.unwrap_model(self.model)
        # the config's sampling fields carry the sampler's parameter names
        sampling = {k: getattr(cfg, k) for k in ("temperature", "top_k", "top_p", "greedy_branches")}
        branches = sample_branches(
            model,
            self.processing_class,
            [r["prompt_ids"] for r in rows],
            num_generations=g,
            max_new_tokens=cfg.max_completion_length,
            **sampling,
            stop_strings=[self._stops(r) for r in rows],
            eos_token_ids=self.eos_token_ids,
            generator=self._generators(rows, draw),
        )
        self.tokens_processed += branches.tokens_processed
        tok = self.processing_class
        texts = [tok.decode(c, skip_special_tokens=True) for c in branches.completions]
        expand = [r for r in rows for _ in range(g)]
        values = self.reward_fn(
            prompts=[r["prompt"] for r in expand],
            completions=[[{"role": "assistant", "content": t}] for t in texts],
            task=[r.get("task") for r in expand],
            env_id=[r.get("env_id") for r in expand],
            step_index=[r.get("step_index") for r in expand],
            log_metric=lambda k, v: self._metrics[k].append(float(v)),
        )
        rewards = torch.tensor([float("nan") if v is None else float(v) for v in values]).view(len(rows), g)
        return branches.completions, rewards, branches

    def _complete(self, ids: list[int], stopped: bool, ended: bool) -> list[int]:
        """The trained action: sampled ids plus the end-of-turn tokens of the chat template."""
        eot = self.end_of_turn
        if stopped:
            return [*ids, *eot]
        if ended and eot and ids and ids[-1] == eot[0]:
            return [*ids, *eot[1:]]
        return list(ids) or [self.pad_token_id]

    # ------------------------------------------------------------------ the step
    def compute_loss(
        self,
        model: Any,
        inputs: list[dict[str, Any]],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> torch.Tensor:
        cfg, g = self.swirl_config, self.num_generations
        t0 = time.perf_counter()
        rows = list(inputs)
        completions, rewards, br = self._sample_and_judge(rows)
        kept_rows, kept_comp, kept_rewards = rows, completions, rewards
        flags = list(zip(br.stopped, br.ended, br.truncated))
        zero_std = _flat_groups(rewards)
        self._metrics["groups/zero_std_frac"].append(float(zero_std.float().mean()))
        self._metrics["reward"].append(float(torch.nanmean(rewards)))
        resampled = 0
        if cfg.dynamic_sampling != "none" and zero_std.any():
            keep = (~zero_std).nonzero().flatten().tolist()
            kept_rows = [rows[i] for i in keep]
            kept_comp = [c for i in keep for c in completions[i * g : (i + 1) * g]]
            kept_flags = [f for i in keep for f in flags[i * g : (i + 1) * g]]
            kept_rewards = rewards[keep]
            rounds = cfg.max_resample_rounds if cfg.dynamic_sampling == "resample" else 0
            for draw in range(1, rounds + 1):
                need = len(rows) - len(kept_rows)
                if need == 0:
                    break
                fresh = self._fresh_states(need)
                c2, r2, b2 = self._sample_and_judge(fresh, draw)
                f2 = list(zip(b2.stopped, b2.ended, b2.truncated))
                ok = (~_flat_groups(r2)).nonzero().flatten().tolist()
                resampled += need
                kept_rows += [fresh[i] for i in ok]
                kept_comp += [c for i in ok for c in c2[i * g : (i + 1) * g]]
                kept_flags += [f for i in ok for f in f2[i * g : (i + 1) * g]]
                kept_rewards = torch.cat([kept_rewards, r2[ok]])
            flags = kept_flags
        if cfg.dynamic_sampling != "none":  # logged at every step, 0 when every group had a signal
            self._metrics["groups/resampled"].append(float(resampled))
            self._metrics["groups/dropped"].append(float(len(rows) - len(kept_rows)))
        self._metrics["completions/stopped_at_call"].append(_mean(br.stopped))
        self._metrics["completions/terminated_ratio"].append(
            _mean([s or e for s, e in zip(br.stopped, br.ended)])
        )
        self._metrics["completions/clipped_ratio"].append(_mean(br.truncated))
        self._metrics["completions/mean_length"].append(_mean([len(c) for c in completions]))
        self._metrics["time/generate_and_judge_s"].append(time.perf_counter() - t0)

        if not kept_rows:  # no group carries a signal: a zero loss that still touches every weight
            return sum(p.sum() * 0.0 for p in model.parameters() if p.requires_grad)

        actions = [self._complete(c, s, e) for c, (s, e, _t) in zip(kept_comp, flags)]
        prefixes = [r["prompt_ids"] for r in kept_rows]
        weight = torch.ones(len(actions), device=self.args.device)
        if cfg.mask_truncated_completions:
            weight = torch.tensor([0.0 if t else 1.0 for (_s, _e, t) in flags], device=self.args.device)
        t1 = time.perf_counter()
        unwrapped = self.accelerator.unwrap_model(model)
        ref = None
        if cfg.beta > 0:
            with torch.no_grad():
                if self.ref_model is not None:
                    ref, _ = self._logprobs(self.ref_model, self.ref_model, prefixes, actions)
                else:  # peft: the base weights are the initial policy
                    with unwrapped.disable_adapter():
                        ref, _ = self._logprobs(unwrapped, unwrapped, prefixes, actions)
        logps, mask = self._logprobs(model, unwrapped, prefixes, actions)
        mask = mask.float()
        # REINFORCE on whole actions: log pi(a | s) is the sum of the action's token log-probs
        seq_logp = (logps * mask).sum(-1)
        rewards = kept_rewards.to(self.args.device)
        kl_term = torch.zeros_like(seq_logp)
        if ref is not None:
            if cfg.advantage == "rloo":  # the KL penalty is part of the reward (RLOO)
                seq_kl = ((logps.detach() - ref) * mask).sum(-1)
                rewards = rewards - cfg.beta * seq_kl.view_as(rewards)
                self._metrics["kl"].append(float(seq_kl.mean()))
            else:  # a per-token KL estimate in the loss (GRPO)
                delta = ref - logps
                kl_tok = ((torch.exp(delta) - delta - 1.0) * mask).sum(-1)
                kl_term = cfg.beta * kl_tok
                self._metrics["kl"].append(float(kl_tok.detach().mean()))
        adv = group_advantages(rewards, cfg.advantage, negative_scale=cfg.negative_advantage_scale).flatten()
        per_seq = -adv * seq_logp + kl_term
        loss = (per_seq * weight).sum() / weight.sum().clamp(min=1)
        with torch.no_grad():
            self._metrics["entropy_proxy"].append(float(-(logps * mask).sum() / mask.sum().clamp(min=1)))
            self._metrics["reward_std"].append(float(_nanstd(kept_rewards)))
            self._metrics["advantage_abs"].append(float(adv.abs().mean()))
        self._metrics["time/score_s"].append(time.perf_counter() - t1)
        return loss

    def _logprobs(
        self, model: Any, prefix_model: Any, prefixes: list[list[int]], actions: list[list[int]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logps, mask = branch_logprobs(
            model,
            prefixes,
            actions,
            num_generations=self.num_generations,
            pad_token_id=self.pad_token_id,
            temperature=self.swirl_config.temperature,
            prefix_model=prefix_model,
        )
        self.tokens_processed += sum(len(p) for p in prefixes) + sum(len(a) for a in actions)
        return logps, mask

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        for k, v in self._metrics.items():
            if v:
                logs[k] = sum(v) / len(v)
        if "loss" in logs:  # a training log line: the running count of token positions processed
            logs["tokens_processed"] = float(self.tokens_processed)
        self._metrics = defaultdict(list)
        super().log(logs, start_time)


def sampling_seed(seed: int, step: int, state_index: int, draw: int = 0) -> int:
    """The seed of one state's G samples at one optimizer step (``draw`` > 0: a resampling round).

    Example:
        >>> sampling_seed(0, 3, 7) == sampling_seed(0, 3, 7) != sampling_seed(0, 4, 7)
        True
    """
    x = 0
    for v in (seed, step, state_index, draw):
        x = (x * 0x9E3779B97F4A7C15 + int(v) + 1) % (1 << 61)
    return x


def _flat_groups(rewards: torch.Tensor) -> torch.Tensor:
    """``[S]`` bool: the state's valid rewards are all equal (or fewer than two are valid)."""
    valid = ~torch.isnan(rewards)
    hi = torch.where(valid, rewards, torch.full_like(rewards, -float("inf"))).max(-1).values
    lo = torch.where(valid, rewards, torch.full_like(rewards, float("inf"))).min(-1).values
    return (valid.sum(-1) < 2) | (hi - lo <= 1e-8)


def _mean(xs: Sequence[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else 0.0


def _nanstd(x: torch.Tensor) -> float:
    v = x[~torch.isnan(x)]
    return float(v.std()) if v.numel() > 1 else 0.0
