"""The checks of a saved index on load: manifest fields, array structure, and its corpus.

:func:`_check_manifest` type-checks the manifest's header fields, :func:`_check_arrays` the
arrays' shapes, row pointers and string offsets (and with ``full``, every posting, weight and
string, in chunks of bounded memory), and :func:`_check_corpus` compares the corpus with the
record :func:`_corpus_record` wrote at save time. Each refusal is a
:class:`~swirl_env.retrieval.index.CorruptIndexError` or
:class:`~swirl_env.retrieval.index.StaleIndexError` saying how to rebuild.

Example:
    >>> import numpy as np
    >>> from pathlib import Path
    >>> _check_offsets(np.array([0, 3, 5]), 5, "ids_offsets", Path("idx"))  # fine: no error
    >>> try:
    ...     _check_offsets(np.array([0, 3, 2]), 2, "ids_offsets", Path("idx"))
    ... except CorruptIndexError as e:
    ...     print(str(e).partition(": rebuild")[0])
    index idx: ids_offsets decreases (damaged offsets)
    >>> _is_int(3), _is_int(True), _is_real(float("nan"))
    (True, False, False)
"""

from __future__ import annotations

import codecs
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from swirl_env.retrieval.bm25 import _check_params
from swirl_env.retrieval.corpus import Passage, corpus_fingerprint
from swirl_env.retrieval.index_format import _REBUILD, CorruptIndexError, StaleIndexError

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


# ---------------------------------------------------------------------------- corpus
def _corpus_record(
    corpus: str | os.PathLike[str] | Sequence[Passage] | None,
    passages: Sequence[Passage],
    passages_sha256: str | None = None,
) -> dict:
    if passages_sha256 is None:
        passages_sha256 = corpus_fingerprint(passages)
    rec: dict[str, Any] = {"passages_sha256": passages_sha256, "sha256": None, "path": None}
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
    if not isinstance(rec, dict) or not isinstance(rec.get("path", ""), str | type(None)):
        raise CorruptIndexError(
            f"index {directory}: manifest field 'corpus' is {rec!r:.80}, not a record: {_REBUILD}"
        )
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
