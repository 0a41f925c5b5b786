"""A scripted, deliberately imperfect policy for ``SwiRL-Arithmetic-v0``.

It reads the question back into its gold solution (:func:`swirl_env.envs.arithmetic.tasks.solve_question`)
and, at every state, writes the correct next step, except that with controllable rates it makes
one of these mistakes:

* ``wrong_operand``: the right operation with a wrong number (``12 - 4`` for ``12 - 3``);
* ``wrong_operator``: the right number with the wrong operation (``12 + 3``);
* ``distractor``: a number of a distractor sentence (``12 - 30``; falls back to ``wrong_operand``
  when the question has none);
* ``skip_step``: applies the operation after the next one (or answers early at the last step);
* ``answer_early``: answers with the current, incomplete value;
* ``guess_answer``: answers without computing the remaining steps; the guess is the right final
  value with probability ``guess_accuracy`` (a BAD step with a right outcome), else a near miss;
* ``copy_wrong``: mis-copies the previous result into the next expression (``21 - 3`` after
  ``... -> 12``), or mis-copies the final result into the answer (all calculations GOOD, the
  answer wrong).

Those mistakes are spread evenly over the steps, so a model trained on many such trajectories
takes the right step as its most likely one (greedy decoding averages them away). A
*misreading* is not: with ``misreading_rate`` the policy reads a sentence about a transfer with
another person backwards (``gets 5 more from Tom`` as ``- 5``, ``gives 5 to Tom`` as ``+ 5``), at
every such sentence of every question. Above 0.5 the wrong operator becomes the most likely
action at those states, a systematic error tied to the wording that a model trained on the
trajectories inherits and that a judge of the steps recognises.

After a mistake the policy is *off track*; at each later step it recovers with probability
``recover_rate`` (redoes the next gold step from the last correct value: a BAD step followed by
GOOD ones, often with a right outcome), else it carries on from the wrong value (later steps and
the answer are then wrong). So the trajectories mix every combination of step quality and final
correctness, which makes process and outcome filtering keep different data.

Sampling is seeded: with ``seeds`` (one per state, as the rollout passes them) the action depends
only on ``(policy seed, seed, state)``; without, on the policy's own random stream.

Example:
    >>> from swirl_env.envs.arithmetic.tasks import generate_task
    >>> task = generate_task(0)
    >>> state = [{"role": "user", "content": "Question: " + task.question}]
    >>> perfect = ArithmeticOraclePolicy(error_rates=0.0)
    >>> perfect.act([state])[0] == f"<math_exp> {task.metadata['solution_steps'][0]['expression']} </math_exp>"
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from swirl_algos.policies.base import Policy, State
from swirl_env.checks import fraction
from swirl_env.envs.arithmetic.tasks import ArithmeticSolution, solve_question
from swirl_env.parsing import ActionParser
from swirl_env.rewards.number_text import parse_number

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_ERROR_RATES", "ERROR_TYPES", "TRANSFER_RE", "ArithmeticOraclePolicy"]

ERROR_TYPES = (
    "wrong_operand",
    "wrong_operator",
    "distractor",
    "skip_step",
    "answer_early",
    "guess_answer",
    "copy_wrong",
)

#: About one step in four is a mistake (calculation steps); the answer step is mis-copied 5% of the time.
DEFAULT_ERROR_RATES: dict[str, float] = {
    "wrong_operand": 0.05,
    "wrong_operator": 0.04,
    "distractor": 0.04,
    "skip_step": 0.03,
    "answer_early": 0.03,
    "guess_answer": 0.03,
    "copy_wrong": 0.05,
}

_OTHER_OP = {"+": "-", "-": "+", "*": "/", "/": "*"}
#: sentences about a transfer with another person: ``gets N more from O`` / ``gives N to O``
TRANSFER_RE = re.compile(r"\b(?:gets \d+ more from|gives \d+ to) [A-Z]")
_EXPR_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([-+*/])\s*(\d+(?:\.\d+)?)\s*$")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-9 * max(1.0, abs(b))


class ArithmeticOraclePolicy(Policy):
    """Scripted arithmetic solver with controllable mistakes (see the module docstring).

    Args:
        error_rates: per-step probability of each mistake in :data:`ERROR_TYPES`: a mapping (missing
            types are 0), one float spread over the types in :data:`DEFAULT_ERROR_RATES`'s
            proportions (``0.0`` = a perfect solver), or ``None`` for :data:`DEFAULT_ERROR_RATES`.
            The rates of a step must sum to at most 1.
        recover_rate: probability, at each step after a mistake, of going back to the last correct
            value and redoing the next step.
        guess_accuracy: probability that a ``guess_answer`` is the right final value.
        answer_copy_error: probability of mis-copying the final result into the answer
            (``None`` = ``error_rates["copy_wrong"]``).
        misreading_rate: probability of reading a transfer sentence (``gets N more from O``,
            ``gives N to O``) with the other operator, at each step that applies one
            (0 = never; the random stream is then the same as without the option).
        seed: the policy's seed.

    Example:
        >>> p = ArithmeticOraclePolicy(error_rates={"wrong_operator": 1.0}, seed=1)
        >>> p.act([[{"role": "user", "content": "Question: Ann has 7 apples. She buys 5 more. "
        ...          "She sells 2. How many apples does Ann have now?"}]])
        ['<math_exp> 7 - 5 </math_exp>']
        >>> q = "Question: Ann has 7 apples. She gets 5 more from Tom. How many apples does Ann have now?"
        >>> ArithmeticOraclePolicy(0.0, misreading_rate=1.0).act([[{"role": "user", "content": q}]])
        ['<math_exp> 7 - 5 </math_exp>']
    """

    name = "arithmetic-oracle"

    def __init__(
        self,
        error_rates: Mapping[str, float] | float | None = None,
        *,
        recover_rate: float = 0.5,
        guess_accuracy: float = 0.5,
        answer_copy_error: float | None = None,
        misreading_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        if error_rates is None:
            rates = dict(DEFAULT_ERROR_RATES)
        elif isinstance(error_rates, int | float):
            total = sum(DEFAULT_ERROR_RATES.values())
            rates = {k: float(error_rates) * v / total for k, v in DEFAULT_ERROR_RATES.items()}
        else:
            unknown = sorted(set(error_rates) - set(ERROR_TYPES))
            if unknown:
                raise ValueError(f"unknown error types {unknown}; known: {list(ERROR_TYPES)}")
            rates = {k: float(error_rates.get(k, 0.0)) for k in ERROR_TYPES}
        for k, v in rates.items():
            fraction(f"error rate {k!r}", v)
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"error rates sum to {sum(rates.values()):.3f} > 1")
        for name, value in (
            ("recover_rate", recover_rate),
            ("guess_accuracy", guess_accuracy),
            ("misreading_rate", misreading_rate),
        ):
            fraction(name, value)
        self.error_rates = {k: rates.get(k, 0.0) for k in ERROR_TYPES}
        self.recover_rate = float(recover_rate)
        self.guess_accuracy = float(guess_accuracy)
        self.misreading_rate = float(misreading_rate)
        self.answer_copy_error = (
            float(answer_copy_error) if answer_copy_error is not None else self.error_rates["copy_wrong"]
        )
        fraction("answer_copy_error", self.answer_copy_error)
        self.seed = int(seed)
        self._rng = random.Random(self.seed)
        self._parser = ActionParser({"math_exp": "calculator"})

    # ------------------------------------------------------------------ Policy API
    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "error_rates": dict(self.error_rates),
            "recover_rate": self.recover_rate,
            "guess_accuracy": self.guess_accuracy,
            "answer_copy_error": self.answer_copy_error,
            "misreading_rate": self.misreading_rate,
            "seed": self.seed,
        }

    def act(self, states: Sequence[State], *, seeds: Sequence[int] | None = None) -> list[str]:
        if seeds is not None and len(seeds) != len(states):
            raise ValueError(f"got {len(seeds)} seeds for {len(states)} states")
        out = []
        for i, state in enumerate(states):
            if seeds is not None:
                key = json.dumps([self.seed, int(seeds[i]), [m.get("content", "") for m in state]])
                rng = random.Random(hashlib.sha256(key.encode()).hexdigest())
            else:
                rng = self._rng
            out.append(self.act_one(state, rng))
        return out

    # ------------------------------------------------------------------ one state
    def act_one(self, state: State, rng: random.Random) -> str:
        """The action at one state (chat messages; the first holds the question)."""
        if not state:
            raise ValueError("empty state: the first message must hold the question")
        first = str(state[0].get("content", ""))
        idx = first.rfind("Question:")
        solution = solve_question(first[idx + len("Question:") :].strip() if idx >= 0 else first)
        gold = solution.values  # [start, v1, ..., vK]
        n_steps = len(solution.steps)

        # calculator history: (expression, value or None)
        calls: list[tuple[str, float | None]] = []
        for j, m in enumerate(state):
            if m.get("role") != "assistant":
                continue
            parsed = self._parser.parse(str(m.get("content", "")))
            if parsed.kind != "call":
                continue
            value = None
            if j + 1 < len(state):
                text = str(state[j + 1].get("content", ""))
                if " -> " in text:
                    value = parse_number(text.split(" -> ", 1)[1])
            calls.append((parsed.argument or "", value))

        # progress: gold steps reached in order; `since` = calculations after the one that reached it
        k, since = 0, 0
        for _, value in calls:
            hit = next((j for j in range(k + 1, n_steps + 1) if _close(value, gold[j])), None)
            if hit is not None:
                k, since = hit, 0
            else:
                since += 1
        last = calls[-1][1] if calls else None
        on_track = not calls or (since == 0 and _close(last, gold[k]))
        if not on_track and last is None:  # the last call failed: treat as a wrong step
            last = gold[k]

        if on_track:
            return self._on_track(solution, k, rng)
        if rng.random() < self.recover_rate:
            return self._call(gold[k], *self._read(solution, k, rng))
        # carry on from the wrong value with the operation the policy believes comes next
        attempted = self._attempted(solution, k, since, calls[-1][0])
        if attempted >= n_steps:
            return self._answer(last)  # type: ignore[arg-type]
        return self._call(last, *self._read(solution, attempted, rng))  # type: ignore[arg-type]

    def _on_track(self, sol: ArithmeticSolution, k: int, rng: random.Random) -> str:
        gold, n_steps = sol.values, len(sol.steps)
        cur = gold[k]
        if k >= n_steps:
            if rng.random() < self.answer_copy_error:
                return self._answer(self._typo(cur, rng))
            return self._answer(cur)
        error = self._draw_error(rng)
        op, n = self._read(sol, k, rng)
        if error is None:
            return self._call(cur, op, n)
        if error == "distractor" and not sol.distractors:
            error = "wrong_operand"
        if error == "wrong_operand":
            return self._call(cur, op, self._other_operand(op, n, rng))
        if error == "wrong_operator":
            return self._call(cur, _OTHER_OP[op], n)
        if error == "distractor":
            return self._call(cur, op, rng.choice(sol.distractors))
        if error == "skip_step":
            if k + 1 < n_steps:
                return self._call(cur, *self._read(sol, k + 1, rng))
            return self._answer(cur)
        if error == "answer_early":
            return self._answer(cur)
        if error == "guess_answer":
            if rng.random() < self.guess_accuracy:
                return self._answer(gold[-1])
            return self._answer(gold[-1] + rng.choice((-3, -2, -1, 1, 2, 3)))
        if error == "copy_wrong":
            return self._call(self._typo(cur, rng), op, n)
        raise AssertionError(error)  # pragma: no cover

    # ------------------------------------------------------------------ helpers
    def _draw_error(self, rng: random.Random) -> str | None:
        u, acc = rng.random(), 0.0
        for name in ERROR_TYPES:
            acc += self.error_rates[name]
            if u < acc:
                return name
        return None

    @staticmethod
    def _op(sol: ArithmeticSolution, k: int) -> tuple[str, int]:
        step = sol.steps[k]
        return step.operation, step.operand

    def _read(self, sol: ArithmeticSolution, k: int, rng: random.Random) -> tuple[str, int]:
        """Step ``k``'s operation as the policy reads it: a transfer sentence is misread with
        probability ``misreading_rate`` (no draw when it is 0)."""
        op, n = self._op(sol, k)
        transfer = self.misreading_rate > 0 and TRANSFER_RE.search(sol.steps[k].sentence)
        if transfer and rng.random() < self.misreading_rate:
            return _OTHER_OP[op], n
        return op, n

    @staticmethod
    def _attempted(sol: ArithmeticSolution, k: int, since: int, last_expr: str) -> int:
        """Index of the next operation as the policy sees it after the last (wrong) call."""
        m = _EXPR_RE.match(last_expr)
        if m:
            op, n = m.group(2), parse_number(m.group(3))
            for j in range(k, len(sol.steps)):
                if sol.steps[j].operation == op and _close(n, sol.steps[j].operand):
                    return j + 1
        return min(k + since, len(sol.steps))

    @staticmethod
    def _other_operand(op: str, n: int, rng: random.Random) -> int:
        if op in ("*", "/"):
            return rng.choice([m for m in (2, 3, 4, 5) if m != n])
        return rng.choice([m for m in (n - 2, n - 1, n + 1, n + 2, n + 10) if m >= 1 and m != n])

    @staticmethod
    def _typo(x: float, rng: random.Random) -> float:
        """A plausible mis-copy of ``x`` (swapped digits, off by one or by ten)."""
        s = _fmt(x)
        options = []
        if len(s) == 2 and s[0] != s[1] and s[1] != "0":
            options.append(float(s[::-1]))
        options += [x + 1, x - 1 if x > 1 else x + 2, x + 10]
        return rng.choice(options)

    @staticmethod
    def _call(left: float, op: str, right: float) -> str:
        return f"<math_exp> {_fmt(left)} {op} {_fmt(right)} </math_exp>"

    @staticmethod
    def _answer(value: float) -> str:
        return f"<answer> {_fmt(value)} </answer>"
