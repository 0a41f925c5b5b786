"""Sweep the demo's Stage-2 settings on a finished demo's base model and data.

Each variant is a set of ``DemoConfig`` overrides (the same ``FIELD=VALUE`` syntax as
``swirl demo --set``; a nested learner field by its dotted name, ``swirl.beta=0.1``). For every variant and seed the script trains one method (SWiRL by default)
on a set of the demo's Stage-1 states (``--states``: the process-filtered sub-trajectories the
demo trains on, by default) from the demo's warm-started base model, then evaluates it on the demo's held-out questions, sampled (the demo's temperature) and greedy, and
prints one row per run with the training reward of the first and last third of training:
the measurements behind the demo's Stage-2 defaults (docs/benchmarks.md).

``--states`` picks the training states among the demo's 600 Stage-1 trajectories (SWiRL never
uses the stored actions, only the states):

* ``process``: every state of the process-filtered trajectories (the demo's);
* ``reached``: every state reached through GOOD steps only, up to and including each
  trajectory's first BAD step (:func:`benchmarks.probe_states.reached_states`): the states where
  the base model errs, which trajectory-level filtering leaves out;
* ``all``: every state of every trajectory (no filter).

Usage:
    swirl demo --output runs/demo                              # once: base model and data
    python -m benchmarks.sweep_demo --demo runs/demo --seeds 0 \\
        --variant beta=swirl.beta=0.1 \
        --variant lr3e-4=swirl.learning_rate=3e-4,swirl.per_device_train_batch_size=256
    python -m benchmarks.sweep_demo --demo runs/demo --seeds 0 1 --states reached --variant reached=

Example:
    >>> parse_variant("big=swirl.per_device_train_batch_size=256,swirl.max_steps=30")
    ('big', {'swirl.per_device_train_batch_size': 256, 'swirl.max_steps': 30})
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import machine_info, print_rows, write_json
from swirl_algos.config_args import parse_value

logger = logging.getLogger(__name__)

STATE_SETS = ("process", "reached", "all")


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME=FIELD=VALUE[,FIELD=VALUE...]`` -> ``(name, overrides)``; values parse as JSON when
    they can (``NAME=`` alone is the demo's defaults)."""
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise ValueError(f"a variant is NAME=FIELD=VALUE[,FIELD=VALUE...], got {text!r}")
    overrides: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected FIELD=VALUE in variant {name!r}, got {item!r}")
        overrides[key.strip()] = parse_value(value)
    return name, overrides


def write_state_set(demo_dir: Path, states: str, out: Path) -> Path:
    """The folder holding ``steps-{states}.jsonl`` for ``states`` in :data:`STATE_SETS` (the
    demo's own for ``process``; the others derived from its judged Stage-1 trajectories into ``out``)."""
    if states not in STATE_SETS:
        raise ValueError(f"states must be one of {STATE_SETS}, got {states!r}")
    if states == "process":
        return demo_dir / "generate"
    from benchmarks.probe_states import reached_states
    from swirl_algos.decompose import decompose
    from swirl_algos.jsonl import read_trajectories, write_jsonl

    judged = demo_dir / "generate" / "judged.jsonl"
    records = reached_states(judged) if states == "reached" else decompose(read_trajectories(judged))
    (out / "data").mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "data" / f"steps-{states}.jsonl", records)
    logger.warning("training states %r: %d sub-trajectories", states, len(records))
    return out / "data"


def run_variant(
    demo_dir: Path,
    name: str,
    overrides: dict[str, Any],
    seed: int,
    out: Path,
    algo: str,
    states: str = "process",
    data: Path | None = None,
) -> dict[str, Any]:
    """Train ``algo`` with ``overrides`` on the demo's ``states`` (``steps-{states}.jsonl`` in
    ``data``, by default the demo's ``generate/``) for one seed; evaluate sampled and greedy."""
    from swirl_algos import demo

    base_cfg = json.loads((demo_dir / "config.json").read_text(encoding="utf-8"))
    try:
        cfg = demo.DemoConfig.from_assignments({**base_cfg, **overrides})
    except (TypeError, ValueError) as e:
        raise SystemExit(f"variant {name!r}: {e}") from None
    cfg = dataclasses.replace(cfg, output_dir=str(demo_dir), progress=False)
    run_dir = out / f"{name}-s{seed}"
    (run_dir / "train").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    base = demo.model_dir(demo_dir / "warmstart")
    data = data if data is not None else demo_dir / "generate"
    demo.train_model(cfg, algo, states, seed, base, data, run_dir / "train")
    train_s = time.perf_counter() - t0
    model_dir = demo.model_dir(run_dir / "train")
    row: dict[str, Any] = {
        "variant": name,
        "seed": seed,
        "algo": algo,
        "states": states,
        "overrides": overrides,
        "train_s": train_s,
    }
    for greedy in (False, True):
        eval_dir = run_dir / ("eval-greedy" if greedy else "eval")
        demo.evaluate_model(cfg, model_dir, seed, greedy, eval_dir)
        res = json.loads((eval_dir / "results.json").read_text(encoding="utf-8"))
        row["greedy" if greedy else "sampled"] = float(res["metrics"]["env_score"]["mean"])
    thirds = demo.reward_thirds(demo.training_curve(run_dir / "train", "reward"))
    row["reward_first"], row["reward_last"] = thirds if thirds else (float("nan"), float("nan"))
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", required=True, help="a finished `swirl demo` output directory")
    parser.add_argument("--variant", action="append", required=True, help="NAME=FIELD=VALUE[,FIELD=VALUE...]")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--algo", choices=["swirl", "sft"], default="swirl")
    parser.add_argument(
        "--states", choices=STATE_SETS, default="process", help="training states (module docstring)"
    )
    parser.add_argument("--output", default=None, help="run directory (default: DEMO/sweep)")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    demo_dir = Path(args.demo)
    if not (demo_dir / "generate" / "steps-process.jsonl").exists():
        raise SystemExit(
            f"{demo_dir} is not a finished demo directory (run `swirl demo --output {demo_dir}`)"
        )
    out = Path(args.output) if args.output else demo_dir / "sweep"
    variants = [parse_variant(v) for v in args.variant]
    data = write_state_set(demo_dir, args.states, out)
    rows = []
    for name, overrides in variants:
        for seed in args.seeds:
            rows.append(run_variant(demo_dir, name, overrides, seed, out, args.algo, args.states, data))
            print(json.dumps(rows[-1]), flush=True)
    print_rows(
        rows,
        [
            ("variant", "variant"),
            ("states", "states"),
            ("seed", "seed"),
            ("sampled", "sampled acc."),
            ("greedy", "greedy acc."),
            ("reward_first", "reward, first third"),
            ("reward_last", "reward, last third"),
            ("train_s", "train s"),
        ],
        title=f"{args.algo} variants on {demo_dir} (held-out accuracy, sampled and greedy)",
    )
    if args.json:
        write_json(args.json, {"machine": machine_info(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
