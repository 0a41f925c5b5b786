"""QA loaders on the bundled real samples (HotPotQA, MuSiQue) and the official-format fixtures."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import toys

from swirl_env.envs.qa.beerqa import read_beerqa
from swirl_env.envs.qa.cofca import read_cofca
from swirl_env.envs.qa.common import (
    BUNDLED_FILES,
    DATA_DIR_ENV,
    PACKAGE_DATA,
    bundled_path,
    dedup_passages,
    passage_id,
    resolve_path,
)
from swirl_env.envs.qa.hotpotqa import read_hotpotqa
from swirl_env.envs.qa.loaders import (
    clear_dataset_cache,
    hotpotqa_corpus,
    load_beerqa,
    load_hotpotqa,
    load_musique,
    load_qa_dataset,
    musique_corpus,
)
from swirl_env.envs.qa.musique import read_musique
from swirl_env.retrieval import Passage, load_corpus, save_corpus

FIX = toys.FIXTURES


def _raw(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        if path.name.endswith(".jsonl.gz"):
            return [json.loads(line) for line in f if line.strip()]
        return json.load(f)


# ------------------------------------------------------------------------------------------ bundled samples
def test_bundled_files_exist_with_licence_notes():
    for (dataset, _split), rel in BUNDLED_FILES.items():
        assert (PACKAGE_DATA / rel).is_file()
        readme = (PACKAGE_DATA / dataset / "README.md").read_text()
        assert "CC BY" in readme and Path(rel).name in readme


def test_hotpotqa_dev_sample_matches_raw_records():
    path = bundled_path("hotpotqa", "dev")
    raw = _raw(path)
    ds = load_qa_dataset("hotpotqa", "dev")
    assert len(ds) == len(raw) == 100 and not ds.fixture
    for rec, task in zip(raw, ds.tasks):
        assert task.id == rec["_id"] and task.question == rec["question"] and task.answers == (rec["answer"],)
        assert task.dataset == "hotpotqa" and task.split == "dev"
        m = task.metadata
        assert m["level"] == rec["level"] and m["type"] == rec["type"]
        assert m["supporting_titles"] == list(dict.fromkeys(t for t, _ in rec["supporting_facts"]))
        assert m["context_titles"] == [t for t, _ in rec["context"]]
        ctx = {t: "".join(s) for t, s in rec["context"]}
        for par, pid in zip(m["supporting_paragraphs"], m["supporting_passage_ids"]):
            assert par["text"] == ctx[par["title"]] and pid == passage_id(par["title"], par["text"])
        assert "paragraphs" not in m
        json.dumps(task.to_dict())  # JSON-serialisable


def test_hotpotqa_corpus_is_all_paragraphs_deduplicated():
    raw = _raw(bundled_path("hotpotqa", "train"))
    pairs = {(t, "".join(s)) for rec in raw for t, s in rec["context"]}
    corpus = hotpotqa_corpus(split="train")
    assert {(p.title, p.text) for p in corpus} == pairs
    assert len(corpus) == len(pairs)
    assert len({p.id for p in corpus}) == len(corpus)


def test_hotpotqa_levels_and_types_filter_tasks_not_corpus():
    all_tasks = load_hotpotqa(split="train")
    ds = load_qa_dataset("hotpotqa", "train", levels=("medium", "hard"))
    assert len(ds.tasks) == sum(t.metadata["level"] != "easy" for t in all_tasks) == 84
    assert ds.skipped == {"level": 16}
    assert len(ds.passages) == len(hotpotqa_corpus(split="train"))
    bridge = read_hotpotqa(bundled_path("hotpotqa", "dev"), types=["comparison"])
    assert {t.metadata["type"] for t in bridge.tasks} == {"comparison"}
    with pytest.raises(ValueError, match="unknown HotPotQA levels"):
        read_hotpotqa(bundled_path("hotpotqa", "dev"), levels=["extreme"])


def test_hotpotqa_official_and_hf_layouts_agree(caplog):
    a = read_hotpotqa(FIX / "hotpot_dev_distractor_FIXTURE.json", include_context=True)
    b = read_hotpotqa(FIX / "hotpot_hf_layout_FIXTURE.jsonl", include_context=True)
    assert a.fixture and b.fixture
    assert [t.to_dict() for t in a.tasks] == [t.to_dict() for t in b.tasks]
    assert a.passages == b.passages
    t = a.tasks[0]
    assert t.metadata["paragraphs"][0] == {
        "title": "Kinderdijk",
        "text": "Kinderdijk is a village in the Netherlands. It has 19 windmills built around 1740.",
    }
    # "Rotterdam" appears in both questions with the same text: one passage
    assert [p.title for p in a.passages].count("Rotterdam") == 1 and len(a.passages) == 5


def test_musique_dev_sample_answers_aliases_and_hop_order():
    raw = _raw(bundled_path("musique", "dev"))
    tasks = load_musique(split="dev")
    assert len(tasks) == 100
    for rec, task in zip(raw, tasks):
        assert task.answers[0] == rec["answer"]
        assert set(task.answers) == {rec["answer"], *rec["answer_aliases"]} - {""}
        m = task.metadata
        assert m["hops"] == int(rec["id"][0]) and m["answerable"] is True
        assert m["question_decomposition"] == rec["question_decomposition"]
        sup_idx = [s["paragraph_support_idx"] for s in rec["question_decomposition"]]
        by_idx = {p["idx"]: p for p in rec["paragraphs"]}
        expected = list(dict.fromkeys(by_idx[i]["title"] for i in sup_idx))
        assert m["supporting_titles"][: len(expected)] == expected
        flagged = {(p["title"], p["paragraph_text"]) for p in rec["paragraphs"] if p["is_supporting"]}
        assert {(d["title"], d["text"]) for d in m["supporting_paragraphs"]} >= flagged
    corpus = musique_corpus(split="dev")
    pairs = {(p["title"], p["paragraph_text"]) for r in raw for p in r["paragraphs"]}
    assert {(p.title, p.text) for p in corpus} == pairs


def test_musique_unanswerable_records_skipped_but_indexed():
    ds = read_musique(FIX / "musique_full_FIXTURE.jsonl")
    assert [t.id for t in ds.tasks] == ["2hop__fx1_fx2"] and ds.skipped == {"unanswerable": 1}
    assert ds.tasks[0].answers == ("Amstel", "Amstel river")  # deduplicated, order kept
    assert ds.tasks[0].metadata["supporting_titles"] == ["Kinderdijk", "Amsterdam"]  # hop order
    assert "Lake Baikal" in {p.title for p in ds.passages}
    with pytest.raises(ValueError, match="empty answer"):
        read_musique(FIX / "musique_full_FIXTURE.jsonl", answerable_only=False)


def test_beerqa_fixture_official_layout():
    ds = read_beerqa(FIX / "beerqa_dev_v1.0_FIXTURE.json")
    assert ds.fixture and len(ds.tasks) == 6
    t = {x.id: x for x in ds.tasks}
    assert t["fx-hotpot-0002"].answers == ("Amstel", "the Amstel river")
    assert t["fx-squad-0005"].answers == ("Au",)  # duplicate answers dropped
    assert t["fx-beer-0004"].metadata["src"] == "beerqa"
    assert t["fx-beer-0004"].metadata["supporting_titles"] == [
        "Symphonie fantastique",
        "Hector Berlioz",
        "Anton Reicha",
    ]
    # "Lake Baikal" appears in two records with the same text: one passage
    assert [p.title for p in ds.passages].count("Lake Baikal") == 1 and len(ds.passages) == 9
    only = read_beerqa(FIX / "beerqa_dev_v1.0_FIXTURE.json", sources=["beerqa"])
    assert [x.id for x in only.tasks] == ["fx-beer-0004"] and only.skipped == {"src": 5}
    assert len(only.passages) == 9
    with pytest.raises(ValueError, match=r"no 'answers'.*test-questions"):
        read_beerqa(FIX / "beerqa_test_questions_v1.0_FIXTURE.json")


def test_cofca_fixture_assumed_layout_variants():
    ds = read_cofca(FIX / "cofca_FIXTURE.json")
    assert ds.fixture and [t.split for t in ds.tasks] == ["test"] * 4
    t = {x.id: x for x in ds.tasks}
    assert t["fx-cf-001-2hop"].metadata["sub_questions"][1] == {
        "question": "Where was Ilse Danner born?",
        "answer": "Kragvik",
    }
    assert t["fx-cf-001-3hop"].answers == ("Selva", "the Selva")
    assert t["fx-cf-001-3hop"].metadata["sub_questions"][2]["answer"] == "Selva"  # [q, a] pairs
    assert t["fx-cf-001-4hop"].answers == ("48 metres", "48 m")  # answer + aliases
    assert t["fx-cf-001-4hop"].metadata["supporting_titles"] == [
        "Veltmark",
        "Ilse Danner",
        "Danner lighthouse",
    ]
    fact = t["fx-fact-002"]  # "_id", "query", single "passage" + "title"
    assert fact.metadata == {
        **fact.metadata,
        "type": "factual",
        "hops": 2,
        "supporting_titles": ["Kinderdijk"],
    }
    assert len(ds.passages) == 5
    cf = read_cofca(FIX / "cofca_FIXTURE.json", types=["counterfactual"])
    assert len(cf.tasks) == 3 and cf.skipped == {"type": 1}


def test_malformed_files_give_clear_errors(tmp_path):
    bad = tmp_path / "hotpot.json"
    bad.write_text('[{"_id": "x", "question": "q?", "answer": "a", "context": [["T", "not a list"]]}]')
    with pytest.raises(ValueError, match=r"item 0: context\[0\]"):
        read_hotpotqa(bad)
    bad.write_text('[{"_id": "x", "question": "q?", "context": []}]')
    with pytest.raises(ValueError, match="no 'answer'"):
        read_hotpotqa(bad)
    bad.write_text('{"version": 1}')
    with pytest.raises(ValueError, match="JSON list of records"):
        read_hotpotqa(bad)
    bad.write_text('[{"_id": "x", "question": "q", "answer": "a", "context": []}, '
                   '{"_id": "x", "question": "q", "answer": "a", "context": []}]')  # fmt: skip
    with pytest.raises(ValueError, match="duplicate question id 'x'"):
        read_hotpotqa(bad)
    jl = tmp_path / "m.jsonl"
    jl.write_text('{"id": "2hop__1", "question": "q", "answer": "a", "paragraphs": []}\n{oops\n')
    with pytest.raises(ValueError, match=r"m.jsonl:2: invalid JSON"):
        read_musique(jl)
    cf = tmp_path / "c.json"
    cf.write_text('[{"id": 1, "question": "q", "answer": "a"}]')
    with pytest.raises(ValueError, match="needs its passage"):
        read_cofca(cf)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_beerqa(tmp_path / "missing.json")


def test_resolve_path_order_and_missing_data(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert resolve_path("hotpotqa", "dev") == bundled_path("hotpotqa", "dev")
    with pytest.raises(FileNotFoundError, match=r"no beerqa file.*beerqa\.github\.io"):
        resolve_path("beerqa", "dev")
    with pytest.raises(FileNotFoundError, match="samples for splits"):
        resolve_path("hotpotqa", "test")
    with pytest.raises(ValueError, match="unknown dataset"):
        resolve_path("squad", "dev")
    # $SWIRL_DATA_DIR/<dataset>/<official name> is found, before the bundled sample
    (tmp_path / "beerqa").mkdir()
    target = tmp_path / "beerqa" / "beerqa_dev_v1.0.json"
    target.write_bytes((FIX / "beerqa_dev_v1.0_FIXTURE.json").read_bytes())
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert resolve_path("beerqa", "dev") == target
    assert len(load_beerqa(split="dev")) == 6


def test_dataset_cache_shared_and_invalidated_on_change(tmp_path):
    p = tmp_path / "hp.json"
    p.write_bytes((FIX / "hotpot_dev_distractor_FIXTURE.json").read_bytes())
    a = load_qa_dataset("hotpotqa", "dev", p)
    assert load_qa_dataset("hotpotqa", "dev", p) is a
    assert load_qa_dataset("hotpotqa", "dev", p, levels=("hard",)) is not a
    data = json.loads(p.read_text())[:1]
    p.write_text(json.dumps(data))
    b = load_qa_dataset("hotpotqa", "dev", p)
    assert b is not a and len(b.tasks) == 1
    clear_dataset_cache()
    assert load_qa_dataset("hotpotqa", "dev", p) is not b


def test_passage_ids_and_corpus_round_trip(tmp_path):
    ps = dedup_passages([("A", "x y"), ("A", "x y"), ("B", "  "), ("A", "z")])
    assert [(p.title, p.text) for p in ps] == [("A", "x y"), ("A", "z")]
    assert ps[0].id == passage_id("A", "x y") != passage_id("A", "z")
    corpus = musique_corpus(split="train")
    save_corpus(corpus, tmp_path / "c.jsonl")
    back = load_corpus(tmp_path / "c.jsonl")
    assert back == list(corpus) and all(isinstance(p, Passage) for p in back)
