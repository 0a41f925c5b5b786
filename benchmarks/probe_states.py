"""Greedy action quality of trained models on a finished demo's stored training states.

SWiRL trains on the states of the filtered Stage-1 trajectories. This script asks, for each
given model, how often its GREEDY action at those states is judged GOOD by the demo's process
judge (the action is judged, not executed, exactly as SWiRL's reward is), on two sets of states:

* ``process``: the states SWiRL trains on (every state of the process-filtered trajectories);
* ``reached``: every state reached through GOOD steps only, in ALL Stage-1 trajectories, up to
  and including the state of each trajectory's first BAD step (the states where the base model
  errs, which trajectory-level filtering leaves out).

A learner that fixes the base model's mistakes at the states it trains on raises these rates; the
held-out accuracy of the demo says whether that carries over to new questions.

Usage:
    swirl demo --output runs/demo
    python -m benchmarks.probe_states --demo runs/demo \\
        --model base=runs/demo/warmstart --model swirl=runs/demo/train/swirl-process-s0

Example:
    >>> parse_model("swirl=runs/demo/train/swirl-process-s0")
    ('swirl', 'runs/demo/train/swirl-process-s0')
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import print_rows, write_json

BATCH = 64


def parse_model(text: str) -> tuple[str, str]:
    """``NAME=DIR`` -> ``(name, dir)``."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"a model is NAME=DIR, got {text!r}")
    return name, path


def reached_states(judged: Path) -> list[dict[str, Any]]:
    """Step records of every state reached through GOOD steps only (see the module docstring)."""
    from swirl_algos.decompose import decompose
    from swirl_algos.jsonl import read_trajectories

    records: list[dict[str, Any]] = []
    for t in read_trajectories(judged):
        labels = t.process_labels
        first_bad = next((i for i, lab in enumerate(labels) if lab is not True), len(labels) - 1)
        records += decompose([t], steps=list(range(first_bad + 1)))
    return records


def greedy_good_rate(
    model_dir: Path, records: Sequence[dict[str, Any]], judge: Any, max_new_tokens: int = 24
) -> float:
    """Fraction of ``records``' states whose greedy action (stopped at the first closing tag)
    ``judge`` labels GOOD."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from swirl_algos.learners.common import resolve_parser
    from swirl_algos.learners.shared_prefix import sample_branches
    from swirl_algos.learners.stepwise import encode_messages
    from swirl_algos.learners.swirl import ProcessJudgeReward

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    reward = ProcessJudgeReward(judge)
    good = 0.0
    for start in range(0, len(records), BATCH):
        rows = records[start : start + BATCH]
        prefixes = [encode_messages(tok, r["prompt"], add_generation_prompt=True) for r in rows]
        with torch.no_grad():
            branches = sample_branches(
                model,
                tok,
                prefixes,
                num_generations=1,
                max_new_tokens=max_new_tokens,
                temperature=0.0,
                stop_strings=[list(resolve_parser(r["env_id"]).stop_strings) for r in rows],
                eos_token_ids=[tok.eos_token_id],
            )
        texts = [tok.decode(c, skip_special_tokens=True) for c in branches.completions]
        values = reward(
            prompts=[r["prompt"] for r in rows],
            completions=[[{"role": "assistant", "content": t}] for t in texts],
            task=[r["task"] for r in rows],
            env_id=[r["env_id"] for r in rows],
            step_index=[r["step_index"] for r in rows],
        )
        good += sum(float(v or 0.0) for v in values)
    return good / max(1, len(records))


def main(argv: Sequence[str] | None = None) -> int:
    from swirl_algos import demo
    from swirl_algos.demo import stages
    from swirl_algos.jsonl import read_jsonl

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", required=True, help="a finished `swirl demo` output directory")
    parser.add_argument("--model", action="append", required=True, help="NAME=DIR (a demo stage directory)")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)
    demo_dir = Path(args.demo)
    if not (demo_dir / "generate" / "steps-process.jsonl").exists():
        raise SystemExit(f"{demo_dir} is not a finished demo directory")
    config = demo.DemoConfig.from_assignments(json.loads((demo_dir / "config.json").read_text("utf-8")))
    judge = stages._process_judge(config)
    sets = {
        "process": read_jsonl(demo_dir / "generate" / "steps-process.jsonl"),
        "reached": reached_states(demo_dir / "generate" / "judged.jsonl"),
    }
    rows = []
    for name, path in map(parse_model, args.model):
        row: dict[str, Any] = {"model": name, "dir": path}
        for key, records in sets.items():
            row[f"{key}_states"] = len(records)
            row[f"{key}_greedy_good"] = greedy_good_rate(
                demo.model_dir(Path(path)), records, judge, config.max_new_tokens
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    print_rows(
        rows,
        [
            ("model", "model"),
            ("process_states", "process-filtered states"),
            ("process_greedy_good", "greedy GOOD there"),
            ("reached_states", "states reached by GOOD steps"),
            ("reached_greedy_good", "greedy GOOD there"),
        ],
    )
    if args.json:
        write_json(args.json, {"rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
