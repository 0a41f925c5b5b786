"""The task record shared by every dataset loader.

Example:
    >>> t = Task(id="gsm8k-test-0", question="What is 2+2?", answers=("4",), dataset="gsm8k", split="test")
    >>> Task.from_dict(t.to_dict()) == t
    True
    >>> m = Task("q", "What is 2+2?", ("4",), "toy", "test", domain="math")
    >>> m.to_dict()["domain"], "domain" in t.to_dict(), task_domain(m), task_domain(t)
    ('math', False, 'math', 'math')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MATH_DATASETS", "Task", "task_domain"]

#: datasets whose episodes use the calculator: how the domain of a task without one (a record
#: written before tasks carried :attr:`Task.domain`) is told from its dataset name
MATH_DATASETS = frozenset({"gsm8k", "math", "arithmetic", "svamp", "asdiv", "mawps"})


@dataclass(frozen=True)
class Task:
    """One question of a dataset.

    Attributes:
        id: stable, unique id inside its dataset and split (e.g. the official ``_id``).
        question: the question shown to the model.
        answers: gold answer first, then accepted aliases.
        dataset: dataset name (``"gsm8k"``, ``"hotpotqa"``...).
        split: split name (``"train"``, ``"dev"``, ``"test"``...).
        metadata: dataset-specific extras, JSON-serialisable (gold solution, supporting titles...).
        domain: ``"math"`` (calculator episodes) or ``"search"`` (retrieval episodes), set by
            every loader of the package; ``""`` when unknown (see :func:`task_domain`). Written by
            :meth:`to_dict` only when set, so records of tasks without one are unchanged.
    """

    id: str
    question: str
    answers: tuple[str, ...]
    dataset: str
    split: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    domain: str = ""

    def __post_init__(self) -> None:
        if not self.answers:
            raise ValueError(f"task {self.id!r} has no gold answer")
        object.__setattr__(self, "answers", tuple(str(a) for a in self.answers))

    @property
    def answer(self) -> str:
        """The gold answer (first of :attr:`answers`)."""
        return self.answers[0]

    def to_dict(self) -> dict[str, Any]:
        d = {
            "id": self.id,
            "question": self.question,
            "answers": list(self.answers),
            "dataset": self.dataset,
            "split": self.split,
            "metadata": dict(self.metadata),
        }
        if self.domain:
            d["domain"] = self.domain
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Task:
        return cls(
            id=str(d["id"]),
            question=d["question"],
            answers=tuple(d["answers"]),
            dataset=d.get("dataset", ""),
            split=d.get("split", ""),
            metadata=dict(d.get("metadata") or {}),
            domain=str(d.get("domain") or ""),
        )


def task_domain(task: Any) -> str:
    """``"math"``, ``"search"``, or ``""`` when nothing tells: how the judges pick their rules.

    The task's own :attr:`Task.domain` when it has one; else (a record written before tasks
    carried a domain) ``"math"`` for the calculator datasets (:data:`MATH_DATASETS`) and
    ``"search"`` for any other named dataset; ``""`` for no task or a task with neither (the
    caller then looks at the episode's tool calls).

    Example:
        >>> task_domain(Task("q", "2+2?", ("4",), "gsm8k", "test")), task_domain(None)
        ('math', '')
        >>> task_domain(Task("q", "Who?", ("Ann",), "gsm8k", "test", domain="search"))
        'search'
    """
    if task is None:
        return ""
    domain = getattr(task, "domain", "") or ""
    if domain:
        return str(domain)
    dataset = (getattr(task, "dataset", "") or "").lower()
    if not dataset:
        return ""
    return "math" if dataset in MATH_DATASETS else "search"
