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


def _load(model_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)


def judged_actions(
    model: Any,
    tok: Any,
    records: Sequence[dict[str, Any]],
    judge: Any,
    *,
    num_generations: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int = 24,
    seed: int = 0,
) -> list[list[float]]:
    """For each of ``records``' states, the judge's reward of ``num_generations`` actions sampled
    at ``temperature`` (0: the greedy action), each stopped at the first closing tag."""
    import torch

    from swirl_algos.learners.common import resolve_parser
    from swirl_algos.learners.shared_prefix import sample_branches
    from swirl_algos.learners.stepwise import encode_messages
    from swirl_algos.learners.swirl import ProcessJudgeReward

    reward = ProcessJudgeReward(judge)
    g = num_generations
    out: list[list[float]] = []
    for start in range(0, len(records), BATCH):
        rows = records[start : start + BATCH]
        prefixes = [encode_messages(tok, r["prompt"], add_generation_prompt=True) for r in rows]
        gens = [torch.Generator().manual_seed(seed * 1_000_003 + start + i) for i in range(len(rows))]
        with torch.no_grad():
            branches = sample_branches(
                model,
                tok,
                prefixes,
                num_generations=g,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                stop_strings=[list(resolve_parser(r["env_id"]).stop_strings) for r in rows],
                eos_token_ids=[tok.eos_token_id],
                generator=gens if temperature > 0 else None,
            )
        texts = [tok.decode(c, skip_special_tokens=True) for c in branches.completions]
        expand = [r for r in rows for _ in range(g)]
        values = reward(
            prompts=[r["prompt"] for r in expand],
            completions=[[{"role": "assistant", "content": t}] for t in texts],
            task=[r["task"] for r in expand],
            env_id=[r["env_id"] for r in expand],
            step_index=[r["step_index"] for r in expand],
        )
        flat = [float(v or 0.0) for v in values]
        out += [flat[i * g : (i + 1) * g] for i in range(len(rows))]
    return out


def greedy_good_rate(
    model_dir: Path, records: Sequence[dict[str, Any]], judge: Any, max_new_tokens: int = 24
) -> float:
    """Fraction of ``records``' states whose greedy action (stopped at the first closing tag)
    ``judge`` labels GOOD."""
    model, tok = _load(model_dir)
    values = judged_actions(model, tok, records, judge, max_new_tokens=max_new_tokens)
    return sum(v[0] for v in values) / max(1, len(records))


def silent_bad_states(
    model_dir: Path,
    records: Sequence[dict[str, Any]],
    judge: Any,
    *,
    max_new_tokens: int = 24,
    **sampling: Any,
) -> tuple[int, int]:
    """``(greedy-BAD states, of them those whose samples are all BAD)``: the states where the
    greedy action is wrong and a SWiRL group has no learning signal. ``sampling``: the group's
    ``num_generations`` (default 8) and ``temperature`` (default 1.0)."""
    model, tok = _load(model_dir)
    greedy = judged_actions(model, tok, records, judge, max_new_tokens=max_new_tokens)
    bad = [r for r, v in zip(records, greedy) if v[0] < 0.5]
    sampling = {"num_generations": 8, "temperature": 1.0, **sampling}
    sampled = judged_actions(model, tok, bad, judge, max_new_tokens=max_new_tokens, **sampling)
    return len(bad), sum(1 for v in sampled if max(v) < 0.5)


def main(argv: Sequence[str] | None = None) -> int:
    from swirl_algos import demo
    from swirl_algos.demo import stages
    from swirl_algos.jsonl import read_jsonl

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", required=True, help="a finished `swirl demo` output directory")
    parser.add_argument("--model", action="append", required=True, help="NAME=DIR (a demo stage directory)")
    parser.add_argument(
        "--samples",
        type=int,
        default=0,
        help="G > 0: also count the reached states whose greedy action is BAD and whose G samples "
        "at the SWiRL temperature are all BAD (a group without learning signal)",
    )
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
        if args.samples > 0:
            row["reached_greedy_bad"], row["reached_silent"] = silent_bad_states(
                demo.model_dir(Path(path)),
                sets["reached"],
                judge,
                max_new_tokens=config.max_new_tokens,
                num_generations=args.samples,
                temperature=config.swirl.temperature,
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
            *(
                [
                    ("reached_greedy_bad", "greedy BAD there"),
                    ("reached_silent", f"of them all {args.samples} samples BAD"),
                ]
                if args.samples > 0
                else []
            ),
        ],
    )
    if args.json:
        write_json(args.json, {"rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
