"""SWiRL on TRL's trainers (``SwirlConfig(engine="trl")``): vLLM generation, ``num_iterations > 1``.

:func:`build_trl_trainer` configures TRL's ``RLOOTrainer`` (``advantage="rloo"``) or
``GRPOTrainer`` (``"group_norm"``) with the process-judge reward, through subclasses that cut each
sampled action after the first closing tag of its state's environment (:class:`StopAtCallMixin`),
as the environment would. The default engine is the native shared-prefix
:class:`~swirl_algos.learners.swirl_trainer.SwirlTrainer`; :func:`~swirl_algos.learners.swirl.train_swirl`
picks the engine.

Example:
    >>> check_trl_version("1.16.0")
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from swirl_algos.learners.common import is_peft_model, resolve_parser, resolve_resume, stop_strings_for
from swirl_algos.learners.config import SwirlConfig
from swirl_algos.learners.shared_prefix import end_of_turn_ids

logger = logging.getLogger(__name__)

__all__ = ["TRL_TESTED", "StopAtCallMixin", "build_trl_trainer", "check_trl_version", "cut_at_stop"]


def cut_at_stop(ids: Sequence[int], tokenizer: Any, stop_strings: Sequence[str]) -> tuple[list[int], bool]:
    """Shortest prefix of ``ids`` whose text contains a stop string, and whether one was found.

    The tokens after the one that completes the first stop string are dropped, so they are neither
    rewarded nor trained on. (If the completing token also carries text after the stop string,
    that token is kept whole; the parser ignores the extra text as the environment does.)

    Example:
        >>> from swirl_algos.tiny import build_tiny_tokenizer
        >>> tok = build_tiny_tokenizer(["<answer> 4 </answer> more"], vocab_size=300)
        >>> ids = tok.encode("<answer> 4 </answer> more text")
        >>> cut, stopped = cut_at_stop(ids, tok, ["</answer>"])
        >>> tok.decode(cut), stopped
        ('<answer> 4 </answer>', True)
    """
    ids = list(ids)
    if not stop_strings or not ids:
        return ids, False

    def has_stop(k: int) -> bool:
        text = tokenizer.decode(ids[:k], skip_special_tokens=True)
        return any(s in text for s in stop_strings)

    if not has_stop(len(ids)):
        return ids, False
    lo, hi = 1, len(ids)  # smallest k with has_stop(k): monotone in k
    while lo < hi:
        mid = (lo + hi) // 2
        if has_stop(mid):
            hi = mid
        else:
            lo = mid + 1
    return ids[:lo], True


@contextlib.contextmanager
def _generate_with_tokenizer(model: Any, tokenizer: Any) -> Iterator[None]:
    """Let ``model.generate`` honour ``stop_strings`` in its generation config (transformers needs
    the tokenizer passed to ``generate`` for that, which TRL's call does not do)."""
    had_own = "generate" in vars(model)
    original = model.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("tokenizer", tokenizer)
        return original(*args, **kwargs)

    model.generate = generate
    try:
        yield
    finally:
        if had_own:
            model.generate = original
        else:
            del model.generate


class StopAtCallMixin:
    """Cuts each sampled action after the first closing tag of its state's environment.

    Generation stops early through transformers' stop-string criterion (or vLLM's ``stop``) where
    every environment shares the stop strings; whatever the backend, the completion token ids are
    then cut per row so that nothing after the stop is decoded, rewarded, or included in the loss
    mask, and a cut action ends with the chat template's end-of-turn token, so TRL counts it as
    terminated (``completions/clipped_ratio``) and ``mask_truncated_completions`` keeps it.
    """

    swirl_stop_strings: list[str]
    swirl_env_stops: dict[str, list[str]]
    swirl_env_of: dict[str, str]
    swirl_eot: list[int]

    def _generate(self, prompts: list) -> Any:
        env_of = getattr(self, "swirl_env_of", {})
        env_stops = getattr(self, "swirl_env_stops", {})
        self._swirl_row_stops = [env_stops.get(env_of.get(_prompt_key(p), ""), []) for p in prompts]
        return super()._generate(prompts)  # type: ignore[misc]

    def _generate_single_turn(self, *args: Any, **kwargs: Any) -> Any:
        stops = getattr(self, "swirl_stop_strings", None) or []
        patch = (
            bool(stops)
            and not self.use_vllm
            and not getattr(self, "use_transformers_continuous_batching", False)
        )
        ctx = (
            _generate_with_tokenizer(self.accelerator.unwrap_model(self.model_wrapped), self._tokenizer)
            if patch
            else contextlib.nullcontext()
        )
        with ctx:
            out = super()._generate_single_turn(*args, **kwargs)  # type: ignore[misc]
        if not stops:
            return out
        ids, extra = (out[0], out[1:]) if isinstance(out, tuple) else (out, None)
        rows = getattr(self, "_swirl_row_stops", None) or [stops] * len(ids)
        per_prompt = max(1, len(ids) // max(1, len(rows)))
        eot = list(getattr(self, "swirl_eot", []) or [])
        cut_ids, stopped = [], 0
        for i, seq in enumerate(ids):
            row = rows[min(i // per_prompt, len(rows) - 1)]
            c, s = cut_at_stop(list(seq), self._tokenizer, row)
            if s and eot and c[-len(eot) :] != eot:
                c = c + eot
            cut_ids.append(c)
            stopped += s
        mode = "train" if self.model.training else "eval"
        if ids:
            self._metrics[mode]["completions/stopped_at_call"].append(stopped / len(ids))
        if extra is None:
            return cut_ids
        logprobs = extra[0]
        if logprobs is not None:  # the appended end-of-turn token is not sampled: log-prob 0
            logprobs = [
                list(lp[: len(c)]) + [0.0] * max(0, len(c) - len(lp)) for lp, c in zip(logprobs, cut_ids)
            ]
        return (cut_ids, logprobs, *extra[1:])


#: TRL releases the ``engine="trl"`` subclasses are tested with (they override private methods).
TRL_TESTED = ("1.16", "1.17")


def check_trl_version(version: str | None = None) -> None:
    """Raise ``ImportError`` when the installed TRL is outside :data:`TRL_TESTED` (``[low, high)``).

    Example:
        >>> check_trl_version("1.16.0")
        >>> check_trl_version("0.19.1")
        Traceback (most recent call last):
        ...
        ImportError: engine='trl' needs TRL >=1.16,<1.17 (found 0.19.1): pip install 'trl>=1.16,<1.17', or use engine='native'
    """
    from packaging.version import Version

    if version is None:
        import trl

        version = trl.__version__
    low, high = TRL_TESTED
    v = Version(version)
    if not (Version(low) <= Version(v.base_version) < Version(high)):
        raise ImportError(
            f"engine='trl' needs TRL >={low},<{high} (found {version}): "
            f"pip install 'trl>={low},<{high}', or use engine='native'"
        )


@functools.lru_cache(maxsize=1)
def _trainer_classes() -> tuple[type, type]:
    check_trl_version()
    from trl import GRPOTrainer, RLOOTrainer

    class SwirlRLOOTrainer(StopAtCallMixin, RLOOTrainer):
        """TRL ``RLOOTrainer`` with SWiRL's stop-at-call sampling."""

        _tag_names = ["trl", "rloo", "swirl"]  # noqa: RUF012

    class SwirlGRPOTrainer(StopAtCallMixin, GRPOTrainer):
        """TRL ``GRPOTrainer`` with SWiRL's stop-at-call sampling."""

        _tag_names = ["trl", "grpo", "swirl"]  # noqa: RUF012

    return SwirlRLOOTrainer, SwirlGRPOTrainer


def __getattr__(name: str) -> Any:  # lazy: importing TRL's trainers is slow
    if name in ("SwirlRLOOTrainer", "SwirlGRPOTrainer"):
        rloo, grpo = _trainer_classes()
        return rloo if name == "SwirlRLOOTrainer" else grpo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_trl_trainer(
    config: SwirlConfig,
    states: Any,
    reward: Any,
    model: Any,
    tokenizer: Any,
    stops_by_env: Mapping[str, Sequence[str]],
    model_is_path: bool,
    callbacks: Sequence[Any] | None,
) -> tuple[Any, list[str]]:
    """TRL's RLOO/GRPO trainer (``engine="trl"``: vLLM generation, ``num_iterations > 1``).

    Raises:
        ValueError: the states come from a native tool-calling env: TRL's RLOO/GRPO render every
            prompt with the trainer's ``tools`` and no per-state tools, so those states train with
            ``engine="native"``.
    """
    if "tools" in states.column_names and any(states["tools"]):
        raise ValueError(
            "engine='trl' cannot train states of a native tool-calling env (tool_style='native'): "
            "TRL renders prompts without per-state tools; use engine='native'"
        )
    env_stops = {e: list(v) for e, v in stops_by_env.items()} if config.stop_at_call else {}
    distinct = {tuple(v) for v in env_stops.values()}
    # generation may stop early only at strings every environment shares; each action is then cut
    # at its own environment's closing tags (a foreign tag never cuts an action)
    shared = list(next(iter(distinct))) if len(distinct) == 1 else []
    trainer_kwargs = dict(config.trainer_kwargs)
    if shared:
        gen = dict(trainer_kwargs.get("generation_kwargs") or {})
        if trainer_kwargs.get("use_vllm"):
            gen.setdefault("stop", shared)
            gen.setdefault("include_stop_str_in_output", True)
        else:
            gen.setdefault("stop_strings", shared)
        trainer_kwargs["generation_kwargs"] = gen
    args = dataclasses.replace(config, trainer_kwargs=trainer_kwargs).to_trl()

    restore = None
    if config.beta > 0 and not config.use_peft and not is_peft_model(model) and not model_is_path:
        # TRL builds the frozen reference from the model's name_or_path: point it at this run's
        # initial weights (written afresh, never a previous run's) for the trainer's construction,
        # then give the caller's model its own name back.
        from accelerate import PartialState

        init_dir = os.path.join(config.output_dir, "initial_policy")
        if PartialState().is_main_process and not _resuming(config):
            model.save_pretrained(init_dir)
            tokenizer.save_pretrained(init_dir)
        PartialState().wait_for_everyone()
        restore = (model.config._name_or_path, getattr(model, "name_or_path", None))
        model.config._name_or_path = init_dir
        model.name_or_path = init_dir
    rloo_cls, grpo_cls = _trainer_classes()
    cls = rloo_cls if config.advantage == "rloo" else grpo_cls
    try:
        trainer = cls(
            model=model,
            reward_funcs=[reward],
            args=args,
            train_dataset=states,
            processing_class=tokenizer,
            callbacks=list(callbacks or []),
            peft_config=config.peft_config(),
        )
    finally:
        if restore is not None:
            model.config._name_or_path, name = restore
            if name is not None:
                model.name_or_path = name
    trainer.swirl_env_stops = env_stops
    trainer.swirl_env_of = {_prompt_key(p): e for p, e in zip(states["prompt"], states["env_id"])}
    trainer.swirl_eot = end_of_turn_ids(tokenizer, config.chat_template_kwargs)[:1]
    trainer.swirl_stop_strings = stop_strings_for(resolve_parser(e, config.tool_tags) for e in env_stops)
    return trainer, trainer.swirl_stop_strings


def _resuming(config: SwirlConfig) -> bool:
    return bool(resolve_resume(config.resume_from_checkpoint, config.output_dir))


def _prompt_key(prompt: Any) -> str:
    return json.dumps(
        [{"role": m["role"], "content": m["content"]} for m in prompt], sort_keys=True, ensure_ascii=False
    )
