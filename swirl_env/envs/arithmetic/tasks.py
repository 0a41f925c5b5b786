"""Procedurally generated multi-step arithmetic word problems (the default, learnable task).

Every task is a short chain of templated sentences: a start quantity, then 2-4 operations on it
(``+``, ``-``, ``*``, ``/``), optionally mixed with *distractor* sentences whose numbers must not
be used, then the question. Example (3 operations, 1 distractor)::

    Ann has 7 apples. She buys 5 more. Tom has 4 pens. She gives 3 to Bob. Then she has 2 times
    as many. How many apples does Ann have now?

The gold solution is one calculator call per operation (``7 + 5`` = 12, ``12 - 3`` = 9,
``9 * 2`` = 18) and the answer 18. Task ``i`` of ``(seed, split)`` is always the same task: it is
generated from a random stream seeded with ``(seed, split, i)``, so the supply is unlimited and
indexable, and the ``train``/``dev``/``test`` splits are disjoint random streams.

Each task's ``metadata`` holds the gold solution steps (expression, value, operation, operand,
sentence), the start value, the distractor numbers and the difficulty settings, so a rule-based
process judge can check every step on its own (a wrong intermediate step is BAD even when the
final answer happens to be right, and correct steps followed by a wrong answer keep their GOOD
labels), plus GSM8K-style ``annotations`` (``"7+5=12"``).

The text is deliberately small and regular (short sentences, one- and two-digit numbers, a few
names and objects) so that a tiny transformer trained from scratch on CPU can learn it in minutes.

This module is the public home of the generator and of the names of
:mod:`~swirl_env.envs.arithmetic.questions`, which holds the sentence templates and reads a
question back into its solution.

Example:
    >>> task = generate_task(0, seed=0, split="train")
    >>> task.id
    'arithmetic-train-s0-0'
    >>> generate_task(0, seed=0, split="train") == task
    True
    >>> sol = solve_question(task.question)
    >>> str(sol.answer) == task.answer
    True
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import sys
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, overload

from swirl_env._lazy import private_helpers
from swirl_env.checks import int_at_least
from swirl_env.envs.arithmetic.questions import (
    _DISTRACTOR_TEMPLATES,
    _ITEMS,
    _NAMES,
    _OP_TEMPLATES,
    _QUESTION_TEMPLATE,
    _START_TEMPLATE,
    ArithmeticSolution,
    SolutionStep,
    apply_operation,
    read_question,
    solve_question,
)
from swirl_env.envs.arithmetic.questions import QuestionReading as QuestionReading  # re-exported
from swirl_env.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = [
    "DATASET",
    "OPERATIONS",
    "SPLITS",
    "ArithmeticConfig",
    "ArithmeticSolution",
    "ArithmeticTasks",
    "SolutionStep",
    "apply_operation",
    "generate_task",
    "read_question",
    "solve_question",
    "task_texts",
]

DATASET = "arithmetic"
SPLITS: dict[str, int] = {"train": 0, "dev": 1, "test": 2}
#: Each question text hashes into one of 20 buckets; a split only accepts questions of its buckets,
#: so the splits are disjoint by construction (no test question ever appears in train).
SPLIT_BUCKETS: dict[str, range] = {"train": range(0, 16), "dev": range(16, 18), "test": range(18, 20)}
_N_BUCKETS = 20
OPERATIONS = ("+", "-", "*", "/")


@dataclass(frozen=True)
class ArithmeticConfig:
    """Difficulty knobs of the generator.

    Attributes:
        min_ops / max_ops: number of operations (calculator steps) per task, drawn uniformly.
        min_distractors / max_distractors: number of distractor sentences (numbers not to use).
        start_range: inclusive range of the start quantity.
        operand_range: inclusive range of the operand of ``+`` and ``-``.
        factor_range: inclusive range of the factor of ``*`` and the divisor of ``/``.
        max_value: no intermediate value exceeds this (operations that would are not drawn).
        operations: the operations that may appear.
        distractor_range: inclusive range of distractor numbers.

    Example:
        >>> ArithmeticConfig(min_ops=3, max_ops=3).max_ops
        3
    """

    min_ops: int = 2
    max_ops: int = 4
    min_distractors: int = 0
    max_distractors: int = 1
    start_range: tuple[int, int] = (2, 20)
    operand_range: tuple[int, int] = (1, 9)
    factor_range: tuple[int, int] = (2, 3)
    max_value: int = 99
    operations: tuple[str, ...] = OPERATIONS
    distractor_range: tuple[int, int] = (2, 30)

    def __post_init__(self) -> None:
        for name in ("start_range", "operand_range", "factor_range", "distractor_range"):
            value = tuple(int(v) for v in getattr(self, name))
            if len(value) != 2 or value[0] > value[1]:
                raise ValueError(f"{name} must be (low, high) with low <= high, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        if not 1 <= self.min_ops <= self.max_ops:
            raise ValueError(f"need 1 <= min_ops <= max_ops, got {self.min_ops}, {self.max_ops}")
        if not 0 <= self.min_distractors <= self.max_distractors:
            raise ValueError(
                f"need 0 <= min_distractors <= max_distractors, got {self.min_distractors}, {self.max_distractors}"
            )
        ops = tuple(self.operations)
        if not ops or set(ops) - set(OPERATIONS):
            raise ValueError(f"operations must be a non-empty subset of {OPERATIONS}, got {ops!r}")
        object.__setattr__(self, "operations", ops)
        if self.operand_range[0] < 1 or self.factor_range[0] < 2 or self.start_range[0] < 1:
            raise ValueError("operands must be >= 1, factors >= 2 and start values >= 1")
        if self.max_value < self.start_range[1]:
            raise ValueError(f"max_value ({self.max_value}) must be >= the largest start value")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (lists instead of tuples)."""
        d = asdict(self)
        d["operations"] = list(self.operations)
        for k in ("start_range", "operand_range", "factor_range", "distractor_range"):
            d[k] = list(d[k])
        return d


@functools.lru_cache(maxsize=64)
def _config_dict_cached(cfg: ArithmeticConfig) -> str:
    return json.dumps(cfg.to_dict())


def _config_dict(cfg: ArithmeticConfig) -> dict[str, Any]:
    return json.loads(_config_dict_cached(cfg))


def question_bucket(question: str) -> int:
    """The split bucket (0-19) of a question text (a stable hash, the same on every platform).

    Example:
        >>> task = generate_task(0, split="test")
        >>> question_bucket(task.question) in SPLIT_BUCKETS["test"]
        True
    """
    digest = hashlib.blake2b(question.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _N_BUCKETS


def _split_code(split: str) -> int:
    try:
        return SPLITS[split]
    except KeyError:
        raise ValueError(f"unknown split {split!r}; choose from {sorted(SPLITS)}") from None


_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}


def _draw_operation(
    rng: random.Random,
    value: int,
    cfg: ArithmeticConfig,
    previous: tuple[str, int] | None,
    used: frozenset[tuple[int, str, int]] = frozenset(),
) -> tuple[str, int] | None:
    """A random operation that keeps the value in ``[1, max_value]`` (integers), or ``None``.

    ``used`` holds the ``(value, op, operand)`` calculations already in the solution: none is
    drawn twice, so the gold solution never repeats a calculator call.
    """
    choices: list[tuple[str, int]] = []
    lo, hi = cfg.operand_range
    flo, fhi = cfg.factor_range
    prev_op, prev_n = previous if previous is not None else (None, None)
    for op in cfg.operations:
        if op == prev_op and len(cfg.operations) > 1 and op in ("*", "/"):
            continue  # no "double then double again": keeps numbers small and sentences varied
        if op == "+":
            choices += [(op, n) for n in range(lo, hi + 1) if value + n <= cfg.max_value]
        elif op == "-":
            choices += [(op, n) for n in range(lo, hi + 1) if value - n >= 1]
        elif op == "*":
            choices += [(op, n) for n in range(flo, fhi + 1) if value * n <= cfg.max_value]
        elif op == "/":
            choices += [(op, n) for n in range(flo, fhi + 1) if value % n == 0 and value // n >= 1]
    # no step that undoes the previous one ("buys 4 more. sells 4."): every step changes the value
    choices = [
        c
        for c in choices
        if not (prev_op is not None and c == (_INVERSE[prev_op], prev_n)) and (value, *c) not in used
    ]
    if not choices:
        return None
    # pick the operation first (uniform over the available ones), then its operand
    ops = sorted({c[0] for c in choices}, key=OPERATIONS.index)
    op = rng.choice(ops)
    operands = [n for o, n in choices if o == op]
    return op, rng.choice(operands)


def _draw_question(
    rng: random.Random, cfg: ArithmeticConfig
) -> tuple[str, int, list[SolutionStep], list[int]]:
    """One random question: ``(text, start, gold steps, distractor numbers)``."""
    name, pron = rng.choice(_NAMES)
    others = [n for n, _ in _NAMES if n != name]
    # a distractor person has the other pronoun, so "she"/"he" always refers to the subject
    other_gender = [n for n, p in _NAMES if p != pron]
    item = rng.choice(_ITEMS)
    other_items = [i for i in _ITEMS if i != item]
    fmt = {"N": name, "P": pron.capitalize(), "p": pron, "I": item}

    for _attempt in range(64):
        start = rng.randint(*cfg.start_range)
        n_ops = rng.randint(cfg.min_ops, cfg.max_ops)
        value, steps, previous = start, [], None
        calls: set[tuple[int, str, int]] = set()
        for _ in range(n_ops):
            drawn = _draw_operation(rng, value, cfg, previous, frozenset(calls))
            if drawn is None:
                break
            op, n = drawn
            template = rng.choice(_OP_TEMPLATES[op])
            sentence = template.format(n=n, O=rng.choice(others), **fmt)
            new = apply_operation(value, op, n)
            steps.append(SolutionStep(f"{value} {op} {n}", new, op, n, sentence))
            calls.add((value, op, n))
            value, previous = new, (op, n)
        if len(steps) == n_ops:
            break
    else:  # pragma: no cover - the ranges are validated so that some operation always fits
        raise RuntimeError(f"could not draw {n_ops} operations with {cfg}")

    used = {start, *(s.operand for s in steps), *(s.value for s in steps)}
    n_distractors = rng.randint(cfg.min_distractors, cfg.max_distractors)
    pool = [d for d in range(cfg.distractor_range[0], cfg.distractor_range[1] + 1) if d not in used]
    distractors: list[tuple[int, str]] = []
    for _ in range(min(n_distractors, len(pool))):
        d = pool.pop(rng.randrange(len(pool)))
        template = rng.choice(_DISTRACTOR_TEMPLATES)
        text = template.format(n=d, O=rng.choice(other_gender), J=rng.choice(other_items), **fmt)
        distractors.append((d, text))

    sentences = [_START_TEMPLATE.format(n=start, **fmt)] + [s.sentence for s in steps]
    # distractors go anywhere after the first sentence, in random order
    for _d, text in distractors:
        sentences.insert(rng.randint(1, len(sentences)), text)
    question = " ".join([*sentences, _QUESTION_TEMPLATE.format(**fmt)])
    return question, start, steps, [d for d, _ in distractors]


def generate_task(
    index: int,
    *,
    seed: int = 0,
    split: str = "train",
    config: ArithmeticConfig | None = None,
) -> Task:
    """Task ``index`` of the stream ``(seed, split)`` (deterministic, any ``index >= 0``).

    The splits are independent random streams, and disjoint: a question is only accepted by the
    split owning its hash bucket (:data:`SPLIT_BUCKETS`, 80% / 10% / 10% of all questions), so
    no question of ``test`` or ``dev`` can ever appear in ``train``, whatever the seeds.

    Args:
        index: position in the stream.
        seed: stream seed.
        split: ``"train"``, ``"dev"`` or ``"test"``.
        config: difficulty settings (default :class:`ArithmeticConfig`).

    Example:
        >>> t = generate_task(3, seed=1, split="test", config=ArithmeticConfig(min_ops=2, max_ops=2))
        >>> len(t.metadata["solution_steps"])
        2
    """
    if index < 0:
        raise ValueError(f"task index must be >= 0, got {index}")
    cfg = config or ArithmeticConfig()
    _split_code(split)
    # a string seed is hashed (SHA-512) by ``random``: stable across platforms and Python versions
    rng = random.Random(f"{DATASET}/{int(seed)}/{split}/{int(index)}")
    buckets = SPLIT_BUCKETS[split]
    for _draw in range(10_000):
        question, start, steps, distractors = _draw_question(rng, cfg)
        if question_bucket(question) in buckets:
            break
    else:  # pragma: no cover - each draw is accepted with probability >= 10%
        raise RuntimeError(f"no {split} question found for index {index} with {cfg}")
    answer = steps[-1].value
    metadata = {
        "generator": "arithmetic-v1",
        "seed": int(seed),
        "index": int(index),
        "start": start,
        "solution_steps": [s.to_dict() for s in steps],
        "distractors": list(distractors),
        "num_operations": len(steps),
        "annotations": [f"{s.expression.replace(' ', '')}={s.value}" for s in steps],
        "config": _config_dict(cfg),
    }
    return Task(
        id=f"{DATASET}-{split}-s{seed}-{index}",
        question=question,
        answers=(str(answer),),
        dataset=DATASET,
        split=split,
        metadata=metadata,
        domain="math",
    )


class ArithmeticTasks(Sequence[Task]):
    """The first ``n_tasks`` tasks of a stream, generated on access (an indexable, lazy sequence).

    The most recently read :attr:`cache_size` tasks are kept in memory.

    Args:
        n_tasks: length of the sequence (any size: tasks are generated when read).
        seed / split / config: see :func:`generate_task`.
        offset: index of the first task in the stream (``tasks[i]`` is stream task ``offset + i``).

    Example:
        >>> tasks = ArithmeticTasks(100, seed=0, split="test")
        >>> len(tasks), tasks[5] == generate_task(5, seed=0, split="test")
        (100, True)
    """

    cache_size = 4096

    def __init__(
        self,
        n_tasks: int = 10_000,
        *,
        seed: int = 0,
        split: str = "train",
        config: ArithmeticConfig | None = None,
        offset: int = 0,
    ) -> None:
        for name, value, low in (("n_tasks", n_tasks, 1), ("offset", offset, 0), ("seed", seed, None)):
            int_at_least(name, value, low)
        if n_tasks + offset > sys.maxsize:
            raise ValueError(f"n_tasks + offset must be at most {sys.maxsize}, got {n_tasks + offset}")
        _split_code(split)
        self.n_tasks = int(n_tasks)
        self.seed = int(seed)
        self.split = split
        self.config = config or ArithmeticConfig()
        self.offset = int(offset)
        self._cache: OrderedDict[int, Task] = OrderedDict()

    def _get(self, i: int) -> Task:
        task = self._cache.get(i)
        if task is None:
            task = generate_task(self.offset + i, seed=self.seed, split=self.split, config=self.config)
            self._cache[i] = task
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return task

    def __len__(self) -> int:
        return self.n_tasks

    @overload
    def __getitem__(self, i: int) -> Task: ...
    @overload
    def __getitem__(self, i: slice) -> list[Task]: ...
    def __getitem__(self, i: int | slice) -> Task | list[Task]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n_tasks))]
        i = int(i)
        if i < 0:
            i += self.n_tasks
        if not 0 <= i < self.n_tasks:
            raise IndexError(f"task index {i} out of range [0, {self.n_tasks})")
        return self._get(i)

    def __iter__(self) -> Iterator[Task]:
        for i in range(self.n_tasks):
            yield self[i]

    def __repr__(self) -> str:
        return f"ArithmeticTasks(n_tasks={self.n_tasks}, seed={self.seed}, split={self.split!r}, offset={self.offset})"


def task_texts(tasks: Sequence[Task]) -> list[str]:
    """Questions and gold-solution calls of ``tasks``, e.g. to train a tiny tokenizer on.

    Example:
        >>> len(task_texts(ArithmeticTasks(3))) == 3
        True
    """
    out = []
    for t in tasks:
        steps = t.metadata.get("solution_steps", [])
        calls = " ".join(
            f"<math_exp> {s['expression']} </math_exp> {s['expression']} -> {s['value']}" for s in steps
        )
        out.append(f"{t.question} {calls} <answer> {t.answer} </answer>")
    return out


# the private helpers that were defined here before the split stay readable from this module
__getattr__ = private_helpers(__name__, ["swirl_env.envs.arithmetic.questions"])
