"""Argument checks of the BM25 backends (and of the remote retriever's ``k``).

Example:
    >>> _check_k(3), _check_params(1.5, 0.75, 0.25)
    (3, {'k1': 1.5, 'b': 0.75, 'epsilon': 0.25})
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence

from swirl_env.checks import fraction
from swirl_env.retrieval.corpus import Passage

__all__: list[str] = []


def _check_params(k1: float, b: float, epsilon: float) -> dict[str, float]:
    for name, v in (("k1", k1), ("b", b), ("epsilon", epsilon)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"BM25 parameter {name} must be a finite number, got {v!r}")
    if k1 < 0:
        raise ValueError(f"BM25 parameter k1 must be >= 0, got {k1}")
    fraction("BM25 parameter b", b)
    if epsilon < 0:
        raise ValueError(f"BM25 parameter epsilon must be >= 0, got {epsilon}")
    return {"k1": float(k1), "b": float(b), "epsilon": float(epsilon)}


def _as_passages(passages: Iterable[Passage]) -> Sequence[Passage]:
    if isinstance(passages, (str, bytes)):
        raise TypeError(
            "expected a sequence of Passage; to read a file use load_corpus(path) or get_retriever(path)"
        )
    seq = passages if isinstance(passages, Sequence) else list(passages)
    if len(seq) == 0:
        raise ValueError("cannot index an empty corpus")
    for p in (seq[0], seq[-1]):
        if not isinstance(p, Passage):
            raise TypeError(f"expected Passage objects, got {type(p).__name__}")
    return seq


def _check_k(k: int) -> int:
    if isinstance(k, bool):  # True would read as k=1
        raise TypeError(f"k must be an integer, got {k!r}")
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be an integer, got {k!r}") from None
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    return k
