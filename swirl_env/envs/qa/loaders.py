"""Loading a QA dataset by name: the dispatch to the four readers and the per-process cache.

:func:`load_qa_dataset` is the one entry point the environments use: it resolves the bundled
sample or a user file (:func:`~swirl_env.envs.qa.common.resolve_path`), reads it with the
dataset's reader (:data:`READERS`), and caches the parsed dataset per process (keyed by the
file's path, size and modification time), so every environment copy shares one copy of the
tasks and passages. ``load_<name>`` / ``<name>_corpus`` are its per-dataset shortcuts.

This module imports the readers; they import only :mod:`swirl_env.envs.qa.common`, never this
module, so the imports have no circle.

Example:
    >>> ds = load_qa_dataset("hotpotqa", "dev")
    >>> ds.tasks[0].dataset, len(ds.passages) > len(ds.tasks)
    ('hotpotqa', True)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from swirl_env.envs.qa.beerqa import read_beerqa
from swirl_env.envs.qa.cofca import read_cofca
from swirl_env.envs.qa.common import QADataset, resolve_path
from swirl_env.envs.qa.hotpotqa import read_hotpotqa
from swirl_env.envs.qa.musique import read_musique
from swirl_env.retrieval.corpus import Passage
from swirl_env.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = [
    "READERS",
    "beerqa_corpus",
    "clear_dataset_cache",
    "cofca_corpus",
    "hotpotqa_corpus",
    "load_beerqa",
    "load_cofca",
    "load_hotpotqa",
    "load_musique",
    "load_qa_dataset",
    "musique_corpus",
]

Reader = Callable[..., QADataset]

#: dataset name -> reader ``(path, *, split, **options) -> QADataset``
READERS: dict[str, Reader] = {
    "hotpotqa": read_hotpotqa,
    "musique": read_musique,
    "beerqa": read_beerqa,
    "cofca": read_cofca,
}

_CACHE: dict[tuple, QADataset] = {}
_LOCK = threading.Lock()


def clear_dataset_cache() -> None:
    """Forget every parsed dataset (the next :func:`load_qa_dataset` re-reads its file)."""
    with _LOCK:
        _CACHE.clear()


def load_qa_dataset(
    dataset: str,
    split: str = "dev",
    path: str | os.PathLike[str] | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache: bool = True,
    **options: Any,
) -> QADataset:
    """Load a QA dataset file (official format) with its split corpus, cached per process.

    Args:
        dataset: ``"hotpotqa"``, ``"musique"``, ``"beerqa"`` or ``"cofca"``.
        split: split name; selects the bundled sample or official file name, and labels the tasks.
        path: a dataset file; default: see :func:`~swirl_env.envs.qa.common.resolve_path`.
        data_dir: directory holding the official files (default ``$SWIRL_DATA_DIR``).
        cache: reuse the parse of the same file (path, size, mtime) and options.
        **options: passed to the dataset's reader (e.g. ``levels=("medium", "hard")`` for HotPotQA,
            ``include_context=True`` to keep every paragraph in the task metadata).

    Example:
        >>> ds = load_qa_dataset("musique", "dev")
        >>> ds.tasks[0].metadata["hops"]
        2
    """
    p = resolve_path(dataset, split, path, data_dir).resolve()
    st = p.stat()
    key = (
        dataset,
        split,
        str(p),
        st.st_size,
        st.st_mtime_ns,
        tuple(sorted((k, repr(v)) for k, v in options.items())),
    )
    if cache:
        with _LOCK:
            hit = _CACHE.get(key)
        if hit is not None:
            return hit
    ds = READERS[dataset](p, split=split, **options)
    if ds.fixture:
        logger.warning("%s: this is a hand-written FORMAT FIXTURE, not real %s data", p, dataset)
    logger.info(
        "loaded %s/%s from %s: %d questions, %d passages%s",
        dataset,
        split,
        p,
        len(ds.tasks),
        len(ds.passages),
        f", skipped {dict(ds.skipped)}" if ds.skipped else "",
    )
    if cache:
        with _LOCK:
            _CACHE[key] = ds
    return ds


# ---------------------------------------------------------------------------------------- per dataset
def load_hotpotqa(
    path: str | os.PathLike[str] | None = None, split: str = "dev", **options: Any
) -> list[Task]:
    """HotPotQA tasks of a file (default: the bundled sample of ``split``).

    Example:
        >>> len(load_hotpotqa(split="train", levels=("medium", "hard")))
        84
    """
    return list(load_qa_dataset("hotpotqa", split, path, **options).tasks)


def hotpotqa_corpus(path: str | os.PathLike[str] | None = None, split: str = "dev") -> list[Passage]:
    """All paragraphs of a HotPotQA file, deduplicated by ``(title, text)``.

    Example:
        >>> len(hotpotqa_corpus(split="dev")) > 900
        True
    """
    return list(load_qa_dataset("hotpotqa", split, path).passages)


def load_musique(
    path: str | os.PathLike[str] | None = None, split: str = "dev", **options: Any
) -> list[Task]:
    """MuSiQue tasks of a file (default: the bundled sample of ``split``).

    Example:
        >>> len(load_musique(split="dev"))
        100
    """
    return list(load_qa_dataset("musique", split, path, **options).tasks)


def musique_corpus(path: str | os.PathLike[str] | None = None, split: str = "dev") -> list[Passage]:
    """All paragraphs of a MuSiQue file, deduplicated by ``(title, text)``.

    Example:
        >>> len(musique_corpus(split="dev")) > 1000
        True
    """
    return list(load_qa_dataset("musique", split, path).passages)


def load_beerqa(path: str | os.PathLike[str] | None = None, split: str = "dev", **options: Any) -> list[Task]:
    """BeerQA tasks of a file (``path``, or the official file under ``$SWIRL_DATA_DIR/beerqa/``).

    Example:
        >>> tasks = load_beerqa("beerqa_dev_v1.0.json")  # doctest: +SKIP
    """
    return list(load_qa_dataset("beerqa", split, path, **options).tasks)


def beerqa_corpus(path: str | os.PathLike[str] | None = None, split: str = "dev") -> list[Passage]:
    """All context paragraphs of a BeerQA file, deduplicated by ``(title, text)``.

    Example:
        >>> passages = beerqa_corpus("beerqa_dev_v1.0.json")  # doctest: +SKIP
    """
    return list(load_qa_dataset("beerqa", split, path).passages)


def load_cofca(path: str | os.PathLike[str] | None = None, split: str = "test", **options: Any) -> list[Task]:
    """CofCA tasks of a file (``path``, or ``$SWIRL_DATA_DIR/cofca/cofca.json``).

    Example:
        >>> tasks = load_cofca("cofca.json")  # doctest: +SKIP
    """
    return list(load_qa_dataset("cofca", split, path, **options).tasks)


def cofca_corpus(path: str | os.PathLike[str] | None = None, split: str = "test") -> list[Passage]:
    """All passages of a CofCA file, deduplicated by ``(title, text)``.

    Example:
        >>> passages = cofca_corpus("cofca.json")  # doctest: +SKIP
    """
    return list(load_qa_dataset("cofca", split, path).passages)
