"""GSM8K loader (the official ``train.jsonl`` / ``test.jsonl`` of ``openai/grade-school-math``).

Official format: one JSON object a line with ``question`` and ``answer``. The answer is the
worked solution with calculator annotations ``<<EXPR=VALUE>>`` (``16 - 3 - 4 = <<16-3-4=9>>9``)
and ends with ``#### N``, the gold answer. The "socratic" variant (``*_socratic.jsonl``) has the
same layout and is read too.

* The gold answer is the text after the last ``####``, with thousands separators removed
  (``#### 1,000`` -> ``"1000"``); it must be a number.
* Each annotation ``<<48/2=24>>`` is split at its last ``=`` into an expression (``"48/2"``) and
  the annotated value (``"24"``; GSM8K writes values as ``24``, ``24.00``, ``.5`` or ``3/4``, so
  compare them by value: :attr:`Annotation.number`).
* A task is a :class:`~swirl_env.tasks.base.Task` with id ``gsm8k-{split}-{i}`` (``i`` = 0-based
  record index in the file), ``answers=(gold,)`` and
  ``metadata={"annotations": ["48/2=24", ...], "solution": the full answer text}``.

The full test split (1,319 questions) and train split (7,473) are bundled (MIT licence, see
``swirl_env/tasks/data/gsm8k/README.md``); any other file in this format loads with ``path=``.
Files are read once per process (:func:`load_gsm8k` caches by resolved path, size and
modification time). Blank lines are skipped; ``.gz`` files are read transparently, and a ``.json``
file holding a list of the same records reads like JSON Lines.
A malformed file raises :class:`ValueError` naming the file and the line.

Example:
    >>> tasks = load_gsm8k("test")
    >>> len(tasks), tasks[0].id, tasks[0].answer
    (1319, 'gsm8k-test-0', '18')
    >>> tasks[0].metadata["annotations"]
    ['16-3-4=9', '9*2=18']
    >>> parse_annotations(tasks[0].metadata["solution"])[1].expression
    '9*2'
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from swirl_env.retrieval.corpus import read_json_records
from swirl_env.tasks import DATA_ROOT
from swirl_env.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = [
    "DATASET",
    "DATA_DIR",
    "SPLITS",
    "Annotation",
    "bundled_path",
    "clear_gsm8k_cache",
    "extract_gold_answer",
    "load_gsm8k",
    "parse_annotations",
    "read_gsm8k",
]

DATASET = "gsm8k"
#: Folder of the bundled official files.
DATA_DIR = DATA_ROOT / "gsm8k"
#: Splits bundled with the package.
SPLITS = ("test", "train")

_ANNOTATION = re.compile(r"<<(.*?)>>", re.DOTALL)
_GOLD_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:/\d+)?")
_MARK = "####"


@dataclass(frozen=True)
class Annotation:
    """One calculator annotation of a GSM8K solution.

    Attributes:
        expression: the left side, what was sent to the calculator (``"48/2"``).
        value: the annotated result as written (``"24"``, ``"24.00"``, ``".5"``, ``"3/4"``).
        text: the whole annotation without brackets (``"48/2=24"``).

    Example:
        >>> a = Annotation.parse("3/4=3/4")
        >>> a.expression, a.value, a.number
        ('3/4', '3/4', Fraction(3, 4))
    """

    expression: str
    value: str
    text: str

    @classmethod
    def parse(cls, text: str) -> Annotation:
        """Split ``EXPR=VALUE`` at the last ``=``; :class:`ValueError` when there is none."""
        expression, sep, value = text.rpartition("=")
        if not sep or not expression.strip() or not value.strip():
            raise ValueError(f"annotation <<{text}>> is not of the form <<EXPRESSION=VALUE>>")
        return cls(expression.strip(), value.strip(), text)

    @property
    def number(self) -> Fraction | None:
        """The annotated value as an exact fraction (``None`` when it is not a plain number)."""
        try:
            return Fraction(self.value.replace(",", ""))
        except (ValueError, ZeroDivisionError):
            return None


def parse_annotations(solution: str, *, strict: bool = True) -> list[Annotation]:
    """The calculator annotations of a GSM8K solution, in order.

    Args:
        solution: the ``answer`` field of a GSM8K record.
        strict: raise :class:`ValueError` on an unclosed ``<<`` or an annotation without ``=``;
            with ``False`` such annotations are skipped.

    Example:
        >>> [a.expression for a in parse_annotations("2*3=<<2*3=6>>6 and 6+1=<<6+1=7>>7")]
        ['2*3', '6+1']
    """
    out: list[Annotation] = []
    for m in _ANNOTATION.finditer(solution):
        try:
            out.append(Annotation.parse(m.group(1)))
        except ValueError:
            if strict:
                raise
    if strict:
        rest = _ANNOTATION.sub("", solution)
        if "<<" in rest or ">>" in rest:
            raise ValueError("unbalanced '<<' / '>>' in the solution (an annotation is not closed)")
    return out


def extract_gold_answer(solution: str) -> str:
    """The gold answer of a GSM8K solution: the text after the last ``####``, commas removed.

    Raises:
        ValueError: no ``####`` line, or the answer there is not a number.

    Example:
        >>> extract_gold_answer("He has 1,000 + 200 = 1,200 apples.\\n#### 1,200")
        '1200'
    """
    if _MARK not in solution:
        raise ValueError("the answer has no '#### N' line with the gold answer")
    gold = solution.rsplit(_MARK, 1)[1].strip().replace(",", "")
    if not gold:
        raise ValueError("the gold answer after '####' is empty")
    if not _GOLD_NUMBER.fullmatch(gold):
        raise ValueError(f"the gold answer after '####' is not a number: {gold!r:.60}")
    return gold


def _records(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """``(record, "file:line")`` for each non-blank line (or item of a ``.json`` list); errors name
    the file and line."""
    try:
        for record, where in read_json_records(path, _listed):
            if not isinstance(record, dict):
                raise ValueError(
                    f"{where}: expected a JSON object with 'question' and 'answer', got {type(record).__name__}"
                )
            yield record, where
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except (OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: cannot be read ({e})") from None


def _listed(data: Any, path: Path) -> list[Any]:
    """The records of a ``.json`` GSM8K file: its top-level list."""
    if not isinstance(data, list):
        raise ValueError(f"{path}: a .json GSM8K file must hold a list of records")
    return data


def _record_to_task(record: dict[str, Any], index: int, split: str, where: str, strict: bool) -> Task:
    for key in ("question", "answer"):
        if key not in record:
            raise ValueError(f"{where}: missing key {key!r} (GSM8K records have 'question' and 'answer')")
        if not isinstance(record[key], str):
            raise ValueError(f"{where}: {key!r} should be a string, got {type(record[key]).__name__}")
    question, solution = record["question"].strip(), record["answer"]
    if not question:
        raise ValueError(f"{where}: empty question")
    try:
        gold = extract_gold_answer(solution)
        annotations = parse_annotations(solution, strict=strict)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    return Task(
        id=f"{DATASET}-{split}-{index}",
        question=question,
        answers=(gold,),
        dataset=DATASET,
        split=split,
        metadata={"annotations": [a.text for a in annotations], "solution": solution},
        domain="math",
    )


def read_gsm8k(path: str | os.PathLike[str], *, split: str | None = None, strict: bool = True) -> list[Task]:
    """Parse a GSM8K JSONL file into tasks (uncached; see :func:`load_gsm8k`).

    Args:
        path: a ``.jsonl`` (or ``.jsonl.gz``) file in the official format, or a ``.json`` list of
            its records.
        split: the tasks' split label and id prefix (default: the file name before its first
            dot and any ``_socratic`` suffix, e.g. ``"test"`` for ``test.jsonl``).
        strict: reject malformed annotations (see :func:`parse_annotations`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed line (``FILE:LINE: reason``; ``FILE item I`` in a ``.json``
            list), or a file with no record.

    Example:
        >>> len(read_gsm8k(DATA_DIR / "test.jsonl"))
        1319
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"GSM8K file not found: {p} (bundled splits: {', '.join(SPLITS)}; "
            "pass path= to an official train.jsonl/test.jsonl)"
        )
    label = split or p.name.split(".")[0].removesuffix("_socratic") or DATASET
    tasks = [_record_to_task(rec, i, label, where, strict) for i, (rec, where) in enumerate(_records(p))]
    if not tasks:
        raise ValueError(f"{p}: no GSM8K record in the file")
    logger.debug("read %d GSM8K tasks from %s", len(tasks), p)
    return tasks


def bundled_path(split: str) -> Path:
    """The bundled official file of ``split`` (``"test"`` or ``"train"``).

    Example:
        >>> bundled_path("test").name
        'test.jsonl'
    """
    if split not in SPLITS:
        raise ValueError(f"unknown GSM8K split {split!r}; bundled: {SPLITS} (or pass path=)")
    return DATA_DIR / f"{split}.jsonl"


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, split: str | None, strict: bool, _size: int, _mtime_ns: int) -> tuple[Task, ...]:
    return tuple(read_gsm8k(path, split=split, strict=strict))


def load_gsm8k(
    split: str | None = None, path: str | os.PathLike[str] | None = None, *, strict: bool = True
) -> tuple[Task, ...]:
    """GSM8K tasks of a bundled split, or of any official-format file, read once per process.

    Args:
        split: ``"test"`` (default) or ``"train"``: a bundled file; with ``path``, only the tasks'
            label (default: from the file name, see :func:`read_gsm8k`).
        path: a GSM8K JSONL file to read instead of the bundled one.
        strict: reject malformed annotations.

    Returns:
        A tuple of tasks, shared by every caller in the process (do not mutate their metadata).

    Example:
        >>> load_gsm8k("train")[0].id
        'gsm8k-train-0'
    """
    p = Path(path).expanduser() if path is not None else bundled_path(split or "test")
    if path is None:
        split = split or "test"
    try:
        st = p.resolve().stat()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"GSM8K file not found: {p} (bundled splits: {', '.join(SPLITS)}; "
            "pass path= to an official train.jsonl/test.jsonl)"
        ) from None
    return _load_cached(str(p.resolve()), split, strict, st.st_size, st.st_mtime_ns)


def clear_gsm8k_cache() -> None:
    """Forget the tasks :func:`load_gsm8k` has read."""
    _load_cached.cache_clear()
