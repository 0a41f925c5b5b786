"""Passages and corpus files.

A corpus is a JSONL file (optionally gzip-compressed, ``.jsonl.gz``) with one passage per line, or a
JSON file holding a list of passage objects. Two record styles are accepted, mixed freely:

* ``{"id": "...", "title": "...", "text": "..."}`` (``title`` may be missing or empty);
* ``{"id": "...", "contents": "\\"Title\\"\\ntext ..."}``: the FlashRAG / Search-R1 Wikipedia dumps
  (``wiki-18.jsonl``). The first line of ``contents`` is the title (one pair of surrounding double
  quotes is removed), the rest is the text. A ``contents`` without a newline is all text.

The id is taken from ``id`` (or ``_id``, ``doc_id``, ``docid``) and converted to a string; a record
without one gets its 0-based record number (``"0"``, ``"1"``, ...). Ids must be unique.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "c.jsonl")
    >>> save_corpus([Passage("p1", "Paris", "Paris is the capital of France.")], path)
    >>> load_corpus(path)[0].title
    'Paris'
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "Passage",
    "corpus_fingerprint",
    "iter_corpus",
    "load_corpus",
    "passage_from_record",
    "read_json_records",
    "save_corpus",
]

_ID_KEYS = ("id", "_id", "doc_id", "docid")


@dataclass(frozen=True)
class Passage:
    """One retrievable passage.

    Attributes:
        id: unique id inside its corpus.
        title: the page title (may be empty).
        text: the passage text.

    Example:
        >>> Passage("7", "Ed Wood", "Ed Wood was an American filmmaker.").indexed_text
        'Ed Wood Ed Wood was an American filmmaker.'
    """

    id: str
    title: str
    text: str

    @property
    def indexed_text(self) -> str:
        """The text BM25 indexes: ``title + " " + text``."""
        return f"{self.title} {self.text}" if self.title else self.text

    @property
    def contents(self) -> str:
        """The Search-R1 / FlashRAG ``contents`` form: ``'"Title"\\ntext'``."""
        return f'"{self.title}"\n{self.text}'

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "text": self.text}


def _split_contents(contents: str) -> tuple[str, str]:
    if "\n" not in contents:
        return "", contents
    title, text = contents.split("\n", 1)
    title = title.strip()
    if len(title) >= 2 and title[0] == '"' and title[-1] == '"':
        title = title[1:-1]
    return title, text


def passage_from_record(record: Any, default_id: str, where: str = "record") -> Passage:
    """Build a :class:`Passage` from one corpus record (either accepted style).

    Raises:
        ValueError: the record is not an object, or has neither ``text`` nor ``contents``.

    Example:
        >>> passage_from_record({"id": 3, "contents": '"Paris"\\nCapital of France.'}, "0")
        Passage(id='3', title='Paris', text='Capital of France.')
    """
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    key = next((k for k in _ID_KEYS if record.get(k) is not None), None)
    pid = _scalar(record[key], key, where) if key else default_id
    if "text" in record and record["text"] is not None:
        text = record["text"]
        if isinstance(text, list):  # some dumps store sentences as a list
            if not all(isinstance(t, str) for t in text):
                raise ValueError(f"{where}: 'text' must be a string or a list of strings")
            text = "".join(text)
        text = _scalar(text, "text", where)
        title = _scalar(record.get("title") or "", "title", where)
    elif "contents" in record and record["contents"] is not None:
        title, text = _split_contents(_scalar(record["contents"], "contents", where))
    else:
        raise ValueError(
            f"{where}: a passage needs 'text' (with optional 'title') or 'contents'; got keys {sorted(record)}"
        )
    return Passage(id=str(pid), title=str(title), text=str(text))


def _scalar(value: Any, key: str, where: str) -> str:
    """A string or number field as text; a list, object or bool is an error, not its repr."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{where}: {key!r} must be a string, got {type(value).__name__} {str(value)[:40]}")
    return str(value)


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def read_json_records(
    path: Path, records_of: Callable[[Any, Path], list[Any]], *, text_only: bool = False
) -> Iterator[tuple[Any, str]]:
    """Yield ``(record, where)`` from a JSON or a JSON Lines file, either optionally gzipped (``.gz``).

    A ``.json`` file is parsed whole and its records are ``records_of(document, path)`` (which
    raises ``ValueError`` when the document holds no list of records); any other suffix is read
    as JSON Lines, blank lines skipped. ``where`` is ``"file:line"`` or ``"file item i"``, for
    error messages. The corpus files and the QA dataset files are read this way. With
    ``text_only`` (corpora, whose passages an index stores as UTF-8) a record holding a lone
    surrogate (a JSON escape such as ``\\ud800``: valid JSON, but no character) is a ``ValueError``.

    Raises:
        ValueError: invalid JSON (with the line number of a JSON Lines file).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "records.jsonl"
        >>> _ = path.write_text('{"id": 1}\\n\\n{"id": 2}\\n')
        >>> [(rec["id"], where.rsplit(":", 1)[1]) for rec, where in read_json_records(path, lambda doc, p: doc)]
        [(1, '1'), (2, '3')]
    """
    try:
        yield from _json_records(path, records_of, text_only)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:  # a truncated or damaged .gz file
        raise ValueError(f"{path}: not a readable gzip file ({type(e).__name__}: {e})") from None


#: a JSON escape of a UTF-16 surrogate (``\ud800``-``\udfff``): the raw line holds one if any
#: string of its record may hold a lone surrogate
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(rec: Any, where: str) -> None:
    try:
        json.dumps(rec, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{where}: holds a lone surrogate escape (half of a UTF-16 pair, such as \\ud800), which "
            "is no character: fix the text"
        ) from None


def _json_records(
    path: Path, records_of: Callable[[Any, Path], list[Any]], text_only: bool
) -> Iterator[tuple[Any, str]]:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.endswith(".json"):
        with _open_text(path) as f:
            try:
                data = json.load(f)
            except (ValueError, RecursionError) as e:  # JSON, UTF-8, nesting depth, integer digits
                raise ValueError(f"{path}: invalid JSON ({str(e)[:200] or type(e).__name__})") from None
        for i, rec in enumerate(records_of(data, path)):
            if text_only:
                _lone_surrogate(rec, f"{path} item {i}")
            yield rec, f"{path} item {i}"
        return
    with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not UTF-8 ({e.reason} at byte {e.start})") from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({e.msg}, column {e.colno})") from None
            except (ValueError, RecursionError) as e:  # nesting depth, integer digits
                raise ValueError(
                    f"{path}:{lineno}: invalid JSON ({str(e)[:200] or type(e).__name__})"
                ) from None
            if text_only and _SURROGATE_ESCAPE.search(raw):  # a pair is one character, a lone half none
                _lone_surrogate(rec, f"{path}:{lineno}")
            yield rec, f"{path}:{lineno}"


def _passage_records(data: Any, path: Path) -> list[Any]:
    """The passage objects of a ``.json`` corpus: a list, or an object's ``"passages"`` list."""
    if isinstance(data, dict) and isinstance(data.get("passages"), list):
        data = data["passages"]
    if not isinstance(data, list):
        raise ValueError(f"{path}: a .json corpus must hold a list of passage objects")
    return data


def iter_corpus(path: str | os.PathLike[str]) -> Iterator[tuple[Passage, str]]:
    """Stream ``(passage, where)`` from a corpus file, one record at a time (no duplicate-id check;
    :func:`load_corpus` and the streaming index build check ids). ``where`` is ``"file:line"``.

    Raises:
        FileNotFoundError: no such file. ValueError: a malformed record (with its line number).

    Example:
        >>> next(iter_corpus("corpus.jsonl"))[0].id  # doctest: +SKIP
        '0'
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"corpus file not found: {p}")
    for n, (rec, where) in enumerate(read_json_records(p, _passage_records, text_only=True)):
        yield passage_from_record(rec, str(n), where), where


def load_corpus(path: str | os.PathLike[str]) -> list[Passage]:
    """Read a corpus file (JSONL, JSONL.gz or JSON list; see the module docstring).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed line (with its line number), an empty corpus, or a duplicate id.

    Example:
        >>> passages = load_corpus("corpus.jsonl")  # doctest: +SKIP
    """
    passages: list[Passage] = []
    seen: dict[str, str] = {}
    for passage, where in iter_corpus(path):
        if passage.id in seen:
            raise ValueError(
                f"{where}: duplicate passage id {passage.id!r} (first seen at {seen[passage.id]})"
            )
        seen[passage.id] = where
        passages.append(passage)
    if not passages:
        raise ValueError(f"corpus file {path} holds no passages")
    logger.info("loaded %d passages from %s", len(passages), path)
    return passages


def save_corpus(passages: Iterable[Passage], path: str | os.PathLike[str]) -> None:
    """Write passages as JSONL (``id``, ``title``, ``text``), atomically (temp file + rename).

    Example:
        >>> save_corpus([Passage("a", "T", "text")], "/tmp/corpus.jsonl")  # doctest: +SKIP
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    with (
        gzip.open(tmp, "wt", encoding="utf-8") if p.suffix == ".gz" else open(tmp, "w", encoding="utf-8") as f
    ):
        for passage in passages:
            f.write(json.dumps(passage.to_dict(), ensure_ascii=False) + "\n")
    os.replace(tmp, p)


def corpus_fingerprint(corpus: str | os.PathLike[str] | Sequence[Passage]) -> str:
    """SHA-256 hex digest identifying a corpus: of the file's bytes for a path, of a canonical
    serialisation (``id``, ``title``, ``text`` of every passage in order) for a sequence.

    Example:
        >>> corpus_fingerprint([Passage("a", "", "x")]) == corpus_fingerprint([Passage("a", "", "x")])
        True
    """
    h = hashlib.sha256()
    if isinstance(corpus, (str, os.PathLike)):
        with open(corpus, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        return h.hexdigest()
    h.update(PASSAGES_HASH_PREFIX)
    for p in corpus:
        hash_passage(h, p)
    return h.hexdigest()


#: The first bytes of the content hash of a passage sequence (:func:`corpus_fingerprint`).
PASSAGES_HASH_PREFIX = b"swirl-passages-v1\0"


def hash_passage(h: Any, passage: Passage) -> None:
    """Add one passage to a running content hash (``hashlib`` object) of a passage sequence, as
    :func:`corpus_fingerprint` does (id, title, text, each length-prefixed)."""
    for field in (passage.id, passage.title, passage.text):
        b = field.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
