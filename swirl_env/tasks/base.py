"""The task record shared by every dataset loader.

Example:
    >>> t = Task(id="gsm8k-test-0", question="What is 2+2?", answers=("4",), dataset="gsm8k", split="test")
    >>> Task.from_dict(t.to_dict()) == t
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
    """

    id: str
    question: str
    answers: tuple[str, ...]
    dataset: str
    split: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.answers:
            raise ValueError(f"task {self.id!r} has no gold answer")
        object.__setattr__(self, "answers", tuple(str(a) for a in self.answers))

    @property
    def answer(self) -> str:
        """The gold answer (first of :attr:`answers`)."""
        return self.answers[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answers": list(self.answers),
            "dataset": self.dataset,
            "split": self.split,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Task:
        return cls(
            id=str(d["id"]),
            question=d["question"],
            answers=tuple(d["answers"]),
            dataset=d.get("dataset", ""),
            split=d.get("split", ""),
            metadata=dict(d.get("metadata") or {}),
        )
