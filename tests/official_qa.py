"""The official QA evaluation scripts, transcribed: the references of ``test_qa_metrics.py`` and
``test_qa_official_agreement.py``.

Straightforward transcriptions, in the scripts' own style, of these published definitions:

* HotPotQA: ``hotpot_evaluate_v1.py`` of github.com/hotpotqa/hotpot (``normalize_answer``,
  ``f1_score`` with its yes/no/noanswer rule, ``exact_match_score``, ``update_answer``);
* MuSiQue: ``metrics/answer.py`` of github.com/StonyBrookNLP/musique (``normalize_answer``,
  ``get_tokens``, ``compute_exact``, ``compute_f1``, ``metric_max_over_ground_truths``,
  ``AnswerMetric.__call__``), with the gold list ``[answer] + answer_aliases`` of its
  ``evaluate_v1.0.py``; its ``get_tokens`` and ``compute_f1`` are SQuAD v2.0's;
* BeerQA: ``utils/eval_beerqa.py`` of github.com/beerqa/IRRR (``normalize_answer``,
  ``exact_match_score``, ``f1_score_normalized``, ``update_answer``: the first alias with a
  strictly higher F1 keeps its EM, precision and recall);
* SQuAD v1.1 (the CofCA env; CofCA publishes no evaluation script, see docs/environments.md):
  the official ``evaluate-v1.1.py`` of rajpurkar.github.io/SQuAD-explorer (``normalize_answer``,
  ``f1_score``, ``exact_match_score``, ``metric_max_over_ground_truths``).

A definition that several scripts share word for word stands here once:

* ``normalize_answer``: all four (MuSiQue's compiles the article pattern with ``re.UNICODE``,
  which a ``str`` pattern has by default); memoised (``functools.cache``) for speed;
* ``exact_match_score``: HotPotQA, BeerQA, SQuAD v1.1;
* :func:`hotpot_f1_score`: HotPotQA's ``f1_score``, BeerQA's ``f1_score_normalized``;
* ``metric_max_over_ground_truths``: MuSiQue, SQuAD v1.1;
* the F1, precision and recall of the common tokens (:func:`_overlap`): every F1 of the four;
* the running sums of ``update_answer`` (:func:`_add`): HotPotQA, BeerQA.
"""

from __future__ import annotations

import functools
import re
import string
from collections import Counter


# ------------------------------------------------------------------ shared by the scripts
@functools.cache  # memoised only: a pure function of s
def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def exact_match_score(prediction, ground_truth):
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)  # (sic: MuSiQue's passes prediction first)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def _overlap(prediction_tokens, ground_truth_tokens):
    """(f1, precision, recall) of the common tokens, as every script computes them; None when
    no token is common (each script returns its own zero then)."""
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return None
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1, precision, recall


def _add(metrics, em, f1, prec, recall):
    """The running sums of HotPotQA's and BeerQA's ``update_answer``."""
    metrics["em"] += float(em)
    metrics["f1"] += f1
    metrics["prec"] += prec
    metrics["recall"] += recall


def _as_metrics(metrics):
    return {
        "em": metrics["em"],
        "f1": metrics["f1"],
        "precision": metrics["prec"],
        "recall": metrics["recall"],
    }


# ------------------------------------------------------------------ HotPotQA: hotpot_evaluate_v1.py
def hotpot_f1_score(prediction, ground_truth):
    normalized_prediction = normalize_answer(prediction)
    normalized_ground_truth = normalize_answer(ground_truth)
    ZERO_METRIC = (0, 0, 0)
    if (
        normalized_prediction in ["yes", "no", "noanswer"]
        and normalized_prediction != normalized_ground_truth
    ):
        return ZERO_METRIC
    if (
        normalized_ground_truth in ["yes", "no", "noanswer"]
        and normalized_prediction != normalized_ground_truth
    ):
        return ZERO_METRIC
    prediction_tokens = normalized_prediction.split()
    ground_truth_tokens = normalized_ground_truth.split()
    return _overlap(prediction_tokens, ground_truth_tokens) or ZERO_METRIC


def _hp_update_answer(metrics, prediction, gold):
    em = exact_match_score(prediction, gold)
    f1, prec, recall = hotpot_f1_score(prediction, gold)
    _add(metrics, em, f1, prec, recall)
    return em, prec, recall


def reference_hotpotqa(prediction, golds):
    # the official script has one gold answer per question; all bundled HotPotQA golds are single
    assert len(golds) == 1
    metrics = Counter()
    _hp_update_answer(metrics, prediction, golds[0])
    return _as_metrics(metrics)


# ------------------------------------------------------------------ MuSiQue: metrics/answer.py
def get_tokens(s):
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold, a_pred):
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold, a_pred):
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    f1, _, _ = _overlap(pred_toks, gold_toks) or (0, 0, 0)
    return f1


def reference_musique(prediction, golds):
    exact_scores = metric_max_over_ground_truths(compute_exact, prediction, golds)
    f1_scores = metric_max_over_ground_truths(compute_f1, prediction, golds)
    return {"em": int(exact_scores), "f1": f1_scores}


# ------------------------------------------------------------------ BeerQA: utils/eval_beerqa.py
def _bq_update_answer(metrics, prediction, gold):
    best_f1 = 0.0
    best_em = 0.0
    best_prec = 0.0
    best_recall = 0.0
    for gold_answer in gold:
        em = exact_match_score(prediction, gold_answer)
        f1, prec, recall = hotpot_f1_score(prediction, gold_answer)  # f1_score_normalized
        if best_f1 < f1:
            best_f1 = f1
            best_em = em
            best_prec = prec
            best_recall = recall
    _add(metrics, best_em, best_f1, best_prec, best_recall)
    return best_em, best_prec, best_recall


def reference_beerqa(prediction, golds):
    metrics = Counter()
    _bq_update_answer(metrics, prediction, golds)
    return _as_metrics(metrics)


# ------------------------------------------------------------------ SQuAD v1.1: evaluate-v1.1.py
def squad_f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    f1, _, _ = _overlap(prediction_tokens, ground_truth_tokens) or (0, 0, 0)
    return f1


def reference_squad(prediction, golds):
    return {
        "em": metric_max_over_ground_truths(exact_match_score, prediction, golds),
        "f1": metric_max_over_ground_truths(squad_f1_score, prediction, golds),
    }
