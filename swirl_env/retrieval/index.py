"""Saving and loading the sparse BM25 index.

An index directory holds plain ``.npy`` arrays (opened with ``mmap_mode="r"`` by default, so a large
index costs no load time and its pages are shared by every process on the machine) and a
``manifest.json``::

    manifest.json        format, format_version, tokenizer, params (k1, b, epsilon), n_docs, n_terms,
                         nnz, avgdl, average_idf, corpus (sha256, path, size, mtime_ns), files
                         (name -> bytes, sha256), created
    indptr.npy           int64  (n_terms + 1,)  CSR row pointers of the term-document matrix
    indices.npy          int32  (nnz,)          passage numbers of each posting
    data.npy             float64 (nnz,)         BM25 weight of each posting
    doc_len.npy          int64  (n_docs,)       tokens per passage
    idf.npy              float64 (n_terms,)     idf after the epsilon floor
    vocab.npy / vocab_offsets.npy               UTF-8 terms joined, and their offsets
    ids.npy, titles.npy, texts.npy (+ _offsets) the passages, same layout, decoded only when hit

The manifest is written last (atomically), so a directory without it is not an index. Loading
checks the format and tokenizer versions, the manifest's field types, every file's size, dtype and
(``verify=True``) SHA-256, and the structure: array shapes, row pointers and string offsets that
start at 0, never decrease and end at the array sizes; with ``verify=True`` (which reads every
byte anyway) also every posting's passage number in range and increasing within its term, every
weight finite and the strings valid UTF-8, in chunks of bounded memory. Any mismatch raises
:class:`CorruptIndexError` or :class:`IncompatibleIndexError`, never a bare KeyError/TypeError.
If the corpus the index was built from is given (or its recorded path still exists) and it changed,
:class:`StaleIndexError` is raised. All three derive from :class:`RetrievalIndexError`, and the
message says to rebuild (``get_retriever(..., index_dir=...)`` rebuilds automatically).

This module is the public home of saving and loading and of the names above; the format's names,
errors and string arrays are in :mod:`swirl_env.retrieval.index_format`, the checks on load in
:mod:`swirl_env.retrieval.index_checks`.

Example:
    >>> from swirl_env.retrieval import Passage, SparseBM25Retriever
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> r = SparseBM25Retriever([Passage("1", "Paris", "capital of France")], progress=False)
    >>> _ = save_index(r, d)
    >>> load_index(d).search("paris")[0].passage.id
    '1'
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from swirl_env._lazy import private_helpers
from swirl_env.retrieval.bm25 import SparseBM25Retriever
from swirl_env.retrieval.corpus import Passage
from swirl_env.retrieval.index_checks import _check_arrays, _check_corpus, _check_manifest, _corpus_record
from swirl_env.retrieval.index_format import (
    _ARRAYS,
    _REBUILD,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    CorruptIndexError,
    IncompatibleIndexError,
    IndexNotFoundError,
    PassageStore,
    RetrievalIndexError,
    StaleIndexError,
    StringArray,
    _sha256_file,
)
from swirl_env.retrieval.tokenizer import TOKENIZER_VERSION

logger = logging.getLogger(__name__)

__all__ = [
    "FORMAT_VERSION",
    "CorruptIndexError",
    "IncompatibleIndexError",
    "IndexNotFoundError",
    "RetrievalIndexError",
    "StaleIndexError",
    "load_index",
    "save_index",
]


# ---------------------------------------------------------------------------- save
def save_index(
    retriever: SparseBM25Retriever,
    directory: str | os.PathLike[str],
    corpus: str | os.PathLike[str] | Sequence[Passage] | None = None,
) -> Path:
    """Write ``retriever``'s index to ``directory`` (created if needed; an older index is replaced).

    Args:
        retriever: a :class:`SparseBM25Retriever` (built or loaded).
        directory: target directory.
        corpus: the corpus file the passages came from, recorded (path, size, mtime, sha256) so a
            later load can tell when it changed; default: a fingerprint of the passages themselves.

    Example:
        >>> save_index(SparseBM25Retriever(load_corpus("corpus.jsonl")), "idx", corpus="corpus.jsonl")  # doctest: +SKIP
    """
    if not isinstance(retriever, SparseBM25Retriever):
        raise TypeError(f"save_index needs a SparseBM25Retriever, got {type(retriever).__name__}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    passages = retriever.passages
    if isinstance(passages, PassageStore):
        ids, titles, texts = passages.ids, passages.titles, passages.texts
    else:
        ids = StringArray.from_strings([p.id for p in passages])
        titles = StringArray.from_strings([p.title for p in passages])
        texts = StringArray.from_strings([p.text for p in passages])
    vocab_terms = sorted(retriever.vocab, key=retriever.vocab.__getitem__)
    vocab = StringArray.from_strings(vocab_terms)
    arrays: dict[str, np.ndarray] = {
        "indptr": np.asarray(retriever.indptr, dtype=np.int64),
        "indices": np.asarray(retriever.indices, dtype=np.int32),
        "data": np.asarray(retriever.data, dtype=np.float64),
        "doc_len": np.asarray(retriever.doc_len, dtype=np.int64),
        "idf": np.asarray(retriever.idf, dtype=np.float64),
        "vocab": vocab.blob,
        "vocab_offsets": vocab.offsets,
        "ids": ids.blob,
        "ids_offsets": ids.offsets,
        "titles": titles.blob,
        "titles_offsets": titles.offsets,
        "texts": texts.blob,
        "texts_offsets": texts.offsets,
    }
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-index-", dir=d))
    try:
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        _commit(
            tmp,
            d,
            {
                "params": dict(retriever.params),
                "n_docs": len(retriever),
                "n_terms": retriever.n_terms,
                "nnz": int(arrays["data"].shape[0]),
                "avgdl": retriever.avgdl,
                "average_idf": retriever.average_idf,
                "corpus": _corpus_record(corpus, passages),
            },
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("saved sparse BM25 index (%d passages) to %s", len(retriever), d)
    return d


def _commit(tmp: Path, d: Path, header: dict[str, Any]) -> None:
    """Move the arrays written to ``tmp`` (``NAME.npy`` for each name of the format) into the index
    directory ``d`` and write the manifest (``header``: params, n_docs, n_terms, nnz, avgdl,
    average_idf, corpus; plus the files' sizes and SHA-256) last, atomically."""
    files: dict[str, dict[str, Any]] = {}
    for name in _ARRAYS:
        fn = f"{name}.npy"
        files[fn] = {"bytes": (tmp / fn).stat().st_size, "sha256": _sha256_file(tmp / fn)}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tokenizer": TOKENIZER_VERSION,
        **header,
        "files": files,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    with contextlib.suppress(FileNotFoundError):
        os.remove(d / MANIFEST)  # the directory is no valid index while files are swapped
    for fn in files:
        os.replace(tmp / fn, d / fn)
    with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    os.replace(tmp / MANIFEST, d / MANIFEST)


# ---------------------------------------------------------------------------- load
def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``manifest.json`` of an index directory.

    Raises:
        IndexNotFoundError: no manifest. CorruptIndexError: unreadable manifest.
    """
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise IndexNotFoundError(f"no BM25 index in {directory} ({MANIFEST} missing): {_REBUILD}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nesting depth
        raise CorruptIndexError(
            f"unreadable {path} ({type(e).__name__}: {str(e)[:200]}): {_REBUILD}"
        ) from None
    return manifest


def load_index(
    directory: str | os.PathLike[str],
    mmap: bool = True,
    *,
    corpus: str | os.PathLike[str] | Sequence[Passage] | None = None,
    verify: bool = True,
) -> SparseBM25Retriever:
    """Load a :class:`SparseBM25Retriever` saved by :func:`save_index`.

    Args:
        directory: the index directory.
        mmap: memory-map the arrays (read-only, shared between processes) instead of reading them.
        corpus: the corpus (path or passages) the index must match; by default the recorded corpus
            path is checked when it still exists (size and mtime first, then SHA-256).
        verify: check every file's SHA-256 (reads the whole index once); sizes, headers and shapes
            are always checked.

    Raises:
        IndexNotFoundError, CorruptIndexError, IncompatibleIndexError, StaleIndexError.

    Example:
        >>> r = load_index("indexes/hotpotqa", corpus="corpus.jsonl")  # doctest: +SKIP
    """
    d = Path(directory)
    manifest = read_manifest(d)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise IncompatibleIndexError(
            f"index {d} has format {manifest.get('format')!r} v{manifest.get('format_version')!r}, "
            f"this version reads {FORMAT!r} v{FORMAT_VERSION}: {_REBUILD}"
        )
    if manifest.get("tokenizer") != TOKENIZER_VERSION:
        raise IncompatibleIndexError(
            f"index {d} was built with tokenizer {manifest.get('tokenizer')!r}, this version uses "
            f"{TOKENIZER_VERSION!r}: {_REBUILD}"
        )
    header = _check_manifest(manifest, d)
    _check_corpus(manifest, corpus, d)
    files = manifest["files"]
    arrays: dict[str, np.ndarray] = {}
    for name, dtype in _ARRAYS.items():
        fn = f"{name}.npy"
        path = d / fn
        info = files.get(fn)
        if info is None:
            raise CorruptIndexError(f"index {d}: manifest lists no {fn}: {_REBUILD}")
        if not path.is_file():
            raise CorruptIndexError(f"index {d}: {fn} is missing: {_REBUILD}")
        size = path.stat().st_size
        if size != info["bytes"]:
            raise CorruptIndexError(
                f"index {d}: {fn} has {size} bytes, the manifest says {info['bytes']} (truncated or "
                f"overwritten): {_REBUILD}"
            )
        if verify and _sha256_file(path) != info["sha256"]:
            raise CorruptIndexError(f"index {d}: {fn} fails its SHA-256 checksum: {_REBUILD}")
        try:
            # a plain ndarray view of the memmap: slicing np.memmap objects is several times slower;
            # mapped first even when read into memory, so a header whose shape passes the file's
            # size is an error here, not an allocation of that size
            arr = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
            if not mmap:
                arr = np.array(arr)
        except (ValueError, OSError, EOFError) as e:
            raise CorruptIndexError(f"index {d}: cannot read {fn} ({e}): {_REBUILD}") from None
        if arr.dtype != dtype or arr.ndim != 1:
            raise CorruptIndexError(
                f"index {d}: {fn} holds {arr.dtype} of shape {arr.shape}, expected a 1-d {np.dtype(dtype)} "
                f"array: {_REBUILD}"
            )
        arrays[name] = arr
    _check_arrays(arrays, header, d, full=verify)
    n_docs, n_terms = header["n_docs"], header["n_terms"]
    try:
        terms = StringArray(arrays["vocab"], arrays["vocab_offsets"]).to_list()
    except UnicodeDecodeError as e:
        raise CorruptIndexError(f"index {d}: vocab.npy is not valid UTF-8 ({e}): {_REBUILD}") from None
    vocab = dict(zip(terms, range(len(terms))))
    if len(vocab) != n_terms:
        raise CorruptIndexError(f"index {d}: vocabulary has duplicate terms: {_REBUILD}")
    passages = PassageStore(
        StringArray(arrays["ids"], arrays["ids_offsets"]),
        StringArray(arrays["titles"], arrays["titles_offsets"]),
        StringArray(arrays["texts"], arrays["texts_offsets"]),
    )
    retriever = SparseBM25Retriever._from_arrays(
        passages=passages,
        params=header["params"],
        vocab=vocab,
        indptr=arrays["indptr"],
        indices=arrays["indices"],
        data=arrays["data"],
        doc_len=arrays["doc_len"],
        idf=arrays["idf"],
        avgdl=header["avgdl"],
        average_idf=header["average_idf"],
    )
    logger.info("loaded sparse BM25 index (%d passages, %d terms) from %s", n_docs, n_terms, d)
    return retriever


# the private helpers that were defined here before the split stay readable from this module
__getattr__ = private_helpers(
    __name__, ["swirl_env.retrieval.index_format", "swirl_env.retrieval.index_checks"]
)
