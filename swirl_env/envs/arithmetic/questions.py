"""The sentences of an arithmetic question: the templates it is written in, and the reading back.

The generator of :mod:`swirl_env.envs.arithmetic.tasks` writes a question from the templates
here (a start sentence, one sentence per operation, distractor sentences, the question); the
patterns here read such a text back: :func:`solve_question` into its gold solution (one
:class:`SolutionStep` per operation), :func:`read_question` into what it states, without the
values. :mod:`swirl_env.envs.arithmetic.tasks` is the public home of these names.

Example:
    >>> text = "Bob has 9 cards. He sells 4. Then he has 3 times as many. How many cards does Bob have now?"
    >>> solve_question(text).values, apply_operation(5, "*", 3)
    ([9, 5, 15], 15)
    >>> read_question(text).operations
    (('-', 4), ('*', 3))
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "ArithmeticSolution",
    "QuestionReading",
    "SolutionStep",
    "apply_operation",
    "read_question",
    "solve_question",
]

_NAMES = (
    ("Ann", "she"),
    ("Bob", "he"),
    ("Cal", "he"),
    ("Dee", "she"),
    ("Eve", "she"),
    ("Max", "he"),
    ("Liz", "she"),
    ("Sam", "he"),
    ("Mia", "she"),
    ("Tom", "he"),
)
_ITEMS = ("apples", "pens", "cards", "coins", "books", "shells", "eggs", "stamps", "rocks", "cups")

# One template per sentence kind; ``{P}``/``{p}`` is the pronoun (capitalised or not), ``{n}`` the operand.
_OP_TEMPLATES: dict[str, tuple[str, ...]] = {
    "+": ("{P} buys {n} more.", "{P} finds {n} more.", "{P} gets {n} more from {O}."),
    "-": ("{P} gives {n} to {O}.", "{P} loses {n}.", "{P} sells {n}."),
    "*": ("Then {p} has {n} times as many.",),
    "/": ("{P} splits them into {n} equal piles and keeps one pile.",),
}
_START_TEMPLATE = "{N} has {n} {I}."
_QUESTION_TEMPLATE = "How many {I} does {N} have now?"
_DISTRACTOR_TEMPLATES = (
    "{O} has {n} {J}.",
    "{P} is {n} years old.",
    "The shop is {n} miles away.",
)

_START_RE = re.compile(r"^(?P<name>[A-Z][a-z]+) has (?P<n>\d+) (?P<item>[a-z]+)\.$")
_OP_RES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("+", re.compile(r"^(?:She|He) (?:buys|finds) (?P<n>\d+) more\.$")),
    ("+", re.compile(r"^(?:She|He) gets (?P<n>\d+) more from [A-Z][a-z]+\.$")),
    ("-", re.compile(r"^(?:She|He) gives (?P<n>\d+) to [A-Z][a-z]+\.$")),
    ("-", re.compile(r"^(?:She|He) (?:loses|sells) (?P<n>\d+)\.$")),
    ("*", re.compile(r"^Then (?:she|he) has (?P<n>\d+) times as many\.$")),
    ("/", re.compile(r"^(?:She|He) splits them into (?P<n>\d+) equal piles and keeps one pile\.$")),
)
_QUESTION_RE = re.compile(r"^How many (?P<item>[a-z]+) does (?P<name>[A-Z][a-z]+) have now\?$")
_NUMBER_RE = re.compile(r"\d+")


@dataclass(frozen=True)
class SolutionStep:
    """One gold calculator step: ``expression`` evaluates to ``value``."""

    expression: str
    value: int
    operation: str
    operand: int
    sentence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ArithmeticSolution:
    """A question's gold solution, as read back from its text by :func:`solve_question`.

    Attributes:
        start: the start quantity.
        steps: one :class:`SolutionStep` per operation, in order.
        distractors: numbers of the distractor sentences.
        name / item: the question's subject.
    """

    start: int
    steps: tuple[SolutionStep, ...]
    distractors: tuple[int, ...] = ()
    name: str = ""
    item: str = ""

    @property
    def values(self) -> list[int]:
        """The running values ``[start, v1, ..., vK]``."""
        return [self.start, *(s.value for s in self.steps)]

    @property
    def answer(self) -> int:
        return self.steps[-1].value if self.steps else self.start


#: The operations of a question on integers (``/`` only where it divides exactly).
_OPERATIONS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.floordiv}


def apply_operation(value: int, operation: str, operand: int) -> int:
    """``value OP operand`` on integers (``/`` must divide exactly).

    Example:
        >>> apply_operation(12, "/", 3), apply_operation(7, "-", 2)
        (4, 5)
    """
    if operation not in _OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    if operation == "/" and (operand == 0 or value % operand):
        raise ValueError(f"{value} / {operand} is not an exact division")
    return _OPERATIONS[operation](value, operand)


def _sentences(question: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?])\s+", question.strip()) if s]


@dataclass(frozen=True)
class QuestionReading:
    """What the text of a question states, read sentence by sentence (no solution computed).

    Attributes:
        start: the starting quantity.
        operations: ``(operator, operand)`` of each operation sentence, in the order stated.
        distractors: the numbers of the sentences that state no operation.
    """

    start: int
    operations: tuple[tuple[str, int], ...]
    distractors: tuple[int, ...]


@functools.lru_cache(maxsize=4096)
def read_question(question: str) -> QuestionReading:
    """Read a generated question's start, stated operations and distractor numbers.

    This is what a reader of the problem knows before solving it: which operation each sentence
    asks for, not the values of the solution. Raises ``ValueError`` for text that is not a
    question of this generator.

    Example:
        >>> read_question("Ann has 7 apples. She buys 5 more. Tom has 4 pens. "
        ...               "Then she has 2 times as many. How many apples does Ann have now?")
        QuestionReading(start=7, operations=(('+', 5), ('*', 2)), distractors=(4,))
    """
    solution = solve_question(question)
    return QuestionReading(
        solution.start, tuple((s.operation, s.operand) for s in solution.steps), solution.distractors
    )


def solve_question(question: str) -> ArithmeticSolution:
    """Read a generated question back into its gold solution (the scripted policies use this).

    Raises ``ValueError`` for text that is not a question of this generator.

    Example:
        >>> s = solve_question("Ann has 7 apples. She buys 5 more. Tom has 4 pens. "
        ...                    "Then she has 2 times as many. How many apples does Ann have now?")
        >>> [st.expression for st in s.steps], s.distractors, s.answer
        (['7 + 5', '12 * 2'], (4,), 24)
    """
    sentences = _sentences(question)
    if len(sentences) < 2:
        raise ValueError(f"not an arithmetic question: {question!r}")
    m = _START_RE.match(sentences[0])
    q = _QUESTION_RE.match(sentences[-1])
    if m is None or q is None:
        raise ValueError(f"not an arithmetic question: {question!r}")
    start = int(m.group("n"))
    value, steps, distractors = start, [], []
    for sentence in sentences[1:-1]:
        for op, pattern in _OP_RES:
            om = pattern.match(sentence)
            if om:
                n = int(om.group("n"))
                new = apply_operation(value, op, n)
                steps.append(SolutionStep(f"{value} {op} {n}", new, op, n, sentence))
                value = new
                break
        else:
            distractors.extend(int(x) for x in _NUMBER_RE.findall(sentence))
    if not steps:
        raise ValueError(f"no operation found in {question!r}")
    return ArithmeticSolution(start, tuple(steps), tuple(distractors), m.group("name"), m.group("item"))
