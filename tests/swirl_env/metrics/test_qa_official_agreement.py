"""Each QA env's default metric against its dataset's official evaluation script.

The references (``reference_*`` of ``official_qa.py``) transcribe the official scripts of
HotPotQA, MuSiQue, BeerQA and SQuAD v1.1 (the CofCA env's; CofCA publishes none, see
docs/environments.md).

The pairs are built from every bundled gold answer (HotPotQA and MuSiQue samples, dev and
train, with MuSiQue's aliases; the BeerQA and CofCA fixtures) and hand-made edge gold lists
(``"numero symbol, No"``, yes/no golds, golds that normalise to empty, aliases that tie), with
perturbations of case, punctuation, articles, extra/missing/reordered tokens, yes/no, numbers,
unicode and empty strings. Every number the official script defines must be equal (``==``).
"""

from __future__ import annotations

import json
import random
import re
import string
import unicodedata
from collections import Counter

import gymnasium as gym
import pytest
import toys
from official_qa import (
    hotpot_f1_score,
    reference_beerqa,
    reference_hotpotqa,
    reference_musique,
    reference_squad,
)

import swirl_env  # noqa: F401  (registers the ids)
from swirl_env.envs.qa.loaders import load_qa_dataset
from swirl_env.metrics.qa import qa_metrics
from swirl_env.tasks.base import Task

FIX = toys.FIXTURES


# ------------------------------------------------------------------ the pairs
#: gold lists that exercise the scripts' corner cases (first a MuSiQue example with an aliased gold answer)
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


def env_pairs(env_id, pairs):
    """The pairs an env is compared on: HotPotQA questions have exactly one gold answer, so one
    pair per gold there."""
    return [(p, [g]) for p, golds in pairs for g in golds] if env_id == "SwiRL-HotPotQA-v0" else pairs


def scored(env, reference, pairs):
    """(prediction, golds, the env's metrics, the official script's) for each pair."""
    for pred, golds in pairs:
        mine = env.score_answer(pred, Task("q", "?", tuple(golds), env.dataset_name, "dev"))["metrics"]
        yield pred, golds, mine, reference(pred, golds)


@pytest.mark.parametrize("env_id", list(ENVS))
def test_default_metric_agrees_with_official_script(env_id, pairs) -> None:
    kwargs, reference, keys = ENVS[env_id]
    env = gym.make(env_id, **kwargs).unwrapped
    pairs = env_pairs(env_id, pairs)
    assert len(pairs) >= 10_000
    mismatches = [
        (pred, golds, {k: mine[k] for k in keys}, ref)
        for pred, golds, mine, ref in scored(env, reference, pairs)
        if any(mine[k] != ref[k] for k in keys)
    ]
    assert not mismatches, f"{len(mismatches)} of {len(pairs)} differ, e.g. {mismatches[:3]}"
    env.close()


def test_the_pairs_exercise_the_differences(pairs) -> None:
    """The pair set is not trivial: the four scripts disagree with each other on many pairs."""
    differ = Counter()
    for pred, golds in pairs:
        hp = hotpot_f1_score(pred, golds[0])[0]
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
        ps = env_pairs(env_id, pairs)
        same = hotpot_same = 0
        for pred, golds, mine, ref in scored(env, reference, ps):
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


if __name__ == "__main__":  # python tests/swirl_env/metrics/test_qa_official_agreement.py
    print("| env | default style | numbers compared | pairs | agree | HotPotQA rules agree |")
    print("|---|---|---|---:|---:|---:|")
    for row in agreement_table():
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
