"""Evaluation: multi-step inference with the real tools on any registered env, with confidence intervals.

:func:`evaluate` runs episodes with :func:`swirl_algos.rollout.rollout` (same prompts, parser and
step caps as data generation) and :func:`evaluate_trajectories` turns episodes into metrics:

* ``accuracy``: the outcome judge's YES rate when an outcome judge is given or judgements are
  recorded on the trajectories (the paper's main metric), else the environment's primary metric
  (exact match / numeric equivalence). Episodes without a final answer count as wrong (the judge
  is not asked). Judge failures are left out and counted (``outcome_judge_failures``). Judging
  goes through :func:`swirl_env.rewards.wrappers.judge_trajectories`, so evaluation builds the
  same judge requests as data generation.
* ``env_score``: the environment's primary metric, always; ``f1`` / ``precision`` / ``recall``
  when the environment's metric reports them (QA).
* ``mean_process_label``: the paper's definition: judge every step, average within each
  trajectory, then across trajectories (with a process judge, or from labels already recorded
  on the trajectories).
* ``steps_per_episode``, ``tool_calls_per_episode``, ``answered_rate``, ``parse_failure_rate``
  (fraction of steps with no call or a malformed call).

Every metric has a 95% confidence interval: Wilson for proportions over independent episodes, a
t-interval for means; with several samples per task (episodes of one task are not independent)
a cluster bootstrap over tasks.

Example:
    >>> from swirl_env.trajectory import Step, Trajectory
    >>> t = Trajectory(id="q#0", env_id="E", task={"id": "q", "question": "?", "answers": ["4"]},
    ...                messages=[{"role": "user", "content": "?"}, {"role": "assistant", "content": "<answer>4</answer>"}],
    ...                steps=[Step(0, 1, "<answer>4</answer>", "answer", argument="4")], final_answer="4",
    ...                outcome={"score": 1.0, "metric": "em", "metrics": {"em": 1.0}}, terminated=True)
    >>> r = evaluate_trajectories([t])
    >>> r["metrics"]["accuracy"]["mean"], r["metrics"]["steps_per_episode"]["mean"]
    (1.0, 1.0)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from swirl_algos.policies.factory import policy_from_args
from swirl_algos.report import (  # the intervals and the table live in the report module
    print_table,
    summarize,
)
from swirl_env._lazy import moved_names
from swirl_env.rewards.judges.base import (
    OutcomeJudge,
    ProcessJudge,
)
from swirl_env.trajectory import Trajectory

logger = logging.getLogger(__name__)

PARSE_FAILURE_KINDS = ("none", "malformed")
QA_METRICS = ("f1", "precision", "recall")


# ---------------------------------------------------------------------------------------------- metrics
def judge_for_evaluation(
    trajs: Sequence[Trajectory],
    *,
    outcome_judge: OutcomeJudge | None = None,
    process_judge: ProcessJudge | None = None,
    progress: bool = False,
) -> list[Trajectory]:
    """Copies of ``trajs`` with judgements recorded, through
    :func:`swirl_env.rewards.wrappers.judge_trajectories` (the same requests as online judging).
    Episodes without a final answer get outcome "no" without asking the judge."""
    if outcome_judge is None and process_judge is None:
        return list(trajs)
    from swirl_env.rewards.wrappers import judge_trajectories

    return judge_trajectories(trajs, process_judge, outcome_judge, progress=progress)


def _judge_name(judge: Any) -> str:
    return getattr(judge, "name", type(judge).__name__)


def evaluate_trajectories(
    trajs: Sequence[Trajectory],
    *,
    outcome_judge: OutcomeJudge | None = None,
    process_judge: ProcessJudge | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Metrics with confidence intervals for a list of finished episodes (see module docstring).

    With judges, the episodes are judged first (:func:`judge_for_evaluation`); without them,
    judgements already recorded on the trajectories (``Step.process``, ``outcome["judge"]``) are
    used when present.
    """
    if not trajs:
        raise ValueError("no trajectories to evaluate")
    trajs = judge_for_evaluation(
        trajs, outcome_judge=outcome_judge, process_judge=process_judge, progress=progress
    )
    return trajectory_metrics(
        trajs,
        outcome_source=f"judge:{_judge_name(outcome_judge)}" if outcome_judge is not None else None,
        process_source=f"judge:{_judge_name(process_judge)}" if process_judge is not None else None,
        confidence=confidence,
        seed=seed,
    )


def trajectory_metrics(
    trajs: Sequence[Trajectory],
    *,
    outcome_source: str | None = None,
    process_source: str | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The metrics of (possibly judged) episodes; ``*_source`` name the judges in the results."""
    if not trajs:
        raise ValueError("no trajectories to evaluate")
    task_ids = [str(t.task.get("id", t.id)) for t in trajs]
    clusters = task_ids if len(set(task_ids)) < len(task_ids) else None
    metrics: dict[str, Any] = {}
    counts: dict[str, Any] = {}

    # env metric (always) and QA token metrics
    env_scores = [float(t.outcome.get("score", 0.0) or 0.0) for t in trajs]
    metric_name = next((t.outcome.get("metric") for t in trajs if t.outcome.get("metric")), "score")
    metrics["env_score"] = {
        **summarize(env_scores, clusters=clusters, seed=seed),
        "source": f"env:{metric_name}",
    }
    for name in QA_METRICS:
        vals = [(t.outcome.get("metrics") or {}).get(name) for t in trajs]
        if any(v is not None for v in vals):
            vals_f = [float(v or 0.0) for v in vals]  # unanswered episodes score 0
            metrics[name] = {**summarize(vals_f, clusters=clusters, binary=False, seed=seed), "source": "env"}

    # accuracy: the outcome judge's labels (new or recorded), or the env metric
    judged = [t.outcome.get("judge") for t in trajs]
    if any(isinstance(j, Mapping) for j in judged):
        acc, acc_clusters, failures = [], [], 0
        for t, j, c in zip(trajs, judged, task_ids):
            label = j.get("label") if isinstance(j, Mapping) else None
            if t.final_answer is None:
                acc.append(0.0)  # unanswered: wrong, the judge is not asked
            elif label is None:
                failures += 1
                continue
            else:
                acc.append(float(bool(label)))
            acc_clusters.append(c)
        name = next((j.get("judge") for j in judged if isinstance(j, Mapping) and j.get("judge")), "")
        metrics["accuracy"] = {
            **summarize(acc, clusters=acc_clusters if clusters else None, seed=seed),
            "source": outcome_source or f"recorded judge:{name}",
        }
        counts["outcome_judge_failures"] = failures
        if failures:
            logger.warning("%d outcome judgements failed and were left out of accuracy", failures)
    else:
        metrics["accuracy"] = dict(metrics["env_score"])

    # mean process label (per trajectory, then across)
    per_traj: list[float] = []
    traj_clusters: list[str] = []
    missing = 0
    for t, c in zip(trajs, task_ids):
        labels = t.process_labels
        known = [float(bool(v)) for v in labels if v is not None]
        missing += sum(v is None for v in labels)
        if known:
            per_traj.append(sum(known) / len(known))
            traj_clusters.append(c)
    if per_traj:
        metrics["mean_process_label"] = {
            **summarize(per_traj, clusters=traj_clusters if clusters else None, binary=False, seed=seed),
            "source": process_source or "recorded",
        }
        counts["process_label_missing"] = missing

    # episode shape
    steps = [float(t.num_steps) for t in trajs]
    calls = [float(sum(s.kind == "call" for s in t.steps)) for t in trajs]
    answered = [float(t.final_answer is not None) for t in trajs]
    metrics["steps_per_episode"] = summarize(steps, clusters=clusters, binary=False, seed=seed)
    metrics["tool_calls_per_episode"] = summarize(calls, clusters=clusters, binary=False, seed=seed)
    metrics["answered_rate"] = summarize(answered, clusters=clusters, seed=seed)
    step_fail = [float(s.kind in PARSE_FAILURE_KINDS) for t in trajs for s in t.steps]
    step_clusters = [c for t, c in zip(trajs, task_ids) for _ in t.steps]
    # steps of one episode are not independent: always bootstrap over episodes (or tasks)
    episode_of_step = [t.id for t in trajs for _ in t.steps]
    metrics["parse_failure_rate"] = summarize(
        step_fail, clusters=step_clusters if clusters else episode_of_step, seed=seed
    )
    return {
        "n_episodes": len(trajs),
        "n_tasks": len(set(task_ids)),
        "confidence": confidence,
        "metrics": metrics,
        "counts": counts,
    }


# ---------------------------------------------------------------------------------------------- evaluate
def evaluate(
    env_id: str,
    policy: Any,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    n_tasks: int | None = None,
    samples_per_task: int = 1,
    outcome_judge: OutcomeJudge | None = None,
    process_judge: ProcessJudge | None = None,
    output_dir: str | os.PathLike | None = None,
    seed: int = 0,
    task_indices: Sequence[int] | None = None,
    num_envs: int = 8,
    progress: bool = True,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Run ``policy`` on ``env_id`` with the real tools and report metrics with 95% CIs.

    Args:
        env_id: a registered SwiRL environment id.
        policy: a :class:`~swirl_algos.policies.base.Policy` (HF model, OpenAI-compatible server...).
        env_kwargs: keyword arguments for ``gym.make`` (split, data path, step cap...).
        n_tasks / task_indices: which tasks (default: all of the env's split).
        samples_per_task: episodes per task.
        outcome_judge: LLM/rule judge of final answers (accuracy); ``None`` = the env's metric.
        process_judge: judge of every step (mean process label); ``None`` = labels already recorded, if any.
        output_dir: writes ``trajectories.jsonl`` (resumable), ``judged.jsonl`` (with judges) and
            ``results.json`` there.
        seed: rollout seed.
        num_envs: episodes stepped in parallel.
        progress: show a progress bar.
        confidence: confidence level of the intervals.

    Returns:
        ``{"env_id", "policy", "n_episodes", "n_tasks", "metrics": {name: {"mean", "ci_low",
        "ci_high", "n", "method", ...}}, "counts", ...}``.

    Example:
        >>> # results = evaluate("SwiRL-GSM8K-v0", HFPolicy.from_pretrained("runs/swirl"), n_tasks=100)
        >>> # print_table(results)
    """
    from swirl_algos.rollout import rollout

    traj_path = None
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        traj_path = str(Path(output_dir) / "trajectories.jsonl")
    trajs = rollout(
        env_id,
        policy,
        env_kwargs=dict(env_kwargs or {}),
        n_tasks=n_tasks,
        task_indices=list(task_indices) if task_indices is not None else None,
        samples_per_task=samples_per_task,
        num_envs=num_envs,
        seed=seed,
        output=traj_path,
        progress=progress,
    )
    if outcome_judge is not None or process_judge is not None:
        trajs = judge_for_evaluation(
            trajs, outcome_judge=outcome_judge, process_judge=process_judge, progress=progress
        )
        if output_dir is not None:
            with open(Path(output_dir) / "judged.jsonl", "w", encoding="utf-8") as f:
                f.writelines(t.to_json() + "\n" for t in trajs)
    results = trajectory_metrics(
        trajs,
        outcome_source=f"judge:{_judge_name(outcome_judge)}" if outcome_judge is not None else None,
        process_source=f"judge:{_judge_name(process_judge)}" if process_judge is not None else None,
        confidence=confidence,
        seed=seed,
    )
    describe = getattr(policy, "describe", None)
    results = {
        "env_id": env_id,
        "env_kwargs": dict(env_kwargs or {}),
        "policy": describe() if callable(describe) else {"name": type(policy).__name__},
        "samples_per_task": samples_per_task,
        "seed": seed,
        **results,
    }
    if output_dir is not None:
        with open(Path(output_dir) / "results.json", "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, default=_json_default)
        logger.info("wrote %s", Path(output_dir) / "results.json")
    return results


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


# ---------------------------------------------------------------------------------------------- judges
def load_judge(
    spec: str | None, kind: str, kwargs: Mapping[str, Any] | None = None, *, cache: str | None = None
) -> Any:
    """Build a process or outcome judge from a command-line spec (the judge registry's
    :func:`~swirl_env.rewards.judges.registry.make_judge`: a short name such as ``"rule"``,
    ``"hf:NAME_OR_PATH"``, ``"openai:MODEL@BASE_URL"``, or ``"package.module:Class"``).

    Example:
        >>> load_judge(None, "process") is None
        True
    """
    from swirl_env.rewards.judges.registry import make_judge

    return make_judge(spec, kind, kwargs, cache=cache)


# ---------------------------------------------------------------------------------------------- command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl evaluate``."""
    parser.add_argument("--env", required=True, help="registered environment id, e.g. SwiRL-GSM8K-v0")
    parser.add_argument("--env-kwargs", default="{}", help="JSON keyword arguments for gym.make")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="local path or hub id of a HF causal LM (or a learner's output dir)")
    src.add_argument("--base-url", help="OpenAI-compatible server URL (e.g. a vLLM server)")
    parser.add_argument("--served-model", help="model name on the server (with --base-url)")
    parser.add_argument("--n-tasks", type=int, default=None, help="number of tasks (default: all)")
    parser.add_argument("--samples", type=int, default=1, help="episodes per task")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="maximum new tokens per action")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy decoding")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=8, help="generation batch size (HF policy)")
    parser.add_argument(
        "--device", default=None, help="HF model device (default: cuda if available, else cpu)"
    )
    parser.add_argument("--num-envs", type=int, default=8, help="episodes stepped in parallel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--chat-template-kwargs",
        help="JSON arguments of apply_chat_template (sent as chat_template_kwargs to servers); "
        "default: those saved with --model by swirl train (swirl_prompt.json)",
    )
    parser.add_argument(
        "--few-shot",
        type=int,
        default=0,
        help="show N solved examples of the env's scripted oracle in the prompt (training tasks)",
    )
    from swirl_algos.judge_options import add_judge_options

    add_judge_options(
        parser,
        roles={
            "outcome": "outcome judge (default: the env's metric)",
            "process": "process judge (mean process label)",
        },
    )
    parser.add_argument("--output", help="directory for trajectories.jsonl and results.json")
    parser.add_argument("--no-progress", action="store_true")


#: the policy of ``swirl evaluate``'s arguments (the one factory of the commands)
build_policy = policy_from_args


def run(args: argparse.Namespace) -> int:
    """``swirl evaluate``: evaluate a model on an environment, print the table, write JSON."""
    from swirl_algos.config_args import json_kwargs

    env_kwargs = json_kwargs(args.env_kwargs, "--env-kwargs")
    if getattr(args, "few_shot", 0):
        from swirl_algos.few_shot import with_few_shot

        try:
            env_kwargs = with_few_shot(args.env, env_kwargs, args.few_shot)
        except ValueError as e:
            raise SystemExit(f"--few-shot {args.few_shot}: {e}") from None
    from swirl_algos.judge_options import close_all, judges_from_args

    process, outcome = judges_from_args(args)
    policy = build_policy(args)
    results = evaluate(
        args.env,
        policy,
        env_kwargs=env_kwargs,
        n_tasks=args.n_tasks,
        samples_per_task=args.samples,
        outcome_judge=outcome,
        process_judge=process,
        output_dir=args.output,
        seed=args.seed,
        num_envs=args.num_envs,
        progress=not args.no_progress,
    )
    print_table(results)
    close_all((outcome, process))
    return 0


#: the interval functions moved to :mod:`swirl_algos.report`; the old names warn for one release
__getattr__ = moved_names(
    __name__,
    dict.fromkeys(("wilson_interval", "t_interval", "cluster_bootstrap_interval"), "swirl_algos.report"),
)
