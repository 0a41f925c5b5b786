"""The retriever interface every backend implements.

Ranking contract (all backends): hits are sorted by score, highest first, ties broken by corpus
order (the passage that comes first in the corpus wins). Only passages sharing at least one token
with the query (after :func:`~swirl_env.retrieval.tokenizer.tokenize`) are returned, so a search
returns at most ``k`` hits and possibly fewer: an empty query, or one whose tokens are all
stopwords or absent from the corpus, returns ``[]``.

Example:
    >>> from swirl_env.retrieval import Passage, SparseBM25Retriever
    >>> r = SparseBM25Retriever([Passage("1", "Paris", "capital of France"), Passage("2", "Rome", "capital of Italy")])
    >>> [h.passage.id for h in r.search("France", k=2)]
    ['1']
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from swirl_env.retrieval.corpus import Passage

logger = logging.getLogger(__name__)

__all__ = ["Hit", "PerThreadState", "Retriever"]


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        passage: the retrieved passage.
        score: the backend's relevance score (BM25 for the local backends).
        rank: 0-based position in the result list.
    """

    passage: Passage
    score: float
    rank: int

    def to_dict(self) -> dict:
        return {"passage": self.passage.to_dict(), "score": self.score, "rank": self.rank}


class Retriever(ABC):
    """Top-k passage search over a fixed corpus.

    Subclasses implement :meth:`search` (and may override :meth:`search_batch` with a faster
    batched path) and :meth:`__len__` (number of passages).
    """

    @abstractmethod
    def search(self, query: str, k: int = 1) -> list[Hit]:
        """The best ``k`` passages for ``query`` (fewer when fewer match; see the module docstring).

        Example:
            >>> retriever.search("Scorch Trials publisher", k=3)  # doctest: +SKIP
        """

    def search_batch(self, queries: Sequence[str], k: int = 1) -> list[list[Hit]]:
        """:meth:`search` for each query, in order.

        Example:
            >>> retriever.search_batch(["Paris", "Rome"], k=2)  # doctest: +SKIP
        """
        if isinstance(queries, str):
            raise TypeError("search_batch expects a sequence of queries, not a single string")
        return [self.search(q, k) for q in queries]

    @abstractmethod
    def __len__(self) -> int:
        """Number of passages in the corpus (0 when unknown, e.g. a remote retriever)."""

    def __bool__(self) -> bool:  # a retriever is truthy even when len() is unknown (0)
        return True

    @staticmethod
    def _check_query(query: str) -> str:
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        return query


class PerThreadState:
    """Mixin of a backend with per-thread scratch state in ``self._local`` (a
    :class:`threading.local`: a score buffer, a keep-alive connection), which a pickled copy (a
    worker process's) leaves out and starts afresh, empty.

    Example:
        >>> import copy
        >>> class Scratch(PerThreadState):
        ...     def __init__(self):
        ...         self.size, self._local = 3, threading.local()
        >>> s = Scratch()
        >>> s._local.buf = [0.0] * s.size
        >>> c = copy.copy(s)  # through __getstate__ / __setstate__, as pickling
        >>> c.size, hasattr(c._local, "buf"), c._local is s._local
        (3, False, False)
    """

    _local: threading.local

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
