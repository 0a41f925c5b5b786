"""Retrieval: tokenizer, corpus files, BM25 backends (fast == rank_bm25, bit for bit), ranking rules,
and the per-process retriever cache."""

from __future__ import annotations

import gzip
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from swirl_env.retrieval import (
    STOPWORDS,
    Hit,
    HTTPRetriever,
    Passage,
    RankBM25Retriever,
    SparseBM25Retriever,
    clear_retriever_cache,
    get_retriever,
    load_corpus,
    save_corpus,
    tokenize,
)
from swirl_env.retrieval.synthetic import synthetic_corpus, synthetic_queries

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "hotpotqa_dev500_xinowo"
HOTPOT_CORPUS = DATA / "pooled_corpus_validation_500_title_text.jsonl"
HOTPOT_QUESTIONS = DATA / "hotpotqa_dev500_questions_DERIVED.jsonl"


def ranking(hits: list[Hit]) -> list[tuple[str, float, int]]:
    return [(h.passage.id, h.score, h.rank) for h in hits]


def assert_same_backends(
    fast: SparseBM25Retriever, ref: RankBM25Retriever, query: str, ks=(1, 5, 20)
) -> None:
    """Scores bit-identical over the whole corpus, and identical top-k (ids, scores, ranks)."""
    np.testing.assert_array_equal(fast.get_scores(query), ref.get_scores(query), err_msg=query)
    for k in ks:
        assert ranking(fast.search(query, k)) == ranking(ref.search(query, k)), (query, k)


# ---------------------------------------------------------------------------- tokenizer
def test_tokenizer_rules():
    assert tokenize("The Scorch Trials: who PUBLISHED it?") == ["scorch", "trials", "who", "published"]
    assert tokenize("Beyoncé’s 2nd album, Spider-Man, U.S. 3.14") == [
        "beyoncé", "s", "2nd", "album", "spider", "man", "u", "s", "3", "14",
    ]  # fmt: skip
    assert tokenize("Москва и 東京") == ["москва", "и", "東京"]
    assert tokenize("") == [] and tokenize("the of and") == [] and tokenize("?!  ...") == []
    assert "the" in STOPWORDS and "who" not in STOPWORDS and len(STOPWORDS) == 33


# ---------------------------------------------------------------------------- corpus files
def test_corpus_formats_round_trip_and_errors(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": 7, "title": "Paris", "text": "Capital of France."},
                {"id": "w1", "contents": '"Evan Morris"\nEvan Morris was a lobbyist.\nSecond line.'},
                {"contents": "no title line"},
                {"title": "", "text": "untitled"},
            ]
        )
        + "\n\n",
        encoding="utf-8",
    )
    ps = load_corpus(f)
    assert ps[0] == Passage("7", "Paris", "Capital of France.")
    assert ps[1] == Passage("w1", "Evan Morris", "Evan Morris was a lobbyist.\nSecond line.")
    assert ps[2] == Passage("2", "", "no title line")  # no id: record number
    assert ps[3].id == "3" and ps[3].indexed_text == "untitled"
    assert ps[0].indexed_text == "Paris Capital of France."

    for name in ("out.jsonl", "out.jsonl.gz"):
        save_corpus(ps, tmp_path / name)
        assert load_corpus(tmp_path / name) == ps
    (tmp_path / "list.json").write_text(json.dumps([p.to_dict() for p in ps]), encoding="utf-8")
    assert load_corpus(tmp_path / "list.json") == ps
    with gzip.open(tmp_path / "out.jsonl.gz", "rt", encoding="utf-8") as g:
        assert json.loads(g.readline()) == {"id": "7", "title": "Paris", "text": "Capital of France."}

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "text": "a"}\n{not json}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: invalid JSON"):
        load_corpus(bad)
    bad.write_text('{"id": 1, "text": "a"}\n{"id": "1", "text": "b"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate passage id '1'"):
        load_corpus(bad)
    bad.write_text('{"id": 1, "body": "a"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="needs 'text'"):
        load_corpus(bad)
    bad.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no passages"):
        load_corpus(bad)
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------------------- equality with rank_bm25
@pytest.mark.skipif(not HOTPOT_CORPUS.is_file(), reason="shared HotPotQA corpus not available")
def test_fast_equals_rank_bm25_on_hotpotqa_corpus():
    passages = load_corpus(HOTPOT_CORPUS)
    assert len(passages) > 4000
    questions = [
        json.loads(line)["question"] for line in HOTPOT_QUESTIONS.read_text(encoding="utf-8").splitlines()
    ]
    fast, ref = SparseBM25Retriever(passages), RankBM25Retriever(passages)
    assert len(fast) == len(ref) == len(passages)
    for q in questions[:200]:
        assert_same_backends(fast, ref, q, ks=(3, 10))
    # the gold passage of the first question is found
    assert "Scott Derrickson" in [h.passage.title for h in fast.search(questions[0], 5)]


def test_fast_equals_rank_bm25_on_synthetic_zipf_corpus():
    passages = synthetic_corpus(20_000, seed=11)
    # one word in two thirds of the passages: its idf is negative, floored by rank_bm25's epsilon rule
    passages = [Passage(p.id, p.title, p.text + " also") if i % 3 else p for i, p in enumerate(passages)]
    queries = synthetic_queries(passages, 40, seed=12)
    queries[0] += " also"
    fast, ref = SparseBM25Retriever(passages, progress=False), RankBM25Retriever(passages)
    assert np.diff(fast.indptr)[fast.vocab["also"]] > len(passages) / 2
    assert fast.idf[fast.vocab["also"]] == pytest.approx(0.25 * fast.average_idf)
    np.testing.assert_array_equal(fast.idf, [ref.bm25.idf[t] for t in fast.vocab])
    assert fast.average_idf == ref.bm25.average_idf and fast.avgdl == ref.bm25.avgdl
    for q in queries:
        assert_same_backends(fast, ref, q, ks=(10,))
    # non-default parameters
    fast2, ref2 = (
        SparseBM25Retriever(passages[:3000], k1=0.9, b=0.4, epsilon=0.1),
        RankBM25Retriever(passages[:3000], k1=0.9, b=0.4, epsilon=0.1),
    )
    for q in queries[:10]:
        assert_same_backends(fast2, ref2, q, ks=(5,))


def test_repeated_query_tokens_count_like_rank_bm25():
    ps = synthetic_corpus(300, seed=3)
    fast, ref = SparseBM25Retriever(ps), RankBM25Retriever(ps)
    word = tokenize(ps[10].text)[3]
    once, twice = f"{word} {tokenize(ps[10].text)[5]}", f"{word} {word} {tokenize(ps[10].text)[5]}"
    assert_same_backends(fast, ref, twice)
    assert not np.array_equal(fast.get_scores(once), fast.get_scores(twice))
    assert fast.get_scores(twice).max() > fast.get_scores(once).max()


def test_degenerate_corpus_negative_floor_and_zero_idf():
    # every word in over half of the documents: mean idf < 0, so the floored idf is negative;
    # "x" in exactly half: idf == 0. Matching passages are still returned, ranked like rank_bm25.
    ps = [Passage(str(i), "", t) for i, t in enumerate(["aa bb x", "aa bb", "aa bb x", "aa cc"])]
    fast, ref = SparseBM25Retriever(ps), RankBM25Retriever(ps)
    assert fast.average_idf < 0
    for q in ["aa", "bb", "x", "aa x", "cc", "aa bb cc x", "bb cc"]:
        assert_same_backends(fast, ref, q, ks=(1, 2, 10))
    assert len(fast.search("x", 10)) == 2 and all(h.score == 0.0 for h in fast.search("x", 10))
    hits = fast.search("aa", 10)
    assert len(hits) == 4 and all(h.score < 0 for h in hits)  # negative, yet matching: returned


# ---------------------------------------------------------------------------- ranking rules
@pytest.mark.parametrize("cls", [SparseBM25Retriever, RankBM25Retriever])
def test_ties_are_broken_by_corpus_order(cls):
    base = synthetic_corpus(200, seed=4)
    dup = Passage("dup", "Zorblax", "zorblax quintessa appears here")
    ps = list(base[:50]) + [Passage(f"d{i}", dup.title, dup.text) for i in range(30)] + list(base[50:])
    r = cls(ps)
    for k in (1, 3, 7, 30):
        hits = r.search("zorblax quintessa", k)
        assert [h.passage.id for h in hits] == [f"d{i}" for i in range(k)]
        assert len({h.score for h in hits}) == 1 and [h.rank for h in hits] == list(range(k))
    assert len(r.search("zorblax", 100)) == 30  # only matching passages
    assert r.search("zorblax", 5) == r.search("zorblax", 5)


def test_tie_cut_across_many_postings_is_exact():
    # many identical passages tied at the k boundary, with a long posting list (dense path)
    filler = synthetic_corpus(400, seed=8)
    same = [Passage(f"t{i}", "", "common rare") for i in range(300)]
    ps = [Passage(p.id, p.title, p.text + " common") for p in filler] + same
    fast, ref = SparseBM25Retriever(ps), RankBM25Retriever(ps)
    for q in ["common rare", "rare common common", "rare"]:
        assert_same_backends(fast, ref, q, ks=(1, 10, 299, 300, 301, 1000))
    assert [h.passage.id for h in fast.search("rare", 5)] == ["t0", "t1", "t2", "t3", "t4"]


@pytest.mark.parametrize("cls", [SparseBM25Retriever, RankBM25Retriever])
def test_empty_and_unknown_queries_return_no_hits(cls):
    r = cls(synthetic_corpus(100, seed=1))
    assert r.search("", 5) == []
    assert r.search("the of and", 5) == []  # stopwords only
    assert r.search("qqqzzz xxyyzz", 5) == []  # unknown tokens
    assert r.search_batch(["", "qqqzzz"], 3) == [[], []]
    assert not r.get_scores("qqqzzz").any() and r.get_scores("").shape == (100,)
    assert r.search("he", 0) == []
    with pytest.raises(ValueError, match="k must be >= 0"):
        r.search("he", -1)
    with pytest.raises(TypeError):
        r.search(None, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        r.search_batch("a single string", 1)
    assert r.search("he", np.int64(2))[1].rank == 1
    for flag in (True, False):  # not read as k=1 / k=0
        with pytest.raises(TypeError, match="k must be an integer"):
            r.search("he", flag)


def test_bad_corpus_and_params():
    with pytest.raises(ValueError, match="empty corpus"):
        SparseBM25Retriever([])
    with pytest.raises(ValueError, match="no indexable token"):
        SparseBM25Retriever([Passage("1", "", "the of"), Passage("2", "", "")])
    with pytest.raises(ValueError, match="no indexable token"):
        RankBM25Retriever([Passage("1", "", "the of")])
    with pytest.raises(TypeError, match="load_corpus"):
        SparseBM25Retriever("corpus.jsonl")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="b must be in"):
        SparseBM25Retriever([Passage("1", "", "x")], b=1.5)
    with pytest.raises(ValueError, match="k1"):
        RankBM25Retriever([Passage("1", "", "x")], k1=float("nan"))


def test_search_batch_matches_search_and_pickles():
    ps = synthetic_corpus(2000, seed=6)
    qs = synthetic_queries(ps, 20, seed=7)
    r = SparseBM25Retriever(ps)
    assert [ranking(h) for h in r.search_batch(qs, 4)] == [ranking(r.search(q, 4)) for q in qs]
    clone = pickle.loads(pickle.dumps(r))
    assert [ranking(h) for h in clone.search_batch(qs, 4)] == [ranking(r.search(q, 4)) for q in qs]
    assert r.matrix.shape == (r.n_terms, len(r)) and r.matrix.nnz == r.data.shape[0]


# ---------------------------------------------------------------------------- get_retriever
def test_get_retriever_cache(tmp_path):
    clear_retriever_cache()
    ps = synthetic_corpus(300, seed=9)
    path = tmp_path / "c.jsonl"
    save_corpus(ps, path)
    a = get_retriever(path)
    assert isinstance(a, SparseBM25Retriever) and len(a) == 300
    assert get_retriever(str(path)) is a  # same file, any spelling
    assert get_retriever(path, backend="sparse", k1=1.2) is not a
    b = get_retriever(path, backend="rank_bm25")
    assert isinstance(b, RankBM25Retriever) and get_retriever(path, backend="rank_bm25") is b
    assert get_retriever(ps) is get_retriever(list(ps))  # passages: by content
    assert get_retriever(path, cache=False) is not a
    # the file changes: a new retriever over the new content
    save_corpus(ps[:100], path)
    os.utime(path, ns=(1, 1))
    c = get_retriever(path)
    assert c is not a and len(c) == 100
    h = get_retriever("http://127.0.0.1:9/retrieve", k=2, retries=0)
    assert isinstance(h, HTTPRetriever) and h.k == 2
    with pytest.raises(ValueError, match="unknown retrieval backend"):
        get_retriever(path, backend="faiss")
    with pytest.raises(ValueError, match="index_dir"):
        get_retriever(path, backend="rank_bm25", index_dir=tmp_path / "idx")
    with pytest.raises(FileNotFoundError):
        get_retriever(tmp_path / "missing.jsonl")
    clear_retriever_cache()


def test_damaged_gzip_and_lone_surrogate_corpora_name_the_file(tmp_path):
    import gzip

    rows = b"".join(b'{"id": "%d", "text": "x y"}\n' % i for i in range(50))
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(rows)[:-10])
    (tmp_path / "plain.jsonl.gz").write_bytes(rows)
    for name in ("cut.jsonl.gz", "plain.jsonl.gz"):
        with pytest.raises(ValueError, match=rf"{name}: not a readable gzip file"):
            load_corpus(tmp_path / name)
    (tmp_path / "s.jsonl").write_text(
        '{"id": "a", "text": "ok \\ud83d\\ude00"}\n{"id": "b", "text": "alpha \\ud800"}\n'
    )
    with pytest.raises(ValueError, match=r"s\.jsonl:2: holds a lone surrogate"):
        load_corpus(tmp_path / "s.jsonl")
    (tmp_path / "pair.jsonl").write_text('{"id": "a", "text": "ok \\ud83d\\ude00"}\n')
    assert load_corpus(tmp_path / "pair.jsonl")[0].text == "ok \U0001f600"  # a pair is one character


def test_a_lone_surrogate_is_refused_in_corpora_only(tmp_path):
    from swirl_env.envs.qa.common import read_records

    (tmp_path / "qa.jsonl").write_text('{"id": "1", "question": "who wrote \\ud83d?", "answer": "x"}\n')
    assert [r["question"] for r, _ in read_records(tmp_path / "qa.jsonl")] == ["who wrote \ud83d?"]
    (tmp_path / "c.json").write_text('[{"id": "a", "text": "alpha \\ud800"}]')
    with pytest.raises(ValueError, match=r"c\.json item 0: holds a lone surrogate"):
        load_corpus(tmp_path / "c.json")
