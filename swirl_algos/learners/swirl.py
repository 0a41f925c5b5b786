"""SWiRL step-wise RL (Stage 2 of the paper), built on TRL's RLOO / GRPO trainers.

``J(theta) = E_{s in T, a ~ pi_theta(s)} [R(a | s)]``: ``T`` is the set of states of the kept
(filtered) trajectories; at each state the current policy samples ``G`` actions, a process judge
scores each one (GOOD = 1, BAD = 0), and a policy gradient with a leave-one-out baseline and a KL
penalty to the frozen initial policy updates the action tokens. Sampled actions are NEVER executed:
no tool runs during training; it is a contextual bandit over a fixed set of states.

Pieces:

* :func:`prepare_state_dataset`: step records -> a prompt dataset (one row per state);
* :class:`ProcessJudgeReward`: any :class:`~swirl_env.rewards.judges.base.ProcessJudge` as a TRL
  reward function (parses each action with the environment's parser, handles judge failures);
* :class:`SwirlRLOOTrainer` / :class:`SwirlGRPOTrainer`: TRL trainers whose sampled actions stop at
  the end of the first tool call or answer (as in the environment) with the later tokens removed
  from the loss;
* :func:`train_swirl`: the whole learner from a :class:`~swirl_algos.learners.config.SwirlConfig`.

Example:
    >>> from swirl_algos.learners.config import SwirlConfig
    >>> # result = train_swirl(SwirlConfig(output_dir="runs/swirl"), "data/steps.jsonl", judge,
    >>> #                      model="Qwen/Qwen2.5-0.5B-Instruct")
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from swirl_algos.learners.common import (
    TrainResult,
    filter_records,
    is_peft_model,
    load_model_and_tokenizer,
    load_records,
    resolve_parser,
    resolve_resume,
    save_trained_model,
    stop_strings_for,
)
from swirl_algos.learners.config import SwirlConfig
from swirl_algos.learners.shared_prefix import end_of_turn_ids
from swirl_algos.learners.stepwise import encode_messages
from swirl_env.parsing import ActionParser
from swirl_env.rewards.judges.base import (
    Judgement,
    ProcessJudge,
    ProcessRequest,
    check_reward_mode,
    judgement_reward,
)
from swirl_env.tasks.base import Task
from swirl_env.trajectory import Step

logger = logging.getLogger(__name__)

STATE_COLUMNS = ("prompt", "task", "env_id", "trajectory_id", "step_index")


# ---------------------------------------------------------------------------------------------- data
def prepare_state_dataset(
    data: Any,
    *,
    tokenizer: Any = None,
    max_prompt_length: int | None = None,
    deduplicate: bool = False,
    chat_template_kwargs: Mapping[str, Any] | None = None,
    data_filter: str = "none",
    filter_level: str = "trajectory",
    outcome_threshold: float = 1.0,
    stats: Counter | None = None,
) -> Any:
    """The training states as a ``datasets.Dataset`` with columns :data:`STATE_COLUMNS`.

    Args:
        data: step records (list, ``Dataset``, JSONL path or directory; see
            :func:`~swirl_algos.learners.common.load_records`). The recorded actions are not used:
            SWiRL samples fresh ones.
        tokenizer: needed for ``max_prompt_length``.
        max_prompt_length: leave out states longer than this many tokens (counted in ``stats``).
        deduplicate: keep one row per distinct state (conversation).
        data_filter / filter_level / outcome_threshold: the paper's filters
            (:func:`~swirl_algos.learners.common.filter_records`); ``"none"`` for pre-filtered data.
        stats: a counter updated with ``states_in``, ``states_too_long``, ``states_duplicate``, ``states``.

    Example:
        >>> ds = prepare_state_dataset([{"prompt": [{"role": "user", "content": "Q?"}], "env_id": "E",
        ...                              "task": "{}", "trajectory_id": "t", "step_index": 0}])
        >>> ds.column_names
        ['prompt', 'task', 'env_id', 'trajectory_id', 'step_index']
    """
    from datasets import Dataset

    stats = stats if stats is not None else Counter()
    records = load_records(data)
    stats["states_in"] += len(records)
    if data_filter != "none":
        records, counts = filter_records(
            records, data_filter, level=filter_level, outcome_threshold=outcome_threshold
        )
        stats.update({f"filter/{k}": v for k, v in counts.items()})
    rows, seen = [], set()
    for r in records:
        prompt = [{"role": m["role"], "content": m["content"]} for m in r["prompt"]]
        if prompt[-1]["role"] == "assistant":
            raise ValueError(
                f"state of {r['trajectory_id']!r} step {r['step_index']} ends with an assistant turn"
            )
        if deduplicate:
            key = json.dumps(prompt, sort_keys=True, ensure_ascii=False)
            if key in seen:
                stats["states_duplicate"] += 1
                continue
            seen.add(key)
        if max_prompt_length is not None:
            if tokenizer is None:
                raise ValueError("max_prompt_length needs a tokenizer")
            n = len(
                encode_messages(
                    tokenizer, prompt, add_generation_prompt=True, chat_template_kwargs=chat_template_kwargs
                )
            )
            if n > max_prompt_length:
                stats["states_too_long"] += 1
                continue
        rows.append(
            {
                "prompt": prompt,
                "task": r.get("task") or "",
                "env_id": r.get("env_id") or "",
                "trajectory_id": str(r.get("trajectory_id")),
                "step_index": int(r.get("step_index") or 0),
            }
        )
    if stats["states_too_long"]:
        logger.warning(
            "left out %d states longer than max_prompt_length=%s tokens",
            stats["states_too_long"],
            max_prompt_length,
        )
    if not rows:
        raise ValueError("no training states left (empty data, or all states filtered out)")
    stats["states"] = len(rows)
    return Dataset.from_list(rows)


# ---------------------------------------------------------------------------------------------- reward
def _content(x: Any) -> str:
    """Text of a TRL completion (conversational ``[{"role", "content"}]`` or plain string)."""
    if isinstance(x, str):
        return x
    if isinstance(x, list) and x and isinstance(x[-1], Mapping):
        return str(x[-1].get("content") or "")
    if isinstance(x, Mapping):
        return str(x.get("content") or "")
    return str(x)


class ProcessJudgeReward:
    """A process judge as a TRL reward function: ``R(a | s)`` of SWiRL.

    Each sampled action is parsed with its environment's :class:`~swirl_env.parsing.ActionParser`
    (cut after the first complete call, as the environment would) and sent to the judge as a
    :class:`~swirl_env.rewards.judges.base.ProcessRequest` with the state as context and the parse
    as ``step`` (no tool result: the action is not executed).

    Args:
        judge: the process judge.
        reward: ``"label"`` (GOOD = 1, BAD = 0) or ``"score"`` (the judge's soft score).
        on_failure: ``"skip"`` returns ``None`` for a failed judgement (TRL leaves it out of the
            baseline and gives it zero advantage); ``"zero"`` returns 0.
        tool_tags: explicit action syntax; else each record's ``env_id`` decides.

    Attributes:
        stats: running counts (``judged``, ``good``, ``failed``, ``kind/<call|answer|none|malformed>``).

    Example:
        >>> class Good(ProcessJudge):
        ...     def judge_steps(self, reqs):
        ...         return [Judgement(label="<answer>" in r.action, score=None) for r in reqs]
        >>> fn = ProcessJudgeReward(Good(), tool_tags={"math_exp": "calculator"})
        >>> fn(prompts=[[{"role": "user", "content": "Q"}]] * 2,
        ...    completions=[[{"role": "assistant", "content": "<answer> 1 </answer>"}],
        ...                 [{"role": "assistant", "content": "hmm"}]])
        [1.0, 0.0]
    """

    def __init__(
        self,
        judge: ProcessJudge,
        *,
        reward: str = "label",
        on_failure: str = "skip",
        tool_tags: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(judge, ProcessJudge):
            raise TypeError(f"judge must be a ProcessJudge, got {type(judge).__name__}")
        check_reward_mode(reward)
        if on_failure not in ("skip", "zero"):
            raise ValueError(f"on_failure must be 'skip' or 'zero', got {on_failure!r}")
        self.judge = judge
        self.reward = reward
        self.on_failure = on_failure
        self.tool_tags = dict(tool_tags) if tool_tags is not None else None
        self.stats: Counter = Counter()
        self.__name__ = f"judge:{getattr(judge, 'name', type(judge).__name__)}"

    def parser(self, env_id: str | None) -> ActionParser:
        return resolve_parser(env_id, self.tool_tags)

    def requests(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        task: Sequence[Any] | None = None,
        env_id: Sequence[Any] | None = None,
        step_index: Sequence[Any] | None = None,
    ) -> list[ProcessRequest]:
        """The judge requests for a batch of (state, sampled action) pairs."""
        n = len(prompts)
        out = []
        for i in range(n):
            text = _content(completions[i])
            parser = self.parser(env_id[i] if env_id is not None else None)
            context = (
                list(prompts[i])
                if not isinstance(prompts[i], str)
                else [{"role": "user", "content": prompts[i]}]
            )
            index = (
                int(step_index[i])
                if step_index is not None
                else len([m for m in context if m.get("role") == "assistant"])
            )
            step = Step.from_parsed(parser.parse(text), text, index=index, message_index=len(context))
            raw_task = task[i] if task is not None else None
            out.append(
                ProcessRequest(task=_task(raw_task), context=context, action=step.action, step=step.to_dict())
            )
        return out

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        task: Sequence[Any] | None = None,
        env_id: Sequence[Any] | None = None,
        step_index: Sequence[Any] | None = None,
        log_metric: Any = None,
        **_: Any,
    ) -> list[float | None]:
        requests = self.requests(prompts, completions, task, env_id, step_index)
        try:
            judgements = list(self.judge.judge_steps(requests))
        except Exception as e:  # a judge that raises for the whole batch: every item failed
            logger.error("process judge failed on a batch of %d: %s: %s", len(requests), type(e).__name__, e)
            judgements = [Judgement(label=None, error=f"{type(e).__name__}: {e}") for _ in requests]
        if len(judgements) != len(requests):
            raise RuntimeError(f"judge returned {len(judgements)} judgements for {len(requests)} requests")
        rewards: list[float | None] = []
        failed = good = 0
        for req, j in zip(requests, judgements):
            self.stats[f"kind/{req.step['kind']}"] += 1
            value = judgement_reward(j, self.reward, None if self.on_failure == "skip" else 0.0)
            if j.label is None:
                failed += 1
                if failed == 1:
                    logger.warning("judge failure (%s): %s", self.on_failure, j.error or "no label")
            good += bool(j.label)
            rewards.append(value)
        n = len(requests)
        self.stats["judged"] += n
        self.stats["failed"] += failed
        self.stats["good"] += good
        if log_metric is not None and n:
            log_metric("judge/failure_rate", failed / n)
            log_metric("judge/good_rate", good / n)
            complete = sum(r.step["kind"] in ("call", "answer") for r in requests)
            log_metric("actions/complete_call_rate", complete / n)
        return rewards


def _task(raw: Any) -> Task | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, Task):
        return raw
    d = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if not d:
        return None
    try:
        return Task.from_dict(d)
    except (KeyError, ValueError) as e:
        logger.debug("record task is not a full Task (%s); judge gets task=None", e)
        return None


# ---------------------------------------------------------------------------------------------- stopping
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
    raise AttributeError(name)


# ---------------------------------------------------------------------------------------------- learner
def build_swirl_trainer(
    config: SwirlConfig,
    dataset: Any,
    process_judge: ProcessJudge,
    *,
    model: Any,
    tokenizer: Any = None,
    callbacks: Sequence[Any] | None = None,
    stats: Counter | None = None,
) -> Any:
    """The configured TRL trainer (not yet trained); :func:`train_swirl` runs it.

    Returns:
        A ``SwirlRLOOTrainer`` (``advantage="rloo"``) or ``SwirlGRPOTrainer`` (``"group_norm"``),
        with ``trainer.swirl_reward`` (the :class:`ProcessJudgeReward`, whose ``stats`` count
        judge failures) and ``trainer.swirl_stats`` (data counters).
    """
    stats = stats if stats is not None else Counter()
    model_is_path = isinstance(model, str | os.PathLike)
    model, tokenizer = load_model_and_tokenizer(model, tokenizer, model_init_kwargs=config.model_init_kwargs)
    states = prepare_state_dataset(
        dataset,
        tokenizer=tokenizer,
        max_prompt_length=config.max_prompt_length,
        deduplicate=config.deduplicate_states,
        chat_template_kwargs=config.chat_template_kwargs,
        data_filter=config.data_filter,
        filter_level=config.filter_level,
        outcome_threshold=config.outcome_threshold,
        stats=stats,
    )
    reward = ProcessJudgeReward(
        process_judge, reward=config.reward, on_failure=config.judge_failure, tool_tags=config.tool_tags
    )
    env_ids = sorted(set(states["env_id"]))
    stops_by_env = {e: resolve_parser(e, config.tool_tags).stop_strings for e in env_ids}
    if config.engine == "native":
        from swirl_algos.learners.swirl_trainer import SwirlTrainer

        if config.use_peft and not is_peft_model(model):
            from peft import get_peft_model

            model = get_peft_model(model, config.peft_config())
        trainer = SwirlTrainer(
            model,
            config,
            states,
            reward,
            tokenizer,
            stop_strings_by_env=stops_by_env if config.stop_at_call else {},
            callbacks=callbacks,
        )
        stops = stop_strings_for(resolve_parser(e, config.tool_tags) for e in env_ids)
    else:
        trainer, stops = _build_trl_trainer(
            config, states, reward, model, tokenizer, stops_by_env, model_is_path, callbacks
        )
    trainer.swirl_reward = reward
    trainer.swirl_stats = stats
    logger.info(
        "SWiRL (%s engine): %d states from %s, G=%d, beta=%g, advantage=%s, stop strings %s",
        config.engine,
        len(states),
        env_ids,
        config.num_generations,
        config.beta,
        config.advantage,
        stops,
    )
    return trainer


def _build_trl_trainer(
    config: SwirlConfig,
    states: Any,
    reward: ProcessJudgeReward,
    model: Any,
    tokenizer: Any,
    stops_by_env: Mapping[str, Sequence[str]],
    model_is_path: bool,
    callbacks: Sequence[Any] | None,
) -> tuple[Any, list[str]]:
    """TRL's RLOO/GRPO trainer (``engine="trl"``: vLLM generation, ``num_iterations > 1``)."""
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


def train_swirl(
    config: SwirlConfig,
    dataset: Any,
    process_judge: ProcessJudge,
    *,
    model: Any,
    tokenizer: Any = None,
    callbacks: Sequence[Any] | None = None,
) -> TrainResult:
    """Train a policy with SWiRL on the states of ``dataset``, rewarded by ``process_judge``.

    Args:
        config: the :class:`~swirl_algos.learners.config.SwirlConfig`.
        dataset: step records (list, ``datasets.Dataset``, JSONL path or directory) of the kept
            trajectories; only their states are used.
        process_judge: scores each sampled action given its state (GOOD/BAD).
        model: a path/hub id or a ``PreTrainedModel``.
        tokenizer: the tokenizer (loaded from ``model`` when a path is given).
        callbacks: extra ``transformers.TrainerCallback`` objects.

    Returns:
        A :class:`~swirl_algos.learners.common.TrainResult`; ``model_dir`` loads with ``from_pretrained``.

    Example:
        >>> # train_swirl(SwirlConfig(output_dir="runs/s"), "steps.jsonl", judge, model="path/to/model")
    """
    trainer = build_swirl_trainer(
        config, dataset, process_judge, model=model, tokenizer=tokenizer, callbacks=callbacks
    )
    trainer.train(resume_from_checkpoint=resolve_resume(config.resume_from_checkpoint, config.output_dir))
    model_dir = save_trained_model(
        trainer, trainer.processing_class, config.output_dir, merge_lora=config.merge_lora_on_save
    )
    stats = dict(trainer.swirl_stats)
    stats.update({f"reward/{k}": v for k, v in trainer.swirl_reward.stats.items()})
    judged = stats.get("reward/judged", 0)
    stats["judge_failure_rate"] = stats.get("reward/failed", 0) / judged if judged else 0.0
    _write_json(os.path.join(config.output_dir, "swirl_stats.json"), stats)
    return TrainResult(config.output_dir, model_dir, list(trainer.state.log_history), stats)


def _write_json(path: str, obj: Any) -> None:
    from accelerate import PartialState

    if PartialState().is_main_process:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, default=str)
