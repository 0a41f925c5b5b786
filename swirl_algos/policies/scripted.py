"""Scripted GSM8K policy: replay a gold solution's calculator annotations, then answer.

:class:`GoldReplayPolicy` knows the tasks. At each state it finds the task from the question in
the first message, counts the assistant turns so far (``k``), and writes the ``k``-th calculator
annotation of the gold solution as a call (``<<48/2=24>>`` -> ``<math_exp> 48/2 </math_exp>``);
once the annotations are used up (or ``max_calls`` is reached) it writes
``<answer> GOLD </answer>``. With ``error_rate=0`` every episode it plays is correct: a test oracle
for the environment, the calculator and the numeric metric, and a first source of trajectories.

For imperfect data, ``error_rate`` is the probability that a calculator step uses a wrong operand
(one number of the expression replaced by a near miss: ``16-3-4`` -> ``16-5-4``; the replacement
always changes the value); the later steps and the answer stay gold, so such trajectories have a
BAD step and a right outcome. ``answer_error_rate`` is the probability that the final answer is
off (gold +- 1..10 or one digit changed), so outcome filtering has wrong answers to drop.

Mistakes are deterministic: they depend only on ``(seed, the state's seed, task id, step)``, where
the state's seed is the one rollout passes to :meth:`~GoldReplayPolicy.act` (so two samples of a
task differ), or ``None`` when called without seeds.

:func:`replay_report` plays the gold replay over a whole split and checks every annotation
against the calculator. Command line (prints the report)::

    python -m swirl_algos.policies.scripted --split test

Example:
    >>> from swirl_env.envs.gsm8k.tasks import load_gsm8k
    >>> policy = GoldReplayPolicy(load_gsm8k("test"))
    >>> state = [{"role": "user", "content": "...\\n\\nQuestion: " + policy.tasks[0].question}]
    >>> policy.act([state])
    ['<math_exp> 16-3-4 </math_exp>']
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import logging
import os
import random
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from swirl_algos.policies.base import State, TaskOracle
from swirl_env.checks import fraction
from swirl_env.envs.gsm8k.tasks import Annotation, load_gsm8k
from swirl_env.tasks.base import Task
from swirl_env.tools.calculator import Calculator, CalculatorError

logger = logging.getLogger(__name__)

__all__ = ["GoldReplayPolicy", "main", "replay_report", "wrong_operand"]

_NUMBER = re.compile(r"(?<![\d.])(?:\d+(?:\.\d+)?|\.\d+)")


def _value(calc: Calculator, expression: str) -> Any:
    try:
        return calc.evaluate(expression)
    except CalculatorError:
        return None


def _near_miss(number: str, rng: random.Random) -> str:
    """A different number close to ``number`` (same format: integer or decimal)."""
    if "." in number:
        whole, frac = number.split(".")
        digits = list(frac)
        j = rng.randrange(len(digits))
        digits[j] = str((int(digits[j]) + rng.randint(1, 9)) % 10)
        return f"{whole}.{''.join(digits)}"
    n = int(number)
    delta = rng.randint(1, max(2, min(10, n // 2 + 1)))
    return str(n + delta if n - delta < 0 or rng.random() < 0.5 else n - delta)


def wrong_operand(expression: str, rng: random.Random, calculator: Calculator | None = None) -> str | None:
    """``expression`` with one operand replaced by a near miss that changes its value, or ``None``.

    Example:
        >>> wrong_operand("16-3-4", random.Random(0)) not in (None, "16-3-4")
        True
        >>> wrong_operand("pi", random.Random(0)) is None
        True
    """
    calc = calculator or Calculator()
    gold = _value(calc, expression)
    spans = [m.span() for m in _NUMBER.finditer(expression)]
    rng.shuffle(spans)
    for start, end in spans:
        for _ in range(4):
            new = expression[:start] + _near_miss(expression[start:end], rng) + expression[end:]
            value = _value(calc, new)
            if value is not None and value != gold:
                return new
    return None


class GoldReplayPolicy(TaskOracle):
    """Replays each task's gold calculator annotations, then answers the gold answer.

    Args:
        tasks: the tasks the policy may meet (``env.unwrapped.tasks``, or :func:`~swirl_env.envs.gsm8k.tasks.load_gsm8k`);
            each needs ``metadata["annotations"]`` (``["48/2=24", ...]``). Default: the tasks of
            ``path``, or else both bundled GSM8K splits (test and train).
        path: a GSM8K JSONL file whose tasks to use when ``tasks`` is not given (so that the
            command line can build the policy: ``swirl generate --policy
            swirl_algos.policies.scripted:GoldReplayPolicy --policy-kwargs '{"path": "..."}'``).
        error_rate: probability that a calculator step has a wrong operand.
        answer_error_rate: probability that the final answer is wrong.
        max_calls: answer after at most this many calls (the environment's cap is 10); ``None``
            replays every annotation.
        seed: the policy's seed (mistakes depend on it).

    Raises (from :meth:`act`):
        KeyError: a state whose question is not one of ``tasks``.

    Example:
        >>> import gymnasium as gym, swirl_env
        >>> env = gym.make("SwiRL-GSM8K-v0", n_tasks=3)
        >>> policy = GoldReplayPolicy(env.unwrapped.tasks)
        >>> obs, info = env.reset(options={"task_index": 1})
        >>> done = False
        >>> while not done:
        ...     obs, reward, term, trunc, info = env.step(policy.act([info["messages"]])[0])
        ...     done = term or trunc
        >>> reward, [s["observation"] for s in env.unwrapped.trajectory().to_dict()["steps"]][:2]
        (1.0, ['2/2 -> 1.0', '2+1 -> 3.0'])
    """

    name = "gold-replay"

    def __init__(
        self,
        tasks: Sequence[Task] | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        error_rate: float = 0.0,
        answer_error_rate: float = 0.0,
        max_calls: int | None = 10,
        seed: int = 0,
    ) -> None:
        if tasks is None:
            tasks = load_gsm8k(path=path) if path is not None else (*load_gsm8k("test"), *load_gsm8k("train"))
        elif path is not None:
            raise ValueError("pass tasks= or path=, not both")
        if not tasks:
            raise ValueError("GoldReplayPolicy needs the tasks it will be asked about")
        for name, rate in (("error_rate", error_rate), ("answer_error_rate", answer_error_rate)):
            fraction(name, rate)
        if max_calls is not None and max_calls < 0:
            raise ValueError(f"max_calls must be >= 0 or None, got {max_calls}")
        self.tasks = list(tasks)
        self.error_rate = float(error_rate)
        self.answer_error_rate = float(answer_error_rate)
        self.max_calls = max_calls
        self.seed = int(seed)
        self._calculator = Calculator()
        self.index_tasks()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "error_rate": self.error_rate,
            "answer_error_rate": self.answer_error_rate,
            "max_calls": self.max_calls,
            "seed": self.seed,
        }

    def plan(self, task: Task) -> list[str]:
        """The gold action sequence of a task: one call per annotation, then the answer.

        Example:
            >>> from swirl_env.envs.gsm8k.tasks import load_gsm8k
            >>> GoldReplayPolicy(load_gsm8k("test")).plan(load_gsm8k("test")[0])
            ['<math_exp> 16-3-4 </math_exp>', '<math_exp> 9*2 </math_exp>', '<answer> 18 </answer>']
        """
        calls = [self._call(e) for e in self._expressions(task)]
        return [*calls, f"<answer> {task.answer} </answer>"]

    def act(self, states: Sequence[State], *, seeds: Sequence[int] | None = None) -> list[str]:
        if seeds is not None and len(seeds) != len(states):
            raise ValueError(f"got {len(seeds)} seeds for {len(states)} states")
        out = []
        for i, state in enumerate(states):
            task = self.task_of(state)
            k = sum(1 for m in state if m.get("role") == "assistant")
            out.append(self._action(task, k, None if seeds is None else int(seeds[i])))
        return out

    # ------------------------------------------------------------------ internals
    def _expressions(self, task: Task) -> list[str]:
        annotations = list(task.metadata.get("annotations") or [])
        exprs = [Annotation.parse(a).expression for a in annotations]
        return exprs if self.max_calls is None else exprs[: self.max_calls]

    @staticmethod
    def _call(expression: str) -> str:
        return f"<math_exp> {expression} </math_exp>"

    def _rng(self, task: Task, k: int, seed: int | None) -> random.Random:
        key = json.dumps([self.seed, seed, task.id, k])
        return random.Random(hashlib.sha256(key.encode()).hexdigest())

    def _action(self, task: Task, k: int, seed: int | None) -> str:
        exprs = self._expressions(task)
        need_rng = (k < len(exprs) and self.error_rate > 0) or (
            k >= len(exprs) and self.answer_error_rate > 0
        )
        rng = self._rng(task, k, seed) if need_rng else None
        if k < len(exprs):
            expression = exprs[k]
            if rng is not None and rng.random() < self.error_rate:
                wrong = wrong_operand(expression, rng, self._calculator)
                if wrong is not None:
                    return self._call(wrong)
            return self._call(expression)
        answer = task.answer
        if rng is not None and rng.random() < self.answer_error_rate:
            answer = self._wrong_answer(answer, rng)
        return f"<answer> {answer} </answer>"

    @staticmethod
    def _wrong_answer(gold: str, rng: random.Random) -> str:
        try:
            n = float(gold)
        except ValueError:
            return gold + "0"
        if n.is_integer():
            if rng.random() < 0.5 and abs(n) >= 10:  # a slipped digit
                digits = list(str(int(abs(n))))
                j = rng.randrange(len(digits))
                digits[j] = str((int(digits[j]) + rng.randint(1, 9)) % 10)
                new = int("".join(digits)) * (1 if n >= 0 else -1)
                if new != n:
                    return str(new)
            return str(int(n) + rng.choice([-1, 1]) * rng.randint(1, 10))
        return f"{n + rng.choice([-1, 1]) * rng.randint(1, 10):g}"


def _value_form(value: str) -> str:
    if re.fullmatch(r"-?\d+", value):
        return "integer"
    if "/" in value:
        return "fraction"
    if re.match(r"-?\.", value):
        return "leading dot"
    return "trailing zeros" if value.endswith("0") else "decimal"


def replay_report(
    split: str | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    env_id: str = "SwiRL-GSM8K-v0",
    env_kwargs: Mapping[str, Any] | None = None,
    num_envs: int = 16,
    progress: bool = True,
) -> dict[str, Any]:
    """Play the error-free gold replay on every task of a split and check each annotation.

    Every calculator result is compared with the annotated value as an exact rational (GSM8K
    writes one value as ``16``, ``16.00``, ``.5`` or ``3/4``; ``value_forms`` counts them).

    Returns:
        ``{"env_id", "split", "path", "episodes", "correct", "accuracy", "truncated",
        "calculator_calls", "calculator_errors", "annotation_mismatches", "mismatch_examples",
        "tasks_without_annotations", "value_forms"}``.

    Example:
        >>> r = replay_report("test", progress=False)
        >>> r["accuracy"], r["calculator_calls"], r["annotation_mismatches"]
        (1.0, 4282, 0)
    """
    from swirl_algos.rollout import rollout
    from swirl_env.envs.gsm8k.tasks import load_gsm8k as _load

    kwargs = {
        **dict(env_kwargs or {}),
        **({"split": split} if split else {}),
        **({"path": str(path)} if path else {}),
    }
    tasks = _load(split, path)
    trajs = rollout(env_id, GoldReplayPolicy(tasks), env_kwargs=kwargs, num_envs=num_envs, progress=progress)
    calls = errors = mismatches = 0
    examples: list[dict[str, Any]] = []
    forms: collections.Counter[str] = collections.Counter()
    for traj in trajs:
        annotations = [Annotation.parse(a) for a in traj.task["metadata"].get("annotations") or []]
        steps = [s for s in traj.steps if s.kind == "call"]
        for step, ann in zip(steps, annotations):
            calls += 1
            forms[_value_form(ann.value)] += 1
            if not step.tool_ok:
                errors += 1
                examples.append({"task": traj.task["id"], "annotation": ann.text, "result": step.tool_result})
                continue
            if ann.number is None or Fraction(step.tool_value["exact"]) != ann.number:
                mismatches += 1
                examples.append({"task": traj.task["id"], "annotation": ann.text, "result": step.tool_result})
    correct = sum(t.outcome.get("score", 0.0) == 1.0 for t in trajs)
    return {
        "env_id": env_id,
        "split": tasks[0].split,
        "path": str(path) if path else None,
        "episodes": len(trajs),
        "correct": correct,
        "accuracy": correct / len(trajs) if trajs else 0.0,
        "truncated": sum(t.truncated for t in trajs),
        "calculator_calls": calls,
        "calculator_errors": errors,
        "annotation_mismatches": mismatches,
        "mismatch_examples": examples[:20],
        "tasks_without_annotations": sum(not t.task["metadata"].get("annotations") for t in trajs),
        "value_forms": dict(forms.most_common()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m swirl_algos.policies.scripted``: print the gold-replay report of a GSM8K split."""
    parser = argparse.ArgumentParser(
        prog="python -m swirl_algos.policies.scripted",
        description="Replay GSM8K gold solutions in SwiRL-GSM8K-v0 and check every calculator annotation.",
    )
    parser.add_argument("--split", default=None, help="bundled split: test (default) or train")
    parser.add_argument("--path", default=None, help="a GSM8K JSONL file instead of a bundled split")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    report = replay_report(args.split, args.path, num_envs=args.num_envs, progress=not args.no_progress)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for key, value in report.items():
        if key != "mismatch_examples":
            print(f"{key:>26}: {value}")
    for ex in report["mismatch_examples"]:
        print(f"  mismatch {ex['task']}: <<{ex['annotation']}>> -> {ex['result']}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
