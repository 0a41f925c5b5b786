"""Question-answering outcome metrics: exact match, token F1 / precision / recall, cover-EM.

Every dataset is scored by default exactly as its official evaluation script scores it. All of
them share SQuAD v1.1's normalisation (:func:`normalize_answer`: lower case, drop ASCII
punctuation, drop the articles ``a``/``an``/``the`` as whole words, collapse whitespace) and EM
(normalised strings are equal); they differ in the per-answer F1 and in how aliases combine.
A *style* names one official script:

=============  ==========================================  =====================================
style          per-answer F1                               over the gold answer and its aliases
=============  ==========================================  =====================================
``hotpotqa``   ``hotpot_evaluate_v1.f1_score``: if either  EM and F1 are maxima over aliases
               side normalises to ``yes``/``no``/           (SQuAD's ``metric_max_over_ground_
               ``noanswer`` and they differ, 0; no common  truths``; HotPotQA has one gold)
               token, 0
``musique``    ``metrics/answer.py`` ``compute_f1`` (=     EM and F1 are maxima over
               SQuAD v2.0): no yes/no rule; if either      ``[answer] + answer_aliases``
               side has no token, 1 if both have none
               else 0
``beerqa``     HotPotQA's F1 (``f1_score_normalized``)     ``update_answer``: the first alias
                                                           with the strictly highest F1 (> 0)
                                                           gives EM, F1, P and R; no alias with
                                                           F1 > 0 gives all 0, EM included
``squad``      SQuAD v1.1 ``evaluate-v1.1.py``: no yes/no  EM and F1 are maxima over aliases
               rule; no common token, 0
=============  ==========================================  =====================================

``"squad2"`` is accepted as another name of ``"musique"`` (the same ``compute_f1``).
:data:`OFFICIAL_STYLES` maps each dataset to its style (CofCA publishes no evaluation script; it
reports EM/F1 in the SQuAD way, so it gets ``squad``, see docs/environments.md).

:func:`qa_metrics` scores one prediction against all gold aliases (gold answer first, then
aliases): ``precision``/``recall`` come from the alias with the best F1 (the first one on ties),
the alias whose F1 is reported; ``cover_em`` (not an official metric) is the max over aliases.

Example:
    >>> normalize_answer("The  Eiffel-Tower!")
    'eiffeltower'
    >>> qa_metrics("the Eiffel Tower in Paris", ["Eiffel Tower"])["cover_em"]
    1.0
    >>> qa_metrics("No", ["numero symbol, No"], style="musique")["f1"]
    0.5
    >>> qa_metrics("No", ["numero symbol, No"], style="hotpotqa")["f1"]
    0.0
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
    "OFFICIAL_STYLES",
    "STYLES",
    "cover_em",
    "exact_match",
    "f1_score",
    "normalize_answer",
    "official_style",
    "qa_metrics",
]

#: Keys of the dict returned by :func:`qa_metrics`.
METRIC_NAMES: tuple[str, ...] = ("em", "f1", "precision", "recall", "cover_em")

F1Style = Literal["hotpotqa", "musique", "beerqa", "squad", "squad2"]

#: The scoring styles (see the module docs); ``"squad2"`` is another name of ``"musique"``.
STYLES: tuple[str, ...] = ("hotpotqa", "musique", "beerqa", "squad", "squad2")

#: Each dataset's official scoring style.
OFFICIAL_STYLES: dict[str, str] = {
    "hotpotqa": "hotpotqa",
    "musique": "musique",
    "beerqa": "beerqa",
    "cofca": "squad",
    "squad": "squad",
}

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPECIAL = ("yes", "no", "noanswer")
_ALIASES = {"squad2": "musique"}


def official_style(dataset: str) -> str:
    """The scoring style of ``dataset``'s official evaluation script.

    Example:
        >>> official_style("musique"), official_style("CofCA")
        ('musique', 'squad')
    """
    key = str(dataset).lower()
    if key not in OFFICIAL_STYLES:
        raise ValueError(f"no official QA scoring for dataset {dataset!r}; known: {sorted(OFFICIAL_STYLES)}")
    return OFFICIAL_STYLES[key]


def _style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"unknown F1 style {style!r}; expected one of {STYLES}")
    return _ALIASES.get(style, style)


def normalize_answer(text: str) -> str:
    """Normalise an answer as the official SQuAD / HotPotQA / MuSiQue / BeerQA scripts do.

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


def _f1_normalized(pred: str, ref: str, style: str) -> tuple[float, float, float]:
    pred_tokens = pred.split()
    ref_tokens = ref.split()
    if style in ("hotpotqa", "beerqa"):
        if (pred in _SPECIAL or ref in _SPECIAL) and pred != ref:
            return 0.0, 0.0, 0.0
    elif style == "musique" and (not pred_tokens or not ref_tokens):
        same = float(pred_tokens == ref_tokens)
        return same, same, same
    num_same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if num_same == 0:
        return 0.0, 0.0, 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(ref_tokens)
    return (2 * precision * recall) / (precision + recall), precision, recall


def f1_score(prediction: str, gold: str, *, style: F1Style = "hotpotqa") -> tuple[float, float, float]:
    """Token F1, precision and recall of a prediction against one gold answer.

    ``style="hotpotqa"`` (default; also ``"beerqa"``, whose script uses the same function)
    reproduces ``hotpot_evaluate_v1.f1_score`` including its yes/no/noanswer rule;
    ``"musique"`` (or ``"squad2"``) reproduces MuSiQue's / SQuAD v2.0's ``compute_f1``, which
    scores two answers without tokens as a match; ``"squad"`` reproduces SQuAD v1.1's ``f1_score``.

    Example:
        >>> f1_score("Barack Obama", "Obama")
        (0.6666666666666666, 0.5, 1.0)
        >>> f1_score("yes", "yes it is"), f1_score("yes", "yes it is", style="musique")[0]
        ((0.0, 0.0, 0.0), 0.5)
    """
    return _f1_normalized(normalize_answer(prediction), normalize_answer(gold), _style(style))


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
        style: the official script to follow (see the module docs): ``"hotpotqa"`` (default),
            ``"musique"`` (``"squad2"``), ``"beerqa"`` or ``"squad"``;
            :func:`official_style` gives a dataset's.

    Returns:
        ``{"em", "f1", "precision", "recall", "cover_em"}`` as floats in [0, 1]. EM and F1 are
        combined over aliases as the style's script does (maxima, or BeerQA's best-F1 alias);
        precision/recall belong to the alias with the best F1 (the first such alias on ties);
        cover-EM is the maximum over aliases.

    Example:
        >>> m = qa_metrics("Paris, France", ["Paris", "City of Light"])
        >>> (m["em"], m["cover_em"], round(m["f1"], 3), m["precision"], m["recall"])
        (0.0, 1.0, 0.667, 0.5, 1.0)
        >>> qa_metrics("x y", ["y x", "X Y"], style="beerqa")["em"]  # first best-F1 alias: "y x"
        0.0
    """
    refs = _as_golds(golds)
    st = _style(style)
    if prediction is None:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    if not isinstance(prediction, str):
        raise TypeError(f"prediction must be a str or None, got {type(prediction).__name__}")
    pred = normalize_answer(prediction)
    normed = [normalize_answer(g) for g in refs]
    scored = [(_f1_normalized(pred, ref, st), pred == ref) for ref in normed]
    if st == "beerqa":
        # eval_beerqa.update_answer: the first alias with a strictly higher F1 than the best so
        # far (starting from 0) supplies every number, EM included
        best, em = (0.0, 0.0, 0.0), False
        for f, same in scored:
            if best[0] < f[0]:
                best, em = f, same
    else:
        best = (-1.0, 0.0, 0.0)
        for f, _ in scored:
            if f[0] > best[0]:
                best = f
        em = any(same for _, same in scored)
    return {
        "em": float(em),
        "f1": float(best[0]),
        "precision": float(best[1]),
        "recall": float(best[2]),
        "cover_em": float(any(ref and f" {ref} " in f" {pred} " for ref in normed)),
    }
