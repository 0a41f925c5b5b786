"""Question-answering outcome metrics: exact match, token F1 / precision / recall, cover-EM.

The normalisation and the per-answer formulas are those of the official HotPotQA evaluation
script (``hotpot_evaluate_v1.py``), which itself extends SQuAD v1.1's ``evaluate-v1.1.py``:

* :func:`normalize_answer`: lower case, drop ASCII punctuation (``string.punctuation``), drop the
  articles ``a``/``an``/``the`` (as whole words), collapse whitespace;
* :func:`exact_match`: normalised strings are equal;
* :func:`f1_score`: bag-of-tokens overlap of the normalised strings, returned as
  ``(f1, precision, recall)``; if either side normalises to ``yes``/``no``/``noanswer`` and the
  two differ, the score is ``(0, 0, 0)`` (HotPotQA's special case, so "yes" never gets partial
  credit against "yes it is").

``style="squad2"`` gives the SQuAD v2.0 / MuSiQue official F1 instead: no yes/no special case, and
when either side is empty after normalisation, F1 = P = R = 1 if both are empty, else 0.

:func:`qa_metrics` scores one prediction against all gold aliases (gold answer first, then
aliases): ``em`` and ``cover_em`` are the max over aliases, ``f1`` is the max over aliases and
``precision``/``recall`` come from the alias with the best F1 (the first one on ties), which is
what the official scripts' ``metric_max_over_ground_truths`` gives for each number.

Example:
    >>> normalize_answer("The  Eiffel-Tower!")
    'eiffeltower'
    >>> qa_metrics("the Eiffel Tower in Paris", ["Eiffel Tower"])["cover_em"]
    1.0
"""

from __future__ import annotations

import logging
import re
import string
from collections import Counter
from collections.abc import Iterable
from typing import Literal

logger = logging.getLogger(__name__)

__all__ = [
    "METRIC_NAMES",
    "cover_em",
    "exact_match",
    "f1_score",
    "normalize_answer",
    "qa_metrics",
]

#: Keys of the dict returned by :func:`qa_metrics`.
METRIC_NAMES: tuple[str, ...] = ("em", "f1", "precision", "recall", "cover_em")

F1Style = Literal["hotpotqa", "squad2"]

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPECIAL = ("yes", "no", "noanswer")


def normalize_answer(text: str) -> str:
    """Normalise an answer as the official SQuAD / HotPotQA scripts do.

    Lower case, remove every character of ``string.punctuation``, remove the words ``a``,
    ``an`` and ``the``, then collapse runs of whitespace to one space. Non-ASCII characters
    (accents, CJK, typographic quotes) are kept as they are, exactly as in the official scripts.

    Example:
        >>> normalize_answer("  An Apple, a day!  ")
        'apple day'
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize_answer expects a str, got {type(text).__name__}")
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> bool:
    """``True`` when the normalised prediction equals the normalised gold answer.

    Example:
        >>> exact_match("The Beatles.", "beatles")
        True
    """
    return normalize_answer(prediction) == normalize_answer(gold)


def f1_score(prediction: str, gold: str, *, style: F1Style = "hotpotqa") -> tuple[float, float, float]:
    """Token F1, precision and recall of a prediction against one gold answer.

    ``style="hotpotqa"`` (default) reproduces ``hotpot_evaluate_v1.f1_score`` exactly, including
    its yes/no/noanswer rule; ``style="squad2"`` reproduces SQuAD v2.0's ``compute_f1`` (used by
    MuSiQue's official evaluation), which scores two empty answers as a match.

    Example:
        >>> f1_score("Barack Obama", "Obama")
        (0.6666666666666666, 0.5, 1.0)
        >>> f1_score("yes", "yes it is")
        (0.0, 0.0, 0.0)
    """
    pred = normalize_answer(prediction)
    ref = normalize_answer(gold)
    pred_tokens = pred.split()
    ref_tokens = ref.split()
    if style == "hotpotqa":
        if pred in _SPECIAL and pred != ref:
            return 0.0, 0.0, 0.0
        if ref in _SPECIAL and pred != ref:
            return 0.0, 0.0, 0.0
    elif style == "squad2":
        if not pred_tokens or not ref_tokens:
            same = float(pred_tokens == ref_tokens)
            return same, same, same
    else:
        raise ValueError(f"unknown F1 style {style!r}; expected 'hotpotqa' or 'squad2'")
    num_same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if num_same == 0:
        return 0.0, 0.0, 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(ref_tokens)
    return (2 * precision * recall) / (precision + recall), precision, recall


def cover_em(prediction: str, gold: str) -> bool:
    """``True`` when the normalised gold answer occurs in the normalised prediction.

    Containment is on whole tokens (the gold's token sequence is a contiguous run of the
    prediction's tokens), so a short gold such as ``"no"`` or ``"1"`` does not match inside
    ``"north"`` or ``"1990"``. An empty normalised gold never matches.

    Example:
        >>> cover_em("It was the Eiffel Tower.", "Eiffel Tower")
        True
        >>> cover_em("in 1990", "1")
        False
    """
    ref = normalize_answer(gold)
    if not ref:
        return False
    return f" {ref} " in f" {normalize_answer(prediction)} "


def _as_golds(golds: str | Iterable[str]) -> list[str]:
    if isinstance(golds, str):
        out = [golds]
    else:
        out = list(golds)
    if not out:
        raise ValueError("qa_metrics needs at least one gold answer")
    for g in out:
        if not isinstance(g, str):
            raise TypeError(f"gold answers must be str, got {type(g).__name__}: {g!r}")
    return out


def qa_metrics(
    prediction: str | None, golds: str | Iterable[str], *, style: F1Style = "hotpotqa"
) -> dict[str, float]:
    """All QA metrics of one prediction against the gold answer and its aliases.

    Args:
        prediction: the model's final answer; ``None`` (no answer given) scores 0 everywhere.
        golds: the gold answer, or the gold answer followed by its accepted aliases.
        style: F1 variant, ``"hotpotqa"`` (default) or ``"squad2"`` (see :func:`f1_score`).

    Returns:
        ``{"em", "f1", "precision", "recall", "cover_em"}`` as floats in [0, 1]: EM and cover-EM
        are maxima over aliases, F1 is the maximum over aliases, and precision/recall belong to
        the alias with the best F1 (the first such alias on ties).

    Example:
        >>> m = qa_metrics("Paris, France", ["Paris", "City of Light"])
        >>> (m["em"], m["cover_em"], round(m["f1"], 3), m["precision"], m["recall"])
        (0.0, 1.0, 0.667, 0.5, 1.0)
    """
    refs = _as_golds(golds)
    if prediction is None:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    if not isinstance(prediction, str):
        raise TypeError(f"prediction must be a str or None, got {type(prediction).__name__}")
    best = (-1.0, 0.0, 0.0)
    for g in refs:
        f = f1_score(prediction, g, style=style)
        if f[0] > best[0]:
            best = f
    return {
        "em": float(any(exact_match(prediction, g) for g in refs)),
        "f1": float(best[0]),
        "precision": float(best[1]),
        "recall": float(best[2]),
        "cover_em": float(any(cover_em(prediction, g) for g in refs)),
    }
