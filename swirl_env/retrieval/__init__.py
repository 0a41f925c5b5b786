"""Passage retrieval for the search environments: BM25 over a local corpus, or a remote server.

* :class:`RankBM25Retriever`: the reference, ``rank_bm25.BM25Okapi``;
* :class:`SparseBM25Retriever`: the fast backend (numba kernels over a CSR index), bit-identical scores;
* :class:`HTTPRetriever`: a Search-R1-style ``/retrieve`` server (``python -m swirl_env.retrieval.server``);
* :func:`get_retriever`: one shared instance per process, optional on-disk index (:func:`build_index`
  streams a corpus of any size into one, :func:`save_index` writes a built retriever's,
  :func:`load_index` memory-maps it).

Every backend ranks by score (highest first), then corpus order, and returns only passages sharing
a token with the query (so possibly fewer than ``k`` hits, ``[]`` for an empty query). See
docs/retrieval.md.

Example:
    >>> from swirl_env.retrieval import Passage, get_retriever
    >>> r = get_retriever([Passage("1", "Paris", "capital of France"), Passage("2", "Rome", "capital of Italy"),
    ...                    Passage("3", "Oslo", "capital of Norway")])
    >>> [(h.passage.title, h.rank) for h in r.search("capital of Italy", k=2)]
    [('Rome', 0), ('Paris', 1)]
"""

from swirl_env.retrieval.base import Hit, Retriever
from swirl_env.retrieval.bm25 import RankBM25Retriever, SparseBM25Retriever
from swirl_env.retrieval.corpus import Passage, corpus_fingerprint, load_corpus, save_corpus
from swirl_env.retrieval.factory import BACKENDS, clear_retriever_cache, get_retriever
from swirl_env.retrieval.index import (
    CorruptIndexError,
    IncompatibleIndexError,
    IndexNotFoundError,
    RetrievalIndexError,
    StaleIndexError,
    load_index,
    save_index,
)
from swirl_env.retrieval.index_build import build_index
from swirl_env.retrieval.remote import HTTPRetriever, RetrievalHTTPError
from swirl_env.retrieval.tokenizer import STOPWORDS, TOKENIZER_VERSION, tokenize

__all__ = [
    "BACKENDS",
    "STOPWORDS",
    "TOKENIZER_VERSION",
    "CorruptIndexError",
    "HTTPRetriever",
    "Hit",
    "IncompatibleIndexError",
    "IndexNotFoundError",
    "Passage",
    "RankBM25Retriever",
    "RetrievalHTTPError",
    "RetrievalIndexError",
    "Retriever",
    "SparseBM25Retriever",
    "StaleIndexError",
    "build_index",
    "clear_retriever_cache",
    "corpus_fingerprint",
    "get_retriever",
    "load_corpus",
    "load_index",
    "save_corpus",
    "save_index",
    "tokenize",
]
