"""One call to get a retriever, shared by everything in the process.

:func:`get_retriever` keeps a process-level cache: every environment copy (and the search tool of
each) asking for the same corpus, backend and parameters gets the same object, so the corpus is
read and indexed once per process. With ``index_dir`` the sparse index is loaded from disk
(memory-mapped: the pages are shared by all processes of the machine) and rebuilt when missing,
stale, corrupt or built with other parameters; a file lock makes concurrent processes build it once.

Example:
    >>> r = get_retriever("corpus.jsonl", backend="sparse", index_dir="indexes/corpus")  # doctest: +SKIP
    >>> r is get_retriever("corpus.jsonl", backend="sparse", index_dir="indexes/corpus")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from swirl_env.retrieval.base import Retriever
from swirl_env.retrieval.bm25 import RankBM25Retriever, SparseBM25Retriever
from swirl_env.retrieval.corpus import Passage, corpus_fingerprint, load_corpus
from swirl_env.retrieval.index import RetrievalIndexError, load_index
from swirl_env.retrieval.index_build import build_index
from swirl_env.retrieval.remote import HTTPRetriever

logger = logging.getLogger(__name__)

__all__ = ["BACKENDS", "clear_retriever_cache", "get_retriever"]

BACKENDS = ("sparse", "rank_bm25", "http")

_CACHE: dict[tuple, Retriever] = {}
_CACHE_LOCK = threading.Lock()
_KEY_LOCKS: dict[tuple, threading.Lock] = {}


def clear_retriever_cache() -> None:
    """Forget every cached retriever (the next :func:`get_retriever` call rebuilds or reloads)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _KEY_LOCKS.clear()


def _freeze(params: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock
        yield
        return
    with open(directory / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _sparse_with_index(
    corpus: str | os.PathLike[str] | Sequence[Passage], index_dir: Path, params: dict[str, Any]
) -> SparseBM25Retriever:
    with _dir_lock(index_dir):
        try:
            r = load_index(index_dir, corpus=corpus)
            wanted = {k: float(params.get(k, d)) for k, d in (("k1", 1.5), ("b", 0.75), ("epsilon", 0.25))}
            if r.params == wanted:
                return r
            logger.warning(
                "index %s was built with %s, %s requested: rebuilding", index_dir, r.params, wanted
            )
        except RetrievalIndexError as e:
            logger.warning("%s -- building the index", e)
        # streamed from the file into the index files, in bounded memory (a corpus of any size)
        build_index(corpus, index_dir, **params)
        # serve from the saved files: memory-mapped, shared with other processes
        return load_index(index_dir, corpus=corpus, verify=False)


def get_retriever(
    corpus: str | os.PathLike[str] | Sequence[Passage],
    backend: str = "sparse",
    index_dir: str | os.PathLike[str] | None = None,
    *,
    cache: bool = True,
    **params: Any,
) -> Retriever:
    """A retriever over ``corpus``, cached per process.

    Args:
        corpus: a corpus file (see :func:`load_corpus`), a sequence of :class:`Passage`, or, for the
            ``http`` backend, the server URL (a URL selects the ``http`` backend by itself).
        backend: ``"sparse"`` (fast, default), ``"rank_bm25"`` (reference) or ``"http"``.
        index_dir: sparse backend only: load the saved index from this directory if it is valid for
            this corpus and parameters, else build it and save it there.
        cache: reuse (and remember) the retriever built for the same corpus (path + size + mtime, or
            the passages' content hash), backend, index directory and parameters.
        **params: backend parameters: ``k1``, ``b``, ``epsilon`` (BM25); ``k``, ``timeout``,
            ``retries``, ... (http, see :class:`HTTPRetriever`).

    Raises:
        ValueError: unknown backend, or ``index_dir`` with another backend than ``sparse``.
        FileNotFoundError: the corpus file does not exist.

    Example:
        >>> from swirl_env.retrieval import Passage
        >>> r = get_retriever([Passage("1", "Paris", "capital of France")])
        >>> r is get_retriever([Passage("1", "Paris", "capital of France")])
        True
    """
    if isinstance(corpus, str) and corpus.startswith(("http://", "https://")):
        if backend not in ("http", "sparse"):
            raise ValueError(f"corpus {corpus!r} is a URL: use backend='http', not {backend!r}")
        backend = "http"
    if backend not in BACKENDS:
        raise ValueError(f"unknown retrieval backend {backend!r}; choose one of {BACKENDS}")
    if index_dir is not None and backend != "sparse":
        raise ValueError(f"index_dir is only used by the 'sparse' backend, not {backend!r}")

    if backend == "http":
        if not isinstance(corpus, str):
            raise TypeError("the http backend needs the server URL as corpus")
        key: tuple = ("http", corpus, _freeze(params))
    elif isinstance(corpus, (str, os.PathLike)):
        path = Path(corpus).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"corpus file not found: {corpus}")
        st = path.stat()
        key = (backend, "file", str(path), st.st_size, st.st_mtime_ns, _freeze(params))
        corpus = path
    else:
        if isinstance(corpus, (bytes, bytearray)) or not isinstance(corpus, Sequence):
            raise TypeError(
                f"corpus must be a path, a URL or a sequence of Passage, got {type(corpus).__name__}"
            )
        key = (backend, "passages", corpus_fingerprint(corpus), _freeze(params))
    if index_dir is not None:
        index_dir = Path(index_dir).resolve()
        key += (str(index_dir),)

    if cache:
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                return hit
            key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    else:
        key_lock = threading.Lock()
    with key_lock:  # one build per key even when threads race
        if cache and key in _CACHE:
            return _CACHE[key]
        retriever = _build(corpus, backend, index_dir, params)
        if cache:
            with _CACHE_LOCK:
                # a changed file gets a new key: drop the entries of its older versions
                if key[1] == "file":
                    for old in [k for k in _CACHE if k[:3] == key[:3] and k != key]:
                        del _CACHE[old]
                _CACHE[key] = retriever
    return retriever


def _build(
    corpus: str | Path | Sequence[Passage], backend: str, index_dir: Path | None, params: dict[str, Any]
) -> Retriever:
    if backend == "http":
        return HTTPRetriever(str(corpus), **params)
    if backend == "sparse" and index_dir is not None:
        return _sparse_with_index(corpus, index_dir, params)
    passages = load_corpus(corpus) if isinstance(corpus, (str, os.PathLike)) else corpus
    cls = SparseBM25Retriever if backend == "sparse" else RankBM25Retriever
    return cls(passages, **params)
