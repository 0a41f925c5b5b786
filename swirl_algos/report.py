"""Reporting: confidence intervals, the two-level bootstrap over seeds and questions, tables, plots.

One home for the statistics every report of the package uses: ``swirl evaluate`` (per-metric
intervals: Wilson, t, cluster bootstrap; :func:`summarize`, :func:`print_table`), ``swirl demo``
and the paper suite (per-method summaries over training seeds and test questions with a two-level
bootstrap, paired differences, verdict lines, learning-curve bands).

Example:
    >>> import numpy as np
    >>> m = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])   # 3 questions x 2 seeds
    >>> lo, hi = two_level_bootstrap(m, 200, seed=0)
    >>> 0.0 <= lo <= m.mean() <= hi <= 1.0
    True
    >>> format_ci({"mean": 0.5, "ci_low": 0.25, "ci_high": 0.75})
    '50.0 [25.0, 75.0]'
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "cluster_bootstrap_interval",
    "episode_outcomes",
    "format_ci",
    "format_diff",
    "paired_difference",
    "paired_matrix",
    "plot_band",
    "print_table",
    "reward_thirds",
    "seed_task_matrix",
    "summarize",
    "summarize_methods",
    "t_interval",
    "two_level_bootstrap",
    "verdict_lines",
    "wilson_interval",
]


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    Example:
        >>> lo, hi = wilson_interval(8, 10)
        >>> round(lo, 3), round(hi, 3)
        (0.49, 0.943)
    """
    if n <= 0:
        return (math.nan, math.nan)
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of a mean (``nan`` bounds with fewer than 2 values).

    Example:
        >>> lo, hi = t_interval([1.0, 2.0, 3.0])
        >>> round(lo, 3), round(hi, 3)
        (-0.484, 4.484)
    """
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return (math.nan, math.nan)
    from scipy.stats import t

    m = float(x.mean())
    se = float(x.std(ddof=1)) / math.sqrt(len(x))
    if se == 0:
        return (m, m)
    h = float(t.ppf(0.5 + confidence / 2, len(x) - 1)) * se
    return (m - h, m + h)


def cluster_bootstrap_interval(
    values: Sequence[float],
    clusters: Sequence[Any],
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, resampling whole clusters (e.g. tasks).

    Example:
        >>> lo, hi = cluster_bootstrap_interval([1, 1, 0, 0, 1, 1], ["a", "a", "b", "b", "c", "c"])
        >>> 0.0 <= lo <= 2 / 3 <= hi <= 1.0
        True
    """
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return (math.nan, math.nan)
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, c in enumerate(clusters):
        groups[c].append(i)
    sums = np.array([x[idx].sum() for idx in groups.values()])
    counts = np.array([len(idx) for idx in groups.values()], dtype=float)
    k = len(sums)
    if k < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, k, size=(n_resamples, k))
    means = sums[draws].sum(1) / counts[draws].sum(1)
    alpha = (1 - confidence) / 2
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def summarize(
    values: Sequence[float],
    *,
    clusters: Sequence[Any] | None = None,
    binary: bool | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean, confidence interval, ``n`` and the interval method of a list of values.

    Proportions (all values 0/1) of independent units get a Wilson interval, other means a
    t-interval; when ``clusters`` group dependent units (several samples of one task), a cluster
    bootstrap. ``values`` may be empty (mean ``nan``).

    Example:
        >>> summarize([1, 0, 1, 1])["method"]
        'wilson'
    """
    x = [float(v) for v in values]
    n = len(x)
    if n == 0:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0, "method": "none"}
    mean = sum(x) / n
    if binary is None:
        binary = all(v in (0.0, 1.0) for v in x)
    clustered = clusters is not None and len(set(clusters)) < n
    if clustered:
        lo, hi = cluster_bootstrap_interval(x, list(clusters), confidence, seed=seed)  # type: ignore[arg-type]
        method = "cluster-bootstrap"
    elif binary:
        lo, hi = wilson_interval(sum(x), n, confidence)
        method = "wilson"
    else:
        lo, hi = t_interval(x, confidence)
        method = "t"
    return {"mean": mean, "ci_low": lo, "ci_high": hi, "n": n, "method": method}


def two_level_bootstrap(matrix: np.ndarray, n: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of the mean of a ``tasks x seeds`` matrix, resampling the training
    seeds AND the test questions (a two-level bootstrap: seed-to-seed spread counts, not only
    question-to-question spread)."""
    rng = np.random.default_rng(seed)
    rows, cols = matrix.shape
    means = np.empty(n)
    for b in range(n):
        r = rng.integers(0, rows, size=rows)
        c = rng.integers(0, cols, size=cols)
        means[b] = np.nanmean(matrix[np.ix_(r, c)])
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def seed_task_matrix(
    runs: Mapping[int, dict[str, dict[str, float]]], tasks: Sequence[str], metric: str
) -> np.ndarray:
    """``tasks x seeds`` values of one method."""
    return np.array([[runs[s][t][metric] for s in sorted(runs)] for t in tasks], dtype=float)


def summarize_methods(
    per_run: Mapping[str, Mapping[int, dict[str, dict[str, float]]]],
    tasks: Sequence[str],
    metric: str,
    *,
    n_boot: int,
    reference: str = "base",
) -> dict[str, dict[str, Any]]:
    """Per method: mean over seeds and tasks, bootstrap CI over seeds and tasks, per-seed means,
    and the difference to ``reference`` paired by (seed, task) with its CI."""
    out: dict[str, dict[str, Any]] = {}
    mats = {method: seed_task_matrix(runs, tasks, metric) for method, runs in per_run.items()}
    for method, runs in per_run.items():
        seeds = sorted(runs)
        m = mats[method]
        lo, hi = two_level_bootstrap(m, n_boot, seed=1)
        out[method] = {
            "mean": float(np.nanmean(m)),
            "ci_low": lo,
            "ci_high": hi,
            "per_seed": {str(s): float(np.nanmean(m[:, i])) for i, s in enumerate(seeds)},
            "seed_std": float(np.nanstd([np.nanmean(m[:, i]) for i in range(len(seeds))], ddof=1))
            if len(seeds) > 1
            else 0.0,
            "n_tasks": len(tasks),
            "n_seeds": len(seeds),
        }
    if reference in mats:
        for method in out:
            if method == reference:
                continue
            diff = paired_matrix(mats[method], mats[reference])
            lo, hi = two_level_bootstrap(diff, n_boot, seed=2)
            out[method]["diff_vs_" + reference] = {
                "mean": float(np.nanmean(diff)),
                "ci_low": lo,
                "ci_high": hi,
            }
    return out


def paired_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` by (task, seed). A reference evaluated once (the greedy base model, deterministic)
    is the same for every seed; otherwise the common seeds are paired."""
    if b.shape[1] == 1:
        return a - b
    k = min(a.shape[1], b.shape[1])
    return a[:, :k] - b[:, :k]


def paired_difference(
    per_run: Mapping[str, Mapping[int, dict[str, dict[str, float]]]],
    tasks: Sequence[str],
    a: str,
    b: str,
    metric: str,
    n_boot: int,
) -> dict[str, float] | None:
    if a not in per_run or b not in per_run:
        return None
    diff = paired_matrix(
        seed_task_matrix(per_run[a], tasks, metric), seed_task_matrix(per_run[b], tasks, metric)
    )
    lo, hi = two_level_bootstrap(diff, n_boot, seed=3)
    return {"mean": float(np.nanmean(diff)), "ci_low": lo, "ci_high": hi}


def format_ci(s: Mapping[str, Any], pct: bool = True) -> str:
    k = 100.0 if pct else 1.0
    return f"{s['mean'] * k:.1f} [{s['ci_low'] * k:.1f}, {s['ci_high'] * k:.1f}]"


def format_diff(s: Mapping[str, Any] | None) -> str:
    if not s:
        return "-"
    return f"{s['mean'] * 100:+.1f} [{s['ci_low'] * 100:+.1f}, {s['ci_high'] * 100:+.1f}]"


def verdict_lines(comparisons: Mapping[str, Any]) -> list[str]:
    """One line per paired difference (``name -> {"mean", "ci_low", "ci_high"}`` or ``None``, left
    out): the difference in points, its 95% CI, and whether the CI lies above, below or across 0.

    Example:
        >>> verdict_lines({"A vs B": {"mean": 0.05, "ci_low": 0.01, "ci_high": 0.09}, "C vs B": None})
        ['A vs B: +5.0 points [+1.0, +9.0], higher (95% CI above 0)']
    """
    lines = []
    for name, d in comparisons.items():
        if d is None:
            continue
        if d["ci_low"] > 0:
            word = "higher (95% CI above 0)"
        elif d["ci_high"] < 0:
            word = "LOWER (95% CI below 0)"
        else:
            word = "no significant difference (95% CI spans 0)"
        lines.append(f"{name}: {format_diff(d).replace(' [', ' points [', 1)}, {word}")
    return lines


def reward_thirds(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Mean logged reward over the first and the last third of a training run."""
    ys = [y for _, y in sorted(points)]
    k = len(ys) // 3
    if k < 1:
        return None
    return float(np.mean(ys[:k])), float(np.mean(ys[-k:]))


def plot_band(ax: Any, runs: Mapping[str, Sequence[tuple[float, float]]], label: str) -> None:
    """Mean over seeds with a min-max band (steps aligned by value)."""
    series = [dict(points) for points in runs.values() if points]
    if not series:
        return
    steps = sorted(set().union(*series))
    ys = np.array([[s.get(x, np.nan) for x in steps] for s in series], dtype=float)
    mean = np.nanmean(ys, axis=0)
    line = ax.plot(steps, mean, label=label)[0]
    if len(series) > 1:
        ax.fill_between(
            steps, np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), color=line.get_color(), alpha=0.2
        )


def episode_outcomes(eval_dir: Path) -> dict[str, dict[str, float]]:
    """task id -> {"correct", "mean_process_label", "steps"} of one evaluation."""
    from swirl_algos.jsonl import iter_trajectories

    out = {}
    for t in iter_trajectories(eval_dir / "judged.jsonl"):
        labels = [float(bool(v)) for v in t.process_labels if v is not None]
        out[str(t.task.get("id"))] = {
            "correct": float(t.outcome.get("score", 0.0) or 0.0),
            "mean_process_label": sum(labels) / len(labels) if labels else math.nan,
            "steps": float(t.num_steps),
        }
    return out


def print_table(results: Mapping[str, Any], *, console: Any = None) -> None:
    """Print the metrics of :func:`~swirl_algos.evaluation.evaluate` as a rich table.

    Example:
        >>> import io
        >>> from rich.console import Console
        >>> console = Console(record=True, width=100, file=io.StringIO())
        >>> print_table({"env_id": "E", "n_episodes": 1, "metrics": {"accuracy": {"mean": 1.0, "ci_low": 0.2,
        ...              "ci_high": 1.0, "n": 1, "method": "wilson"}}}, console=console)
        >>> text = console.export_text()
        >>> "accuracy" in text and "[0.200, 1.000]" in text
        True
    """
    from rich.table import Table

    from swirl_algos.terminal import make_console

    console = console or make_console()
    title = f"{results.get('env_id', '')}: {results.get('n_episodes', '?')} episodes"
    if results.get("n_tasks") is not None:
        title += f", {results['n_tasks']} tasks"
    table = Table(title=title)
    for col, just in (
        ("metric", "left"),
        ("value", "right"),
        ("95% CI", "right"),
        ("n", "right"),
        ("", "left"),
    ):
        table.add_column(col, justify=just)
    for name, m in results.get("metrics", {}).items():
        lo, hi = m.get("ci_low", math.nan), m.get("ci_high", math.nan)
        ci = "-" if lo is None or (isinstance(lo, float) and math.isnan(lo)) else f"[{lo:.3f}, {hi:.3f}]"
        note = ", ".join(str(x) for x in (m.get("source"), m.get("method")) if x)
        table.add_row(name, f"{m.get('mean', math.nan):.3f}", ci, str(m.get("n", "")), note)
    console.print(table)
    for k, v in (results.get("counts") or {}).items():
        if v:
            console.print(f"{k}: {v}")
