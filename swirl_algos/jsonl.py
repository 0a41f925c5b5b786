"""Append-safe, resumable JSON Lines files of trajectory (or any) records.

Every pipeline file is one JSON object per line. Writers append one record at a time with a
single ``write`` followed by ``flush`` and ``fsync``, so a process killed at any moment leaves at
most one half-written LAST line. Readers ignore such a line (with a warning), and
:class:`JsonlWriter` cuts it off before appending, so a re-run continues the file cleanly: nothing
that was finished is lost, nothing is written twice, and no half-written line is ever accepted.
A bad line anywhere else is corruption and raises an error naming the file and line.

A writer also holds an exclusive lock (``fcntl.flock``) on its file, so two processes cannot
append to the same output at once.

Text UTF-8 cannot encode (a lone surrogate such as ``"\\ud83d"`` in a model's action or a server's
reply) never stops a writer: such a string is stored with U+FFFD in place of the bad character,
and the record's ``text_repairs`` list keeps the original as an ASCII JSON literal (see
:func:`swirl_env.trajectory.repair_unencodable`), with a warning. :func:`safe_record` applies the
same repair in memory.

Readers of trajectory files check every record (:func:`swirl_env.trajectory.validate_trajectory_dict`):
a record with a missing field or one of the wrong type raises
:class:`~swirl_env.trajectory.RecordError`, whose message names the file, the line and the field.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.jsonl")
    >>> with JsonlWriter(path) as w:
    ...     w.write({"id": "a"})
    ...     w.write({"id": "b"})
    >>> with open(path, "a") as f:
    ...     _ = f.write('{"id": "c", "mess')   # a run killed mid-write
    >>> [r["id"] for r in read_jsonl(path)]
    ['a', 'b']
    >>> with JsonlWriter(path) as w:           # the next run drops the partial line, then appends
    ...     w.write({"id": "c"})
    >>> [r["id"] for r in read_jsonl(path)]
    ['a', 'b', 'c']
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from swirl_env.trajectory import RecordError, Trajectory, repair_unencodable

logger = logging.getLogger(__name__)

__all__ = [
    "JsonlWriter",
    "RecordError",
    "iter_jsonl",
    "iter_numbered",
    "iter_records",
    "iter_trajectories",
    "read_jsonl",
    "read_trajectories",
    "record_key",
    "repair_tail",
    "safe_record",
    "write_jsonl",
]

PathLike = str | os.PathLike


def _to_text(record: Trajectory | Mapping[str, Any]) -> str:
    if isinstance(record, Trajectory) or hasattr(record, "to_json"):
        return record.to_json()  # type: ignore[union-attr]
    if isinstance(record, Mapping):
        return json.dumps(dict(record), ensure_ascii=False)
    raise TypeError(f"cannot write a {type(record).__name__} as a JSON line (give a dict or a Trajectory)")


def _repaired(obj: Any) -> tuple[Any, int]:
    """``obj`` (a record's JSON data) made UTF-8-encodable, its repairs listed in ``text_repairs``."""
    if not isinstance(obj, dict):
        fixed, repairs = repair_unencodable(obj)
        return fixed, len(repairs)
    fixed, repairs = repair_unencodable(obj)
    if repairs:
        earlier = fixed.get("text_repairs")
        fixed["text_repairs"] = (list(earlier) if isinstance(earlier, list) else []) + repairs
    return fixed, len(repairs)


def _to_line(record: Trajectory | Mapping[str, Any]) -> tuple[bytes, int]:
    """One encoded JSON line and the number of strings repaired to make it encodable."""
    text = _to_text(record)
    if "\n" in text:  # json.dumps never emits raw newlines; a custom to_json might
        raise ValueError("a JSON line must not contain a raw newline")
    try:
        return (text + "\n").encode("utf-8"), 0
    except UnicodeEncodeError:
        pass
    obj, n = _repaired(json.loads(text))
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8"), n


def safe_record(record: Trajectory | Mapping[str, Any]) -> Any:
    """``record`` as a writer stores it: strings UTF-8 cannot encode repaired (see the module doc).

    Returns ``record`` itself when nothing needs repair, else (with a warning) a repaired copy of
    the same kind (a :class:`Trajectory` or a dict) whose ``text_repairs`` lists the originals.

    Example:
        >>> safe_record({"id": "a", "text": "ok"}) == {"id": "a", "text": "ok"}
        True
        >>> fixed = safe_record({"id": "a", "text": "bad \\ud83d"})
        >>> fixed["text"] == "bad \\ufffd", fixed["text_repairs"][0]["path"]
        (True, '/text')
    """
    text = _to_text(record)
    try:
        text.encode("utf-8")
        return record
    except UnicodeEncodeError:
        pass
    obj, n = _repaired(json.loads(text))
    logger.warning(
        "record %s had %d string(s) with characters UTF-8 cannot encode (lone surrogates); "
        "stored with U+FFFD, originals kept in its 'text_repairs'",
        _record_id(record),
        n,
    )
    return Trajectory.from_dict(obj) if isinstance(record, Trajectory) else obj


def _record_start(raw: bytes) -> bool:
    """Whether a line without its newline can be a record cut short: it starts a JSON object (a
    writer writes ``{...}`` in one piece), so text that is not JSON at all is never taken for one."""
    text = raw.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
    return not text or text.startswith(b"{")  # whitespace alone is safe to cut too


def iter_numbered(path: PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, record)`` of a JSONL file (1-based; see :func:`iter_jsonl`).

    Example:
        >>> # for line, record in iter_numbered("runs/gsm8k/trajectories.jsonl"): ...
    """
    path = Path(path)
    with path.open("rb") as f:
        n = 0
        for raw in f:
            n += 1
            complete = raw.endswith(b"\n")
            text = raw.strip()
            if not text:
                continue
            try:
                obj = json.loads(text.decode("utf-8"))
            except (ValueError, RecursionError) as e:  # JSON, UTF-8, nesting depth, integer digits
                if not complete and _record_start(raw):  # only the last line can lack its newline
                    logger.warning("%s:%d: ignoring a half-written last line (%d bytes)", path, n, len(raw))
                    return
                msg = getattr(e, "msg", None) or str(e)[:200] or type(e).__name__
                raise ValueError(f"{path}:{n}: invalid JSON line ({msg}); the file is corrupt") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{n}: expected a JSON object, got {type(obj).__name__}")
            yield n, obj


def iter_jsonl(path: PathLike) -> Iterator[dict[str, Any]]:
    """Yield the records of a JSONL file, skipping blank lines and a half-written last line.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line other than the last is not valid JSON (or not a JSON object).

    Example:
        >>> # for record in iter_jsonl("runs/gsm8k/trajectories.jsonl"): ...
    """
    for _, obj in iter_numbered(path):
        yield obj


def read_jsonl(path: PathLike) -> list[dict[str, Any]]:
    """All records of a JSONL file (see :func:`iter_jsonl`).

    Example:
        >>> # rows = read_jsonl("runs/gsm8k/judged.jsonl")
    """
    return list(iter_jsonl(path))


def iter_trajectories(path: PathLike) -> Iterator[Trajectory]:
    """Yield the :class:`~swirl_env.trajectory.Trajectory` records of a file, each one checked.

    Raises:
        RecordError: a record that is not a valid trajectory; the message names the file, the
            line and the field (``ValueError`` subclass).

    Example:
        >>> # n_steps = sum(t.num_steps for t in iter_trajectories("runs/gsm8k/trajectories.jsonl"))
    """
    for n, row in iter_numbered(path):
        if "messages" not in row and "steps" not in row and "prompt" in row:
            raise RecordError(
                "",
                "a step record, not a trajectory; is this a file from 'swirl filter --level step' "
                "or 'swirl export'?",
                path=path,
                line=n,
            )
        try:
            yield Trajectory.from_dict(row)
        except RecordError as e:
            raise e.at(path, n) from None


def iter_records(path: PathLike) -> Iterator[Trajectory | dict[str, Any]]:
    """Yield the records of a trajectory file or a step-record file, each one checked.

    A record with ``steps`` or ``messages`` is a trajectory (checked as such and yielded as a
    :class:`Trajectory`); one with ``prompt`` is a step record
    (:func:`swirl_algos.decompose.validate_step_record`, yielded as a dict).

    Raises:
        RecordError: a record that is neither, or a field of the wrong type; the message names
            the file, the line and the field.

    Example:
        >>> # rows = list(iter_records("runs/gsm8k/steps.jsonl"))
    """
    from swirl_algos.decompose import validate_step_record

    for n, row in iter_numbered(path):
        try:
            if "steps" in row or "messages" in row:
                yield Trajectory.from_dict(row)
            elif "prompt" in row:
                validate_step_record(row)
                yield row
            else:
                raise RecordError(
                    "", "neither a trajectory (no 'messages'/'steps') nor a step record (no 'prompt')"
                )
        except RecordError as e:
            raise e.at(path, n) from None


def read_trajectories(path: PathLike) -> list[Trajectory]:
    """All trajectories of a file (see :func:`iter_trajectories`).

    Example:
        >>> # trajs = read_trajectories("runs/gsm8k/trajectories.jsonl")
    """
    return list(iter_trajectories(path))


def record_key(record: Trajectory | Mapping[str, Any]) -> tuple[str, int]:
    """The resume key of a trajectory: ``(task id, sample index)``.

    Example:
        >>> record_key({"id": "q#1", "task": {"id": "q"}, "sample": 1})
        ('q', 1)
    """
    if isinstance(record, Trajectory):
        return (str(record.task.get("id", record.id)), int(record.sample))
    task = record.get("task") or {}
    return (str(task.get("id", record.get("id"))), int(record.get("sample", 0) or 0))


def repair_tail(path: PathLike) -> int:
    """Cut a half-written last line off ``path``; returns the number of bytes removed.

    A last line without its newline is kept (and completed with one) when it is a valid JSON
    object, and removed when it is the start of one (``{...`` cut short); any other last line
    (notes, a binary file given by mistake) is a ``ValueError`` and the file is left as it is. A
    missing file is left alone (returns 0).

    Example:
        >>> # removed = repair_tail("runs/gsm8k/trajectories.jsonl")
    """
    path = Path(path)
    if not path.exists():
        return 0
    with path.open("r+b") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        # the last line lacks its newline: find where it starts
        start, pos, block = 0, size, 65536
        while pos > 0:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            cut = f.read(step).rfind(b"\n")
            if cut >= 0:
                start = pos + cut + 1
                break
        f.seek(start)
        last = f.read()
        try:
            ok = isinstance(json.loads(last.decode("utf-8")), dict) if last.strip() else False
        except (ValueError, RecursionError):  # JSON, UTF-8, nesting depth, integer digits
            ok = False
        if ok:
            f.seek(0, os.SEEK_END)
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
            return 0
        if not _record_start(last):
            raise ValueError(
                f"{path}: its last line ({len(last):,} bytes) is neither a JSON record nor the start "
                "of one; not a JSONL file of records, so it is left as it is (check the path)"
            )
        f.truncate(start)
        f.flush()
        os.fsync(f.fileno())
    logger.warning("%s: removed a half-written last line (%d bytes)", path, len(last))
    return len(last)


def _record_id(record: Any) -> str:
    rid = (
        record.get("id", record.get("trajectory_id"))
        if isinstance(record, Mapping)
        else getattr(record, "id", None)
    )
    return repr(rid)


def _lock(f: Any) -> None:
    """An exclusive, non-blocking ``flock`` on an open file (``OSError`` when another holds it; a
    no-op where there is no ``fcntl``)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


class JsonlWriter:
    """Appends records to a JSONL file, one durable line at a time.

    Args:
        path: the file (created with its parent directories if missing).
        fsync: ``fsync`` after every record (a record is on disk when :meth:`write` returns).
        lock: take an exclusive ``flock`` on the file (POSIX); a second writer fails at once.

    Example:
        >>> # with JsonlWriter("runs/gsm8k/trajectories.jsonl") as w:
        >>> #     w.write(trajectory)
    """

    def __init__(self, path: PathLike, *, fsync: bool = True, lock: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.lock = lock
        self.written = 0
        self.repaired = 0
        self._f: Any = None

    def open(self) -> JsonlWriter:
        if self._f is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("ab")
        if self.lock:
            try:
                _lock(f)
                if os.fstat(f.fileno()).st_ino != os.stat(self.path).st_ino:
                    raise OSError("the file was replaced while it was being opened")  # by replace_all
            except OSError:
                f.close()
                raise RuntimeError(
                    f"{self.path} is being written by another process; wait for it or choose another output"
                ) from None
        self._f = f
        repair_tail(self.path)
        return self

    def replace_all(self, records: Iterable[Trajectory | Mapping[str, Any]]) -> int:
        """Replace the file's content with ``records``, atomically (a new file renamed over it)
        and without letting the lock go: the new file is locked before it takes the path, and
        the writer appends to it afterwards. Returns the count.

        Example:
            >>> # with JsonlWriter(path) as w: w.replace_all(kept); w.write(new_record)
        """
        self.open()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        f = os.fdopen(fd, "ab")
        n = 0
        try:
            if self.lock:
                _lock(f)  # a new file: nobody holds it
            for r in records:
                f.write(_to_line(r)[0])
                n += 1
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            f.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        old, self._f = self._f, f
        old.close()
        return n

    def write(self, record: Trajectory | Mapping[str, Any]) -> None:
        """Append one record (a :class:`Trajectory` or a JSON-serialisable dict).

        Strings UTF-8 cannot encode are repaired and listed in the record's ``text_repairs``
        (see the module docstring); :attr:`repaired` counts them.
        """
        if self._f is None:
            self.open()
        line, n_repaired = _to_line(record)
        if n_repaired:
            self.repaired += n_repaired
            logger.warning(
                "%s: record %s had %d string(s) with characters UTF-8 cannot encode (lone surrogates); "
                "stored with U+FFFD, originals kept in its 'text_repairs'",
                self.path,
                _record_id(record),
                n_repaired,
            )
        self._f.write(line)
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())
        self.written += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()  # closing releases the lock
            self._f = None

    def __enter__(self) -> JsonlWriter:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: PathLike, records: Iterable[Trajectory | Mapping[str, Any]]) -> int:
    """Write ``records`` to ``path`` atomically (temporary file, then rename); returns the count.

    Readers never see a partly written file: either the old content or the new one.

    Example:
        >>> # write_jsonl("runs/gsm8k/filtered.jsonl", kept)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    n = 0
    try:
        with os.fdopen(fd, "wb") as f:
            repaired = 0
            for r in records:
                line, k = _to_line(r)
                f.write(line)
                repaired += k
                n += 1
            if repaired:
                logger.warning(
                    "%s: %d string(s) with characters UTF-8 cannot encode were stored with U+FFFD "
                    "(originals in the records' 'text_repairs')",
                    path,
                    repaired,
                )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
