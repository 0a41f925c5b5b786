"""BeerQA loader (official ``beerqa_{train,dev}_v1.0.json``).

Official format (Qi et al., 2021, https://beerqa.github.io): one JSON object
``{"version": "1.0", "split": "dev", "data": [...]}``; each record of ``data`` has ``id``,
``src`` (the question's origin: ``"squad"``, ``"hotpotqa"``, or ``"beerqa"`` for the new 3+ hop
questions), ``question``, ``answers`` (a list of accepted answers) and ``context``
``[[title, paragraph_text], ...]`` (the gold paragraphs). The test file
(``beerqa_test_questions_v1.0.json``) has neither answers nor context and is rejected with a
clear error. A bare JSON list or JSONL of such records is read as well.

No BeerQA file ships with the package (not available to redistribute here); the tests use a
hand-written fixture in this exact format (``tests/fixtures/beerqa_dev_v1.0_FIXTURE.json``).

Task metadata: ``src``, ``supporting_titles`` (the context titles: BeerQA's context holds only
gold paragraphs), ``supporting_paragraphs``, ``supporting_passage_ids``, ``context_titles``.

Example:
    >>> ds = read_beerqa("beerqa_dev_v1.0.json")  # doctest: +SKIP
    >>> ds.tasks[0].metadata["src"]  # doctest: +SKIP
    'hotpotqa'
"""

from __future__ import annotations

import logging
import os
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

__all__ = ["read_beerqa"]


def _context(rec: dict[str, Any], where: str) -> list[tuple[str, str]]:
    ctx = rec.get("context")
    if ctx is None:
        return []
    if not isinstance(ctx, list):
        raise ValueError(f"{where}: 'context' should be a list of [title, text]")
    out = []
    for j, item in enumerate(ctx):
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise ValueError(f"{where}: context[{j}] should be [title, text], got {item!r:.80}")
        title, text = item
        if isinstance(text, list):  # tolerate sentence lists
            text = "".join(str(s) for s in text)
        out.append((str(title), str(text)))
    return out


def read_beerqa(
    path: str | os.PathLike[str],
    *,
    split: str = "dev",
    sources: tuple[str, ...] | list[str] | None = None,
    include_context: bool = False,
) -> QADataset:
    """Parse a BeerQA file into tasks and the split corpus (see the module docstring).

    Args:
        path: the JSON file (``{"data": [...]}``), a JSON list or a JSONL file.
        split: label of the tasks.
        sources: keep only questions whose ``src`` is in this list (e.g. ``["beerqa"]``, the 3+ hop
            questions); the corpus keeps every paragraph of the file.
        include_context: accepted for symmetry with the other loaders (BeerQA's context is the
            gold paragraphs, always stored as ``supporting_paragraphs``).

    Raises:
        ValueError: a malformed record, a record without answers (the test-questions file), or
            duplicate ids.

    Example:
        >>> ds = read_beerqa("beerqa_dev_v1.0.json", sources=["beerqa"])  # doctest: +SKIP
    """
    del include_context
    p = Path(path)
    pairs: list[tuple[str, str]] = []
    tasks: list[Task] = []
    skipped: dict[str, int] = {}
    for rec, where in read_records(p, data_key="data"):
        qid = require(rec, "id", (str, int), where)
        question = require(rec, "question", str, where)
        context = _context(rec, where)
        pairs.extend(context)
        if "answers" not in rec and "answer" not in rec:
            raise ValueError(
                f"{where}: record {qid!r} has no 'answers' (the test-questions file has none); "
                "the environment needs gold answers: use the train or dev file"
            )
        raw = rec.get("answers", rec.get("answer"))
        answers = unique_answers(raw if isinstance(raw, list) else [raw])
        if not answers:
            raise ValueError(f"{where}: record {qid!r} has no non-empty answer")
        src = rec.get("src")
        if sources is not None and src not in sources:
            skipped["src"] = skipped.get("src", 0) + 1
            continue
        meta = {
            "src": src,
            "supporting_titles": list(dict.fromkeys(t for t, _ in context)),
            "supporting_paragraphs": [{"title": t, "text": x} for t, x in context],
            "supporting_passage_ids": [passage_id(t, x) for t, x in context],
            "context_titles": [t for t, _ in context],
        }
        tasks.append(Task(str(qid), question, answers, "beerqa", split, meta, domain="search"))
    return make_dataset("beerqa", split, p, tasks, pairs, skipped)
