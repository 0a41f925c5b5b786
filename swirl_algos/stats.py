"""Summary statistics of a trajectory file.

:func:`trajectory_stats` counts episodes, steps, tool calls (per tool), parse failures, answers
and truncations, outcome accuracy (the environment's metric, and the outcome judge's YES rate
when judged), and the paper's *mean process label*: the fraction of GOOD steps within each
trajectory, averaged across trajectories (trajectories with no judged step are left out).

Example:
    >>> from swirl_env.trajectory import Step, Trajectory
    >>> t = Trajectory("q#0", "E", {"id": "q"},
    ...     [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "<answer>1</answer>"}],
    ...     [Step(0, 1, "<answer>1</answer>", "answer", argument="1", process={"label": True})],
    ...     final_answer="1", outcome={"score": 1.0}, terminated=True)
    >>> s = trajectory_stats([t])
    >>> s["episodes"], s["steps_per_episode"]["mean"], s["accuracy"], s["mean_process_label"]
    (1, 1.0, 1.0, 1.0)
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from swirl_env.trajectory import Trajectory

logger = logging.getLogger(__name__)

__all__ = ["mean_process_label", "print_stats", "trajectory_stats"]

PARSE_FAILURES = ("none", "malformed")


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"mean": math.nan, "min": math.nan, "max": math.nan}
    return {"mean": sum(values) / len(values), "min": float(min(values)), "max": float(max(values))}


def mean_process_label(trajs: Iterable[Trajectory]) -> float | None:
    """The paper's mean process label: GOOD rate within each trajectory, then the mean across them.

    Steps without a label (not judged, or the judge failed) are left out; so are trajectories
    without any labelled step. ``None`` when nothing is labelled.

    Example:
        >>> from swirl_env.trajectory import Step, Trajectory
        >>> def t(labels):
        ...     return Trajectory("x", "E", {}, [], [Step(k, 0, "", "call", process={"label": lab})
        ...                                          for k, lab in enumerate(labels)])
        >>> mean_process_label([t([True, False]), t([True, True, True, True])])  # (0.5 + 1.0) / 2
        0.75
    """
    per = []
    for t in trajs:
        labels = [lab for lab in t.process_labels if lab is not None]
        if labels:
            per.append(sum(bool(lab) for lab in labels) / len(labels))
    return sum(per) / len(per) if per else None


def trajectory_stats(trajs: Iterable[Trajectory]) -> dict[str, Any]:
    """Statistics of a set of trajectories (see the module docstring).

    Returns:
        A JSON-serialisable dict: ``episodes``, ``tasks``, ``samples_per_task``, ``steps``,
        ``steps_per_episode`` / ``tool_calls_per_episode`` (mean/min/max),
        ``steps_histogram``, ``tool_calls`` (per tool), ``step_kinds``, ``parse_failures``,
        ``parse_failure_rate``, ``tool_errors``, ``answered_rate``, ``truncated_rate``,
        ``accuracy`` (environment metric), ``judged_accuracy`` / ``outcome_judged`` /
        ``outcome_judge_failures``, ``mean_process_label``, ``process_good_rate`` (over all
        labelled steps), ``steps_judged``, ``process_judge_failures``, ``envs``, ``policies``.

    Example:
        >>> trajectory_stats([])["episodes"]
        0
    """
    items = [t if isinstance(t, Trajectory) else Trajectory.from_dict(t) for t in trajs]
    steps = [t.num_steps for t in items]
    calls = [sum(s.kind == "call" for s in t.steps) for t in items]
    kinds: Counter = Counter(s.kind for t in items for s in t.steps)
    tools: Counter = Counter(s.tool for t in items for s in t.steps if s.kind == "call")
    tool_errors = sum(s.tool_ok is False for t in items for s in t.steps)
    n_steps = sum(steps)
    parse_failures = sum(kinds[k] for k in PARSE_FAILURES)
    scores = [float(t.outcome["score"]) for t in items if t.outcome.get("score") is not None]
    judged = [t.outcome["judge"] for t in items if isinstance(t.outcome.get("judge"), dict)]
    judged_ok = [j.get("label") for j in judged if j.get("label") is not None]
    labels = [s.process.get("label") for t in items for s in t.steps if s.process is not None]
    labels_ok = [lab for lab in labels if lab is not None]
    per_task = Counter(str(t.task.get("id", t.id)) for t in items)
    n = len(items)
    return {
        "episodes": n,
        "tasks": len(per_task),
        "samples_per_task": _summary(list(per_task.values())),
        "steps": n_steps,
        "steps_per_episode": _summary(steps),
        "steps_histogram": {str(k): v for k, v in sorted(Counter(steps).items())},
        "tool_calls_per_episode": _summary(calls),
        "tool_calls": dict(tools.most_common()),
        "step_kinds": dict(kinds.most_common()),
        "parse_failures": parse_failures,
        "parse_failure_rate": parse_failures / n_steps if n_steps else math.nan,
        "tool_errors": tool_errors,
        "answered_rate": sum(t.final_answer is not None for t in items) / n if n else math.nan,
        "truncated_rate": sum(bool(t.truncated) for t in items) / n if n else math.nan,
        "accuracy": sum(scores) / len(scores) if scores else math.nan,
        "outcome_judged": len(judged),
        "judged_accuracy": sum(bool(x) for x in judged_ok) / len(judged_ok) if judged_ok else None,
        "outcome_judge_failures": len(judged) - len(judged_ok),
        "steps_judged": len(labels),
        "process_judge_failures": len(labels) - len(labels_ok),
        "process_good_rate": sum(bool(x) for x in labels_ok) / len(labels_ok) if labels_ok else None,
        "mean_process_label": mean_process_label(items),
        "envs": dict(Counter(t.env_id for t in items)),
        "policies": dict(Counter(str(t.policy.get("model") or t.policy.get("name", "?")) for t in items)),
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.3f}"
    if isinstance(v, dict) and set(v) == {"mean", "min", "max"}:
        return f"{_fmt(v['mean'])} (min {_fmt(v['min'])}, max {_fmt(v['max'])})"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {x}" for k, x in v.items()) or "-"
    return str(v)


def print_stats(stats: dict[str, Any], *, title: str = "trajectories", console: Any = None) -> None:
    """Print :func:`trajectory_stats` as a rich table.

    Example:
        >>> print_stats(trajectory_stats([]))  # doctest: +SKIP
    """
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=title, show_header=True)
    table.add_column("statistic")
    table.add_column("value", overflow="fold")
    for key, value in stats.items():
        table.add_row(key, _fmt(value))
    console.print(table)
