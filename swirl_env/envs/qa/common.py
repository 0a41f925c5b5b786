"""Shared machinery of the multi-hop QA readers (HotPotQA, MuSiQue, BeerQA, CofCA).

Every reader (:mod:`~swirl_env.envs.qa.hotpotqa`, :mod:`~swirl_env.envs.qa.musique`,
:mod:`~swirl_env.envs.qa.beerqa`, :mod:`~swirl_env.envs.qa.cofca`) reads a dataset file in its
official format and returns a :class:`QADataset`: the questions as
:class:`~swirl_env.tasks.base.Task` objects, and the *corpus of the split*, i.e. all paragraphs of
every question of the file, deduplicated by ``(title, text)`` (the paper searches "all articles of
the data split"). Passage ids are content hashes (:func:`passage_id`), so the same paragraph has
the same id in every file and every subset.

This module imports no reader: the dispatch by dataset name and the per-process cache
(:func:`~swirl_env.envs.qa.loaders.load_qa_dataset`) live in :mod:`swirl_env.envs.qa.loaders`,
which imports the readers.

Example:
    >>> resolve_path("hotpotqa", "dev") == bundled_path("hotpotqa", "dev")
    True
    >>> passage_id("Paris", "Paris is the capital of France.")
    'p82daae9b2846ccce'
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swirl_env.retrieval.corpus import Passage, read_json_records
from swirl_env.tasks import DATA_ROOT
from swirl_env.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = [
    "BUNDLED_FILES",
    "DATASETS",
    "DATA_DIR_ENV",
    "OFFICIAL_FILES",
    "PACKAGE_DATA",
    "QADataset",
    "bundled_path",
    "check_unique_ids",
    "dedup_passages",
    "make_dataset",
    "passage_id",
    "read_records",
    "require",
    "resolve_path",
    "unique_answers",
]

#: Package directory holding the bundled samples (``swirl_env/tasks/data/``).
PACKAGE_DATA = DATA_ROOT

#: Environment variable naming a directory with the official files (``$SWIRL_DATA_DIR/<dataset>/<file>``).
DATA_DIR_ENV = "SWIRL_DATA_DIR"

DATASETS = ("hotpotqa", "musique", "beerqa", "cofca")

#: Bundled real samples, ``(dataset, split) -> file`` under ``swirl_env/tasks/data/``.
BUNDLED_FILES: dict[tuple[str, str], str] = {
    ("hotpotqa", "dev"): "hotpotqa/hotpot_dev_distractor_sample100.json.gz",
    ("hotpotqa", "train"): "hotpotqa/hotpot_train_sample100.json.gz",
    ("musique", "dev"): "musique/musique_ans_dev_sample100.jsonl.gz",
    ("musique", "train"): "musique/musique_ans_train_sample100.jsonl.gz",
}

#: Official file names, looked up in ``$SWIRL_DATA_DIR/<dataset>/`` (or ``data_dir``) when no path is given.
OFFICIAL_FILES: dict[tuple[str, str], tuple[str, ...]] = {
    ("hotpotqa", "train"): ("hotpot_train_v1.1.json",),
    ("hotpotqa", "dev"): ("hotpot_dev_distractor_v1.json",),
    ("musique", "train"): ("musique_ans_v1.0_train.jsonl",),
    ("musique", "dev"): ("musique_ans_v1.0_dev.jsonl",),
    ("beerqa", "train"): ("beerqa_train_v1.0.json",),
    ("beerqa", "dev"): ("beerqa_dev_v1.0.json",),
    ("cofca", "test"): ("cofca.json", "cofca.jsonl"),
    ("cofca", "dev"): ("cofca.json", "cofca.jsonl"),
}

_GET_HELP = {
    "hotpotqa": "https://hotpotqa.github.io (hotpot_train_v1.1.json, hotpot_dev_distractor_v1.json)",
    "musique": "https://github.com/StonyBrookNLP/musique (musique_ans_v1.0_{train,dev}.jsonl)",
    "beerqa": "https://beerqa.github.io (beerqa_train_v1.0.json, beerqa_dev_v1.0.json)",
    "cofca": "the CofCA release linked from arXiv:2402.11924 (see docs/datasets.md for the format read)",
}


@dataclass(frozen=True)
class QADataset:
    """A parsed QA file: its questions and the passage corpus of its split.

    Attributes:
        name: dataset name (``"hotpotqa"``...).
        split: split name.
        path: the file read.
        tasks: the questions, in file order.
        passages: all paragraphs of the file, deduplicated by ``(title, text)``, first-seen order.
        skipped: records left out, by reason (``{"unanswerable": 12}``).
        fixture: ``True`` for the hand-written format fixtures (not real data).
    """

    name: str
    split: str
    path: Path
    tasks: tuple[Task, ...]
    passages: tuple[Passage, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)
    fixture: bool = False

    def __len__(self) -> int:
        return len(self.tasks)


def passage_id(title: str, text: str) -> str:
    """The stable id of a paragraph: ``"p"`` + 16 hex digits of SHA-1 over ``title``, NUL, ``text``.

    Example:
        >>> passage_id("Paris", "Paris is the capital of France.")
        'p82daae9b2846ccce'
    """
    return "p" + hashlib.sha1(f"{title}\x00{text}".encode()).hexdigest()[:16]


def dedup_passages(pairs: Iterable[tuple[str, str]]) -> list[Passage]:
    """Passages from ``(title, text)`` pairs, keeping the first of each identical pair.

    Paragraphs with empty text (after stripping) are dropped: they cannot be retrieved.

    Example:
        >>> [p.title for p in dedup_passages([("A", "x"), ("B", "y"), ("A", "x"), ("A", "z")])]
        ['A', 'B', 'A']
    """
    seen: set[str] = set()
    out: list[Passage] = []
    for title, text in pairs:
        if not str(text).strip():
            continue
        pid = passage_id(title, text)
        if pid in seen:
            continue
        seen.add(pid)
        out.append(Passage(pid, title, text))
    return out


# ---------------------------------------------------------------------------------------- reading files
def read_records(path: str | os.PathLike[str], *, data_key: str | None = None) -> Iterator[tuple[Any, str]]:
    """Yield ``(record, where)`` from a JSON list, a JSON object holding a list, or JSONL (optionally .gz).

    A ``.json`` file is parsed whole; its records are the top-level list, or the list under
    ``data_key`` (e.g. BeerQA's ``"data"``). Any other suffix is read as JSON Lines (blank lines
    skipped). ``where`` is ``"file:line"`` or ``"file item i"`` for error messages
    (:func:`~swirl_env.retrieval.corpus.read_json_records`, which reads corpus files too).

    Raises:
        FileNotFoundError: no such file.
        ValueError: invalid JSON (with the line number), or no list of records where one is expected.

    Example:
        >>> next(read_records("hotpot_dev_distractor_v1.json"))  # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"dataset file not found: {p}")
    yield from read_json_records(p, lambda data, where: _listed_records(data, where, data_key))


def _listed_records(data: Any, path: Path, data_key: str | None) -> list[Any]:
    """The records of a ``.json`` dataset file: the top-level list, or the list under ``data_key``."""
    if isinstance(data, dict):
        key = data_key if data_key is not None else "data"
        if not isinstance(data.get(key), list):
            raise ValueError(
                f"{path}: expected a JSON list of records or an object with a {key!r} list; "
                f"got an object with keys {sorted(data)[:10]}"
            )
        data = data[key]
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def require(record: Any, key: str, types: type | tuple[type, ...], where: str) -> Any:
    """``record[key]`` checked for presence and type, with an error naming the file and record."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if key not in record:
        raise ValueError(f"{where}: missing field {key!r} (fields: {sorted(record)})")
    value = record[key]
    if not isinstance(value, types):
        names = types.__name__ if isinstance(types, type) else "/".join(t.__name__ for t in types)
        raise ValueError(f"{where}: field {key!r} should be {names}, got {type(value).__name__}")
    return value


def unique_answers(answers: Iterable[Any]) -> tuple[str, ...]:
    """Answers as strings, first occurrence kept, empty strings dropped."""
    out: list[str] = []
    for a in answers:
        s = str(a).strip() if a is not None else ""
        if s and s not in out:
            out.append(s)
    return tuple(out)


def check_unique_ids(tasks: Sequence[Task], path: Path) -> None:
    seen: set[str] = set()
    for t in tasks:
        if t.id in seen:
            raise ValueError(f"{path}: duplicate question id {t.id!r}")
        seen.add(t.id)


def make_dataset(
    name: str,
    split: str,
    path: Path,
    tasks: Sequence[Task],
    pairs: Iterable[tuple[str, str]],
    skipped: Mapping[str, int],
) -> QADataset:
    """What every reader returns: the file's tasks (their ids checked unique), the corpus of its
    ``(title, text)`` paragraphs (:func:`dedup_passages`), and whether it is a format fixture
    (``"fixture"`` in the file name).

    Example:
        >>> task = Task("q1", "Who?", ("Ann",), "toy", "dev")
        >>> ds = make_dataset("toy", "dev", Path("toy_FIXTURE.json"), [task], [("A", "x"), ("A", "x")], {})
        >>> len(ds), len(ds.passages), ds.fixture
        (1, 1, True)
    """
    check_unique_ids(tasks, path)
    return QADataset(
        name,
        split,
        path,
        tuple(tasks),
        tuple(dedup_passages(pairs)),
        skipped,
        fixture="fixture" in path.name.lower(),
    )


# ---------------------------------------------------------------------------------------- resolving files
def bundled_path(dataset: str, split: str) -> Path | None:
    """The bundled sample file of ``(dataset, split)``, or ``None`` when none is bundled.

    Example:
        >>> bundled_path("hotpotqa", "dev").name
        'hotpot_dev_distractor_sample100.json.gz'
    """
    rel = BUNDLED_FILES.get((dataset, split))
    return PACKAGE_DATA / rel if rel else None


def resolve_path(
    dataset: str,
    split: str,
    path: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """The file to read for ``(dataset, split)``.

    Order: ``path`` if given; else the official file name in ``data_dir`` (or ``$SWIRL_DATA_DIR``),
    either directly in it or in its ``<dataset>/`` subfolder; else the bundled sample.

    Raises:
        FileNotFoundError: with where to get the data when nothing is found.

    Example:
        >>> resolve_path("musique", "dev").name
        'musique_ans_dev_sample100.jsonl.gz'
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"{dataset} file not found: {p}")
        return p
    root = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if root:
        for name in OFFICIAL_FILES.get((dataset, split), ()):
            for cand in (Path(root) / dataset / name, Path(root) / name):
                if cand.is_file():
                    return cand
    bundled = bundled_path(dataset, split)
    if bundled is not None and bundled.is_file():
        return bundled
    have = sorted(s for (d, s) in BUNDLED_FILES if d == dataset)
    official = OFFICIAL_FILES.get((dataset, split), ())
    raise FileNotFoundError(
        f"no {dataset} file for split {split!r}: "
        + (f"the package bundles samples for splits {have} only; " if have else "no sample is bundled; ")
        + "pass path=<file in the official format>"
        + (f", or put {' / '.join(official)} in ${DATA_DIR_ENV}/{dataset}/" if official else "")
        + f". Get the data from {_GET_HELP[dataset]}."
    )
