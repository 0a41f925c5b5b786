"""Helpers shared by the learners: models and tokenizers, step-record data, parsers, saving.

Example:
    >>> records = [{"prompt": [{"role": "user", "content": "2+2?"}],
    ...             "completion": [{"role": "assistant", "content": "<answer> 4 </answer>"}],
    ...             "trajectory_id": "q#0", "step_index": 0, "num_steps": 1, "env_id": "SwiRL-GSM8K-v0",
    ...             "task": "{}", "process_label": True, "process_score": 1.0, "outcome_score": 1.0}]
    >>> validate_records(records)[0]["step_index"]
    0
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swirl_algos.filtering import FILTER_LEVELS, FILTER_MODES
from swirl_algos.jsonl import read_jsonl

if TYPE_CHECKING:
    from swirl_algos.decompose import StepRecord

logger = logging.getLogger(__name__)


#: Tag -> tool name of the paper's tools (used only when asked explicitly, see :func:`resolve_parser`).
PAPER_TOOL_TAGS = {"math_exp": "calculator", "search_query": "search"}


@dataclass
class TrainResult:
    """What a learner returns.

    Attributes:
        output_dir: the run directory (checkpoints, logs).
        model_dir: the directory to load the trained model from (``from_pretrained``); the merged
            model for LoRA runs when ``merge_lora_on_save``.
        log_history: the trainer's logged metrics, one dict per log event.
        stats: learner-specific counters (judge failures, dropped records...).
    """

    output_dir: str
    model_dir: str
    log_history: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output_dir": self.output_dir,
            "model_dir": self.model_dir,
            "log_history": self.log_history,
            "stats": dict(self.stats),
        }


# ---------------------------------------------------------------------------------------------- models
def load_model_and_tokenizer(
    model: Any,
    tokenizer: Any = None,
    *,
    model_init_kwargs: Mapping[str, Any] | None = None,
) -> tuple[Any, Any]:
    """Resolve a model given as a path/hub id or an instance, and its tokenizer.

    The tokenizer must have a chat template (multi-step states are conversations). A missing pad
    token is set to the EOS token.

    Example:
        >>> from swirl_algos.tiny import build_tiny_tokenizer, build_tiny_model
        >>> tok = build_tiny_tokenizer([], vocab_size=300)
        >>> m, t = load_model_and_tokenizer(build_tiny_model(tok, hidden_size=16, num_layers=1), tok)
        >>> t is tok
        True
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if isinstance(model, str | os.PathLike):
        path = str(model)
        kwargs = dict(model_init_kwargs or {})
        dtype = kwargs.get("dtype")
        if isinstance(dtype, str) and dtype != "auto":
            import torch

            kwargs["dtype"] = getattr(torch, dtype)
        if (Path(path) / "adapter_config.json").exists():
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(path, **kwargs)
        else:
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(path)
    elif tokenizer is None:
        name = getattr(getattr(model, "config", None), "_name_or_path", "") or ""
        if not name:
            raise ValueError(
                "pass a tokenizer with an in-memory model (it has no name_or_path to load one from)"
            )
        tokenizer = AutoTokenizer.from_pretrained(name)
    elif isinstance(tokenizer, str | os.PathLike):
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "the tokenizer has no chat template; multi-step states are conversations, so set "
            "tokenizer.chat_template (e.g. copy the instruct model's template)"
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
        logger.info("tokenizer has no pad token; using the EOS token %r", tokenizer.eos_token)
    return model, tokenizer


def load_trained_model(path: str | os.PathLike, **kwargs: Any) -> tuple[Any, Any]:
    """Load a learner's output (full model, merged LoRA model, or a LoRA adapter) and its tokenizer.

    Example:
        >>> # model, tokenizer = load_trained_model("outputs/swirl")
    """
    path = Path(path)
    if (path / "merged").is_dir() and not (path / "config.json").exists():
        path = path / "merged"
    return load_model_and_tokenizer(str(path), model_init_kwargs=kwargs)


def save_trained_model(trainer: Any, tokenizer: Any, output_dir: str, *, merge_lora: bool = True) -> str:
    """Save the final model (and tokenizer) of a TRL/transformers trainer; returns the loadable dir.

    For LoRA runs the adapter goes to ``output_dir`` and, with ``merge_lora``, the merged full
    model to ``output_dir/merged`` (returned).
    """
    trainer.save_model(output_dir)
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(output_dir)
    model = trainer.accelerator.unwrap_model(trainer.model)
    if is_peft_model(model) and merge_lora:
        merged_dir = os.path.join(output_dir, "merged")
        if trainer.accelerator.is_main_process:
            # training is over and the adapter is saved: merge in place (no second copy in memory)
            merged = model.merge_and_unload()
            merged.save_pretrained(merged_dir)
            tokenizer.save_pretrained(merged_dir)
        trainer.accelerator.wait_for_everyone()
        return merged_dir
    return output_dir


def resolve_resume(resume: str | bool | None, output_dir: str) -> str | bool | None:
    """``True`` -> the latest ``checkpoint-*`` of ``output_dir``, or ``None`` (fresh start, logged)
    when there is none; a path must exist."""
    if resume is None or resume is False:
        return None
    if resume is True:
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
        if last is None:
            logger.warning("resume requested but %s has no checkpoint; starting fresh", output_dir)
        return last
    if not os.path.isdir(str(resume)):
        raise FileNotFoundError(f"checkpoint to resume from not found: {resume}")
    return str(resume)


def is_peft_model(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, PeftModel)


# ---------------------------------------------------------------------------------------------- data
def _is_trajectory(row: Mapping[str, Any]) -> bool:
    return "messages" in row and "steps" in row


def load_records(source: Any) -> list[StepRecord]:
    """Step records from a list, a ``datasets.Dataset``, a JSONL file, or a directory.

    Accepted inputs: step records (``prompt``/``completion`` columns, the format of
    ``swirl_algos.decompose``), or trajectory records (``messages``/``steps``, one episode a line),
    which are decomposed. A directory is read as a ``datasets`` ``save_to_disk`` folder when it has
    ``dataset_info.json``/``state.json``, else every ``*.jsonl`` file in it (sorted) is read.

    Example:
        >>> load_records([])
        []
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"training data not found: {path}")
        if path.is_dir():
            if (path / "state.json").exists() or (path / "dataset_info.json").exists():
                from datasets import load_from_disk

                return load_records(load_from_disk(str(path)))
            files = sorted(path.glob("*.jsonl"))
            if not files:
                raise FileNotFoundError(f"no *.jsonl files (or saved dataset) in {path}")
            rows = [r for f in files for r in read_jsonl(f)]
        else:
            rows = read_jsonl(path)
    elif hasattr(source, "to_list"):
        rows = source.to_list()
    else:
        rows = [dict(r) if not hasattr(r, "to_dict") else r.to_dict() for r in source]
    if not rows:
        return []
    if all(_is_trajectory(r) for r in rows):
        from swirl_algos.decompose import decompose
        from swirl_env.trajectory import Trajectory

        return [dict(r) for r in decompose([Trajectory.from_dict(r) for r in rows])]
    return validate_records(rows)


def validate_records(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check step records and fill optional fields; raises ``ValueError`` naming the bad record."""
    out = []
    for n, r in enumerate(rows):
        r = dict(r)
        prompt, completion = r.get("prompt"), r.get("completion")
        if not isinstance(prompt, list) or not prompt or not all(isinstance(m, Mapping) for m in prompt):
            raise ValueError(f"record {n}: 'prompt' must be a non-empty list of chat messages")
        if completion is not None and (
            not isinstance(completion, list)
            or len(completion) != 1
            or completion[0].get("role") != "assistant"
        ):
            raise ValueError(f"record {n}: 'completion' must be [{{'role': 'assistant', 'content': ...}}]")
        r.setdefault("trajectory_id", f"record-{n}")
        r.setdefault("step_index", 0)
        r.setdefault("num_steps", None)
        r.setdefault("env_id", "")
        task = r.get("task")
        if isinstance(task, Mapping):
            r["task"] = json.dumps(dict(task), ensure_ascii=False)
        elif task is None:
            r["task"] = ""
        for k in ("process_label", "process_score", "outcome_score"):
            r.setdefault(k, None)
        out.append(r)
    return out


def filter_records(
    records: Sequence[Mapping[str, Any]],
    mode: str = "none",
    *,
    level: str = "trajectory",
    outcome_threshold: float = 1.0,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The paper's four filters, applied to step records.

    ``process`` keeps a trajectory only if every one of its steps has ``process_label`` True
    (``level="trajectory"``, the paper's rule) or keeps each step whose label is True
    (``level="step"``); ``outcome`` keeps trajectories whose ``outcome_score`` is at least
    ``outcome_threshold``; ``process+outcome`` needs both. Missing labels/scores fail an active
    filter. Returns the kept records and counts.

    Example:
        >>> recs = [{"trajectory_id": "a", "process_label": True, "outcome_score": 0.0},
        ...         {"trajectory_id": "b", "process_label": None, "outcome_score": 1.0}]
        >>> kept, counts = filter_records(recs, "outcome")
        >>> [r["trajectory_id"] for r in kept], counts["dropped_outcome"]
        (['b'], 1)
    """
    if mode not in FILTER_MODES:
        raise ValueError(f"filter mode must be one of {FILTER_MODES}, got {mode!r}")
    if level not in FILTER_LEVELS:
        raise ValueError(f"filter level must be one of {FILTER_LEVELS}, got {level!r}")
    process, outcome = "process" in mode, "outcome" in mode
    bad_process: set[str] = set()
    if process and level == "trajectory":
        bad_process = {str(r.get("trajectory_id")) for r in records if r.get("process_label") is not True}
    kept, counts = [], {"input": len(records), "dropped_process": 0, "dropped_outcome": 0}
    for r in records:
        if process and (
            str(r.get("trajectory_id")) in bad_process
            if level == "trajectory"
            else r.get("process_label") is not True
        ):
            counts["dropped_process"] += 1
            continue
        score = r.get("outcome_score")
        if outcome and (score is None or float(score) < outcome_threshold):
            counts["dropped_outcome"] += 1
            continue
        kept.append(dict(r))
    counts["kept"] = len(kept)
    return kept, counts


# ---------------------------------------------------------------------------------------------- parsers
@functools.lru_cache(maxsize=32)
def _env_parser(env_id: str) -> Any:
    import gymnasium as gym

    import swirl_env  # noqa: F401  (registers the ids)

    try:
        env = gym.make(env_id)
    except Exception as e:
        raise ValueError(
            f"cannot build environment {env_id!r} to read its action syntax ({type(e).__name__}: {e}); "
            "pass tool_tags={tag: tool_name} explicitly"
        ) from e
    try:
        return env.unwrapped.parser
    finally:
        env.close()


def resolve_parser(env_id: str | None = None, tool_tags: Mapping[str, str] | None = None) -> Any:
    """The :class:`~swirl_env.parsing.ActionParser` of an environment (or of explicit ``tool_tags``).

    Example:
        >>> resolve_parser(tool_tags={"math_exp": "calculator"}).stop_strings
        ['</math_exp>', '</answer>', '</tool_call>']
    """
    from swirl_env.parsing import ActionParser

    if tool_tags is not None:
        return ActionParser(dict(tool_tags))
    if not env_id:
        raise ValueError("records have no env_id; pass tool_tags={tag: tool_name} to set the action syntax")
    return _env_parser(env_id)


def stop_strings_for(parsers: Iterable[Any]) -> list[str]:
    """Union of the parsers' stop strings, in a stable order."""
    out: list[str] = []
    for p in parsers:
        for s in p.stop_strings:
            if s not in out:
                out.append(s)
    return out
