"""The paper's experiments at a chosen scale: Table 2, the filter comparison, data-size scaling.

Three experiments, each a full run of the pipeline (generate with the base model -> judge ->
filter -> decompose -> train -> evaluate with the real tools):

* ``table2``: the layout of the paper's Table 2. SWiRL is trained on GSM8K and, separately, on
  HotPotQA (process-filtered data); the base model and both trained models are evaluated on
  GSM8K, HotPotQA, MuSiQue, BeerQA and CofCA. The paper's Gemma-2-27B numbers are printed
  alongside for reference. BeerQA and CofCA files are not bundled: pass ``--data beerqa=PATH``
  (and ``cofca=PATH``); without them their rows say ``no data``.
* ``filters``: the four filters (none, process, outcome, process+outcome) x {SWiRL, SFT}, trained
  on the same generated data of ``--train-env`` and evaluated on its evaluation split.
* ``scaling``: SWiRL trained on the first N trajectories (``--sizes``; the paper: 100, 1,000,
  10,000), process-filtered, evaluated on ``--train-env``'s evaluation split.

Small default (2 CPU cores, about 30 minutes): ``--model tiny``. ``filters`` and ``scaling`` run
on ``--train-env arithmetic`` (``SwiRL-Arithmetic-v0``) from the demo's base model (a tiny
Llama warm-started on imperfect scripted trajectories, :func:`swirl_algos.demo.build_base_model`),
judged by the gold-aware rule judge: a task a tiny model learns, so the numbers mean something.
``table2`` builds another tiny Llama warm-started on scripted gold trajectories of GSM8K and
HotPotQA; it exercises every stage with the real environments, judges and learners, but a
1M-parameter model cannot do GSM8K or multi-hop QA: its accuracies are near 0 and say nothing
about the method.

Full scale (a GPU; the paper's sizes):

    python -m benchmarks paper all --model Qwen/Qwen2.5-7B-Instruct --device cuda \\
        --n-questions 1000 --samples 5 --n-eval 500 \\
        --judge openai:Qwen/Qwen2.5-72B-Instruct@http://localhost:8001/v1 \\
        --set swirl.max_steps=500 --set swirl.learning_rate=1e-6 \\
        --data beerqa=/data/beerqa_dev_v1.0.json --data cofca=/data/cofca.json \\
        --data hotpotqa-train=/data/hotpot_train_v1.1.json --data gsm8k-train=/data/gsm8k/train.jsonl \\
        --train-env gsm8k --sizes 100 1000 10000 --output runs/paper-7b

Every unit of work (a rollout, a judged file, a trained model, an evaluation) is kept under
``--output`` and re-used when the same command runs again.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.common import machine_info, print_rows, write_json
from benchmarks.paper_units import (
    EVAL_ENVS,
    EVAL_ROW,
    EXPERIMENTS,
    EXTRA_EVAL_ENVS,
    FILTER_MODES,
    PAPER_TABLE2,
    TABLE2_TRAIN,
    TRAIN_ENVS,
    PaperConfig,
    arithmetic_base,
    env_kwargs_for,
    evaluate_unit,
    format_metric,
    generate_unit,
    tiny_base,
    train_model,
    unit_metric,
    unit_model_dir,
    unit_records,
)
from swirl_algos.config_args import parse_assignments
from swirl_algos.stages import Stages
from swirl_algos.terminal import quiet_libraries

logger = logging.getLogger(__name__)

__all__ = ["EVAL_ENVS", "EXPERIMENTS", "PAPER_TABLE2", "PaperConfig", "run_paper"]


def run_paper(cfg: PaperConfig, experiments: Sequence[str] = EXPERIMENTS) -> dict[str, Any]:
    """Run the chosen experiments; returns (and writes ``results.json``) every number.

    Example:
        >>> # run_paper(PaperConfig(output_dir="runs/bench/paper"), ["filters"])
    """
    unknown = sorted(set(experiments) - set(EXPERIMENTS))
    if unknown:
        raise ValueError(f"unknown experiments {unknown}; choose from {list(EXPERIMENTS)}")
    root = Path(cfg.output_dir)
    stages = Stages(root)

    def run_unit(name: str, settings: Mapping[str, Any], fn: Any) -> Path:
        """A unit of work (rollout, training, evaluation), run once per settings; its folder."""
        stages.run(name, settings, fn)
        return root / name

    t0 = time.perf_counter()
    results: dict[str, Any] = {"config": asdict(cfg), "machine": machine_info()}
    common = {k: v for k, v in asdict(cfg).items() if k not in ("output_dir", "progress", "sizes")}

    with quiet_libraries():

        def base_for(name: str) -> str:
            """The base model of a training environment (``--model``, or a tiny one built here)."""
            if cfg.model != "tiny":
                return cfg.model
            if name == "arithmetic":  # the demo's warm-started tiny model
                unit = run_unit("base-arithmetic", {"seed": cfg.seed, **cfg.arithmetic_base},
                                 lambda out: arithmetic_base(cfg, out))  # fmt: skip
            else:  # one tiny model warm-started on GSM8K and HotPotQA gold trajectories
                unit = run_unit("base-tiny", {"seed": cfg.seed, "steps": cfg.tiny_warmstart_steps,
                                               "tasks": cfg.tiny_warmstart_tasks, "data": cfg.data},
                                 lambda out: tiny_base(cfg, out))  # fmt: skip
            return unit_model_dir(unit, "")

        def data_unit(name: str, n: int) -> Path:
            return run_unit(f"data/{name}-{n}", {**common, "n": n, "train": name},
                             lambda out: generate_unit(cfg, base_for(name), name, n, out))  # fmt: skip

        def train_unit(
            tag: str, algo: str, name: str, records: list[dict[str, Any]], settings: dict[str, Any]
        ) -> str:
            base = base_for(name)
            unit = run_unit(f"train/{tag}", {**common, **settings, "algo": algo},
                             lambda out: train_model(cfg, algo, base, records, TRAIN_ENVS[name], out))  # fmt: skip
            return unit_model_dir(unit, base)

        def eval_unit(tag: str, model_dir: str, row: str) -> dict[str, Any] | None:
            env_id = {**EVAL_ENVS, **EXTRA_EVAL_ENVS}[row][0]
            kwargs = env_kwargs_for(cfg, row, train=False)
            if kwargs is None:
                return None
            try:
                unit = run_unit(f"eval/{tag}/{row}", {**common, "model_dir": model_dir, "env": row},
                                 lambda out: evaluate_unit(cfg, model_dir, env_id, kwargs, out))  # fmt: skip
            except FileNotFoundError as e:
                logger.warning("%s: %s", row, e)
                return None
            return {
                "accuracy": unit_metric(unit),
                "mean_process_label": unit_metric(unit, "mean_process_label"),
            }

        if "table2" in experiments:
            models = {"base": base_for(TABLE2_TRAIN[0])}
            for name in TABLE2_TRAIN:
                data = data_unit(name, cfg.n_questions)
                models[f"trained on {name}"] = train_unit(
                    f"table2-swirl-{name}",
                    "swirl",
                    name,
                    unit_records(data, "process"),
                    {"train": name, "mode": "process"},
                )
            table: dict[str, dict[str, Any]] = {}
            for row in EVAL_ENVS:
                table[row] = {col: eval_unit(col.replace(" ", "-"), md, row) for col, md in models.items()}
            results["table2"] = table

        if "filters" in experiments:
            data = data_unit(cfg.train_env, cfg.n_questions)
            row = EVAL_ROW[cfg.train_env]
            comp: dict[str, Any] = {"base": eval_unit("base", base_for(cfg.train_env), row)}
            kept = {}
            for mode in FILTER_MODES:
                records = unit_records(data, mode)
                kept[mode] = len({r["trajectory_id"] for r in records})
                for algo in ("swirl", "sft"):
                    md = train_unit(
                        f"filters-{algo}-{mode}",
                        algo,
                        cfg.train_env,
                        records,
                        {"train": cfg.train_env, "mode": mode},
                    )
                    comp[f"{algo}-{mode}"] = eval_unit(f"filters-{algo}-{mode}", md, row)
            results["filters"] = {"eval_env": row, "kept_trajectories": kept, "results": comp}

        if "scaling" in experiments:
            row = EVAL_ROW[cfg.train_env]
            largest = max(cfg.sizes)
            data = data_unit(cfg.train_env, math.ceil(largest / cfg.samples))
            scale: dict[str, Any] = {"0": eval_unit("base", base_for(cfg.train_env), row)}
            for n in sorted(cfg.sizes):
                records = unit_records(data, "process", limit=n)
                md = train_unit(
                    f"scaling-{n}", "swirl", cfg.train_env, records, {"train": cfg.train_env, "n": n}
                )
                scale[str(n)] = eval_unit(f"scaling-{n}", md, row) | {"states": len(records)}  # type: ignore[operator]
            results["scaling"] = {"eval_env": row, "results": scale}

    results["seconds"] = time.perf_counter() - t0
    results["unit_seconds"] = stages.timings
    write_json(root / "results.json", results)
    return results


def print_report(results: Mapping[str, Any], console: Any = None) -> None:
    """The three tables (whatever was run)."""
    if "table2" in results:
        rows = []
        for row, cols in results["table2"].items():
            paper = PAPER_TABLE2.get(row, (math.nan,) * 3)
            r = {"dataset": row}
            for i, col in enumerate(("base", "trained on gsm8k", "trained on hotpotqa")):
                r[col] = format_metric((cols.get(col) or {}).get("accuracy"))
                r[f"paper {i}"] = f"{paper[i]:.2f}"
            rows.append(r)
        print_rows(
            rows,
            [
                ("dataset", "dataset"),
                ("base", "base"),
                ("trained on gsm8k", "SWiRL on GSM8K"),
                ("trained on hotpotqa", "SWiRL on HotPotQA"),
                ("paper 0", "paper: base"),
                ("paper 1", "paper: GSM8K"),
                ("paper 2", "paper: HotPotQA"),
            ],
            title="Table 2 layout: accuracy [95% CI] (paper: Gemma-2-27B)",
            console=console,
        )
    if "filters" in results:
        f = results["filters"]
        rows = []
        for mode in FILTER_MODES:
            rows.append(
                {
                    "filter": mode,
                    "kept": str(f["kept_trajectories"][mode]),
                    "swirl": format_metric((f["results"].get(f"swirl-{mode}") or {}).get("accuracy")),
                    "sft": format_metric((f["results"].get(f"sft-{mode}") or {}).get("accuracy")),
                }
            )
        rows.append(
            {
                "filter": "base",
                "kept": "-",
                "swirl": format_metric((f["results"]["base"] or {}).get("accuracy")),
                "sft": "",
            }
        )
        print_rows(
            rows,
            [("filter", "filter"), ("kept", "kept trajectories"), ("swirl", "SWiRL"), ("sft", "SFT")],
            title=f"filters: accuracy on {f['eval_env']} [95% CI]",
            console=console,
        )
    if "scaling" in results:
        s = results["scaling"]
        rows = [
            {
                "n": n,
                "states": str((v or {}).get("states", "-")),
                "acc": format_metric((v or {}).get("accuracy")),
            }
            for n, v in s["results"].items()
        ]
        print_rows(
            rows,
            [("n", "trajectories"), ("states", "states kept"), ("acc", "accuracy")],
            title=f"data-size scaling (SWiRL, process filter): accuracy on {s['eval_env']} [95% CI]",
            console=console,
        )


# ---------------------------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``python -m benchmarks paper``."""
    d = PaperConfig()
    parser.add_argument("experiments", nargs="*", default=["all"], help=f"{', '.join(EXPERIMENTS)} or all")
    parser.add_argument("--output", default=d.output_dir)
    parser.add_argument(
        "--model", default=d.model, help="'tiny' (built and warm-started here) or a HF path/hub id"
    )
    parser.add_argument("--device", default=d.device)
    parser.add_argument(
        "--n-questions", type=int, default=d.n_questions, help="training questions per training env"
    )
    parser.add_argument("--samples", type=int, default=d.samples, help="trajectories per training question")
    parser.add_argument("--n-eval", type=int, default=d.n_eval, help="evaluation questions per dataset")
    parser.add_argument(
        "--judge",
        default=d.judge,
        help="rule (each env's registered rule judges) | hf:PATH | openai:MODEL@URL | module:Class",
    )
    parser.add_argument("--outcome-judge", default=None, help="outcome judge if different from --judge")
    parser.add_argument("--judge-cache", default=None, help="SQLite judgement cache")
    parser.add_argument(
        "--train-env", default=d.train_env, choices=sorted(TRAIN_ENVS), help="filters/scaling"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=d.sizes, help="trajectory counts (scaling)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set a PaperConfig field, a nested learner field by its dotted name (VALUE parsed as "
        "JSON when it parses), e.g. --set swirl.max_steps=500 --set swirl.learning_rate=1e-6 "
        "--set sft.num_train_epochs=2",
    )
    for old, kind in (
        ("swirl_steps", int),
        ("swirl_lr", float),
        ("beta", float),
        ("num_generations", int),
        ("batch_size", int),
    ):
        new = PaperConfig.RENAMED[old]
        target = new if isinstance(new, str) else " and ".join(new)
        parser.add_argument(
            "--" + old.replace("_", "-"),
            dest=old,
            type=kind,
            default=None,
            help=f"deprecated: use --set {target}",
        )
    parser.add_argument("--temperature", type=float, default=d.temperature)
    parser.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens)
    parser.add_argument("--num-envs", type=int, default=d.num_envs)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="dataset files: beerqa=, cofca=, gsm8k=, hotpotqa=, musique= (evaluation), gsm8k-train=, hotpotqa-train=",
    )
    parser.add_argument("--json", default=None, help="also copy results.json here")
    parser.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace) -> tuple[PaperConfig, list[str]]:
    data = {}
    for item in args.data:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise SystemExit(f"--data expects NAME=PATH, got {item!r}")
        data[name.strip().lower()] = path
    exps = list(EXPERIMENTS) if args.experiments in ([], ["all"]) else list(args.experiments)
    try:
        values: dict[str, Any] = {
            "output_dir": args.output,
            "model": args.model,
            "device": args.device,
            "n_questions": args.n_questions,
            "samples": args.samples,
            "n_eval": args.n_eval,
            "judge": args.judge,
            "outcome_judge": args.outcome_judge,
            "judge_cache": args.judge_cache,
            "train_env": args.train_env,
            "sizes": args.sizes,
            "temperature": args.temperature,
            "max_new_tokens": args.max_new_tokens,
            "num_envs": args.num_envs,
            "seed": args.seed,
            "data": data,
            "progress": not args.no_progress,
        }
        for old in ("swirl_steps", "swirl_lr", "beta", "num_generations", "batch_size"):
            if getattr(args, old) is not None:  # the earlier flags: a FutureWarning names the new field
                values[old] = getattr(args, old)
        values.update(parse_assignments(args.set, what="--set"))
        cfg = PaperConfig.from_assignments(values)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"paper: {e}") from None
    bad = sorted(set(exps) - set(EXPERIMENTS))
    if bad:
        raise SystemExit(f"paper: unknown experiments {bad}; choose from {list(EXPERIMENTS)} or all")
    return cfg, exps


def run(args: argparse.Namespace) -> int:
    """``python -m benchmarks paper``."""
    cfg, exps = config_from_args(args)
    results = run_paper(cfg, exps)
    print_report(results)
    if args.json:
        write_json(args.json, results)
    print(f"wrote {Path(cfg.output_dir) / 'results.json'} ({results['seconds']:.0f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks paper",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
