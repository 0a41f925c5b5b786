"""The BM25 statistics shared by the in-memory build (:class:`~swirl_env.retrieval.bm25.SparseBM25Retriever`)
and the streaming build (:func:`~swirl_env.retrieval.index_build.build_index`): vocabulary, term
counts, idf and posting weights, each with ``rank_bm25``'s floating-point operations in its order.

Example:
    >>> v = new_vocab()
    >>> doc_len, indptr, terms, tf = count_terms(["Rome is Rome", "Paris"], v)
    >>> sorted(vocab_of(v)), doc_len.tolist()
    (['paris', 'rome'], [2, 1])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from swirl_env.retrieval.tokenizer import _WORD, STOPWORDS

__all__ = [
    "N_STOP",
    "BM25Params",
    "bm25_idf",
    "bm25_weights",
    "count_terms",
    "length_norm",
    "new_vocab",
    "vocab_of",
]

#: BM25 parameters by name: ``k1``, ``b`` and ``epsilon``.
BM25Params = dict[str, float]

#: Ids ``0 .. N_STOP - 1`` of a build vocabulary are the stopwords (see :func:`new_vocab`).
N_STOP = len(STOPWORDS)


def new_vocab() -> dict[str, int]:
    """An empty build vocabulary: the stopwords take ids ``0 .. N_STOP - 1``, so that raw tokens are
    mapped with C-speed dict lookups and the stopwords dropped by one numpy mask; the other words
    then take ids in order of first appearance (``rank_bm25``'s vocabulary order, which fixes the
    order of its mean-idf summation)."""
    return {w: i for i, w in enumerate(sorted(STOPWORDS))}


def vocab_of(vocab: dict[str, int]) -> dict[str, int]:
    """The term ids of a built index from a build vocabulary (stopwords dropped, ids from 0)."""
    return {w: i - N_STOP for w, i in vocab.items() if i >= N_STOP}


def count_terms(
    texts: Sequence[str], vocab: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tokenise ``texts`` (passages' :attr:`Passage.indexed_text`, as :func:`tokenize` does) and
    count their terms: ``(doc_len, indptr, terms, tf)``, the passage lengths (stopwords excluded)
    and a passage-term CSR matrix of term frequencies (term ids without the stopword offset,
    ascending within a passage). New words are added to ``vocab`` (from :func:`new_vocab`).

    Example:
        >>> v = new_vocab()
        >>> doc_len, indptr, terms, tf = count_terms(["Rome is Rome", "Paris"], v)
        >>> doc_len.tolist(), indptr.tolist(), terms.tolist(), tf.tolist()
        ([2, 1], [0, 1, 2], [0, 1], [2, 1])
    """
    split = _WORD.findall
    flat: list[str] = []
    counts = np.empty(len(texts), dtype=np.int64)
    for j, text in enumerate(texts):
        toks = split(text.lower())
        counts[j] = len(toks)
        flat += toks
    for w in dict.fromkeys(flat):  # new words, in order of first appearance
        if w not in vocab:
            vocab[w] = len(vocab)
    ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
    del flat
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    keep = ids >= N_STOP
    ids, rows = ids[keep] - N_STOP, rows[keep]
    doc_len = np.bincount(rows, minlength=len(texts)).astype(np.int64, copy=False)
    # COO -> CSR sums the duplicate (passage, term) pairs: term frequencies.
    chunk = sp.coo_matrix(
        (np.ones(ids.shape[0], dtype=np.int32), (rows, ids)), shape=(len(texts), len(vocab) - N_STOP)
    ).tocsr()
    return doc_len, chunk.indptr.astype(np.int64), chunk.indices.astype(np.int32, copy=False), chunk.data


def bm25_idf(df: np.ndarray, n_docs: int, epsilon: float) -> tuple[np.ndarray, float]:
    """``(idf, average_idf)`` exactly as ``rank_bm25``: ``math.log`` per word, the mean by sequential
    summation in vocabulary order, a negative idf floored at ``epsilon * mean``.

    Example:
        >>> idf, mean = bm25_idf(np.array([1, 1, 3]), 4, 0.25)  # the third word is in 3 of 4 passages
        >>> [round(v, 4) for v in idf.tolist()], round(mean, 4)
        ([0.8473, 0.8473, 0.0706], 0.2824)
    """
    uniq, inverse = np.unique(df, return_inverse=True)
    idf_of = np.array([math.log(n_docs - int(f) + 0.5) - math.log(int(f) + 0.5) for f in uniq])
    idf = idf_of[inverse]
    average_idf = float(np.cumsum(idf)[-1]) / df.shape[0]
    return np.where(idf < 0, epsilon * average_idf, idf), average_idf


def length_norm(doc_len: np.ndarray, avgdl: float, params: BM25Params) -> np.ndarray:
    """``k1 * ((1 - b) + b * dl / avgdl)`` per passage, in ``rank_bm25``'s order of operations."""
    k1, b = params["k1"], params["b"]
    return k1 * ((1 - b) + b * doc_len / avgdl)


def bm25_weights(tf: np.ndarray, idf: np.ndarray, norm: np.ndarray, params: BM25Params) -> np.ndarray:
    """Posting weights ``idf * (tf * (k1 + 1)) / (tf + norm)`` (each argument per posting), with
    ``rank_bm25``'s floating-point operations in its order."""
    return idf * ((tf * (params["k1"] + 1)) / (tf + norm))
