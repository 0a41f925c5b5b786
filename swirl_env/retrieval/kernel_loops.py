"""The loops of :mod:`swirl_env.retrieval.kernels` (see there for what they compute), compiled by
numba (``cache=True, nogil=True``) when it is importable and ``SWIRL_NO_NUMBA`` is not set; else
the same functions run as plain Python (:data:`AVAILABLE` false; the sparse backend then uses its
numpy path).

Example:
    >>> import numpy as np
    >>> hs, hd = np.empty(2), np.empty(2, dtype=np.int64)
    >>> n = _push(hs, hd, 0, 2, 1.5, 7); n = _push(hs, hd, n, 2, 2.5, 3); _heap_sort(hs, hd, n)
    >>> hs.tolist(), hd.tolist()
    ([2.5, 1.5], [3, 7])
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["AVAILABLE"]

#: A query whose postings number at least ``n_docs // _DENSE_DIV`` scans the whole buffer.
_DENSE_DIV = 4
_numba: Any = None
if os.environ.get("SWIRL_NO_NUMBA", "").strip().lower() not in ("1", "true", "yes"):
    try:
        import numba as _numba
    except ImportError:  # pragma: no cover - numba is a dependency
        _numba = None


def _jit(fn: Any, **options: Any) -> Any:
    """``numba.njit(cache=True, nogil=True)``, without the on-disk cache when no cache directory
    is writable (numba refuses ``cache=True`` then)."""
    try:
        return _numba.njit(cache=True, nogil=True, **options)(fn)
    except RuntimeError as e:  # pragma: no cover - "cannot cache function ...: no locator available"
        logger.warning("numba cannot cache compiled kernels (%s); compiling in every process", e)
        return _numba.njit(nogil=True, **options)(fn)


def _py_push(hs: Any, hd: Any, n: int, k: int, s: float, d: int) -> int:
    """Offer passage ``d`` with score ``s`` to the min-heap ``hs``/``hd`` of ``n`` entries (root:
    the worst kept, i.e. lowest score, then latest passage); returns the new size."""
    if n < k:
        i = n
        hs[i] = s
        hd[i] = d
        while i > 0:  # sift up
            p = (i - 1) // 2
            if hs[i] < hs[p] or (hs[i] == hs[p] and hd[i] > hd[p]):
                hs[i], hs[p] = hs[p], hs[i]
                hd[i], hd[p] = hd[p], hd[i]
                i = p
            else:
                break
        return n + 1
    if s > hs[0] or (s == hs[0] and d < hd[0]):  # equal scores: the earlier passage wins
        hs[0] = s
        hd[0] = d
        _sift_down(hs, hd, n, 0)
    return n


def _py_sift_down(hs: Any, hd: Any, n: int, i: int) -> None:
    while True:
        w = 2 * i + 1
        if w >= n:
            return
        r = w + 1
        if r < n and (hs[r] < hs[w] or (hs[r] == hs[w] and hd[r] > hd[w])):
            w = r
        if hs[w] < hs[i] or (hs[w] == hs[i] and hd[w] > hd[i]):
            hs[i], hs[w] = hs[w], hs[i]
            hd[i], hd[w] = hd[w], hd[i]
            i = w
        else:
            return


def _py_heap_sort(hs: Any, hd: Any, n: int) -> None:
    """Sort the heap in place, best first (score desc, then passage asc)."""
    for end in range(n - 1, 0, -1):
        hs[0], hs[end] = hs[end], hs[0]
        hd[0], hd[end] = hd[end], hd[0]
        _sift_down(hs, hd, end, 0)


def _py_seen(terms: Any, i: int) -> bool:
    # terms[i] already occurs in terms[:i] (a plain loop: numba compiles no any() over a generator)
    for j in range(i):  # noqa: SIM110
        if terms[j] == terms[i]:
            return True
    return False


def _py_query(
    indptr: Any,
    indices: Any,
    data: Any,
    idf: Any,
    terms: Any,
    k: int,
    acc: Any,
    hs: Any,
    hd: Any,
    block: int,
) -> int:
    """Top ``k`` of one query into ``hs``/``hd`` (scores, passages; best first); returns how many.
    ``acc`` (all 0.0) is the thread's work buffer, left all 0.0; ``block`` > 0: passages per block
    of :func:`_py_blocked` (0: one pass over the whole buffer).

    Returns -1, the buffer then dirty (the caller zeroes it), for postings no built index has (a
    term or a posting range outside the arrays, a passage outside the buffer, postings out of
    order): a damaged index loaded unverified is an error, never a read or write out of bounds."""
    m = terms.shape[0]
    if m == 0 or k <= 0:
        return 0
    nd = acc.shape[0]
    for i in range(m):
        t = terms[i]
        if t < 0 or t >= indptr.shape[0] - 1 or indptr[t] < 0 or indptr[t] > indptr[t + 1]:
            return -1
        if indptr[t + 1] > indices.shape[0]:
            return -1
    n = 0
    if m == 1:  # one token: the posting list holds the scores (0.0 + w == w)
        t = terms[0]
        for p in range(indptr[t], indptr[t + 1]):
            d = indices[p]
            if d < 0 or d >= nd:
                return -1
            v = 0.0 + data[p]
            # postings ascend by passage: once the heap is full only a strictly higher score enters
            if n < k or v > hs[0]:
                n = _push(hs, hd, n, k, v, d)
        _heap_sort(hs, hd, n)
        return n
    total = 0
    positive = True
    for i in range(m):
        t = terms[i]
        total += indptr[t + 1] - indptr[t]
        if not idf[t] > 0:
            positive = False
    if positive and block > 0 and acc.shape[0] > block:
        return _blocked(indptr, indices, data, terms, k, acc, hs, hd, block, total)
    for i in range(m):  # query order, repeats included: rank_bm25's additions (from 0.0)
        t = terms[i]
        for p in range(indptr[t], indptr[t + 1]):
            d = indices[p]
            if d < 0 or d >= nd:  # (the later passes read the same postings: checked here)
                return -1
            acc[d] += data[p]
    if positive:
        # every weight > 0: a passage matches iff its score is > 0, so the buffer needs no marks;
        # each entry is read once and reset (a second visit reads 0.0, never above thr >= 0)
        thr = 0.0
        if total >= acc.shape[0] // _DENSE_DIV:  # most passages touched: one pass in corpus order
            for d in range(acc.shape[0]):
                v = acc[d]
                acc[d] = 0.0
                if v > thr:  # passages ascend: an equal score never displaces an earlier passage
                    n = _push(hs, hd, n, k, v, d)
                    if n == k:
                        thr = hs[0]
        else:
            for i in range(m):
                t = terms[i]
                if _seen(terms, i):
                    continue
                for p in range(indptr[t], indptr[t + 1]):
                    d = indices[p]
                    v = acc[d]
                    acc[d] = 0.0
                    if v > thr or (v == thr and n == k and d < hd[0]):
                        n = _push(hs, hd, n, k, v, d)
                        if n == k:
                            thr = hs[0]
    else:
        # a weight <= 0 (a word in most passages of a tiny corpus): a match may score <= 0, so the
        # matching passages are those of the postings, each taken once (marked NaN), then reset
        nan = np.nan
        for i in range(m):
            t = terms[i]
            if _seen(terms, i):
                continue
            for p in range(indptr[t], indptr[t + 1]):
                d = indices[p]
                v = acc[d]
                if v == v:
                    acc[d] = nan
                    if n < k or v > hs[0] or (v == hs[0] and d < hd[0]):
                        n = _push(hs, hd, n, k, v, d)
        for i in range(m):
            t = terms[i]
            for p in range(indptr[t], indptr[t + 1]):
                acc[indices[p]] = 0.0
    _heap_sort(hs, hd, n)
    return n


def _py_blocked(
    indptr: Any,
    indices: Any,
    data: Any,
    terms: Any,
    k: int,
    acc: Any,
    hs: Any,
    hd: Any,
    block: int,
    total: int,
) -> int:
    """:func:`_py_query` for a query of >= 2 tokens, every weight > 0, in a corpus of more than
    ``block`` passages: the passages are taken ``block`` at a time (every token's postings of the
    block added into ``acc[:block]``, in query order, then read back and reset), so the scattered
    additions stay in the core's fastest cache whatever the corpus size. Each passage still
    receives its weights in query order from 0.0: the scores are those of :func:`_py_query`."""
    m = terms.shape[0]
    n_docs = acc.shape[0]
    cur = np.empty(m, dtype=np.int64)
    ends = np.empty(m, dtype=np.int64)
    starts = np.empty(m, dtype=np.int64)
    for i in range(m):
        cur[i] = indptr[terms[i]]
        ends[i] = indptr[terms[i] + 1]
    dense = total >= n_docs // _DENSE_DIV
    n = 0
    thr = 0.0
    for base in range(0, n_docs, block):
        hi = min(base + block, n_docs)
        touched = False
        for i in range(m):  # query order, repeats included: rank_bm25's additions (from 0.0)
            p = cur[i]
            e = ends[i]
            starts[i] = p
            while p < e:
                d = indices[p]
                if d >= hi:
                    break
                if d < base:  # negative, or postings out of order: a damaged index
                    return -1
                acc[d - base] += data[p]
                p += 1
            if p > starts[i]:
                touched = True
            cur[i] = p
        if not touched:
            continue
        if dense:  # read the whole block back, in corpus order
            for j in range(hi - base):
                v = acc[j]
                acc[j] = 0.0
                if v > thr:  # passages ascend: an equal score never displaces an earlier passage
                    n = _push(hs, hd, n, k, v, base + j)
                    if n == k:
                        thr = hs[0]
        else:  # through the block's postings (a second visit reads 0.0)
            for i in range(m):
                if _seen(terms, i):
                    continue
                for p in range(starts[i], cur[i]):
                    d = indices[p]
                    v = acc[d - base]
                    acc[d - base] = 0.0
                    if v > thr or (v == thr and n == k and d < hd[0]):
                        n = _push(hs, hd, n, k, v, d)
                        if n == k:
                            thr = hs[0]
    for i in range(m):
        if cur[i] != ends[i]:  # a posting past the last passage was never added
            return -1
    _heap_sort(hs, hd, n)
    return n


def _py_many(
    indptr: Any,
    indices: Any,
    data: Any,
    idf: Any,
    q_ptr: Any,
    q_terms: Any,
    k: int,
    lo: int,
    hi: int,
    acc: Any,
    out_scores: Any,
    out_docs: Any,
    out_n: Any,
    block: int,
) -> None:
    """Queries ``lo..hi-1`` of a flattened batch (query ``q``'s terms are
    ``q_terms[q_ptr[q]:q_ptr[q + 1]]``) into rows of ``out_scores``/``out_docs`` (``(n_queries, k)``)."""
    for q in range(lo, hi):
        out_n[q] = _query(
            indptr,
            indices,
            data,
            idf,
            q_terms[q_ptr[q] : q_ptr[q + 1]],
            k,
            acc,
            out_scores[q],
            out_docs[q],
            block,
        )


if _numba is not None:
    _sift_down = _jit(_py_sift_down)
    _seen = _jit(_py_seen)
    _push = _jit(_py_push)
    _heap_sort = _jit(_py_heap_sort)
    _blocked = _jit(_py_blocked)
    _query = _jit(_py_query)
    _many = _jit(_py_many)
    AVAILABLE = True
else:
    _sift_down, _seen, _push, _heap_sort = _py_sift_down, _py_seen, _py_push, _py_heap_sort
    _blocked, _query, _many = _py_blocked, _py_query, _py_many
    AVAILABLE = False
