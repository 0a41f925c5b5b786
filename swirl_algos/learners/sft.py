"""SFT on sub-trajectories (the paper's baseline) and RFT (SFT on outcome-filtered trajectories).

Loss: the negative log-likelihood of each kept action ``a_i`` given its state ``s_i``, on action
tokens only, averaged over the action tokens of a batch. Two equivalent data paths:

* ``sft_mode="per_step"``: one prompt/completion example per sub-trajectory, tokenized by TRL's
  ``SFTTrainer`` (completion-only loss). A K-step trajectory costs ``sum_i |s_i + a_i|`` tokens.
* ``sft_mode="single_pass"`` (default): one sequence per trajectory, with every kept action's
  tokens as labels (:mod:`swirl_algos.learners.stepwise`). Same tokens, same contexts, same loss,
  ``|s_K + a_K|`` tokens. Steps dropped by step-level filtering are context, not labels. A step
  whose tokens are not a prefix of the full conversation gets its own sequence, so the loss stays
  exactly the per-step one.

Both go through TRL's ``SFTTrainer`` (the single-pass data is pre-tokenized with a ``labels``
column), so precision, LoRA, checkpointing, resuming, logging and multi-GPU behave the same.

Example:
    >>> from swirl_algos.learners.config import SupervisedConfig
    >>> # train_sft(SupervisedConfig(output_dir="runs/sft"), "steps.jsonl", model="path/to/model")
    >>> # train_rft(SupervisedConfig(output_dir="runs/rft"), "steps.jsonl", model="path/to/model")
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from swirl_algos.learners.common import (
    TrainResult,
    filter_records,
    load_model_and_tokenizer,
    load_records,
    resolve_resume,
    save_trained_model,
)
from swirl_algos.learners.config import SupervisedConfig
from swirl_algos.learners.stepwise import StepwiseSequence, encode_trajectory, truncate_sequence
from swirl_algos.prompt_settings import template_kwargs, tools_json

logger = logging.getLogger(__name__)


def _msg(m: Mapping[str, Any]) -> dict[str, str]:
    return {"role": str(m["role"]), "content": str(m.get("content") or "")}


def group_conversations(
    records: Sequence[Mapping[str, Any]],
) -> list[tuple[str, list[dict], list[int], list[int]]]:
    """Rebuild full conversations from step records.

    Records of one ``trajectory_id`` whose states are prefixes of the longest one are merged:
    ``(trajectory_id, messages, action_message_indices, step_indices)``. A record that does not fit
    (inconsistent data) becomes its own one-step conversation.

    Example:
        >>> s = [{"role": "user", "content": "Q"}]
        >>> a1, obs, a2 = ({"role": "assistant", "content": "<c>x</c>"}, {"role": "user", "content": "x -> y"},
        ...                {"role": "assistant", "content": "<answer>y</answer>"})
        >>> recs = [{"trajectory_id": "t", "step_index": 0, "prompt": s, "completion": [a1]},
        ...         {"trajectory_id": "t", "step_index": 1, "prompt": [*s, a1, obs], "completion": [a2]}]
        >>> [(tid, len(msgs), idx) for tid, msgs, idx, _ in group_conversations(recs)]
        [('t', 4, [1, 3])]
    """
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[str(r["trajectory_id"])].append(r)
    out = []
    for tid, recs in groups.items():
        recs = sorted(recs, key=lambda r: (len(r["prompt"]), int(r.get("step_index") or 0)))
        longest = recs[-1]
        conversation = [_msg(m) for m in longest["prompt"]] + [_msg(longest["completion"][0])]
        indices, steps = [], []
        for r in recs:
            prompt = [_msg(m) for m in r["prompt"]]
            n = len(prompt)
            fits = (
                conversation[:n] == prompt
                and conversation[n] == _msg(r["completion"][0])
                and n not in indices
            )
            if fits:
                indices.append(n)
                steps.append(int(r.get("step_index") or 0))
            else:
                logger.debug(
                    "record %s step %s does not extend its trajectory; kept apart", tid, r.get("step_index")
                )
                out.append((tid, [*prompt, _msg(r["completion"][0])], [n], [int(r.get("step_index") or 0)]))
        out.append((tid, conversation, indices, steps))
    return out


def build_sft_dataset(
    records: Sequence[Mapping[str, Any]],
    tokenizer: Any,
    *,
    mode: str = "single_pass",
    max_length: int | None = None,
    chat_template_kwargs: Mapping[str, Any] | None = None,
    stats: Counter | None = None,
) -> Any:
    """The ``datasets.Dataset`` the SFT trainer consumes.

    ``per_step``: columns ``prompt``/``completion`` (TRL tokenizes). ``single_pass``: columns
    ``input_ids``/``labels`` (labels are -100 outside the kept actions).
    """
    from datasets import Dataset

    stats = stats if stats is not None else Counter()
    records = [r for r in records if r.get("completion")]
    if not records:
        raise ValueError("no step records with a completion to train on")
    if mode == "per_step":
        rows = [
            {"prompt": [_msg(m) for m in r["prompt"]], "completion": [_msg(r["completion"][0])]}
            for r in records
        ]
        tools = [tools_json(r.get("tools")) for r in records]  # checked: a clear error here, not in TRL
        if any(tools):  # native tool calling: TRL reads a "tools" column
            for row, t in zip(rows, tools):
                row["tools"] = t
        stats["examples"] = len(rows)
        return Dataset.from_list(rows)
    if mode != "single_pass":
        raise ValueError(f"unknown sft mode {mode!r}")
    rows = []
    tools_of = {str(r.get("trajectory_id")): r.get("tools") for r in records}
    for tid, messages, indices, steps in group_conversations(records):
        seqs = encode_trajectory(
            tokenizer,
            messages,
            indices,
            step_indices=steps,
            key=tid,
            chat_template_kwargs=template_kwargs(chat_template_kwargs, tools_of.get(tid)),
        )
        stats["trajectories"] += 1
        stats["sequences"] += len(seqs)
        stats["split_sequences"] += len(seqs) - 1
        for seq in seqs:
            cut: StepwiseSequence | None = truncate_sequence(seq, max_length)
            if cut is None:
                stats["dropped_too_long"] += 1
                continue
            rows.append({"input_ids": cut.input_ids, "labels": cut.labels()})
            stats["steps"] += len(cut.spans)
    if stats["split_sequences"]:
        logger.warning(
            "%d actions were not token prefixes of their later conversation (chat template or BPE merges) and "
            "were given their own sequences",
            stats["split_sequences"],
        )
    if not rows:
        raise ValueError("no training sequences left after truncation to max_length")
    stats["examples"] = len(rows)
    return Dataset.from_list(rows)


def train_sft(
    config: SupervisedConfig,
    dataset: Any,
    *,
    model: Any,
    tokenizer: Any = None,
    callbacks: Sequence[Any] | None = None,
) -> TrainResult:
    """Supervised fine-tuning on sub-trajectories ``(s_i, a_i)`` of the kept trajectories.

    Args:
        config: a :class:`~swirl_algos.learners.config.SupervisedConfig` (``sft_mode``, filters...).
        dataset: step records (list, ``datasets.Dataset``, JSONL path or directory).
        model: a path/hub id or a ``PreTrainedModel``.
        tokenizer: the tokenizer (loaded from ``model`` when a path is given).
        callbacks: extra ``transformers.TrainerCallback`` objects.

    Example:
        >>> # train_sft(SupervisedConfig(output_dir="runs/sft", sft_mode="single_pass"), records, model=m, tokenizer=t)
    """
    from trl import SFTTrainer

    model, tokenizer = load_model_and_tokenizer(model, tokenizer, model_init_kwargs=config.model_init_kwargs)
    records = load_records(dataset)
    kept, counts = filter_records(
        records, config.data_filter, level=config.filter_level, outcome_threshold=config.outcome_threshold
    )
    stats: Counter = Counter({f"records/{k}": v for k, v in counts.items()})
    if not kept:
        raise ValueError(f"no step records left after filtering ({counts})")
    train_ds = build_sft_dataset(
        kept,
        tokenizer,
        mode=config.sft_mode,
        max_length=config.max_length,
        chat_template_kwargs=config.chat_template_kwargs,
        stats=stats,
    )
    trainer = SFTTrainer(
        model=model,
        args=config.to_trl(),
        train_dataset=train_ds,
        processing_class=tokenizer,
        callbacks=list(callbacks or []),
        peft_config=config.peft_config(),
    )
    logger.info("SFT (%s): %d examples from %d step records", config.sft_mode, len(train_ds), len(kept))
    trainer.train(resume_from_checkpoint=resolve_resume(config.resume_from_checkpoint, config.output_dir))
    model_dir = save_trained_model(
        trainer, tokenizer, config.output_dir, merge_lora=config.merge_lora_on_save
    )
    stats_d = dict(stats)
    if trainer.accelerator.is_main_process:
        with open(os.path.join(config.output_dir, "sft_stats.json"), "w", encoding="utf-8") as f:
            json.dump(stats_d, f, indent=2)
    return TrainResult(config.output_dir, model_dir, list(trainer.state.log_history), stats_d)


def train_rft(
    config: SupervisedConfig,
    dataset: Any,
    *,
    model: Any,
    tokenizer: Any = None,
    callbacks: Sequence[Any] | None = None,
) -> TrainResult:
    """Rejection-sampling fine-tuning: SFT on the steps of trajectories with a correct outcome
    (``outcome_score >= config.outcome_threshold``). Same as :func:`train_sft` with the outcome filter on.

    Example:
        >>> # train_rft(SupervisedConfig(output_dir="runs/rft"), records, model=m, tokenizer=t)
    """
    mode = "process+outcome" if "process" in config.data_filter else "outcome"
    return train_sft(
        dataclasses.replace(config, data_filter=mode),
        dataset,
        model=model,
        tokenizer=tokenizer,
        callbacks=callbacks,
    )
