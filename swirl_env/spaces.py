"""Unicode-safe text space for observations and actions.

Gymnasium's :class:`gymnasium.spaces.Text` only contains strings over a fixed, small charset
(alphanumerics by default), so it rejects most real questions ("Janet’s ducks", "Beyoncé").
:class:`UnicodeText` contains *every* Python string whose length is within bounds, samples from
a readable charset, and plugs into Gymnasium's vector-env shared memory by storing code points.

Example:
    >>> space = UnicodeText(max_length=100)
    >>> space.contains("Beyoncé’s 2nd album → 2003")
    True
    >>> space.contains(b"bytes")
    False
"""

from __future__ import annotations

import multiprocessing as mp
import string
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium.spaces import Text
from gymnasium.vector.utils import shared_memory as _shm

SAMPLE_CHARSET = string.ascii_letters + string.digits + " .,;:!?'\"()+-*/=<>_" + "éüßñ→€’λ中"


class UnicodeText(Text):
    """A :class:`~gymnasium.spaces.Text` space containing every ``str`` of bounded length.

    Args:
        max_length: the longest string in the space.
        min_length: the shortest string in the space.
        sample_charset: characters used by :meth:`sample` (membership is not limited to them).
        seed: seed of the space's random generator.
    """

    def __init__(
        self,
        max_length: int,
        *,
        min_length: int = 0,
        sample_charset: str = SAMPLE_CHARSET,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(max_length=max_length, min_length=min_length, charset=sample_charset, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash(("UnicodeText", self.min_length, self.max_length))


# ---------------------------------------------------------------- vector-env shared memory
# Async vector envs copy observations through shared memory. Text's implementation indexes into
# the charset; ours stores Unicode code points (int32), padded with -1.


@_shm.create_shared_memory.register(UnicodeText)
def _create(space: UnicodeText, n: int = 1, ctx: ModuleType = mp) -> Any:
    return ctx.Array(np.dtype(np.int32).char, n * space.max_length)


class SharedTextBatch(Sequence[str]):
    """A live, read-only view of the strings in a vector env's shared memory.

    Async vector envs read the shared buffer once and hand the same object out after every step
    (as they do with Box arrays), so the view decodes on access. ``copy.deepcopy`` (what the vector
    env does with ``copy=True``) returns a plain tuple of strings.
    """

    def __init__(self, data: np.ndarray) -> None:
        self._data = data

    def __len__(self) -> int:
        return self._data.shape[0]

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        row = self._data[i]
        return "".join(map(chr, row[row >= 0].tolist()))

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        return f"SharedTextBatch({tuple(self)!r})"


@_shm.read_from_shared_memory.register(UnicodeText)
def _read(space: UnicodeText, shared_memory: Any, n: int = 1) -> SharedTextBatch:
    data = np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape((n, space.max_length))
    return SharedTextBatch(data)


@_shm.write_to_shared_memory.register(UnicodeText)
def _write(space: UnicodeText, index: int, values: str, shared_memory: Any) -> None:
    size = space.max_length
    dest = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)
    codes = np.full(size, -1, dtype=np.int32)
    if values:
        # surrogates and all other code points fit in int32
        encoded = np.frombuffer(values.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        codes[: len(encoded)] = encoded.astype(np.int32)
    np.copyto(dest[index * size : (index + 1) * size], codes)
