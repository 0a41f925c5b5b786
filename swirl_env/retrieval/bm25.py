"""BM25 retrievers: ``rank_bm25``'s BM25Okapi as the reference, and a fast scipy.sparse backend with
bit-identical scores.

Scoring (``rank_bm25.BM25Okapi``, reproduced exactly by both classes), for a query with tokens
``q_1..q_m`` (repeated tokens count once per occurrence) and a passage ``d``::

    score(d) = sum_i idf(q_i) * tf(q_i, d) * (k1 + 1) / (tf(q_i, d) + k1 * (1 - b + b * |d| / avgdl))
    idf(w)   = log(N - df(w) + 0.5) - log(df(w) + 0.5)

where ``N`` is the number of passages and ``df(w)`` the number holding ``w``; a word found in more
than half of the passages has a negative idf, which is replaced by ``epsilon * mean idf`` (mean over
the whole vocabulary). Words unknown to the corpus contribute 0.

Example:
    >>> from swirl_env.retrieval import Passage
    >>> ps = [Passage("1", "Paris", "capital of France"), Passage("2", "Rome", "capital of Italy")]
    >>> fast, ref = SparseBM25Retriever(ps), RankBM25Retriever(ps)
    >>> fast.search("capital of Italy", k=2)[0].passage.id == ref.search("capital of Italy", k=2)[0].passage.id
    True
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from swirl_env.retrieval.base import Hit, PerThreadState, Retriever
from swirl_env.retrieval.bm25_args import _as_passages, _check_k, _check_params
from swirl_env.retrieval.bm25_math import (
    N_STOP,
    BM25Params,
    bm25_idf,
    bm25_weights,
    count_terms,
    length_norm,
    new_vocab,
    vocab_of,
)
from swirl_env.retrieval.corpus import Passage
from swirl_env.retrieval.tokenizer import tokenize

logger = logging.getLogger(__name__)

__all__ = ["BM25Params", "RankBM25Retriever", "SparseBM25Retriever"]

#: Passages tokenized per chunk while building the sparse index (bounds peak memory).
_BUILD_CHUNK = 20_000


def _rank(order_ids: np.ndarray, scores: np.ndarray, passages: Sequence[Passage]) -> list[Hit]:
    return [Hit(passages[i], s, r) for r, (i, s) in enumerate(zip(order_ids.tolist(), scores.tolist()))]


def _kernels_module() -> Any:
    """:mod:`swirl_env.retrieval.kernels` when its compiled kernels are usable, else None."""
    global _KERNELS
    if _KERNELS is None:
        from swirl_env.retrieval import kernels

        _KERNELS = kernels if kernels.AVAILABLE else False
    return _KERNELS or None


_KERNELS: Any = None
_SPARE_LOCK = threading.Lock()


def _top_k(cand: np.ndarray, vals: np.ndarray, k: int, copies: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best distinct documents among candidate entries (``cand`` doc ids, ``vals`` their
    scores; one document appears at most ``copies`` times, always with the same score), sorted by
    score desc then doc id asc."""
    n = cand.shape[0]
    kk = k * copies
    if n > kk:
        # every entry above the kk-th largest value belongs to fewer than k distinct documents, so the
        # k best documents all have a score >= that value; keeping ties makes the cut exact.
        thresh = np.partition(vals, n - kk)[n - kk]
        sel = np.flatnonzero(vals >= thresh)
        cand, vals = cand[sel], vals[sel]
    order = np.lexsort((cand, -vals))
    cand, vals = cand[order], vals[order]
    if copies > 1 and cand.shape[0] > 1:
        keep = np.empty(cand.shape[0], dtype=bool)
        keep[0] = True
        np.not_equal(cand[1:], cand[:-1], out=keep[1:])
        cand, vals = cand[keep], vals[keep]
    return cand[:k], vals[:k]


class RankBM25Retriever(Retriever):
    """The reference backend: ``rank_bm25.BM25Okapi`` over :func:`tokenize`-d passages.

    Slow (every query touches every passage in Python) but it *defines* the scores the fast
    backend reproduces.

    Example:
        >>> from swirl_env.retrieval import Passage
        >>> r = RankBM25Retriever([Passage("1", "Paris", "capital of France"), Passage("2", "Rome", "Italy")])
        >>> r.search("france", k=1)[0].passage.id
        '1'
    """

    backend = "rank_bm25"

    def __init__(
        self, passages: Iterable[Passage], k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25
    ) -> None:
        from rank_bm25 import BM25Okapi

        self.params = _check_params(k1, b, epsilon)
        self.passages: Sequence[Passage] = _as_passages(passages)
        corpus = [
            tokenize(p.indexed_text)
            for p in tqdm(
                self.passages,
                desc="tokenize (rank_bm25)",
                unit="psg",
                leave=False,
                mininterval=1.0,
                disable=len(self.passages) < 20_000,
            )
        ]
        if not any(corpus):
            raise ValueError("the corpus has no indexable token (every passage is empty or stopwords only)")
        self.bm25 = BM25Okapi(
            corpus, k1=self.params["k1"], b=self.params["b"], epsilon=self.params["epsilon"]
        )

    def __len__(self) -> int:
        return len(self.passages)

    def get_scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage (``rank_bm25``'s ``get_scores``), shape ``(len(self),)``."""
        return self.bm25.get_scores(tokenize(self._check_query(query)))

    def _matching(self, tokens: list[str], scores: np.ndarray) -> np.ndarray:
        idf = self.bm25.idf
        known = [t for t in tokens if t in idf]
        if not known:
            return np.zeros(0, dtype=np.int64)
        if all(idf[t] > 0 for t in known):  # every contribution > 0: matching <=> score > 0
            return np.flatnonzero(scores > 0)
        wanted = set(known)
        return np.array(
            [i for i, freqs in enumerate(self.bm25.doc_freqs) if not wanted.isdisjoint(freqs)], dtype=np.int64
        )

    def search(self, query: str, k: int = 1) -> list[Hit]:
        k = _check_k(k)
        tokens = tokenize(self._check_query(query))
        if k == 0 or not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        idx = self._matching(tokens, scores)
        if idx.size == 0:
            return []
        s = scores[idx]
        order = np.lexsort((idx, -s))[:k]
        return _rank(idx[order], s[order], self.passages)


class SparseBM25Retriever(PerThreadState, Retriever):
    """Fast BM25: a term-document CSR matrix of precomputed BM25 weights.

    Row ``t`` of :attr:`matrix` (shape ``(n_terms, n_passages)``) holds
    ``idf(t) * tf*(k1+1) / (tf + k1*(1-b+b*dl/avgdl))`` for each passage containing ``t``, computed
    with the same floating-point operations as ``rank_bm25``. A query adds the rows of its tokens in
    query order (a repeated token is added again), exactly as ``rank_bm25.BM25Okapi.get_scores``
    does, so the scores are bit-identical; only the passages containing a query token are touched.
    Memory: about 12 bytes per (term, passage) pair plus the passages, and a work buffer of 8 bytes
    per passage for each thread that searches.

    Searches run in compiled kernels (:mod:`swirl_env.retrieval.kernels`, numba) when numba is
    installed and ``SWIRL_NO_NUMBA=1`` is not set, else in numpy; both give the same hits and
    scores. :meth:`search_batch` splits a batch between :attr:`threads` threads, each running the
    kernel once over its part. Set :attr:`use_kernels` to False on an instance to use the
    numpy path.

    Example:
        >>> from swirl_env.retrieval import Passage
        >>> r = SparseBM25Retriever([Passage("1", "Paris", "capital of France"), Passage("2", "Rome", "Italy")])
        >>> [(h.passage.id, h.rank) for h in r.search("Rome France", k=5)]
        [('1', 0), ('2', 1)]
    """

    backend = "sparse"
    #: use the compiled kernels when numba is available (False: always the numpy path)
    use_kernels: bool = True
    #: threads of one :meth:`search_batch` call with the kernels (None: the cores this process may use)
    threads: int | None = None

    def __init__(
        self,
        passages: Iterable[Passage],
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
        *,
        progress: bool = True,
    ) -> None:
        self.params = _check_params(k1, b, epsilon)
        self.passages: Sequence[Passage] = _as_passages(passages)
        self._build(progress)
        self._local = threading.local()

    # ------------------------------------------------------------------ construction
    @classmethod
    def _from_arrays(
        cls,
        *,
        passages: Sequence[Passage],
        params: dict[str, float],
        vocab: dict[str, int],
        indptr: np.ndarray,
        indices: np.ndarray,
        data: np.ndarray,
        doc_len: np.ndarray,
        idf: np.ndarray,
        avgdl: float,
        average_idf: float,
    ) -> SparseBM25Retriever:
        self = cls.__new__(cls)
        self.params = dict(params)
        self.passages = passages
        self.vocab = vocab
        self.indptr, self.indices, self.data = indptr, indices, data
        self.doc_len, self.idf = doc_len, idf
        self.avgdl, self.average_idf = float(avgdl), float(average_idf)
        self._local = threading.local()
        return self

    def _build(self, progress: bool) -> None:
        n = len(self.passages)
        vocab = new_vocab()
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        doc_len = np.empty(n, dtype=np.int64)
        bar = tqdm(
            total=n,
            desc="index (sparse BM25)",
            unit="psg",
            disable=not progress or n < 20_000,
            leave=False,
            mininterval=1.0,
        )
        for start in range(0, n, _BUILD_CHUNK):
            stop_at = min(n, start + _BUILD_CHUNK)
            texts = [self.passages[j].indexed_text for j in range(start, stop_at)]
            lens, indptr, terms, tf = count_terms(texts, vocab)
            doc_len[start:stop_at] = lens
            parts.append((indptr, terms, tf))
            bar.update(stop_at - start)
        bar.close()
        n_terms = len(vocab) - N_STOP
        if n_terms == 0:
            raise ValueError("the corpus has no indexable token (every passage is empty or stopwords only)")
        offsets = np.cumsum([0] + [p[0][-1] for p in parts])
        doc_term = sp.csr_matrix(
            (
                np.concatenate([p[2] for p in parts]),
                np.concatenate([p[1] for p in parts]),
                np.concatenate([parts[0][0][:1]] + [p[0][1:] + o for p, o in zip(parts, offsets)]),
            ),
            shape=(n, n_terms),
        )
        del parts
        term_doc = doc_term.tocsc()  # column t = postings of term t, passage ids ascending
        del doc_term
        indptr = term_doc.indptr.astype(np.int64, copy=False)
        indices = term_doc.indices.astype(np.int32, copy=False)
        idf, average_idf = bm25_idf(np.diff(indptr), n, self.params["epsilon"])
        avgdl = int(doc_len.sum()) / n
        norm = length_norm(doc_len, avgdl, self.params)
        rows_of = np.repeat(np.arange(n_terms), np.diff(indptr))
        data = bm25_weights(term_doc.data.astype(np.float64), idf[rows_of], norm[indices], self.params)

        self.vocab = vocab_of(vocab)
        self.indptr, self.indices, self.data = indptr, indices, data
        self.doc_len, self.idf = doc_len, idf
        self.avgdl, self.average_idf = avgdl, average_idf
        logger.info("sparse BM25 index: %d passages, %d terms, %d postings", n, n_terms, data.shape[0])

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return len(self.passages)

    @property
    def n_terms(self) -> int:
        return len(self.vocab)

    @property
    def matrix(self) -> sp.csr_matrix:
        """The term-document BM25 weight matrix, ``(n_terms, n_passages)`` CSR (shares memory)."""
        return sp.csr_matrix(
            (self.data, self.indices, self.indptr), shape=(self.n_terms, len(self)), copy=False
        )

    # ------------------------------------------------------------------ scoring
    def _buffer(self) -> np.ndarray:
        # this thread's work buffer (numpy path and kernels alike): all 0.0 between searches
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = np.zeros(len(self), dtype=np.float64)
        return buf

    def _take_spare(self, count: int) -> list[np.ndarray]:
        # work buffers for the extra threads of a batch, from a pool shared by the caller threads
        with _SPARE_LOCK:
            spare = self.__dict__.setdefault("_spare", [])
            got = [spare.pop() for _ in range(min(count, len(spare)))]
        return got + [_kernels_module().new_buffer(len(self)) for _ in range(count - len(got))]

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_spare", None)
        return state

    def _kernels(self) -> Any:
        return _kernels_module() if self.use_kernels else None

    def _term_ids(self, query: str) -> list[int]:
        get = self.vocab.get
        return [t for t in map(get, tokenize(self._check_query(query))) if t is not None]

    def _dense_scores(self, terms: list[int]) -> np.ndarray:
        # bincount adds the weights in array order: postings concatenated in query order (repeats
        # included) give each passage exactly rank_bm25's sequence of additions.
        indptr, indices, data = self.indptr, self.indices, self.data
        if not terms:
            return np.zeros(len(self), dtype=np.float64)
        spans = [(int(indptr[t]), int(indptr[t + 1])) for t in terms]
        return np.bincount(
            np.concatenate([indices[s:e] for s, e in spans]),
            weights=np.concatenate([data[s:e] for s, e in spans]),
            minlength=len(self),
        )

    def get_scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage, shape ``(len(self),)``, bit-identical to ``rank_bm25``'s
        ``get_scores`` for the same tokens.

        Example:
            >>> retriever.get_scores("Ed Wood").argmax()  # doctest: +SKIP
        """
        return self._dense_scores(self._term_ids(query))

    def search(self, query: str, k: int = 1) -> list[Hit]:
        """The best ``k`` passages (score desc, then corpus order), only passages sharing a token.

        Example:
            >>> retriever.search("Scorch Trials publisher", k=3)  # doctest: +SKIP
        """
        k = _check_k(k)
        terms = self._term_ids(query)
        if k == 0 or not terms:
            return []
        kernels = self._kernels()
        if kernels is None:
            cand, vals = self._top(terms, k)
        else:
            cand, vals = kernels.top_k(
                self.indptr,
                self.indices,
                self.data,
                self.idf,
                np.array(terms, dtype=np.int64),
                min(k, len(self)),
                self._buffer(),
            )
        return _rank(cand, vals, self.passages)

    def search_batch(self, queries: Sequence[str], k: int = 1) -> list[list[Hit]]:
        """:meth:`search` for each query, in order; with the kernels, the batch is tokenised, then
        searched in one kernel call per thread over :attr:`threads` contiguous parts of about equal
        postings, run at the same time.

        Example:
            >>> from swirl_env.retrieval import Passage
            >>> r = SparseBM25Retriever([Passage("1", "Paris", "France"), Passage("2", "Rome", "Italy")])
            >>> [[h.passage.id for h in hits] for hits in r.search_batch(["Italy", "France Italy", "the"], k=2)]
            [['2'], ['1', '2'], []]
        """
        if isinstance(queries, str):
            raise TypeError("search_batch expects a sequence of queries, not a single string")
        kernels = self._kernels()
        if kernels is None:
            return super().search_batch(queries, k)
        k = _check_k(k)
        queries = list(queries)
        if k == 0:
            for q in queries:
                self._check_query(q)
            return [[] for _ in queries]
        kk = min(k, len(self))
        terms = [np.array(self._term_ids(q), dtype=np.int64) for q in queries]
        bounds = kernels.split(self.indptr, terms, self.threads or kernels.thread_count())
        spare = self._take_spare(len(bounds) - 2)
        try:
            parts = kernels.top_k_parts(
                self.indptr, self.indices, self.data, self.idf, terms, kk, bounds, [self._buffer(), *spare]
            )
        finally:
            with _SPARE_LOCK:  # back to the pool (the kernels leave them all 0.0, errors included)
                self.__dict__.setdefault("_spare", []).extend(spare)
        passages = self.passages
        out: list[list[Hit]] = []
        for docs, vals, n in parts:
            out += [_rank(docs[i, :c], vals[i, :c], passages) for i, c in enumerate(n.tolist())]
        return out

    def _top(self, terms: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        indptr, indices, data = self.indptr, self.indices, self.data
        n = len(self)
        for t in set(terms):  # postings outside the passages (a damaged index loaded unverified)
            post = indices[int(indptr[t]) : int(indptr[t + 1])]
            if post.shape[0] and (int(post.min()) < 0 or int(post.max()) >= n):
                from swirl_env.retrieval.kernels import damaged_postings

                damaged_postings(self._buffer())
        if len(terms) == 1:
            s, e = int(indptr[terms[0]]), int(indptr[terms[0] + 1])
            return _top_k(np.asarray(indices[s:e]), np.asarray(data[s:e]), k, 1)
        distinct = list(dict.fromkeys(terms))
        span = {t: (int(indptr[t]), int(indptr[t + 1])) for t in distinct}
        total = sum(span[t][1] - span[t][0] for t in terms)
        if total * 8 < n:
            # few postings: accumulate in a reusable per-thread buffer, touch only those passages
            buf = self._buffer()
            cand = np.concatenate([indices[span[t][0] : span[t][1]] for t in distinct])
            try:
                for t in terms:  # query order, repeats included: rank_bm25's additions
                    s, e = span[t]
                    buf[indices[s:e]] += data[s:e]
                vals = buf[cand]
            finally:
                buf[cand] = 0.0
            return _top_k(cand, vals, k, len(distinct))
        # many postings: dense scores, then a cut at a lower bound of the k-th best score taken
        # from the passages of the rarest query terms (any passage ranked in the top k scores at
        # least that much; untouched passages score exactly 0, so a positive cut keeps only matches)
        scores = self._dense_scores(terms)
        sample: list[int] = []
        size = 0
        for t in sorted(distinct, key=lambda t: span[t][1] - span[t][0]):
            sample.append(t)
            size += span[t][1] - span[t][0]
            if size >= max(1024, 16 * k):
                break
        cand = np.concatenate([indices[span[t][0] : span[t][1]] for t in sample])
        top, vals = _top_k(cand, scores[cand], k, len(sample))
        if top.shape[0] == k and vals[-1] > 0:
            sel = np.flatnonzero(scores >= vals[-1])
            return _top_k(sel, scores[sel], k, 1)
        cand = np.concatenate([indices[span[t][0] : span[t][1]] for t in distinct])
        return _top_k(cand, scores[cand], k, len(distinct))
