"""The on-disk format of a saved sparse BM25 index: its names, errors and string arrays.

An index directory holds the ``.npy`` arrays of :data:`_ARRAYS` (their dtypes are part of the
format) and ``manifest.json`` (:data:`MANIFEST`); strings are stored as one UTF-8 byte array plus
offsets (:class:`StringArray`), decoded only when read, and passages as three of them
(:class:`PassageStore`). :mod:`swirl_env.retrieval.index` documents the layout and is the public
home of these names.

Example:
    >>> names = StringArray.from_strings(["Paris", "Zürich"])
    >>> names[1], names.offsets.tolist(), len(names)
    ('Zürich', [0, 5, 12], 2)
    >>> store = PassageStore(names, names, StringArray.from_strings(["a", "b"]))
    >>> store[0].text, issubclass(CorruptIndexError, RetrievalIndexError)
    ('a', True)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from swirl_env.retrieval.corpus import Passage

__all__ = [
    "FORMAT_VERSION",
    "CorruptIndexError",
    "IncompatibleIndexError",
    "IndexNotFoundError",
    "PassageStore",
    "RetrievalIndexError",
    "StaleIndexError",
    "StringArray",
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
