"""HotPotQA loader (official train / dev-distractor JSON files).

Official format (``hotpot_train_v1.1.json``, ``hotpot_dev_distractor_v1.json``): one JSON list;
each record has ``_id``, ``question``, ``answer``, ``type`` (``bridge``/``comparison``), ``level``
(``easy``/``medium``/``hard``), ``supporting_facts`` ``[[title, sent_id], ...]`` and ``context``
``[[title, [sentence, ...]], ...]`` (10 paragraphs in the distractor setting; sentences after the
first carry their leading space, so a paragraph's text is ``"".join(sentences)``).

The Hugging Face ``hotpot_qa`` layout is read too (``id``; ``supporting_facts`` as
``{"title": [...], "sent_id": [...]}``; ``context`` as ``{"title": [...], "sentences": [...]}``),
from a JSON list or JSONL file. The test file of the fullwiki setting has no answers: it is
rejected with a clear error.

Task metadata: ``type``, ``level``, ``supporting_titles`` (unique, in ``supporting_facts`` order),
``supporting_facts``, ``supporting_passage_ids``, ``supporting_paragraphs`` ``[{title, text}]``,
``context_titles``; with ``include_context=True`` also ``paragraphs`` ``[{title, text}]`` (all of them).

Example:
    >>> from swirl_env.envs.qa.common import bundled_path
    >>> ds = read_hotpotqa(bundled_path("hotpotqa", "dev"), split="dev")
    >>> ds.tasks[0].metadata["supporting_titles"]
    ['VIVA Media', 'Gesellschaft mit beschränkter Haftung']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from swirl_env.envs.qa.common import QADataset, make_dataset, passage_id, read_records, require
from swirl_env.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = ["read_hotpotqa"]

LEVELS = ("easy", "medium", "hard")


def _context(rec: dict[str, Any], where: str) -> list[tuple[str, list[str]]]:
    ctx = require(rec, "context", (list, dict), where)
    if isinstance(ctx, dict):  # Hugging Face layout
        titles, sents = ctx.get("title"), ctx.get("sentences")
        if not isinstance(titles, list) or not isinstance(sents, list) or len(titles) != len(sents):
            raise ValueError(f"{where}: 'context' object needs equal-length 'title' and 'sentences' lists")
        pairs = list(zip(titles, sents))
    else:
        pairs = []
        for j, item in enumerate(ctx):
            if not (isinstance(item, list) and len(item) == 2):
                raise ValueError(f"{where}: context[{j}] should be [title, [sentences]], got {item!r:.80}")
            pairs.append((item[0], item[1]))
    out = []
    for j, (title, sentences) in enumerate(pairs):
        if not isinstance(title, str) or not isinstance(sentences, list):
            raise ValueError(f"{where}: context[{j}] should be [title, [sentences]]")
        out.append((title, [str(s) for s in sentences]))
    return out


def _supporting(rec: dict[str, Any], where: str) -> list[tuple[str, int]]:
    sf = rec.get("supporting_facts")
    if sf is None:
        return []
    if isinstance(sf, dict):  # Hugging Face layout
        titles, ids = sf.get("title"), sf.get("sent_id")
        if not isinstance(titles, list) or not isinstance(ids, list) or len(titles) != len(ids):
            raise ValueError(f"{where}: 'supporting_facts' object needs equal-length 'title' and 'sent_id'")
        return [(str(t), int(i)) for t, i in zip(titles, ids)]
    if not isinstance(sf, list):
        raise ValueError(f"{where}: 'supporting_facts' should be a list of [title, sent_id]")
    out = []
    for item in sf:
        if not (isinstance(item, list) and len(item) == 2):
            raise ValueError(f"{where}: supporting fact should be [title, sent_id], got {item!r:.80}")
        out.append((str(item[0]), int(item[1])))
    return out


def read_hotpotqa(
    path: str | os.PathLike[str],
    *,
    split: str = "dev",
    levels: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    include_context: bool = False,
) -> QADataset:
    """Parse a HotPotQA file into tasks and the split corpus (see the module docstring).

    Args:
        path: the JSON (or JSONL, optionally gzipped) file.
        split: label of the tasks.
        levels: keep only these difficulty levels (the paper trains on ``("medium", "hard")``).
            The corpus always holds the paragraphs of every question of the file.
        types: keep only these question types (``"bridge"``, ``"comparison"``).
        include_context: also store every paragraph of the question in its metadata.

    Raises:
        ValueError: a malformed record (file and record named), no answer, or duplicate ids.

    Example:
        >>> ds = read_hotpotqa("hotpot_dev_distractor_v1.json", levels=("hard",))  # doctest: +SKIP
    """
    p = Path(path)
    if levels is not None:
        bad = sorted(set(levels) - set(LEVELS))
        if bad:
            raise ValueError(f"unknown HotPotQA levels {bad}; known: {LEVELS}")
    pairs: list[tuple[str, str]] = []
    tasks: list[Task] = []
    skipped: dict[str, int] = {}
    for rec, where in read_records(p):
        qid = rec.get("_id", rec.get("id")) if isinstance(rec, dict) else None
        if qid is None:
            raise ValueError(f"{where}: missing field '_id' (or 'id')")
        question = require(rec, "question", str, where)
        context = _context(rec, where)
        paragraphs = [(t, "".join(s)) for t, s in context]
        pairs.extend(paragraphs)
        if "answer" not in rec:
            raise ValueError(
                f"{where}: record {qid!r} has no 'answer' (a test/questions-only file?); "
                "the environment needs gold answers"
            )
        answer = str(rec["answer"]).strip()
        if not answer:
            raise ValueError(f"{where}: record {qid!r} has an empty answer")
        level, qtype = rec.get("level"), rec.get("type")
        if levels is not None and level not in levels:
            skipped["level"] = skipped.get("level", 0) + 1
            continue
        if types is not None and qtype not in types:
            skipped["type"] = skipped.get("type", 0) + 1
            continue
        facts = _supporting(rec, where)
        sup_titles = list(dict.fromkeys(t for t, _ in facts))
        by_title = {}
        for t, text in paragraphs:
            by_title.setdefault(t, text)
        missing = [t for t in sup_titles if t not in by_title]
        if missing:
            logger.debug("%s: supporting titles not in the context: %s", where, missing)
        sup_pars = [{"title": t, "text": by_title[t]} for t in sup_titles if t in by_title]
        meta: dict[str, Any] = {
            "type": qtype,
            "level": level,
            "supporting_titles": sup_titles,
            "supporting_facts": [[t, i] for t, i in facts],
            "supporting_passage_ids": [passage_id(d["title"], d["text"]) for d in sup_pars],
            "supporting_paragraphs": sup_pars,
            "context_titles": [t for t, _ in paragraphs],
        }
        if include_context:
            meta["paragraphs"] = [{"title": t, "text": x} for t, x in paragraphs]
        tasks.append(Task(str(qid), question, (answer,), "hotpotqa", split, meta, domain="search"))
    return make_dataset("hotpotqa", split, p, tasks, pairs, skipped)
