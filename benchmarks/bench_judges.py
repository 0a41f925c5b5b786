"""How well does the rule-based math process judge agree with known-good and known-bad steps?

The set is built from the bundled GSM8K split, with no model involved:

* **gold** steps (expected GOOD): each task's gold solution replayed in ``SwiRL-GSM8K-v0``, one
  calculator call per ``<<EXPR=VALUE>>`` annotation, then the gold answer; judged offline on the
  finished record, exactly as the pipeline judges;
* **corrupted** steps (expected BAD), each judged at a real gold state (the conversation prefix),
  as SWiRL's reward judges an action that is never executed:
  ``wrong_operand`` (a number of the next gold expression replaced by one that appears nowhere
  in the state: not in the question, not in an earlier call or result), ``repeat`` (the previous expression again), ``early_answer`` (the gold answer before
  any calculation), ``wrong_answer`` (gold + 1 at the final state), ``no_call`` (prose with no call).

It prints the confusion counts (expected vs judged) and the rules behind the disagreements.

    python -m benchmarks.bench_judges                 # the whole bundled test split
    python -m benchmarks.bench_judges --n-tasks 200 --json runs/judges.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

import swirl_env  # noqa: F401  (registers the environments)
from swirl_env.rewards.judges.base import ProcessJudge, ProcessRequest
from swirl_env.rewards.judges.rule import RuleProcessJudge
from swirl_env.rewards.number_text import numbers_in_text, unit_constants
from swirl_env.rewards.wrappers import judge_trajectories
from swirl_env.tasks.base import Task
from swirl_env.trajectory import Trajectory

__all__ = [
    "CORRUPTIONS",
    "AgreementReport",
    "build_gold_trajectories",
    "corrupted_requests",
    "judge_agreement",
]

CORRUPTIONS = ("wrong_operand", "repeat", "early_answer", "wrong_answer", "no_call")
_LITERAL = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")


def _expressions(task: Task) -> list[str]:
    return [a.split("=", 1)[0].strip() for a in task.metadata.get("annotations", []) or []]


def build_gold_trajectories(
    env_id: str = "SwiRL-GSM8K-v0", *, n_tasks: int | None = None, split: str = "test", progress: bool = True
) -> list[Trajectory]:
    """Replay each task's gold annotations as calculator calls, then answer the gold answer.

    Example:
        >>> trajs = build_gold_trajectories(n_tasks=2, progress=False)
        >>> trajs[0].outcome["score"]
        1.0
    """
    env = gym.make(env_id, split=split).unwrapped
    n = len(env.tasks) if n_tasks is None else min(n_tasks, len(env.tasks))
    out = []
    for i in tqdm(range(n), desc="gold replay", unit="task", disable=not progress):
        env.reset(options={"task_index": i})
        task = env.task
        for expr in _expressions(task)[: env.max_tool_calls]:
            env.step(f"<math_exp> {expr} </math_exp>")
        env.step(f"<answer> {task.answer} </answer>")
        out.append(env.trajectory())
    env.close()
    return out


def _unknown_number(state: list[dict[str, str]], expr: str) -> str:
    """A number that appears nowhere in the state (question, earlier calls and results)."""
    text = "\n".join(m.get("content", "") for m in state)
    known = numbers_in_text(text) | unit_constants(text) | {0.0, 1.0, 2.0}
    candidate = 7
    while float(candidate) in known or str(candidate) in expr:
        candidate += 10
    return str(candidate)


def corrupted_requests(traj: Trajectory) -> list[tuple[str, ProcessRequest]]:
    """The corrupted actions of one gold trajectory, each at a gold state, labelled by kind.

    Example:
        >>> traj = build_gold_trajectories(n_tasks=1, progress=False)[0]
        >>> sorted({kind for kind, _ in corrupted_requests(traj)}) == sorted(CORRUPTIONS)
        True
    """
    task = Task.from_dict(traj.task)
    calls = [s for s in traj.steps if s.kind == "call"]
    out: list[tuple[str, ProcessRequest]] = []
    for k, step in enumerate(calls):
        state = traj.state_messages(k)
        expr = step.argument or ""
        literals = list(_LITERAL.finditer(expr))
        if literals:
            m = literals[0]
            wrong = expr[: m.start()] + _unknown_number(state, expr) + expr[m.end() :]
            out.append(("wrong_operand", ProcessRequest(task, state, f"<math_exp> {wrong} </math_exp>")))
        if k >= 1:
            prev = calls[k - 1].argument or ""
            out.append(("repeat", ProcessRequest(task, state, f"<math_exp> {prev} </math_exp>")))
    if calls:
        out.append(
            (
                "early_answer",
                ProcessRequest(task, traj.state_messages(0), f"<answer> {task.answer} </answer>"),
            )
        )
    last = traj.state_messages(traj.num_steps - 1)
    try:
        wrong_answer = str(int(float(task.answer.replace(",", ""))) + 1)
    except ValueError:
        wrong_answer = task.answer + "1"
    out.append(("wrong_answer", ProcessRequest(task, last, f"<answer> {wrong_answer} </answer>")))
    out.append(
        ("no_call", ProcessRequest(task, traj.state_messages(0), "Let me think about this problem first."))
    )
    return out


@dataclass
class AgreementReport:
    """Confusion counts: ``counts[kind]["GOOD" | "BAD" | "failed"]``; ``gold`` is the expected-GOOD row."""

    counts: dict[str, Counter] = field(default_factory=dict)
    disagreements: dict[str, Counter] = field(default_factory=dict)
    n_tasks: int = 0

    def add(self, kind: str, label: bool | None, rationale: str) -> None:
        verdict = "failed" if label is None else ("GOOD" if label else "BAD")
        self.counts.setdefault(kind, Counter())[verdict] += 1
        expected = "GOOD" if kind == "gold" else "BAD"
        if verdict != expected:
            rule = rationale.split("]", 1)[0].lstrip("[") if rationale.startswith("[") else rationale[:40]
            self.disagreements.setdefault(kind, Counter())[rule] += 1

    def rate(self, kind: str) -> float:
        """Share of ``kind`` judged as expected (GOOD for gold, BAD for corruptions)."""
        c = self.counts.get(kind, Counter())
        total = sum(c.values())
        return (c["GOOD" if kind == "gold" else "BAD"] / total) if total else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_tasks": self.n_tasks,
            "counts": {k: dict(v) for k, v in self.counts.items()},
            "agreement": {k: self.rate(k) for k in self.counts},
            "disagreements": {k: dict(v) for k, v in self.disagreements.items()},
        }


def judge_agreement(
    judge: ProcessJudge | None = None,
    *,
    n_tasks: int | None = None,
    split: str = "test",
    progress: bool = True,
) -> AgreementReport:
    """Judge the gold steps and the corrupted steps of ``n_tasks`` GSM8K tasks.

    Example:
        >>> report = judge_agreement(n_tasks=3, progress=False)
        >>> report.rate("early_answer")
        1.0
    """
    judge = judge or RuleProcessJudge()
    gold = build_gold_trajectories(n_tasks=n_tasks, split=split, progress=progress)
    report = AgreementReport(n_tasks=len(gold))
    for traj in judge_trajectories(gold, judge, progress=progress):
        for s in traj.steps:
            report.add("gold", (s.process or {}).get("label"), (s.process or {}).get("rationale") or "")
    requests = [kr for traj in gold for kr in corrupted_requests(traj)]
    results = judge.judge_steps([r for _, r in requests])
    for (kind, _), j in zip(requests, results, strict=True):
        report.add(kind, j.label, j.rationale or "")
    return report


def print_report(report: AgreementReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Rule process judge on GSM8K ({report.n_tasks} tasks)")
    for col in ("steps", "expected", "judged GOOD", "judged BAD", "failed", "agreement"):
        table.add_column(col, justify="right" if col not in ("steps", "expected") else "left")
    for kind in ("gold", *CORRUPTIONS):
        c = report.counts.get(kind)
        if not c:
            continue
        table.add_row(
            kind,
            "GOOD" if kind == "gold" else "BAD",
            str(c["GOOD"]),
            str(c["BAD"]),
            str(c["failed"]),
            f"{report.rate(kind):.3f}",
        )
    console = Console()
    console.print(table)
    for kind, rules in report.disagreements.items():
        console.print(f"{kind}: disagreements by rule: {dict(rules.most_common())}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-tasks", type=int, default=None, help="tasks of the split (default: all)")
    p.add_argument("--split", default="test")
    p.add_argument("--json", default=None, help="also write the counts as JSON here")
    args = p.parse_args(argv)
    report = judge_agreement(n_tasks=args.n_tasks, split=args.split)
    print_report(report)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
