"""Each QA env's default metric against its dataset's official evaluation script.

The reference functions below (``_hp_*``, ``_mq_*``, ``_bq_*``, ``_sq_*``) are straightforward
transcriptions, in the scripts' own style, of these published definitions:

* HotPotQA: ``hotpot_evaluate_v1.py`` of github.com/hotpotqa/hotpot (``normalize_answer``,
  ``f1_score`` with its yes/no/noanswer rule, ``exact_match_score``, ``update_answer``);
* MuSiQue: ``metrics/answer.py`` of github.com/StonyBrookNLP/musique (``normalize_answer``,
  ``get_tokens``, ``compute_exact``, ``compute_f1``, ``metric_max_over_ground_truths``,
  ``AnswerMetric.__call__``), with the gold list ``[answer] + answer_aliases`` of its
  ``evaluate_v1.0.py``;
* BeerQA: ``utils/eval_beerqa.py`` of github.com/beerqa/IRRR (``normalize_answer``,
  ``exact_match_score``, ``f1_score_normalized``, ``update_answer``: the first alias with a
  strictly higher F1 keeps its EM, precision and recall);
* SQuAD v1.1 (the CofCA env; CofCA publishes no evaluation script, see docs/environments.md):
  the official ``evaluate-v1.1.py`` of rajpurkar.github.io/SQuAD-explorer (``normalize_answer``,
  ``f1_score``, ``exact_match_score``, ``metric_max_over_ground_truths``).

The pairs are built from every bundled gold answer (HotPotQA and MuSiQue samples, dev and
train, with MuSiQue's aliases; the BeerQA and CofCA fixtures) and hand-made edge gold lists
(``"numero symbol, No"``, yes/no golds, golds that normalise to empty, aliases that tie), with
perturbations of case, punctuation, articles, extra/missing/reordered tokens, yes/no, numbers,
unicode and empty strings. Every number the official script defines must be equal (``==``).
The transcribed ``normalize_answer`` functions are memoised (``functools.cache``) for speed.
"""

from __future__ import annotations

import collections
import functools
import json
import random
import re
import string
import unicodedata
from collections import Counter
from pathlib import Path

import gymnasium as gym
import pytest

import swirl_env  # noqa: F401  (registers the ids)
from swirl_env.envs.qa.loaders import load_qa_dataset
from swirl_env.metrics.qa import qa_metrics
from swirl_env.tasks.base import Task

FIX = Path(__file__).parent / "fixtures"


# ------------------------------------------------------------------ HotPotQA: hotpot_evaluate_v1.py
@functools.cache  # memoised only: a pure function of s
def _hp_normalize_answer(s):
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


def _hp_f1_score(prediction, ground_truth):
    normalized_prediction = _hp_normalize_answer(prediction)
    normalized_ground_truth = _hp_normalize_answer(ground_truth)
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
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return ZERO_METRIC
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1, precision, recall


def _hp_exact_match_score(prediction, ground_truth):
    return _hp_normalize_answer(prediction) == _hp_normalize_answer(ground_truth)


def _hp_update_answer(metrics, prediction, gold):
    em = _hp_exact_match_score(prediction, gold)
    f1, prec, recall = _hp_f1_score(prediction, gold)
    metrics["em"] += float(em)
    metrics["f1"] += f1
    metrics["prec"] += prec
    metrics["recall"] += recall
    return em, prec, recall


def reference_hotpotqa(prediction, golds):
    # the official script has one gold answer per question; all bundled HotPotQA golds are single
    assert len(golds) == 1
    metrics = Counter()
    _hp_update_answer(metrics, prediction, golds[0])
    return {
        "em": metrics["em"],
        "f1": metrics["f1"],
        "precision": metrics["prec"],
        "recall": metrics["recall"],
    }


# ------------------------------------------------------------------ MuSiQue: metrics/answer.py
@functools.cache  # memoised only: a pure function of s
def _mq_normalize_answer(s):
    def remove_articles(text):
        regex = re.compile(r"\b(a|an|the)\b", re.UNICODE)
        return re.sub(regex, " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def _mq_get_tokens(s):
    if not s:
        return []
    return _mq_normalize_answer(s).split()


def _mq_compute_exact(a_gold, a_pred):
    return int(_mq_normalize_answer(a_gold) == _mq_normalize_answer(a_pred))


def _mq_compute_f1(a_gold, a_pred):
    gold_toks = _mq_get_tokens(a_gold)
    pred_toks = _mq_get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def _mq_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)  # (sic: the script passes prediction first)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def reference_musique(prediction, golds):
    exact_scores = _mq_metric_max_over_ground_truths(_mq_compute_exact, prediction, golds)
    f1_scores = _mq_metric_max_over_ground_truths(_mq_compute_f1, prediction, golds)
    return {"em": int(exact_scores), "f1": f1_scores}


# ------------------------------------------------------------------ BeerQA: utils/eval_beerqa.py
@functools.cache  # memoised only: a pure function of s
def _bq_normalize_answer(s):
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


def _bq_exact_match_score(prediction, ground_truth):
    return _bq_normalize_answer(prediction) == _bq_normalize_answer(ground_truth)


def _bq_f1_score_normalized(prediction, ground_truth):
    normalized_prediction = _bq_normalize_answer(prediction)
    normalized_ground_truth = _bq_normalize_answer(ground_truth)
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
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return ZERO_METRIC
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1, precision, recall


def _bq_update_answer(metrics, prediction, gold):
    best_f1 = 0.0
    best_em = 0.0
    best_prec = 0.0
    best_recall = 0.0
    for gold_answer in gold:
        em = _bq_exact_match_score(prediction, gold_answer)
        f1, prec, recall = _bq_f1_score_normalized(prediction, gold_answer)
        if best_f1 < f1:
            best_f1 = f1
            best_em = em
            best_prec = prec
            best_recall = recall
    metrics["em"] += float(best_em)
    metrics["f1"] += best_f1
    metrics["prec"] += best_prec
    metrics["recall"] += best_recall
    return best_em, best_prec, best_recall


def reference_beerqa(prediction, golds):
    metrics = Counter()
    _bq_update_answer(metrics, prediction, golds)
    return {
        "em": metrics["em"],
        "f1": metrics["f1"],
        "precision": metrics["prec"],
        "recall": metrics["recall"],
    }


# ------------------------------------------------------------------ SQuAD v1.1: evaluate-v1.1.py
@functools.cache  # memoised only: a pure function of s
def _sq_normalize_answer(s):
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


def _sq_f1_score(prediction, ground_truth):
    prediction_tokens = _sq_normalize_answer(prediction).split()
    ground_truth_tokens = _sq_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def _sq_exact_match_score(prediction, ground_truth):
    return _sq_normalize_answer(prediction) == _sq_normalize_answer(ground_truth)


def _sq_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def reference_squad(prediction, golds):
    return {
        "em": _sq_metric_max_over_ground_truths(_sq_exact_match_score, prediction, golds),
        "f1": _sq_metric_max_over_ground_truths(_sq_f1_score, prediction, golds),
    }


# ------------------------------------------------------------------ the pairs
#: gold lists that exercise the scripts' corner cases (first the issue's MuSiQue example)
EDGE_GOLDS: list[list[str]] = [
    ["numero symbol, No"],
    ["No"],
    ["yes"],
    ["Yes", "yes it is"],
    ["no", "No way"],
    ["noanswer"],
    ["no answer"],
    ["The"],  # normalises to ''
    ["!!!", "exclamation"],
    ["", "Paris"],
    ["a an the", "the"],
    ["x y", "y x", "X Y"],  # ties on F1 = 1: the first alias decides BeerQA's EM
    ["y x", "x y"],
    ["Au", "Au"],
    ["1,000", "1000", "one thousand"],
    ["3.14", "314"],
    ["Café de Flore", "cafe de flore"],
    ["“quoted”", "quoted"],
    ["ＡＢＣ", "ABC"],
    ["New York City", "New York", "NYC"],
    ["the the the"],
    ["rock'n'roll", "rock n roll"],
]


def bundled_gold_lists() -> dict[str, list[list[str]]]:
    """Every bundled gold list, by dataset (the HotPotQA and MuSiQue samples, the fixtures)."""
    out: dict[str, list[list[str]]] = {}
    for name in ("hotpotqa", "musique"):
        out[name] = [
            list(t.answers) for split in ("dev", "train") for t in load_qa_dataset(name, split).tasks
        ]
    beer = json.loads((FIX / "beerqa_dev_v1.0_FIXTURE.json").read_text(encoding="utf-8"))
    out["beerqa"] = [list(d["answers"]) for d in beer["data"]]
    cofca = load_qa_dataset("cofca", "test", FIX / "cofca_FIXTURE.json")
    out["cofca"] = [list(t.answers) for t in cofca.tasks]
    return out


_WORDS = ("river", "the", "about", "no", "yes", "1990", "of", "Paris", "a", "II")


def perturb(gold: str, rng: random.Random) -> list[str]:
    """Predictions a model could give for ``gold``: right, nearly right, and wrong in many ways."""
    toks = gold.split()
    out = [
        gold,
        gold.lower(),
        gold.upper(),
        gold.title(),
        gold + ".",
        f'"{gold}"',
        f"({gold})!",
        gold.replace(" ", "-"),
        gold.replace(" ", "  \t"),
        "".join(ch for ch in gold if ch not in string.punctuation),
        "The " + gold,
        "a " + gold,
        "an " + gold.lower(),
        re.sub(r"^(the|a|an)\s+", "", gold, flags=re.I),
        gold + " " + rng.choice(_WORDS),
        rng.choice(_WORDS) + " " + gold,
        gold + " " + gold,
        " ".join(toks[1:]),
        " ".join(toks[:-1]),
        " ".join(reversed(toks)),
        " ".join(rng.sample(toks, len(toks))),
        "yes",
        "No",
        "no.",
        "noanswer",
        "no answer",
        "yes " + gold,
        gold + ", no",
        re.sub(r"\d", lambda m: str((int(m.group(0)) + 1) % 10), gold),
        re.sub(r"(\d)(\d{3})\b", r"\1,\2", gold),
        gold + " 1990",
        unicodedata.normalize("NFD", gold),
        unicodedata.normalize("NFKC", gold),
        gold.replace(" ", "\u00a0"),
        f"“{gold}”",
        "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in gold),  # full width
        "",
        " ",
        "...",
        "the",
        "a an the",
    ]
    return out


def build_pairs(seed: int = 13) -> list[tuple[str, list[str]]]:
    """(prediction, gold list) pairs: perturbations of every gold and alias, plus cross-gold misses."""
    rng = random.Random(seed)
    lists = [g for gs in bundled_gold_lists().values() for g in gs] + EDGE_GOLDS
    pairs: list[tuple[str, list[str]]] = []
    for golds in lists:
        for pred in perturb(golds[0], rng):
            pairs.append((pred, golds))
        for alias in golds[1:]:
            for pred in rng.sample(perturb(alias, rng), 6):
                pairs.append((pred, golds))
        other = rng.choice(lists)
        pairs.append((other[0], golds))
    return pairs


ENVS = {
    "SwiRL-HotPotQA-v0": ({}, reference_hotpotqa, ("em", "f1", "precision", "recall")),
    "SwiRL-MuSiQue-v0": ({}, reference_musique, ("em", "f1")),
    "SwiRL-BeerQA-v0": (
        {"path": str(FIX / "beerqa_dev_v1.0_FIXTURE.json")},
        reference_beerqa,
        ("em", "f1", "precision", "recall"),
    ),
    "SwiRL-CofCA-v0": ({"path": str(FIX / "cofca_FIXTURE.json")}, reference_squad, ("em", "f1")),
}


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, list[str]]]:
    return build_pairs()


@pytest.mark.parametrize("env_id", list(ENVS))
def test_default_metric_agrees_with_official_script(env_id, pairs) -> None:
    kwargs, reference, keys = ENVS[env_id]
    env = gym.make(env_id, **kwargs).unwrapped
    if env_id == "SwiRL-HotPotQA-v0":  # HotPotQA questions have exactly one gold answer
        pairs = [(p, [g]) for p, golds in pairs for g in golds]
    assert len(pairs) >= 10_000
    mismatches = []
    for pred, golds in pairs:
        task = Task("q", "?", tuple(golds), env.dataset_name, "dev")
        mine = env.score_answer(pred, task)["metrics"]
        ref = reference(pred, golds)
        if any(mine[k] != ref[k] for k in keys):
            mismatches.append((pred, golds, {k: mine[k] for k in keys}, ref))
    assert not mismatches, f"{len(mismatches)} of {len(pairs)} differ, e.g. {mismatches[:3]}"
    env.close()


def test_the_pairs_exercise_the_differences(pairs) -> None:
    """The pair set is not trivial: the four scripts disagree with each other on many pairs."""
    differ = Counter()
    for pred, golds in pairs:
        hp = _hp_f1_score(pred, golds[0])[0]
        mq = reference_musique(pred, golds[:1])["f1"]
        bq = reference_beerqa(pred, golds)
        sq = reference_squad(pred, golds)
        differ["hotpot_vs_musique_f1"] += hp != mq
        differ["squad_vs_musique_f1"] += sq["f1"] != reference_musique(pred, golds)["f1"]
        differ["beerqa_vs_squad_em"] += bq["em"] != sq["em"]
    assert min(differ.values()) >= 20, differ


def test_issue_examples() -> None:
    assert qa_metrics("No", ["numero symbol, No"], style="musique")["f1"] == 0.5
    env = gym.make("SwiRL-MuSiQue-v0").unwrapped
    task = Task("q", "?", ("numero symbol, No",), "musique", "dev")
    assert env.score_answer("No", task)["metrics"]["f1"] == 0.5
    beer = gym.make("SwiRL-BeerQA-v0", path=str(FIX / "beerqa_dev_v1.0_FIXTURE.json")).unwrapped
    tie = Task("q", "?", ("y x", "x y"), "beerqa", "dev")
    assert beer.score_answer("x y", tie)["metrics"]["em"] == 0.0  # the first best-F1 alias is "y x"
    empty = Task("q", "?", ("The",), "beerqa", "dev")
    assert beer.score_answer("a", empty)["metrics"]["em"] == 0.0  # no alias with F1 > 0


def test_env_style_override_and_bad_style() -> None:
    from swirl_env.envs.qa import SearchQAEnv

    env = SearchQAEnv(dataset="musique", n_tasks=1, f1_style="hotpotqa")
    task = Task("q", "?", ("numero symbol, No",), "musique", "dev")
    assert env.f1_style == "hotpotqa" and env.score_answer("No", task)["metrics"]["f1"] == 0.0
    with pytest.raises(ValueError, match="f1_style must be None or one of"):
        SearchQAEnv(dataset="musique", n_tasks=1, f1_style="official")


def agreement_table() -> list[dict[str, object]]:
    """Per env: pairs, pairs where the default metric equals the official script, and the same
    count for HotPotQA's rules (the one style every env used before each got its own)."""
    rows = []
    pairs = build_pairs()
    for env_id, (kwargs, reference, keys) in ENVS.items():
        env = gym.make(env_id, **kwargs).unwrapped
        ps = [(p, [g]) for p, golds in pairs for g in golds] if env_id == "SwiRL-HotPotQA-v0" else pairs
        same = hotpot_same = 0
        for pred, golds in ps:
            ref = reference(pred, golds)
            mine = env.score_answer(pred, Task("q", "?", tuple(golds), env.dataset_name, "dev"))["metrics"]
            hp = qa_metrics(pred, golds, style="hotpotqa")
            same += all(mine[k] == ref[k] for k in keys)
            hotpot_same += all(hp[k] == ref[k] for k in keys)
        rows.append(
            {
                "env": env_id,
                "style": env.f1_style,
                "compared": ", ".join(keys),
                "pairs": len(ps),
                "agree": same,
                "hotpotqa_rules_agree": hotpot_same,
            }
        )
        env.close()
    return rows


if __name__ == "__main__":  # python tests/test_qa_official_agreement.py
    print("| env | default style | numbers compared | pairs | agree | HotPotQA rules agree |")
    print("|---|---|---|---:|---:|---:|")
    for row in agreement_table():
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
