"""A disk cache for judgements: re-running a pipeline does not pay for the same judgement twice.

``CachedJudge(judge, path)`` wraps any process and/or outcome judge. Each request is keyed by the
SHA-256 of the judge's :attr:`config_id` (model, prompt version, decoding settings) and its
:meth:`cache_payload` (for model judges, the exact prompt), so a change of model or prompt never
returns stale judgements, and two requests that show the judge the same thing share one entry.
Requests with equal keys inside one batch are sent to the judge once.

Storage is SQLite (Python's standard library) in WAL mode rather than a JSONL file, because:

* crash safety comes from transactions: a batch is either fully stored or not at all, with no
  half-written line to repair; misses are judged and committed in chunks (``chunk_size``), so a
  crash in a long run loses at most one chunk of work;
* several processes (parallel judging jobs, vector-env workers) can read and write the same
  cache at once; WAL lets readers proceed during a write;
* lookups go through the primary-key index, so a cache of millions of judgements is neither
  loaded into memory nor scanned.

Only successful judgements (``label`` not ``None``) are stored: a failure (timeout, unparseable
reply) is retried on the next run. A row that does not hold a valid judgement (not a JSON object,
a ``label`` other than ``true``/``false``, a field of the wrong type) is damaged: it counts as a
miss, is judged again, and the fresh judgement overwrites it (``stats["damaged"]`` counts them).
Text with characters UTF-8 cannot encode (lone surrogates) is stored escaped and read back exactly.

Example:
    >>> import tempfile, os
    >>> from swirl_env.rewards.judges.base import Judgement, ProcessJudge, ProcessRequest
    >>> class Counting(ProcessJudge):
    ...     calls = 0
    ...     def judge_steps(self, requests):
    ...         Counting.calls += len(requests)
    ...         return [Judgement(label="answer" in r.action, judge="c") for r in requests]
    >>> path = os.path.join(tempfile.mkdtemp(), "judge.sqlite")
    >>> req = ProcessRequest(task=None, context=[], action="<answer> 4 </answer>")
    >>> with CachedJudge(Counting(), path) as judge:
    ...     first = judge.judge_steps([req, req])
    >>> with CachedJudge(Counting(), path) as judge:
    ...     again = judge.judge_steps([req])
    >>> Counting.calls, again[0].label
    (1, True)
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from swirl_env.checks import int_at_least
from swirl_env.rewards.judges.base import (
    Judgement,
    OutcomeJudge,
    OutcomeRequest,
    ProcessJudge,
    ProcessRequest,
    checked_judgements,
)

logger = logging.getLogger(__name__)

__all__ = ["CachedJudge", "JudgementCache", "cache_key", "judgement_from_row"]


def cache_key(config_id: str, payload: Any) -> str:
    """SHA-256 (hex) of a judge's config id and what it reads of one request.

    Example:
        >>> cache_key("judge-a", {"x": 1}) == cache_key("judge-a", {"x": 1}) != cache_key("judge-b", {"x": 1})
        True
    """
    body = json.dumps([config_id, payload], sort_keys=True, ensure_ascii=False, default=str)
    # surrogatepass: a payload with a lone surrogate still gets its own, stable key
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: field -> (check, description) of a stored judgement.
_ROW_FIELDS: dict[str, tuple[Any, str]] = {
    "label": (lambda v: isinstance(v, bool), "true or false"),
    "score": (lambda v: v is None or _is_number(v), "a number or null"),
    "rationale": (lambda v: isinstance(v, str), "a string"),
    "judge": (lambda v: isinstance(v, str), "a string"),
    "error": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "raw": (lambda v: v is None or isinstance(v, str), "a string or null"),
}


def judgement_from_row(body: Any) -> Judgement:
    """The :class:`Judgement` stored in a cache row; ``ValueError`` when the row is damaged.

    A valid row is a JSON object whose ``label`` is ``true`` or ``false`` (failures are never
    stored) and whose other known fields have their types; unknown fields are ignored.

    Example:
        >>> judgement_from_row('{"label": true, "score": 1.0, "judge": "j"}').label
        True
        >>> judgement_from_row("[1, 2]")
        Traceback (most recent call last):
        ...
        ValueError: not a JSON object (list)
    """
    if isinstance(body, bytes | bytearray | memoryview):
        body = bytes(body).decode("utf-8")
    if not isinstance(body, str):
        raise ValueError(f"not JSON text ({type(body).__name__})")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:  # JSON, nesting depth, integer digits
        raise ValueError(f"not JSON ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object ({'null' if data is None else type(data).__name__})")
    if "label" not in data:
        raise ValueError("no label")
    for name, (ok, want) in _ROW_FIELDS.items():
        if name in data and not ok(data[name]):
            raise ValueError(f"{name} must be {want}, got {data[name]!r:.40}")
    return Judgement.from_dict(data)


class JudgementCache:
    """A key -> :class:`Judgement` store in one SQLite file (WAL mode, safe across threads/processes).

    Args:
        path: the database file (created with its parent folder).
        timeout: seconds to wait for another writer's lock.

    Example:
        >>> import tempfile, os
        >>> c = JudgementCache(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> c.put_many([("k1", "judge", Judgement(label=False, score=0.0))])
        1
        >>> c.get_many(["k1", "k2"])["k1"].label, len(c)
        (False, 1)
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.damaged = 0
        self._conn = sqlite3.connect(str(self.path), timeout=timeout, check_same_thread=False)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS judgements ("
                " key TEXT PRIMARY KEY, judge TEXT NOT NULL, judgement TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._conn.commit()

    def get_many(self, keys: Iterable[str]) -> dict[str, Judgement]:
        """The stored judgements of ``keys``; missing keys and damaged rows are left out.

        A damaged row (see :func:`judgement_from_row`) is logged and counted in
        :attr:`damaged`; the next :meth:`put_many` of its key overwrites it.
        """
        keys = list(dict.fromkeys(keys))
        found: dict[str, Judgement] = {}
        with self._lock:
            for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT key, judgement FROM judgements WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, body in rows:
                    try:
                        found[key] = judgement_from_row(body)
                    except (ValueError, TypeError) as e:  # a damaged row is a miss
                        self.damaged += 1
                        logger.warning(
                            "%s: damaged cache row %s (%s); judging again", self.path, str(key)[:12], e
                        )
        return found

    def put_many(self, items: Iterable[tuple[str, str, Judgement]]) -> int:
        """Store ``(key, judge_config_id, judgement)`` in one transaction; failures are skipped.

        Returns the number of judgements stored.
        """
        rows = [
            # ASCII escapes: any text (lone surrogates included) is storable and reads back exactly
            (key, judge, json.dumps(j.to_dict()), time.time())
            for key, judge, j in items
            if j.label is not None
        ]
        if not rows:
            return 0
        with self._lock, self._conn:  # one transaction, committed (or rolled back) as a whole
            self._conn.executemany(
                "INSERT OR REPLACE INTO judgements (key, judge, judgement, created) VALUES (?, ?, ?, ?)", rows
            )
        return len(rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM judgements").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _load_spec(spec: str, kwargs: Mapping[str, Any] | None) -> Any:
    if ":" not in spec:
        raise ValueError(f"judge spec must look like 'package.module:ClassName', got {spec!r}")
    module, _, attr = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot import judge {spec!r}: {e}") from e
    return cls(**dict(kwargs or {}))


class CachedJudge:
    """Wrap a judge with a :class:`JudgementCache`: ``CachedJudge(judge, path)``.

    The result is a :class:`ProcessJudge`, an :class:`OutcomeJudge`, or both, like the wrapped
    judge; its ``name`` and ``config_id`` are the wrapped judge's.

    Args:
        judge: a judge object, or a ``"package.module:ClassName"`` spec built with
            ``judge_kwargs`` (so command lines can ask for a cached judge).
        path: the SQLite file (ignored when ``cache`` is given).
        judge_kwargs: keyword arguments for a judge given as a spec.
        chunk_size: misses are sent to the judge, and committed, this many at a time.
        cache: an open :class:`JudgementCache` to share between judges.

    Attributes:
        stats: ``{"hits", "misses", "stored", "failed", "damaged"}`` counters (``damaged``: rows
            found unreadable, judged again and overwritten).
    """

    def __new__(cls, judge: Any, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Any:
        if cls is not CachedJudge:
            return super().__new__(cls)
        inner = _load_spec(judge, kwargs.get("judge_kwargs")) if isinstance(judge, str) else judge
        is_p, is_o = isinstance(inner, ProcessJudge), isinstance(inner, OutcomeJudge)
        if is_p and is_o:
            target: type = _CachedBoth
        elif is_p:
            target = _CachedProcess
        elif is_o:
            target = _CachedOutcome
        else:
            raise TypeError(
                f"CachedJudge needs a ProcessJudge or an OutcomeJudge, got {type(inner).__name__}"
            )
        obj = object.__new__(target)
        obj.__init__(inner, path, **kwargs)
        return obj

    def __init__(
        self,
        judge: Any,
        path: str | os.PathLike[str] | None = None,
        *,
        judge_kwargs: Mapping[str, Any] | None = None,
        chunk_size: int = 64,
        cache: JudgementCache | None = None,
    ) -> None:
        if getattr(self, "_initialised", False):
            return
        if isinstance(judge, str):
            judge = _load_spec(judge, judge_kwargs)
        if cache is None and path is None:
            raise ValueError("CachedJudge needs a path (or an open JudgementCache as cache=)")
        int_at_least("chunk_size", chunk_size, 1)
        self.judge = judge
        self.chunk_size = chunk_size
        self._own_cache = cache is None
        self.cache = cache if cache is not None else JudgementCache(path)  # type: ignore[arg-type]
        self.name = getattr(judge, "name", type(judge).__name__)
        self.stats = {"hits": 0, "misses": 0, "stored": 0, "failed": 0, "damaged": 0}
        self._initialised = True

    # delegate the identity of the wrapped judge
    def config(self) -> dict[str, Any]:
        return self.judge.config()

    @property
    def config_id(self) -> str:
        return self.judge.config_id

    def cache_payload(self, request: Any) -> Any:
        return self.judge.cache_payload(request)

    def key(self, request: Any) -> str:
        """The cache key of ``request``."""
        return cache_key(self.judge.config_id, self.judge.cache_payload(request))

    def _cached(self, requests: Sequence[Any], call: Any) -> list[Judgement]:
        config_id = self.judge.config_id
        keys = [cache_key(config_id, self.judge.cache_payload(r)) for r in requests]
        damaged = self.cache.damaged
        found = self.cache.get_many(keys)
        self.stats["damaged"] += self.cache.damaged - damaged
        self.stats["hits"] += sum(k in found for k in keys)
        todo: dict[str, Any] = {}
        for k, r in zip(keys, requests):
            if k not in found and k not in todo:
                todo[k] = r
        self.stats["misses"] += len(todo)
        items = list(todo.items())
        fresh: dict[str, Judgement] = {}
        for start in range(0, len(items), self.chunk_size):
            chunk = items[start : start + self.chunk_size]
            results = checked_judgements(call([r for _, r in chunk]), len(chunk), self.judge)
            fresh.update({k: j for (k, _), j in zip(chunk, results)})
            self.stats["failed"] += sum(j.label is None for j in results)
            self.stats["stored"] += self.cache.put_many(
                (k, config_id, j) for (k, _), j in zip(chunk, results)
            )
        if requests:
            logger.debug("judge cache: %d hits, %d judged", len(requests) - len(todo), len(todo))
        return [found.get(k) or fresh[k] for k in keys]

    def close(self) -> None:
        """Close the cache (when this object opened it) and the wrapped judge; a ``with`` block
        calls it at its end (the judge base classes make every cached judge a context manager)."""
        if self._own_cache:
            self.cache.close()
        close = getattr(self.judge, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"CachedJudge({self.judge!r}, {str(self.cache.path)!r})"


class _CachedProcess(CachedJudge, ProcessJudge):
    def judge_steps(self, requests: Sequence[ProcessRequest]) -> list[Judgement]:
        return self._cached(requests, self.judge.judge_steps)


class _CachedOutcome(CachedJudge, OutcomeJudge):
    def judge_outcomes(self, requests: Sequence[OutcomeRequest]) -> list[Judgement]:
        return self._cached(requests, self.judge.judge_outcomes)


class _CachedBoth(CachedJudge, ProcessJudge, OutcomeJudge):
    def judge_steps(self, requests: Sequence[ProcessRequest]) -> list[Judgement]:
        return self._cached(requests, self.judge.judge_steps)

    def judge_outcomes(self, requests: Sequence[OutcomeRequest]) -> list[Judgement]:
        return self._cached(requests, self.judge.judge_outcomes)
