"""Compiled exact top-k kernels of the sparse BM25 backend (numba, ``cache=True, nogil=True``).

A query is its term ids in query order, repeats included (``terms``). Its postings are added into a
per-thread work buffer of one float64 per passage (all 0.0 between searches), in that order: exactly
the additions of ``rank_bm25.BM25Okapi.get_scores`` (and of the numpy path), so the scores are
bit-identical. The ``k`` best are then kept in a bounded heap (ties: the earlier passage wins) while
the entries are read back and reset to 0.0: by one pass in corpus order when the query's postings
cover a good part of the corpus, else through its postings, so a rare-word query touches only its
own passages. When every query term has a positive idf (always, except in tiny corpora) a passage
matches iff its score is > 0, so no marks are needed; otherwise the matching passages are marked
while read. A one-token query needs no buffer: its posting list is the score list.

The kernels release the GIL, so several threads search at once, each with its own buffer. They are
compiled on first use, once per machine: numba's on-disk cache (``__pycache__`` next to ``kernel_loops.py``,
the user cache directory when that is read-only, or ``NUMBA_CACHE_DIR``) lets a new process load
them instead of compiling. Without numba, or with ``SWIRL_NO_NUMBA=1`` in the environment,
:data:`AVAILABLE` is false and the backend uses its numpy path (same results).

Example:
    >>> import numpy as np
    >>> indptr = np.array([0, 2, 3]); indices = np.array([0, 1, 1], dtype=np.int32)
    >>> data, idf = np.array([1.0, 2.0, 0.5]), np.array([1.0, 0.5])
    >>> docs, scores = top_k(indptr, indices, data, idf, np.array([0, 1]), k=1)
    >>> docs.tolist(), scores.tolist()
    ([1], [2.5])
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from swirl_env.retrieval.kernel_loops import AVAILABLE, _many, _query

logger = logging.getLogger(__name__)

__all__ = [
    "AVAILABLE",
    "BLOCK",
    "BLOCKED_FROM",
    "compile_seconds",
    "new_buffer",
    "split",
    "thread_count",
    "top_k",
    "top_k_many",
    "top_k_parts",
]

#: Passages per block of a query's additions in a large corpus (4,096 float64: 32 KiB, a core's
#: L1 data cache), so the scattered additions stay in cache; 0 adds over the whole buffer at once.
BLOCK = 4096
#: Corpora of fewer passages add over the whole buffer (its 2 MiB fit a core's L2 cache: measured,
#: blocking gains nothing there). Both constants are read at each call (tests set them small).
BLOCKED_FROM = 262_144
#: :func:`split` keeps a batch of fewer postings (counting ``_QUERY_COST`` per query) in one part.
_SPLIT_COST = 100_000
_QUERY_COST = 64


def _block(buffer: np.ndarray) -> int:
    return BLOCK if buffer.shape[0] >= BLOCKED_FROM else 0


def new_buffer(n_docs: int) -> np.ndarray:
    """The work buffer of one thread for ``n_docs`` passages: ``n_docs`` zeros, which every search
    leaves all zero.

    Example:
        >>> new_buffer(3).tolist()
        [0.0, 0.0, 0.0]
    """
    return np.zeros(n_docs, dtype=np.float64)


def thread_count() -> int:
    """CPU cores this process may run on (the threads of a batched search by default).

    Example:
        >>> thread_count() >= 1
        True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def top_k(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    idf: np.ndarray,
    terms: np.ndarray,
    k: int,
    buffer: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best passages of one query: (passage numbers, scores), score desc then passage asc,
    only passages holding a query term (so possibly fewer than ``k``).

    Args:
        indptr, indices, data: the CSR term-passage matrix (passages ascending within a term).
        idf: each term's idf (a term whose idf is <= 0 makes the kernel track matches explicitly).
        terms: the query's term ids (int64) in query order, repeats included.
        k: hits wanted (at most the number of passages).
        buffer: this thread's :func:`new_buffer` (default: a new one; pass one to reuse it).

    Example:
        >>> indptr = np.array([0, 2, 3]); indices = np.array([0, 1, 1], dtype=np.int32)
        >>> data, idf = np.array([1.0, 2.0, 0.5]), np.array([1.0, 0.5])
        >>> docs, scores = top_k(indptr, indices, data, idf, np.array([0, 1, 1]), 2)
        >>> docs.tolist(), scores.tolist()
        ([1, 0], [3.0, 1.0])
    """
    if buffer is None:
        buffer = new_buffer(int(indices.max()) + 1 if indices.shape[0] else 1)
    kk = max(k, 1)
    hs = np.empty(kk, dtype=np.float64)
    hd = np.empty(kk, dtype=np.int64)
    n = _query(indptr, indices, data, idf, terms, k, buffer, hs, hd, _block(buffer))
    if n < 0:
        damaged_postings(buffer)
    return hd[:n], hs[:n]


def damaged_postings(buffer: np.ndarray) -> None:
    """A kernel met postings no built index has: clear the work buffer and say so."""
    from swirl_env.retrieval.index_format import CorruptIndexError

    buffer.fill(0.0)
    raise CorruptIndexError(
        "the index's postings point outside its arrays (a damaged file loaded with verify=False?): "
        "load it with verify=True, or rebuild it"
    )


def top_k_many(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    idf: np.ndarray,
    queries: Sequence[np.ndarray],
    k: int,
    buffer: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`top_k` for every query of a batch in one kernel call (which releases the GIL, so
    threads with a buffer each can run batches at the same time): (passages ``(n_queries, k)``,
    scores ``(n_queries, k)``, hits per query ``(n_queries,)``); row ``q`` holds its hits in its
    first ``n[q]`` entries.

    Example:
        >>> indptr = np.array([0, 2, 3]); indices = np.array([0, 1, 1], dtype=np.int32)
        >>> data, idf = np.array([1.0, 2.0, 0.5]), np.array([1.0, 0.5])
        >>> docs, scores, n = top_k_many(indptr, indices, data, idf, [np.array([0]), np.array([1])], 2,
        ...                              new_buffer(2))
        >>> docs[0, : n[0]].tolist(), docs[1, : n[1]].tolist()
        ([1, 0], [1])
    """
    nq = len(queries)
    q_ptr = np.zeros(nq + 1, dtype=np.int64)
    if nq:
        np.cumsum([q.shape[0] for q in queries], out=q_ptr[1:])
        q_terms = np.concatenate(queries).astype(np.int64, copy=False)
    else:
        q_terms = np.zeros(0, dtype=np.int64)
    kk = max(k, 1)
    out_scores = np.empty((nq, kk), dtype=np.float64)
    out_docs = np.empty((nq, kk), dtype=np.int64)
    out_n = np.zeros(nq, dtype=np.int64)
    _many(
        indptr,
        indices,
        data,
        idf,
        q_ptr,
        q_terms,
        k,
        0,
        nq,
        buffer,
        out_scores,
        out_docs,
        out_n,
        _block(buffer),
    )
    if nq and out_n.min() < 0:
        damaged_postings(buffer)
    return out_docs, out_scores, out_n


def split(indptr: np.ndarray, queries: Sequence[np.ndarray], threads: int) -> list[int]:
    """Bounds of up to ``threads`` contiguous parts of a batch with about equal postings (a few
    queries may hold most of the work); one part for a batch of few postings.

    Example:
        >>> split(np.array([0, 100_000, 100_001]), [np.array([0]), np.array([1]), np.array([1])], 2)
        [0, 1, 3]
    """
    nq = len(queries)
    if threads <= 1 or nq <= 1:
        return [0, nq]
    cost = np.cumsum(
        [_QUERY_COST + int((indptr[q + 1] - indptr[q]).sum()) for q in queries], dtype=np.float64
    )
    if cost[-1] < _SPLIT_COST:
        return [0, nq]
    parts = min(threads, nq)
    # part i ends just after the query where the running cost reaches i / parts of the total
    return (
        [0] + [min(nq, int(np.searchsorted(cost, cost[-1] * i / parts)) + 1) for i in range(1, parts)] + [nq]
    )


def top_k_parts(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    idf: np.ndarray,
    queries: Sequence[np.ndarray],
    k: int,
    bounds: Sequence[int],
    buffers: Sequence[np.ndarray],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`top_k_many` over each part ``queries[bounds[i]:bounds[i + 1]]`` of a batch, all at
    the same time, part ``i`` on its own thread with ``buffers[i]`` (part 0 on the calling thread).

    Example:
        >>> indptr = np.array([0, 2, 3]); indices = np.array([0, 1, 1], dtype=np.int32)
        >>> data, idf = np.array([1.0, 2.0, 0.5]), np.array([1.0, 0.5])
        >>> parts = top_k_parts(indptr, indices, data, idf, [np.array([0]), np.array([1])], 2, [0, 1, 2],
        ...                     [new_buffer(2), new_buffer(2)])
        >>> [docs[0, : n[0]].tolist() for docs, _, n in parts]
        [[1, 0], [1]]
    """
    count = len(bounds) - 1
    parts: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:  # the kernel releases the GIL: the parts run at the same time
            parts[i] = top_k_many(
                indptr, indices, data, idf, queries[bounds[i] : bounds[i + 1]], k, buffers[i]
            )
        except BaseException as e:  # re-raised in the caller
            errors.append(e)

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(1, count)]
    for w in workers:
        w.start()
    run(0)
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return parts


def compile_seconds() -> float:
    """Compile the kernels now (or load them from numba's cache); the seconds it took (0 when numba
    is not used).

    Example:
        >>> compile_seconds() < 600
        True
    """
    if not AVAILABLE:
        return 0.0
    t = time.perf_counter()
    indptr = np.array([0, 1], dtype=np.int64)
    indices = np.array([0], dtype=np.int32)
    data = np.array([1.0])
    buf = new_buffer(1)
    top_k(indptr, indices, data, data, np.array([0], dtype=np.int64), 1, buf)
    top_k_many(indptr, indices, data, data, [np.array([0], dtype=np.int64)], 1, buf)
    return time.perf_counter() - t
