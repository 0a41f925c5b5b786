"""``swirl demo``'s main loop and command line: run (or resume) every stage, then report.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> config_from_args(parser.parse_args(["--quick", "--set", "swirl.learning_rate=1e-3"])).swirl.learning_rate
    0.001
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from swirl_algos.config_args import parse_assignments
from swirl_algos.demo.config import METHOD_LABELS, DemoConfig
from swirl_algos.demo.results import collect_results, print_results
from swirl_algos.demo.stages import base_stages, evaluate_model, generate_data, model_dir, train_model
from swirl_algos.stages import Stages
from swirl_algos.terminal import make_console, quiet_libraries

__all__ = ["add_arguments", "config_from_args", "run", "run_demo"]


def run_demo(config: DemoConfig, *, console: Any = None) -> dict[str, Any]:
    """Run (or resume) the demo and return every number it produced (also in ``results.json``).

    Args:
        config: the settings (:class:`DemoConfig`; ``DemoConfig.quick_config()`` for a smoke run).
        console: a ``rich`` console for the output (default: a new one).

    Returns:
        ``{"config", "methods", "summary": {"accuracy", "greedy_accuracy", "mean_process_label",
        "steps_per_episode"}, "comparisons", "verdicts", "runs", "data", "timings", "plots",
        "environment"}``.

    Example:
        >>> # results = run_demo(DemoConfig(output_dir="runs/demo"))
        >>> # results["summary"]["accuracy"]["swirl-process"]["diff_vs_base"]
    """
    import torch
    from transformers import set_seed

    console = console or make_console()
    root = Path(config.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(int(config.threads))
    (root / "config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    stages = Stages(root, console)
    t_start = time.perf_counter()

    with quiet_libraries():
        base_dir, fp_base = base_stages(config, stages)
        fp_data = stages.run(
            "generate",
            {
                "base": fp_base,
                "filters": sorted(set(config.swirl_filters) | set(config.sft_filters)),
                **config.stage_settings("generate"),
            },
            lambda out: generate_data(config, base_dir, out),
            resumable=True,
            title="4-5. Stage 1: generate with the base model, judge, filter, decompose",
        )
        data_dir = root / "generate"

        eval_keys = config.stage_settings("eval")
        model_fps: dict[str, str] = {"base": fp_base}
        runs: dict[str, dict[int, Path]] = {"base": {}}
        train_jobs = [("sft", m) for m in config.sft_filters] + [("swirl", m) for m in config.swirl_filters]
        for seed in config.seeds:
            for algo, mode in train_jobs:
                name = f"{algo}-{mode}"
                set_seed(seed)
                fp = stages.run(
                    f"train/{name}-s{seed}",
                    {"data": fp_data, "base": fp_base, "algo": algo, "filter": mode, "seed": seed}
                    | config.stage_settings(algo),
                    lambda out, a=algo, m=mode, s=seed: train_model(config, a, m, s, base_dir, data_dir, out),
                    title=f"6. Stage 2: {METHOD_LABELS[name]}, seed {seed}",
                )
                model_fps[f"{name}-s{seed}"] = fp
                runs.setdefault(name, {})[seed] = model_dir(root / "train" / f"{name}-s{seed}")
            runs["base"][seed] = base_dir

        evals: dict[str, dict[int, Path]] = {}
        greedy_evals: dict[str, dict[int, Path]] = {}
        for method in config.methods():
            for seed in config.seeds:
                fp_model = model_fps["base"] if method == "base" else model_fps[f"{method}-s{seed}"]
                set_seed(seed)
                stage = f"eval/{method}-s{seed}"
                stages.run(
                    stage,
                    {"model": fp_model, "seed": seed, **eval_keys},
                    lambda out, m=method, s=seed: evaluate_model(config, runs[m][s], s, False, out),
                    resumable=True,
                    title=f"7. evaluate {METHOD_LABELS.get(method, method)}, seed {seed}",
                )
                evals.setdefault(method, {})[seed] = root / stage
                if config.eval_greedy and (method != "base" or seed == config.seeds[0]):
                    gstage = f"eval/{method}-s{seed}-greedy"
                    stages.run(
                        gstage,
                        {"model": fp_model, "greedy": True, **eval_keys},
                        lambda out, m=method, s=seed: evaluate_model(config, runs[m][s], 0, True, out),
                        resumable=True,
                        title=f"7. evaluate {METHOD_LABELS.get(method, method)}, seed {seed}, greedy",
                    )
                    greedy_evals.setdefault(method, {})[seed] = root / gstage

    results = collect_results(config, root, evals, greedy_evals, stages=stages, t_start=t_start)
    (root / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    console.rule("[bold]results")
    print_results(results, console)
    console.print(
        f"\nwrote {root / 'results.json'}, {', '.join(results['plots'])} "
        f"({results['timings']['this_run_seconds']:.0f} s; reused {len(stages.reused)} finished stages)"
    )
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl demo``."""
    parser.add_argument("--output", "-o", default=None, help="output directory (default: runs/demo)")
    parser.add_argument(
        "--quick", action="store_true", help="toy-scale smoke run (1-2 minutes; numbers not meaningful)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="training/evaluation seeds")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--eval-tasks", type=int, default=None, help="held-out test questions")
    parser.add_argument(
        "--swirl-steps",
        type=int,
        default=None,
        help="SWiRL optimiser steps per run (= --set swirl.max_steps=N)",
    )
    parser.add_argument(
        "--warmstart-steps",
        type=int,
        default=None,
        help="warm-start SFT steps (= --set warmstart.max_steps=N)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set any DemoConfig field, a nested learner field by its dotted name (VALUE parsed as JSON "
        "when it parses), e.g. --set swirl.learning_rate=1e-4 --set eval_tasks=100",
    )
    parser.add_argument(
        "--force", action="store_true", help="recompute every stage (deletes the output directory)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    """The :class:`DemoConfig` of parsed ``swirl demo`` arguments."""
    try:
        overrides: dict[str, Any] = parse_assignments(args.set)
        for flag, key in (
            ("output", "output_dir"),
            ("seeds", "seeds"),
            ("threads", "threads"),
            ("eval_tasks", "eval_tasks"),
            ("swirl_steps", "swirl.max_steps"),
            ("warmstart_steps", "warmstart.max_steps"),
        ):
            value = getattr(args, flag, None)
            if value is not None:
                overrides[key] = value
        if args.no_progress:
            overrides["progress"] = False
        return DemoConfig.from_assignments(overrides, quick=args.quick)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"swirl demo: {e}") from None


def run(args: argparse.Namespace) -> int:
    """``swirl demo``: run the demo from parsed arguments; returns the exit status."""
    config = config_from_args(args)
    if args.force and Path(config.output_dir).exists():
        shutil.rmtree(config.output_dir)
    run_demo(config)
    return 0
