"""CofCA loader (step-wise counterfactual multi-hop QA; Wu et al., arXiv:2402.11924).

CofCA pairs 300 counterfactually rewritten Wikipedia passages with one 2-hop, one 3-hop and one
4-hop question each (plus their sub-questions), and adds 900 factual control questions from
HotPotQA, 2WikiMultihopQA and MuSiQue. Its data was released through an anonymised link and has
no documented schema; no CofCA file is available here. This loader therefore reads the following
**assumed** record layout (JSON list, ``{"data": [...]}`` object, or JSONL), chosen to accept the
field names such releases use; records that fit none of it get a clear error naming the record:

.. code-block:: json

    {"id": "cf-001-2hop",                      // optional ("cofca-<n>" when missing); also "_id", "qid"
     "question": "...",                          // also "query"
     "answer": "...",                            // or "answers": [...]; "answer_aliases": [...] optional
     "hop": 2,                                   // optional; also "hops"
     "type": "counterfactual",                   // optional: "counterfactual" | "factual"
     "passages": [{"title": "...", "text": "..."}],   // or "passage": "..." (+ "title"),
                                                 // or "context": [[title, text], ...] / [{"title", "text"}]
     "sub_questions": [{"question": "...", "answer": "..."}]}   // optional; also "sub_qa"

The tests use a hand-written fixture in this layout (``tests/fixtures/cofca_FIXTURE.json``). When
the real release uses other names, map them in a few lines (see docs/datasets.md) or pass a
converted file.

Task metadata: ``hops``, ``type``, ``sub_questions``, ``supporting_titles``,
``supporting_paragraphs`` and ``supporting_passage_ids`` (the record's passages), ``context_titles``.

Example:
    >>> ds = read_cofca("cofca.json")  # doctest: +SKIP
    >>> ds.tasks[0].metadata["type"]  # doctest: +SKIP
    'counterfactual'
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from swirl_env.envs.qa.common import QADataset, make_dataset, passage_id, read_records, unique_answers
from swirl_env.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = ["read_cofca"]


def _first(rec: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if rec.get(k) is not None:
            return rec[k]
    return None


def _passages(rec: dict[str, Any], where: str) -> list[tuple[str, str]]:
    items = _first(rec, "passages", "context", "paragraphs")
    if items is None:
        single = _first(rec, "passage", "paragraph", "text")
        if single is None:
            raise ValueError(
                f"{where}: a CofCA record needs its passage(s): 'passages', 'context', 'paragraphs' "
                f"or 'passage'; got fields {sorted(rec)}"
            )
        return [(str(rec.get("title") or ""), str(single))]
    if isinstance(items, str):
        return [(str(rec.get("title") or ""), items)]
    if not isinstance(items, list):
        raise ValueError(f"{where}: passages should be a list, got {type(items).__name__}")
    out = []
    for j, item in enumerate(items):
        if isinstance(item, dict):
            text = _first(item, "text", "paragraph_text", "passage", "contents")
            if text is None:
                raise ValueError(f"{where}: passage {j} has no 'text'")
            out.append((str(item.get("title") or ""), str(text)))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            title, text = item
            out.append((str(title), "".join(text) if isinstance(text, list) else str(text)))
        elif isinstance(item, str):
            out.append(("", item))
        else:
            raise ValueError(f"{where}: passage {j} should be {{title, text}} or [title, text]")
    return out


def _sub_questions(rec: dict[str, Any], where: str) -> list[dict[str, str]]:
    subs = _first(rec, "sub_questions", "sub_qa", "sub_qas", "subquestions")
    if subs is None:
        return []
    if not isinstance(subs, list):
        raise ValueError(f"{where}: 'sub_questions' should be a list")
    out = []
    for s in subs:
        if isinstance(s, dict):
            out.append(
                {
                    "question": str(_first(s, "question", "q") or ""),
                    "answer": str(_first(s, "answer", "a") or ""),
                }
            )
        elif isinstance(s, (list, tuple)) and len(s) == 2:
            out.append({"question": str(s[0]), "answer": str(s[1])})
        else:
            raise ValueError(f"{where}: a sub-question should be {{question, answer}} or [question, answer]")
    return out


def read_cofca(
    path: str | os.PathLike[str],
    *,
    split: str = "test",
    types: tuple[str, ...] | list[str] | None = None,
    include_context: bool = False,
) -> QADataset:
    """Parse a CofCA file (assumed layout, see the module docstring) into tasks and the corpus.

    Args:
        path: JSON list / ``{"data": [...]}`` / JSONL file.
        split: label of the tasks (CofCA is an evaluation set: ``"test"``).
        types: keep only these record types (``"counterfactual"``, ``"factual"``).
        include_context: accepted for symmetry (the record's passages are always in the metadata).

    Raises:
        ValueError: a record without question, answer or passages, or duplicate ids.

    Example:
        >>> ds = read_cofca("cofca.json", types=["counterfactual"])  # doctest: +SKIP
    """
    del include_context
    p = Path(path)
    pairs: list[tuple[str, str]] = []
    tasks: list[Task] = []
    skipped: dict[str, int] = {}
    for n, (rec, where) in enumerate(read_records(p, data_key="data")):
        if not isinstance(rec, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(rec).__name__}")
        qid = _first(rec, "id", "_id", "qid")
        qid = f"cofca-{n}" if qid is None else str(qid)
        question = _first(rec, "question", "query")
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"{where}: record {qid!r} has no 'question'")
        passages = _passages(rec, where)
        pairs.extend(passages)
        raw = _first(rec, "answers", "answer", "gold_answer")
        if raw is None:
            raise ValueError(f"{where}: record {qid!r} has no 'answer'")
        aliases = rec.get("answer_aliases") or []
        answers = unique_answers([*(raw if isinstance(raw, list) else [raw]), *aliases])
        if not answers:
            raise ValueError(f"{where}: record {qid!r} has an empty answer")
        rtype = rec.get("type")
        if types is not None and rtype not in types:
            skipped["type"] = skipped.get("type", 0) + 1
            continue
        hops = _first(rec, "hop", "hops", "num_hops")
        meta = {
            "hops": int(hops) if hops is not None else None,
            "type": rtype,
            "sub_questions": _sub_questions(rec, where),
            "supporting_titles": list(dict.fromkeys(t for t, _ in passages if t)),
            "supporting_paragraphs": [{"title": t, "text": x} for t, x in passages],
            "supporting_passage_ids": [passage_id(t, x) for t, x in passages],
            "context_titles": [t for t, _ in passages],
        }
        tasks.append(Task(qid, question, answers, "cofca", split, meta, domain="search"))
    return make_dataset("cofca", split, p, tasks, pairs, skipped)
