"""SWiRL step-wise RL (Stage 2 of the paper): the learner, its state dataset and its reward.

``J(theta) = E_{s in T, a ~ pi_theta(s)} [R(a | s)]``: ``T`` is the set of states of the kept
(filtered) trajectories; at each state the current policy samples ``G`` actions, a process judge
scores each one (GOOD = 1, BAD = 0), and a policy gradient with a leave-one-out baseline and a KL
penalty to the frozen initial policy updates the action tokens. Sampled actions are NEVER executed:
no tool runs during training; it is a contextual bandit over a fixed set of states.

Pieces:

* :func:`prepare_state_dataset`: step records -> a prompt dataset (one row per state);
* :class:`ProcessJudgeReward`: any :class:`~swirl_env.rewards.judges.base.ProcessJudge` as a TRL
  reward function (parses each action with the environment's parser, handles judge failures);
* the engines: :class:`~swirl_algos.learners.swirl_trainer.SwirlTrainer` (the default
  shared-prefix trainer) and :mod:`~swirl_algos.learners.swirl_trl` (TRL's RLOO / GRPO trainers
  whose sampled actions stop at the end of the first tool call or answer, as in the environment);
* :func:`train_swirl`: the whole learner from a :class:`~swirl_algos.learners.config.SwirlConfig`.

Example:
    >>> from swirl_algos.learners.config import SwirlConfig
    >>> # result = train_swirl(SwirlConfig(output_dir="runs/swirl"), "data/steps.jsonl", judge,
    >>> #                      model="Qwen/Qwen2.5-0.5B-Instruct")
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
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
from swirl_algos.learners.stepwise import encode_messages
from swirl_algos.prompt_settings import template_kwargs, tools_json
from swirl_env._lazy import moved_names
from swirl_env.checks import one_of
from swirl_env.parsing import ActionParser
from swirl_env.rewards.judges.base import (
    Judgement,
    ProcessJudge,
    ProcessRequest,
    check_reward_mode,
    checked_judgements,
    judgement_reward,
)
from swirl_env.tasks.base import Task
from swirl_env.trajectory import Step

logger = logging.getLogger(__name__)

STATE_COLUMNS = ("prompt", "task", "env_id", "trajectory_id", "step_index", "tools")


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
        ['prompt', 'task', 'env_id', 'trajectory_id', 'step_index', 'tools']
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
        tools = tools_json(r.get("tools"))  # checked here, not when the trainer renders the state
        if deduplicate:
            key = json.dumps([prompt, tools], sort_keys=True, ensure_ascii=False)
            if key in seen:
                stats["states_duplicate"] += 1
                continue
            seen.add(key)
        if max_prompt_length is not None:
            if tokenizer is None:
                raise ValueError("max_prompt_length needs a tokenizer")
            n = len(
                encode_messages(
                    tokenizer,
                    prompt,
                    add_generation_prompt=True,
                    chat_template_kwargs=template_kwargs(chat_template_kwargs, tools),
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
                "tools": tools,
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
        one_of("on_failure", on_failure, ("skip", "zero"))
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
        judgements = checked_judgements(judgements, len(requests), self.judge)
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
    """The configured trainer (not yet trained); :func:`train_swirl` runs it.

    Returns:
        A :class:`~swirl_algos.learners.swirl_trainer.SwirlTrainer` (``engine="native"``), or a
        ``SwirlRLOOTrainer`` (``advantage="rloo"``) / ``SwirlGRPOTrainer`` (``"group_norm"``)
        of :mod:`~swirl_algos.learners.swirl_trl` (``engine="trl"``),
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
        from swirl_algos.learners.swirl_trl import build_trl_trainer

        trainer, stops = build_trl_trainer(
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


#: names that moved to :mod:`swirl_algos.learners.swirl_trl` (the TRL engine); they warn for one release
__getattr__ = moved_names(
    __name__,
    dict.fromkeys(
        (
            "cut_at_stop",
            "check_trl_version",
            "StopAtCallMixin",
            "SwirlRLOOTrainer",
            "SwirlGRPOTrainer",
            "TRL_TESTED",
        ),
        "swirl_algos.learners.swirl_trl",
    ),
)
