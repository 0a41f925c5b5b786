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

import codecs
import contextlib
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from swirl_env.retrieval.bm25 import SparseBM25Retriever, _check_params
from swirl_env.retrieval.corpus import Passage, corpus_fingerprint
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

FORMAT = "swirl-bm25-sparse"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_REBUILD = "rebuild it: save_index(SparseBM25Retriever(load_corpus(corpus)), directory), or pass index_dir= to get_retriever"


class RetrievalIndexError(Exception):
    """A saved index cannot be used; the message says why and how to rebuild."""


class IndexNotFoundError(RetrievalIndexError, FileNotFoundError):
    """No index (no manifest) in the directory."""


class CorruptIndexError(RetrievalIndexError):
    """A file of the index is missing, truncated, or fails its checksum."""


class StaleIndexError(RetrievalIndexError):
    """The corpus changed since the index was built."""


class IncompatibleIndexError(RetrievalIndexError):
    """The index was written by another format or tokenizer version."""


# ---------------------------------------------------------------------------- string arrays
class StringArray(Sequence[str]):
    """Read-only sequence of strings stored as one UTF-8 byte array plus ``n + 1`` offsets;
    decodes an item only when it is accessed (works on memory-mapped arrays)."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self.blob, self.offsets = blob, offsets
        self._bytes = memoryview(blob) if blob.shape[0] else memoryview(b"")

    @classmethod
    def from_strings(cls, strings: Iterator[str] | Sequence[str]) -> StringArray:
        encoded = [s.encode("utf-8") for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(blob, offsets)

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = self.offsets.shape[0] - 1
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        a, b = self.offsets[i : i + 2].tolist()
        return str(self._bytes[a:b], "utf-8")

    def to_list(self) -> list[str]:
        data = self.blob.tobytes()
        o = self.offsets.tolist()
        return [data[o[i] : o[i + 1]].decode("utf-8") for i in range(len(o) - 1)]


class PassageStore(Sequence[Passage]):
    """Passages backed by three :class:`StringArray` (ids, titles, texts); built on access."""

    def __init__(self, ids: StringArray, titles: StringArray, texts: StringArray) -> None:
        if not len(ids) == len(titles) == len(texts):
            raise ValueError("ids, titles and texts differ in length")
        self.ids, self.titles, self.texts = ids, titles, texts

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return Passage(self.ids[i], self.titles[i], self.texts[i])


# ---------------------------------------------------------------------------- helpers
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _corpus_record(
    corpus: str | os.PathLike[str] | Sequence[Passage] | None, passages: Sequence[Passage]
) -> dict:
    rec: dict[str, Any] = {"passages_sha256": corpus_fingerprint(passages), "sha256": None, "path": None}
    if isinstance(corpus, (str, os.PathLike)):
        p = Path(corpus).resolve()
        st = p.stat()
        rec.update(sha256=corpus_fingerprint(p), path=str(p), size=st.st_size, mtime_ns=st.st_mtime_ns)
    return rec


def _check_corpus(
    manifest: dict, corpus: str | os.PathLike[str] | Sequence[Passage] | None, directory: Path
) -> None:
    """Raise :class:`StaleIndexError` when ``corpus`` (default: the recorded corpus file, when it still
    exists) differs from the one the index was built from. A file is compared by size and mtime
    first, then by SHA-256 of its bytes, then by the passages it holds (same passages, other layout);
    passages are compared by their content hash."""
    rec = manifest.get("corpus") or {}
    if corpus is None:
        path = rec.get("path")
        if not path or not Path(path).is_file():
            return  # nothing to compare against
        corpus = path
    if isinstance(corpus, (str, os.PathLike)):
        p = Path(corpus).resolve()
        st = p.stat()
        if (
            rec.get("path") == str(p)
            and st.st_size == rec.get("size")
            and st.st_mtime_ns == rec.get("mtime_ns")
        ):
            return
        got = corpus_fingerprint(p)
        if got == rec.get("sha256"):
            return
        from swirl_env.retrieval.corpus import load_corpus

        try:
            same = corpus_fingerprint(load_corpus(p)) == rec.get("passages_sha256")
        except ValueError:
            same = False
        if same:
            return
        raise StaleIndexError(
            f"index {directory} was built from another corpus than {p} (its content changed since, "
            f"sha256 {got[:12]}... vs {str(rec.get('sha256'))[:12]}...): {_REBUILD}"
        )
    if corpus_fingerprint(corpus) != rec.get("passages_sha256"):
        raise StaleIndexError(
            f"index {directory} was built from another corpus than the given passages: {_REBUILD}"
        )


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
    corpus_rec = _corpus_record(corpus, passages)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-index-", dir=d))
    try:
        files: dict[str, dict[str, Any]] = {}
        for name, arr in arrays.items():
            fn = f"{name}.npy"
            np.save(tmp / fn, np.ascontiguousarray(arr), allow_pickle=False)
            files[fn] = {"bytes": (tmp / fn).stat().st_size, "sha256": _sha256_file(tmp / fn)}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "tokenizer": TOKENIZER_VERSION,
            "params": dict(retriever.params),
            "n_docs": len(retriever),
            "n_terms": retriever.n_terms,
            "nnz": int(arrays["data"].shape[0]),
            "avgdl": retriever.avgdl,
            "average_idf": retriever.average_idf,
            "corpus": corpus_rec,
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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("saved sparse BM25 index (%d passages) to %s", len(retriever), d)
    return d


# ---------------------------------------------------------------------------- validation
#: The arrays of an index and their dtypes (anything else is a damaged or foreign file).
_ARRAYS: dict[str, type] = {
    "indptr": np.int64,
    "indices": np.int32,
    "data": np.float64,
    "doc_len": np.int64,
    "idf": np.float64,
    "vocab": np.uint8,
    "vocab_offsets": np.int64,
    "ids": np.uint8,
    "ids_offsets": np.int64,
    "titles": np.uint8,
    "titles_offsets": np.int64,
    "texts": np.uint8,
    "texts_offsets": np.int64,
}
#: Elements per step of the full (``verify=True``) structural scan: bounds its temporary memory.
_SCAN_CHUNK = 1 << 22


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_manifest(manifest: dict[str, Any], d: Path) -> dict[str, Any]:
    """The manifest's header fields, type-checked; :class:`CorruptIndexError` naming the first bad one."""

    def bad(field: str, why: str) -> CorruptIndexError:
        return CorruptIndexError(f"index {d}: manifest field {field!r} {why}: {_REBUILD}")

    out: dict[str, Any] = {}
    for field in ("n_docs", "n_terms", "nnz"):
        v = manifest.get(field)
        if not _is_int(v) or v < 0:
            raise bad(field, f"must be an integer >= 0, got {v!r}")
        out[field] = v
    if out["n_docs"] == 0 or out["n_terms"] == 0:
        raise bad("n_docs" if out["n_docs"] == 0 else "n_terms", "must be > 0")
    if out["n_docs"] > np.iinfo(np.int32).max + 1:
        raise bad("n_docs", f"is over the int32 passage-number range, got {out['n_docs']}")
    for field in ("avgdl", "average_idf"):
        v = manifest.get(field)
        if not _is_real(v):
            raise bad(field, f"must be a finite number, got {v!r}")
        out[field] = float(v)
    if not out["avgdl"] > 0:
        raise bad("avgdl", f"must be > 0, got {out['avgdl']!r}")
    params = manifest.get("params")
    if not isinstance(params, dict) or set(params) != {"k1", "b", "epsilon"}:
        raise bad("params", f"must be an object with k1, b and epsilon, got {params!r}"[:300])
    try:
        out["params"] = _check_params(params["k1"], params["b"], params["epsilon"])
    except (TypeError, ValueError) as e:
        raise bad("params", f"is invalid ({e})") from None
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise bad("files", f"must be an object, got {type(files).__name__}")
    for fn, info in files.items():
        if (
            not isinstance(info, dict)
            or not _is_int(info.get("bytes"))
            or not isinstance(info.get("sha256"), str)
        ):
            raise bad(
                "files", f"entry {fn!r} must hold integer 'bytes' and string 'sha256', got {info!r}"[:300]
            )
    return out


def _check_offsets(offsets: np.ndarray, total: int, what: str, d: Path) -> None:
    """``offsets`` starts at 0, never decreases and ends at ``total`` (O(len), done on every load)."""
    if offsets[0] != 0 or offsets[-1] != total:
        raise CorruptIndexError(
            f"index {d}: {what} runs from {int(offsets[0])} to {int(offsets[-1])}, expected 0 to {total}: "
            f"{_REBUILD}"
        )
    for a in range(0, offsets.shape[0] - 1, _SCAN_CHUNK):
        part = offsets[a : a + _SCAN_CHUNK + 1]
        if np.any(part[1:] < part[:-1]):
            raise CorruptIndexError(f"index {d}: {what} decreases (damaged offsets): {_REBUILD}")


def _check_utf8(blob: np.ndarray, offsets: np.ndarray, what: str, d: Path) -> None:
    """Every item of a string array decodes: the blob is valid UTF-8 and no offset cuts a character."""
    starts = offsets[:-1]
    starts = starts[starts < blob.shape[0]]
    if starts.size and np.any((blob[starts] & 0xC0) == 0x80):
        raise CorruptIndexError(f"index {d}: {what} offsets cut a UTF-8 character: {_REBUILD}")
    dec = codecs.getincrementaldecoder("utf-8")()
    try:
        for a in range(0, blob.shape[0], _SCAN_CHUNK * 4):
            dec.decode(blob[a : a + _SCAN_CHUNK * 4].tobytes())
        dec.decode(b"", final=True)
    except UnicodeDecodeError as e:
        raise CorruptIndexError(f"index {d}: {what} is not valid UTF-8 ({e.reason}): {_REBUILD}") from None


def _check_arrays(arrays: dict[str, np.ndarray], header: dict[str, Any], d: Path, *, full: bool) -> None:
    """Structural checks, so that a damaged or crafted index (even one with recomputed checksums) is
    refused instead of returning wrong passages or allocating without bound.

    Always (O(n_terms + n_docs)): shapes, CSR row pointers, string offsets, passage lengths, idf.
    With ``full`` (``verify=True``, which reads every byte for the checksums anyway): every posting's
    passage number in range and strictly increasing within its term, every weight finite and >= 0, and
    the passage strings valid UTF-8; done in chunks of bounded memory.
    """
    n_docs, n_terms, nnz = header["n_docs"], header["n_terms"], header["nnz"]
    shapes_ok = (
        arrays["indptr"].shape == (n_terms + 1,)
        and arrays["indices"].shape == (nnz,)
        and arrays["data"].shape == (nnz,)
        and arrays["doc_len"].shape == (n_docs,)
        and arrays["idf"].shape == (n_terms,)
        and arrays["vocab_offsets"].shape == (n_terms + 1,)
        and all(arrays[f"{s}_offsets"].shape == (n_docs + 1,) for s in ("ids", "titles", "texts"))
    )
    if not shapes_ok:
        raise CorruptIndexError(f"index {d}: array shapes disagree with the manifest: {_REBUILD}")
    indptr = arrays["indptr"]
    _check_offsets(indptr, nnz, "indptr (postings per term)", d)
    if np.any(np.diff(indptr) > n_docs):
        raise CorruptIndexError(f"index {d}: a term has more postings than passages: {_REBUILD}")
    for s in ("vocab", "ids", "titles", "texts"):
        _check_offsets(arrays[f"{s}_offsets"], arrays[s].shape[0], f"{s}_offsets", d)
    if np.any(arrays["doc_len"] < 0):
        raise CorruptIndexError(f"index {d}: negative passage length in doc_len.npy: {_REBUILD}")
    idf = arrays["idf"]
    if not np.all(np.isfinite(idf)):
        raise CorruptIndexError(f"index {d}: idf.npy holds a non-finite value: {_REBUILD}")
    if not full:
        return
    indices, data = arrays["indices"], arrays["data"]
    row_starts = indptr[:-1][np.diff(indptr) > 0]
    for a in range(0, nnz, _SCAN_CHUNK):
        b = min(nnz, a + _SCAN_CHUNK)
        idx = indices[a:b]
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n_docs):
            raise CorruptIndexError(
                f"index {d}: indices.npy holds a passage number outside [0, {n_docs}): {_REBUILD}"
            )
        # within a term the passage numbers increase strictly; a decrease is allowed only where a
        # new term starts
        lo = max(a - 1, 0)
        prev = indices[lo:b].astype(np.int64)
        down = np.flatnonzero(prev[1:] <= prev[:-1]) + lo + 1
        if down.size and not np.all(np.isin(down, row_starts[(row_starts >= a) & (row_starts < b)])):
            raise CorruptIndexError(
                f"index {d}: indices.npy is not sorted within a term (duplicate or reordered postings): "
                f"{_REBUILD}"
            )
        w = data[a:b]
        if not np.all(np.isfinite(w)) or (w.size and float(w.min()) < 0 <= float(idf.min())):
            raise CorruptIndexError(f"index {d}: data.npy holds a non-finite or negative weight: {_REBUILD}")
    for s in ("vocab", "ids", "titles", "texts"):
        _check_utf8(arrays[s], arrays[f"{s}_offsets"], f"{s}.npy", d)


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
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptIndexError(f"unreadable {path} ({e}): {_REBUILD}") from None
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
            # a plain ndarray view of the memmap: slicing np.memmap objects is several times slower
            arr = np.asarray(np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False))
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
