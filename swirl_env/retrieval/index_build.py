"""Building a saved sparse BM25 index straight from a corpus, in bounded memory.

:func:`build_index` streams the corpus (a file is read one record at a time) and writes the same
index files as ``save_index(SparseBM25Retriever(passages), directory)``, byte for byte (the
manifest differs only in its ``created`` time), without holding the passages or the postings in
memory:

1. **Count.** Chunks of passages are tokenised (:func:`~swirl_env.retrieval.bm25_math.count_terms`)
   and their passage-term frequencies appended to spool files on disk, their ids, titles and
   texts to three more; the document frequencies, passage lengths and the content hash grow as
   it goes. Duplicate ids in a corpus file are caught here (by a 64-bit hash of each id, every
   collision compared in full), before the expensive part.
2. **Invert.** The row pointers follow from the document frequencies; the spool is read back in
   blocks of passages and each block's postings are written to their term's slots of the
   memory-mapped ``indices.npy`` and ``data.npy`` (term frequencies first), so the postings of a
   term end up in corpus order.
3. **Weigh.** ``data.npy`` is turned into BM25 weights in place, in blocks of terms, with
   ``rank_bm25``'s operations in its order (:func:`~swirl_env.retrieval.bm25_math.bm25_weights`).

Memory: about 56 bytes per passage (lengths, posting counts, id hashes, string lengths, length
norms), the vocabulary, and blocks of a few million postings; the arrays themselves live in files
(the page cache holds what it can, and gives it back under pressure). Disk: the index plus a spool
of 8 bytes per posting and the passages' bytes, removed at the end.

Example:
    >>> import tempfile
    >>> from swirl_env.retrieval import Passage, load_index
    >>> d = tempfile.mkdtemp()
    >>> _ = build_index([Passage("1", "Paris", "capital of France"), Passage("2", "Rome", "Italy")], d)
    >>> load_index(d).search("rome")[0].passage.id
    '2'
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from tqdm.auto import tqdm

from swirl_env.retrieval.bm25_args import _check_params
from swirl_env.retrieval.bm25_math import N_STOP, bm25_idf, bm25_weights, count_terms, length_norm, new_vocab
from swirl_env.retrieval.corpus import PASSAGES_HASH_PREFIX, Passage, hash_passage, iter_corpus
from swirl_env.retrieval.index import _commit
from swirl_env.retrieval.index_checks import _corpus_record
from swirl_env.retrieval.index_format import StringArray

logger = logging.getLogger(__name__)

__all__ = ["build_index"]

#: Passages tokenised per chunk in the counting pass.
CHUNK_PASSAGES = 20_000
#: Postings per block of the inverting and weighing passes.
BLOCK_POSTINGS = 8_000_000
_STRINGS = ("ids", "titles", "texts")


def build_index(
    corpus: str | os.PathLike[str] | Iterable[Passage],
    directory: str | os.PathLike[str],
    *,
    k1: float = 1.5,
    b: float = 0.75,
    epsilon: float = 0.25,
    progress: bool = True,
) -> Path:
    """Build the sparse BM25 index of ``corpus`` into ``directory`` in bounded memory (an older
    index there is replaced); load it with :func:`~swirl_env.retrieval.index.load_index`.

    Args:
        corpus: a corpus file (JSONL, JSONL.gz or JSON list, read one record at a time; ids must be
            unique) or an iterable of :class:`Passage` (consumed once).
        directory: the index directory (created if needed).
        k1, b, epsilon: BM25 parameters.
        progress: show progress bars.

    Returns:
        ``directory`` as a :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: no such corpus file.
        ValueError: a malformed record, a duplicate id in a corpus file, an empty corpus, or one
            without any indexable token.

    Example:
        >>> build_index("wiki-18.jsonl", "indexes/wiki")  # doctest: +SKIP
    """
    params = _check_params(k1, b, epsilon)
    if isinstance(corpus, bytes):
        raise TypeError("corpus must be a path or an iterable of Passage, not bytes")
    is_file = isinstance(corpus, (str, os.PathLike))
    stream: Iterator[Passage]
    if is_file:
        stream = (p for p, _ in iter_corpus(corpus))  # type: ignore[arg-type]
    else:
        stream = iter(corpus)  # type: ignore[arg-type]
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-build-", dir=d))
    try:
        header, passages_sha = _build_into(tmp, stream, params, check_ids=is_file, progress=progress)
        header["corpus"] = _corpus_record(corpus if is_file else None, (), passages_sha256=passages_sha)
        _commit(tmp, d, header)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("built sparse BM25 index (%d passages) in %s", header["n_docs"], d)
    return d


def _build_into(
    tmp: Path, stream: Iterator[Passage], params: dict[str, float], *, check_ids: bool, progress: bool
) -> tuple[dict[str, Any], str]:
    """The three passes into ``tmp``; returns the manifest header (without ``corpus``) and the
    passages' content hash."""
    vocab = new_vocab()
    stack = contextlib.ExitStack()
    names = ("terms", "tf", *_STRINGS)
    spools = {n: stack.enter_context(open(tmp / f"{n}.spool", "wb")) for n in names}  # noqa: SIM115
    doc_len: list[np.ndarray] = []
    doc_nnz: list[np.ndarray] = []
    id_hash: list[np.ndarray] = []
    str_len: dict[str, list[np.ndarray]] = {name: [] for name in _STRINGS}
    df = np.zeros(0, dtype=np.int64)
    digest = hashlib.sha256(PASSAGES_HASH_PREFIX)
    bar = tqdm(desc="index: count", unit="psg", disable=not progress, leave=False, mininterval=1.0)
    try:
        while chunk := list(islice(stream, CHUNK_PASSAGES)):
            for p in chunk:
                if not isinstance(p, Passage):
                    raise TypeError(f"expected Passage objects, got {type(p).__name__}")
                hash_passage(digest, p)
            for name, field in zip(_STRINGS, ("id", "title", "text")):
                encoded = [getattr(p, field).encode("utf-8") for p in chunk]
                str_len[name].append(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
                spools[name].write(b"".join(encoded))
            if check_ids:
                id_hash.append(_id_hash([p.id for p in chunk]))
            lens, indptr, terms, tf = count_terms([p.indexed_text for p in chunk], vocab)
            doc_len.append(lens)
            doc_nnz.append(np.diff(indptr))
            terms.tofile(spools["terms"])
            tf.astype(np.int32, copy=False).tofile(spools["tf"])
            grown = np.zeros(len(vocab) - N_STOP, dtype=np.int64)
            grown[: df.shape[0]] = df
            df = grown + np.bincount(terms, minlength=grown.shape[0])
            bar.update(len(chunk))
    finally:
        bar.close()
        stack.close()
    n = sum(x.shape[0] for x in doc_len)
    if n == 0:
        raise ValueError("cannot index an empty corpus")
    n_terms = df.shape[0]
    if n_terms == 0:
        raise ValueError("the corpus has no indexable token (every passage is empty or stopwords only)")
    if check_ids:
        _check_unique_ids(np.concatenate(id_hash), tmp / "ids.spool", np.concatenate(str_len["ids"]))
    del id_hash
    lengths = np.concatenate(doc_len)
    del doc_len
    avgdl = int(lengths.sum()) / n
    idf, average_idf = bm25_idf(df, n, params["epsilon"])
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    nnz = int(indptr[-1])

    indices = np.lib.format.open_memmap(tmp / "indices.npy", mode="w+", dtype=np.int32, shape=(nnz,))
    data = np.lib.format.open_memmap(tmp / "data.npy", mode="w+", dtype=np.float64, shape=(nnz,))
    _invert(tmp, np.concatenate(doc_nnz), indptr, indices, data, progress)
    del doc_nnz
    norm = length_norm(lengths, avgdl, params)
    _weigh(indptr, indices, data, idf, norm, params, progress)
    indices.flush()
    data.flush()
    del indices, data, norm
    for name in ("terms", "tf"):
        os.remove(tmp / f"{name}.spool")

    np.save(tmp / "indptr.npy", indptr, allow_pickle=False)
    np.save(tmp / "doc_len.npy", lengths, allow_pickle=False)
    np.save(tmp / "idf.npy", idf, allow_pickle=False)
    terms = StringArray.from_strings(list(vocab)[N_STOP:])  # insertion order = term id order
    np.save(tmp / "vocab.npy", terms.blob, allow_pickle=False)
    np.save(tmp / "vocab_offsets.npy", terms.offsets, allow_pickle=False)
    for name in _STRINGS:
        _spool_to_npy(tmp / f"{name}.spool", tmp / f"{name}.npy")
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.concatenate(str_len[name]), out=offsets[1:])
        np.save(tmp / f"{name}_offsets.npy", offsets, allow_pickle=False)
    header = {
        "params": dict(params),
        "n_docs": n,
        "n_terms": n_terms,
        "nnz": nnz,
        "avgdl": avgdl,
        "average_idf": average_idf,
    }
    return header, digest.hexdigest()


def _id_hash(ids: list[str]) -> np.ndarray:
    """64-bit hashes of ids (equal ids, equal hashes; within this process)."""
    return np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids))


def _check_unique_ids(hashes: np.ndarray, ids_spool: Path, id_len: np.ndarray) -> None:
    """Raise ``ValueError`` naming the first repeated id (ids compared in full where hashes meet)."""
    order = np.argsort(hashes, kind="stable")
    sorted_h = hashes[order]
    meet = np.flatnonzero(sorted_h[1:] == sorted_h[:-1])
    if meet.shape[0] == 0:
        return
    offsets = np.zeros(id_len.shape[0] + 1, dtype=np.int64)
    np.cumsum(id_len, out=offsets[1:])
    with open(ids_spool, "rb") as f:

        def read(i: int) -> bytes:
            f.seek(int(offsets[i]))
            return f.read(int(id_len[i]))

        repeats = sorted(
            (max(a, c), min(a, c))
            for a, c in ((int(order[j]), int(order[j + 1])) for j in meet.tolist())
            if read(a) == read(c)
        )
        if repeats:
            later, first = repeats[0]
            raise ValueError(
                f"duplicate passage id {read(later).decode('utf-8')!r} (passages {first} and {later}, "
                "counted from 0)"
            )


def _invert(
    tmp: Path, doc_nnz: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, progress: bool
) -> None:
    """Write the spooled passage-term frequencies into term order: passage numbers into ``indices``,
    frequencies (as float64) into ``data``; within a term the passages stay in corpus order."""
    n = doc_nnz.shape[0]
    nnz = int(indptr[-1])
    doc_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(doc_nnz, out=doc_ptr[1:])
    terms_in = np.memmap(tmp / "terms.spool", dtype=np.int32, mode="r", shape=(nnz,))
    tf_in = np.memmap(tmp / "tf.spool", dtype=np.int32, mode="r", shape=(nnz,))
    cursor = indptr[:-1].copy()  # next free slot of each term
    bar = _postings_bar(nnz, "index: invert", progress)
    for d0, d1 in _blocks(doc_ptr):
        s, e = int(doc_ptr[d0]), int(doc_ptr[d1])
        if s == e:  # passages without postings (stopwords only)
            continue
        terms = np.asarray(terms_in[s:e])
        order = np.argsort(terms, kind="stable")  # by term, passages in corpus order within a term
        ts = terms[order]
        first = np.flatnonzero(np.concatenate(([True], ts[1:] != ts[:-1])))
        counts = np.diff(np.append(first, ts.shape[0]))
        uniq = ts[first]
        pos = np.repeat(cursor[uniq] - first, counts) + np.arange(ts.shape[0], dtype=np.int64)
        cursor[uniq] += counts
        docs = np.repeat(np.arange(d0, d1, dtype=np.int32), doc_nnz[d0:d1])
        indices[pos] = docs[order]
        data[pos] = np.asarray(tf_in[s:e])[order]
        bar.update(e - s)
    bar.close()
    del terms_in, tf_in


def _weigh(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    idf: np.ndarray,
    norm: np.ndarray,
    params: dict[str, float],
    progress: bool,
) -> None:
    """Turn the term frequencies in ``data`` into BM25 weights, in place, in blocks of whole terms."""
    df = np.diff(indptr)
    bar = _postings_bar(int(indptr[-1]), "index: weigh", progress)
    for t0, t1 in _blocks(indptr):
        s, e = int(indptr[t0]), int(indptr[t1])
        rows = np.repeat(np.arange(t0, t1), df[t0:t1])
        data[s:e] = bm25_weights(np.asarray(data[s:e]), idf[rows], norm[np.asarray(indices[s:e])], params)
        bar.update(e - s)
    bar.close()


def _blocks(ptr: np.ndarray) -> Iterator[tuple[int, int]]:
    """The rows of a row pointer array in consecutive ranges ``[lo, hi)`` of whole rows, each of
    at most ``BLOCK_POSTINGS`` postings unless a single row holds more."""
    n = ptr.shape[0] - 1
    lo = 0
    while lo < n:
        hi = int(np.searchsorted(ptr, ptr[lo] + BLOCK_POSTINGS, side="right")) - 1
        hi = min(n, max(hi, lo + 1))
        yield lo, hi
        lo = hi


def _postings_bar(total: int, desc: str, progress: bool) -> Any:
    """A progress bar over ``total`` postings (shown only with ``progress``)."""
    return tqdm(
        total=total,
        desc=desc,
        unit="posting",
        unit_scale=True,
        disable=not progress,
        leave=False,
        mininterval=1.0,
    )


def _spool_to_npy(spool: Path, target: Path, block: int = 1 << 26) -> None:
    """A raw byte spool as a 1-d ``uint8`` ``.npy`` (the header ``np.save`` writes), then removed."""
    size = spool.stat().st_size
    if size == 0:
        np.save(target, np.zeros(0, dtype=np.uint8), allow_pickle=False)
    else:
        out = np.lib.format.open_memmap(target, mode="w+", dtype=np.uint8, shape=(size,))
        with open(spool, "rb") as f:
            _copy_into(f, out, block)
        out.flush()
        del out
    os.remove(spool)


def _copy_into(f: BinaryIO, out: np.ndarray, block: int) -> None:
    pos = 0
    while chunk := f.read(block):
        out[pos : pos + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        pos += len(chunk)
