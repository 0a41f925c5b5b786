"""How often a finished demo's evaluated models misread transfer sentences.

``swirl demo --set oracle_misreading_rate=R`` warm-starts the base model on oracle trajectories
that read a transfer sentence ("gets 5 more from Tom", "gives 5 to Tom") with the other operator
at rate ``R``: a systematic, wording-tied error that the process judge recognises. This script
reads the demo's held-out evaluations (``eval/*/judged.jsonl``) and reports, per evaluation:

* ``flipped``: of the calculator calls that use the number of a transfer sentence with ``+`` or
  ``-``, the share that apply the other operator than the sentence states;
* the accuracy on questions with a transfer sentence and on the others.

A learner that unlearns the misreading lowers ``flipped`` and closes the accuracy gap.

Usage:
    swirl demo --output runs/demo-misread --set oracle_misreading_rate=0.6
    python -m benchmarks.probe_misreading --demo runs/demo-misread

Example:
    >>> transfer_operations("Ann has 7 apples. She gets 5 more from Tom. She gives 2 to Bob. "
    ...                     "How many apples does Ann have now?")
    {'5': '+', '2': '-'}
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import print_rows, write_json

_CALL_RE = re.compile(r"<math_exp>\s*-?\d+(?:\.\d+)?\s*([-+])\s*(\d+)\s*</math_exp>")


def transfer_operations(question: str) -> dict[str, str]:
    """The operand -> operator of each transfer sentence of a generated question."""
    from swirl_algos.policies.arithmetic_oracle import TRANSFER_RE
    from swirl_env.envs.arithmetic.tasks import solve_question

    steps = solve_question(question).steps
    return {str(s.operand): s.operation for s in steps if TRANSFER_RE.search(s.sentence)}


def misreading_row(judged: Path) -> dict[str, Any]:
    """The ``flipped`` share and the accuracies of one evaluation (see the module docstring)."""
    from swirl_algos.jsonl import read_trajectories

    right = flipped = 0
    solved: dict[bool, list[bool]] = {True: [], False: []}
    for t in read_trajectories(judged):
        ops = transfer_operations(str(t.task["question"]))
        solved[bool(ops)].append(t.outcome.get("score") == 1.0)
        for step in t.steps:
            m = _CALL_RE.search(step.action or "")
            if m and m.group(2) in ops:
                if m.group(1) == ops[m.group(2)]:
                    right += 1
                else:
                    flipped += 1

    def acc(xs: list[bool]) -> float:
        return 100.0 * sum(xs) / len(xs) if xs else float("nan")

    return {
        "eval": judged.parent.name,
        "transfer_calls": right + flipped,
        "flipped": flipped / (right + flipped) if right + flipped else float("nan"),
        "acc_transfer": acc(solved[True]),
        "questions_transfer": len(solved[True]),
        "acc_other": acc(solved[False]),
        "questions_other": len(solved[False]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", required=True, help="a finished `swirl demo` output directory")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)
    evals = sorted(Path(args.demo).glob("eval/*/judged.jsonl"))
    if not evals:
        raise SystemExit(f"{args.demo} has no evaluations (eval/*/judged.jsonl)")
    rows = [misreading_row(p) for p in evals]
    print_rows(
        rows,
        [
            ("eval", "evaluation"),
            ("transfer_calls", "calls on a transfer number"),
            ("flipped", "other operator"),
            ("acc_transfer", "acc. with transfer"),
            ("acc_other", "acc. without"),
        ],
    )
    if args.json:
        write_json(args.json, {"demo": args.demo, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
