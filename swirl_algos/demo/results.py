"""The results of ``swirl demo``: the numbers of a finished run, its table and its plots.

The statistics are those of :mod:`swirl_algos.report` (the two-level bootstrap over training seeds
and test questions, paired differences); this module names the demo's comparisons and draws its
figures (``accuracy.png``, ``learning_curves.png``).

Example:
    >>> curves = {"swirl": {"swirl-process": {"0": [(1, 0.5), (2, 0.6), (3, 0.7)], "1": [(1, 0.6), (2, 0.6), (3, 0.5)]}}}
    >>> _reward_trend_lines(curves)
    ['SWiRL, process-filtered: training reward 0.550 (first third) -> 0.600 (last third); rises in 1 of 2 seeds']
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from swirl_algos.demo.config import METHOD_LABELS, DemoConfig
from swirl_algos.demo.stages import environment_info, training_curve
from swirl_algos.report import (
    episode_outcomes,
    format_ci,
    format_diff,
    paired_difference,
    plot_band,
    reward_thirds,
    summarize_methods,
    verdict_lines,
)
from swirl_algos.stages import Stages
from swirl_algos.terminal import make_console

__all__ = ["collect_results", "print_results"]


def collect_results(
    config: DemoConfig,
    root: Path,
    evals: Mapping[str, Mapping[int, Path]],
    greedy_evals: Mapping[str, Mapping[int, Path]],
    *,
    stages: Stages,
    t_start: float,
) -> dict[str, Any]:
    """Every number of a finished demo: summaries over seeds and questions (two-level bootstrap),
    paired comparisons, verdicts, learning curves, compute; the plots are written into ``root``.

    ``evals`` / ``greedy_evals``: method -> seed -> evaluation folder (``judged.jsonl``, ``results.json``);
    ``stages`` and ``t_start`` (``time.perf_counter()`` at the start) give the run's timings.
    """
    per_run = {m: {s: episode_outcomes(p) for s, p in by_seed.items()} for m, by_seed in evals.items()}
    tasks = sorted(set.intersection(*(set(ep) for runs_ in per_run.values() for ep in runs_.values())))
    if not tasks:
        raise RuntimeError("the evaluations share no test question")
    n_boot = config.bootstrap
    summary: dict[str, Any] = {
        "accuracy": summarize_methods(per_run, tasks, "correct", n_boot=n_boot),
        "mean_process_label": summarize_methods(per_run, tasks, "mean_process_label", n_boot=n_boot),
        "steps_per_episode": summarize_methods(per_run, tasks, "steps", n_boot=n_boot),
    }
    if greedy_evals:
        g_runs = {
            m: {s: episode_outcomes(p) for s, p in by_seed.items()} for m, by_seed in greedy_evals.items()
        }
        summary["greedy_accuracy"] = summarize_methods(g_runs, tasks, "correct", n_boot=n_boot)
    comparisons: dict[str, Any] = {}
    for mode in config.swirl_filters:
        sw = f"swirl-{mode}"
        comparisons[f"{METHOD_LABELS[sw]} vs base"] = summary["accuracy"][sw].get("diff_vs_base")
        if "greedy_accuracy" in summary:
            comparisons[f"{METHOD_LABELS[sw]} vs base, greedy"] = summary["greedy_accuracy"][sw].get(
                "diff_vs_base"
            )
        for sft in (f"sft-{m}" for m in config.sft_filters):
            comparisons[f"{METHOD_LABELS[sw]} vs {METHOD_LABELS[sft]}"] = paired_difference(
                per_run, tasks, sw, sft, "correct", n_boot
            )
    for sft in (f"sft-{m}" for m in config.sft_filters):
        comparisons[f"{METHOD_LABELS[sft]} vs base"] = summary["accuracy"][sft].get("diff_vs_base")
    if {"swirl-process", "swirl-outcome"} <= set(per_run):
        comparisons["SWiRL process-filtered vs outcome-filtered"] = paired_difference(
            per_run, tasks, "swirl-process", "swirl-outcome", "correct", n_boot
        )
    data_info = json.loads((root / "generate" / "data.json").read_text(encoding="utf-8"))
    curves = {
        "warmstart": training_curve(root / "warmstart", "loss"),
        "swirl": {
            f"swirl-{m}": {
                str(s): training_curve(root / "train" / f"swirl-{m}-s{s}", "reward") for s in config.seeds
            }
            for m in config.swirl_filters
        },
        "sft": {
            f"sft-{m}": {
                str(s): training_curve(root / "train" / f"sft-{m}-s{s}", "loss") for s in config.seeds
            }
            for m in config.sft_filters
        },
    }
    results: dict[str, Any] = {
        "config": config.to_dict(),
        "methods": config.methods(),
        "summary": summary,
        "comparisons": comparisons,
        "verdicts": verdict_lines(comparisons) + _reward_trend_lines(curves),
        "runs": {
            m: {
                str(s): json.loads((p / "results.json").read_text(encoding="utf-8"))["metrics"]
                for s, p in by_seed.items()
            }
            for m, by_seed in evals.items()
        },
        "data": data_info,
        "compute": _compute_summary(root, config),
        "skipped_training": sorted(
            str(p.parent.relative_to(root)) for p in (root / "train").glob("*/skipped.json")
        ),
        "model": json.loads((root / "tiny" / "model_info.json").read_text(encoding="utf-8")),
        "curves": curves,
        "timings": {
            "this_run_seconds": time.perf_counter() - t_start,
            "stages_run": stages.timings,
            "stages_reused": stages.reused,
        },
        "environment": environment_info(config),
    }
    results["plots"] = _plot(results, root, curves)
    return results


def print_results(results: Mapping[str, Any], console: Any = None) -> None:
    """Print the demo's table (accuracy with 95% CIs, differences to the base model) and verdicts."""
    from rich.table import Table

    console = console or make_console()
    summary = results["summary"]
    acc, greedy, mpl = summary["accuracy"], summary.get("greedy_accuracy"), summary["mean_process_label"]
    n_tasks = next(iter(acc.values()))["n_tasks"]
    seeds = results["config"]["seeds"]
    table = Table(
        title=f"SwiRL-Arithmetic-v0 test: {n_tasks} held-out questions x {len(seeds)} seeds "
        f"(T={results['config']['temperature']}); % with 95% CI"
    )
    for col in ("method", "accuracy", "vs base", "greedy acc.", "process label", "per-seed acc."):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method in results["methods"]:
        row = [
            METHOD_LABELS.get(method, method),
            format_ci(acc[method]),
            format_diff(acc[method].get("diff_vs_base")),
            format_ci(greedy[method]) if greedy else "-",
            format_ci(mpl[method]),
            " ".join(f"{v * 100:.1f}" for v in acc[method]["per_seed"].values()),
        ]
        table.add_row(*row)
    console.print(table)
    _print_compute(results, console)
    for line in results.get("verdicts", []):
        console.print(line)


def _compute_summary(root: Path, config: DemoConfig) -> dict[str, dict[str, float]]:
    """Per trained method: optimiser steps, tokens processed and training seconds, mean over seeds."""
    out: dict[str, dict[str, float]] = {}
    for method in config.methods():
        if method == "base":
            continue
        runs = [root / "train" / f"{method}-s{s}" / "compute.json" for s in config.seeds]
        vals = [json.loads(p.read_text(encoding="utf-8")) for p in runs if p.exists()]
        if vals:
            out[method] = {k: float(np.nanmean([v[k] for v in vals])) for k in vals[0]}
    return out


def _print_compute(results: Mapping[str, Any], console: Any) -> None:
    from rich.table import Table

    compute = results.get("compute") or {}
    if not compute:
        return
    table = Table(title="training compute per run (mean over seeds)")
    for col in ("method", "optimiser steps", "tokens processed", "train seconds"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method, c in compute.items():
        tokens = "-" if math.isnan(c["tokens"]) else f"{c['tokens']:,.0f}"
        table.add_row(
            METHOD_LABELS.get(method, method), f"{c['optimizer_steps']:.0f}", tokens, f"{c['seconds']:.0f}"
        )
    console.print(table)


def _reward_trend_lines(curves: Mapping[str, Any]) -> list[str]:
    lines = []
    for method, runs in (curves.get("swirl") or {}).items():
        thirds = [t for t in (reward_thirds(p) for p in runs.values()) if t is not None]
        if not thirds:
            continue
        first, last = np.mean([t[0] for t in thirds]), np.mean([t[1] for t in thirds])
        rising = sum(t[1] > t[0] for t in thirds)
        lines.append(
            f"{METHOD_LABELS.get(method, method)}: training reward {first:.3f} (first third) -> {last:.3f} "
            f"(last third); rises in {rising} of {len(thirds)} seeds"
        )
    return lines


def _plot(results: Mapping[str, Any], root: Path, curves: Mapping[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = results["methods"]
    summary = results["summary"]
    labels = [  # short, two-line tick labels: "SWiRL\nprocess"
        METHOD_LABELS.get(m, m).replace(", ", "\n").replace("-filtered", "").replace(" (", "\n(")
        for m in methods
    ]
    colors = ["#7f7f7f" if m == "base" else "#1f77b4" if m.startswith("sft") else "#d62728" for m in methods]
    files = []

    panels = [("accuracy", f"accuracy (T={results['config']['temperature']})")]
    if summary.get("greedy_accuracy"):
        panels.append(("greedy_accuracy", "accuracy (greedy)"))
    panels.append(("mean_process_label", "mean process label"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2))
    for ax, (key, title) in zip(np.atleast_1d(axes), panels):
        s = summary[key]
        means = np.array([s[m]["mean"] for m in methods]) * 100
        err = np.array(
            [
                [s[m]["mean"] - s[m]["ci_low"] for m in methods],
                [s[m]["ci_high"] - s[m]["mean"] for m in methods],
            ]
        )
        ax.bar(range(len(methods)), means, yerr=err * 100, color=colors, capsize=4)
        for i, m in enumerate(methods):
            seeds = list(s[m]["per_seed"].values())
            ax.scatter([i] * len(seeds), np.array(seeds) * 100, color="black", s=10, zorder=3)
        ax.set_xticks(range(len(methods)), labels, fontsize=7)
        ax.set_title(title)
        ax.set_ylabel("%")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    n = next(iter(summary["accuracy"].values()))
    fig.suptitle(
        f"SwiRL-Arithmetic-v0, {n['n_tasks']} test questions x {n['n_seeds']} seeds "
        "(bars: 95% bootstrap CI; dots: seeds)",
        fontsize=9,
    )
    fig.tight_layout()
    path = root / "accuracy.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(str(path))

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ws = curves.get("warmstart") or []
    if ws:
        axes[0].plot([p[0] for p in ws], [p[1] for p in ws], color="#7f7f7f")
    axes[0].set_title("warm start: SFT loss on oracle data")
    axes[0].set_xlabel("step")
    axes[0].set_yscale("log")
    for method, runs in curves.get("swirl", {}).items():
        plot_band(axes[1], runs, METHOD_LABELS.get(method, method))
    axes[1].set_title("SWiRL: judge reward of sampled actions")
    axes[1].set_xlabel("step")
    axes[1].set_ylim(0, 1)
    for method, runs in curves.get("sft", {}).items():
        plot_band(axes[2], runs, METHOD_LABELS.get(method, method))
    axes[2].set_title("SFT baseline: training loss")
    axes[2].set_xlabel("step")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    path = root / "learning_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(str(path))
    return files
