"""MuSiQue loader (official ``musique_ans_v1.0_{train,dev}.jsonl`` and ``musique_full`` files).

Official format: JSON Lines; each record has ``id`` (``"2hop__..."``, ``"3hop1__..."``, ``"4hop3__..."``),
``question``, ``answer``, ``answer_aliases`` (list), ``answerable`` (bool), ``paragraphs``
``[{"idx", "title", "paragraph_text", "is_supporting"}, ...]`` (20 per question) and
``question_decomposition`` ``[{"id", "question", "answer", "paragraph_support_idx"}, ...]`` (one
entry per hop, in hop order). A JSON list of such records is read as well.

Gold answers are ``answer`` followed by ``answer_aliases`` (MuSiQue's official evaluation takes the
max over them). Unanswerable records (``answerable: false``, MuSiQue-Full) are skipped unless
``answerable_only=False``; their paragraphs still enter the corpus.

Task metadata: ``hops``, ``answerable``, ``supporting_titles`` and ``supporting_paragraphs``
(``[{title, text}]``, in hop order when the decomposition gives it), ``supporting_passage_ids``,
``question_decomposition``, ``context_titles``; with ``include_context=True`` also ``paragraphs``.

Example:
    >>> from swirl_env.envs.qa.common import bundled_path
    >>> t = read_musique(bundled_path("musique", "dev"), split="dev").tasks[0]
    >>> t.answers[:2], t.metadata["supporting_titles"]
    (('for Best Performance by a Leading Actress in a Play in Ondine', 'leading role'), ['My Fair Lady (film)', 'List of awards and honours received by Audrey Hepburn'])
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from swirl_env.envs.qa.common import (
    QADataset,
    make_dataset,
    passage_id,
    read_records,
    require,
    unique_answers,
)
from swirl_env.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = ["read_musique"]

_HOPS = re.compile(r"^(\d)hop")


def _paragraphs(rec: dict[str, Any], where: str) -> list[dict[str, Any]]:
    pars = require(rec, "paragraphs", list, where)
    out = []
    for j, par in enumerate(pars):
        if not isinstance(par, dict) or "paragraph_text" not in par:
            raise ValueError(f"{where}: paragraphs[{j}] needs 'title' and 'paragraph_text'")
        out.append(
            {
                "idx": int(par.get("idx", j)),
                "title": str(par.get("title") or ""),
                "text": str(par["paragraph_text"]),
                "is_supporting": bool(par.get("is_supporting", False)),
            }
        )
    return out


def read_musique(
    path: str | os.PathLike[str],
    *,
    split: str = "dev",
    answerable_only: bool = True,
    include_context: bool = False,
) -> QADataset:
    """Parse a MuSiQue file into tasks and the split corpus (see the module docstring).

    Raises:
        ValueError: a malformed record (file and line named), no answer, or duplicate ids.

    Example:
        >>> ds = read_musique("musique_ans_v1.0_dev.jsonl")  # doctest: +SKIP
    """
    p = Path(path)
    pairs: list[tuple[str, str]] = []
    tasks: list[Task] = []
    skipped: dict[str, int] = {}
    for rec, where in read_records(p):
        qid = require(rec, "id", (str, int), where)
        question = require(rec, "question", str, where)
        pars = _paragraphs(rec, where)
        pairs.extend((d["title"], d["text"]) for d in pars)
        answerable = bool(rec.get("answerable", True))
        if answerable_only and not answerable:
            skipped["unanswerable"] = skipped.get("unanswerable", 0) + 1
            continue
        if "answer" not in rec:
            raise ValueError(f"{where}: record {qid!r} has no 'answer' (a test file?)")
        aliases = rec.get("answer_aliases") or []
        if not isinstance(aliases, list):
            raise ValueError(f"{where}: 'answer_aliases' should be a list")
        answers = unique_answers([rec["answer"], *aliases])
        if not answers:
            raise ValueError(f"{where}: record {qid!r} has an empty answer")
        decomposition = rec.get("question_decomposition") or []
        by_idx = {d["idx"]: d for d in pars}
        sup: list[dict[str, Any]] = []  # supporting paragraphs, hop order first, then the rest flagged
        for s in decomposition:
            d = by_idx.get(s.get("paragraph_support_idx")) if isinstance(s, dict) else None
            if d is not None and all(d is not x for x in sup):
                sup.append(d)
        sup += [d for d in pars if d["is_supporting"] and all(d is not x for x in sup)]
        m = _HOPS.match(str(qid))
        meta: dict[str, Any] = {
            "hops": int(m.group(1)) if m else len(decomposition) or None,
            "answerable": answerable,
            "supporting_titles": list(dict.fromkeys(d["title"] for d in sup)),
            "supporting_passage_ids": [passage_id(d["title"], d["text"]) for d in sup],
            "supporting_paragraphs": [{"title": d["title"], "text": d["text"]} for d in sup],
            "question_decomposition": decomposition,
            "context_titles": [d["title"] for d in pars],
        }
        if include_context:
            meta["paragraphs"] = [{"title": d["title"], "text": d["text"]} for d in pars]
        tasks.append(Task(str(qid), question, answers, "musique", split, meta, domain="search"))
    return make_dataset("musique", split, p, tasks, pairs, skipped)
