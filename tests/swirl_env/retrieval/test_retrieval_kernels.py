"""The sparse backend's compiled kernels (numba) against its numpy path and rank_bm25: the same ids,
bit-identical scores, the same ranks, for single and batched searches, from several threads."""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from swirl_env.retrieval import (
    Hit,
    Passage,
    RankBM25Retriever,
    SparseBM25Retriever,
    kernels,
    load_index,
    save_index,
)
from swirl_env.retrieval.synthetic import synthetic_corpus, synthetic_queries

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed (or SWIRL_NO_NUMBA=1)")

ROOT = Path(__file__).resolve().parents[3]


def ranking(hits: list[Hit]) -> list[tuple[str, float, int]]:
    return [(h.passage.id, h.score, h.rank) for h in hits]


def numpy_path(r: SparseBM25Retriever) -> SparseBM25Retriever:
    other = pickle.loads(pickle.dumps(r))
    other.use_kernels = False
    return other


def small_corpus(seed: int, n: int, vocab: int) -> list[Passage]:
    """Short passages over a small vocabulary: many ties, frequent repeats, common words."""
    rnd = random.Random(seed)
    words = [f"w{i}" for i in range(vocab)]
    return [
        Passage(str(i), "", " ".join(rnd.choice(words) for _ in range(rnd.randint(0, 8)))) for i in range(n)
    ]


def query_mix(passages: list[Passage], seed: int, count: int) -> list[str]:
    rnd = random.Random(seed)
    texts = [p.text for p in passages if p.text]
    out = ["", "the of and", "zzz-unknown", "the zzz-unknown", "qqq " + texts[0].split()[0]]
    for _ in range(count):
        words = rnd.choice(texts).split() + rnd.choice(texts).split()
        q = [rnd.choice(words) for _ in range(rnd.randint(1, 6))]
        if rnd.random() < 0.3:
            q += q[: rnd.randint(1, len(q))]  # repeated tokens count once per occurrence
        if rnd.random() < 0.2:
            q.insert(rnd.randrange(len(q) + 1), rnd.choice(["the", "unknownword", "of"]))
        out.append(" ".join(q))
    return out


def check_same(fast: SparseBM25Retriever, queries: list[str], ks=(1, 3, 10, 100), ref=None) -> None:
    slow = numpy_path(fast)
    for k in ks:
        batch = fast.search_batch(queries, k)
        for q, hits in zip(queries, batch):
            got = ranking(fast.search(q, k))
            assert got == ranking(slow.search(q, k)), (q, k)
            assert ranking(hits) == got, (q, k)
            if ref is not None:
                assert got == ranking(ref.search(q, k)), (q, k)


@pytest.mark.parametrize("seed,n,vocab", [(0, 40, 6), (1, 300, 30), (2, 2000, 400)])
def test_kernels_equal_numpy_path_and_rank_bm25(seed, n, vocab):
    passages = small_corpus(seed, n, vocab)
    fast = SparseBM25Retriever(passages, progress=False)
    ref = RankBM25Retriever(passages)
    check_same(fast, query_mix(passages, seed + 10, 60), ks=(1, 3, 10, n + 5), ref=ref)


def test_kernels_on_a_zipf_corpus_dense_and_sparse_queries():
    # long passages and common words: both the corpus-order pass and the postings pass are used
    passages = synthetic_corpus(3000, seed=3, vocab_size=5000)
    fast = SparseBM25Retriever(passages, progress=False)
    queries = synthetic_queries(passages, 80, seed=4) + query_mix(passages, 5, 40)
    check_same(fast, queries, ks=(1, 10, 100))


@pytest.mark.parametrize("block", [1, 7, 64, 1000])
def test_blocked_additions_give_the_same_ranking(monkeypatch, block):
    # a large corpus takes its passages BLOCK at a time; here every corpus counts as large
    monkeypatch.setattr(kernels, "BLOCK", block)
    monkeypatch.setattr(kernels, "BLOCKED_FROM", 0)
    monkeypatch.setattr(kernels, "_SPLIT_COST", 0)
    passages = synthetic_corpus(2500, seed=8, vocab_size=3000)
    fast = SparseBM25Retriever(passages, progress=False)
    fast.threads = 2
    queries = synthetic_queries(passages, 40, seed=9) + query_mix(passages, 10, 40)
    check_same(fast, queries, ks=(1, 10, 100))
    tied = [Passage(str(i), "", "beta gamma" if i % 4 == 1 else f"filler{i} gamma") for i in range(50)]
    for q in ("gamma beta", "beta beta", "gamma gamma beta"):  # ties across block edges
        assert [h.passage.id for h in SparseBM25Retriever(tied, progress=False).search(q, 5)] == [
            "1",
            "5",
            "9",
            "13",
            "17",
        ]


@pytest.mark.parametrize("epsilon", [0.25, 0.0])
def test_negative_and_zero_idf_tiny_corpora(epsilon):
    # words in most passages get a negative idf, floored at epsilon * mean idf, itself negative here
    passages = [
        Passage(str(i), "", t) for i, t in enumerate(["a b e", "a b e", "b a e a", "a b c e", "d a b e", "e"])
    ]
    fast = SparseBM25Retriever(passages, epsilon=epsilon, progress=False)
    ref = RankBM25Retriever(passages, epsilon=epsilon)
    assert (fast.idf <= 0).any()
    queries = ["a", "a a", "b", "a b", "b a c", "c", "e a", "d e", "a b c d e", "x", "c c b", "e e d"]
    check_same(fast, queries, ks=(1, 2, 3, 10), ref=ref)


def test_ties_go_to_corpus_order():
    passages = [Passage(str(i), "", "beta gamma" if i % 4 == 1 else f"filler{i} gamma") for i in range(50)]
    fast = SparseBM25Retriever(passages, progress=False)
    for q in ("beta", "beta beta", "gamma beta"):
        assert [h.passage.id for h in fast.search(q, 5)] == ["1", "5", "9", "13", "17"]
    check_same(fast, ["beta", "gamma", "gamma beta", "beta beta filler3", "filler7 gamma"], ks=(1, 7, 60))


def test_batches_split_over_threads(monkeypatch):
    monkeypatch.setattr(kernels, "_SPLIT_COST", 0)
    passages = small_corpus(6, 1500, 200)
    fast = SparseBM25Retriever(passages, progress=False)
    fast.threads = 3
    queries = query_mix(passages, 7, 150)
    check_same(fast, queries, ks=(1, 10))
    assert fast.search_batch([], 5) == [] and fast.search_batch(["w1"], 0) == [[]]
    with pytest.raises(TypeError):
        fast.search_batch("w1 w2", 3)
    with pytest.raises(TypeError):
        fast.search_batch(["w1", 7], 3)
    clone = pickle.loads(pickle.dumps(fast))  # the pooled buffers stay behind
    assert "_spare" not in clone.__dict__ and ranking(clone.search(queries[9], 4)) == ranking(
        fast.search(queries[9], 4)
    )


def test_threads_searching_at_once(monkeypatch):
    monkeypatch.setattr(kernels, "_SPLIT_COST", 0)
    passages = small_corpus(8, 2000, 300)
    fast = SparseBM25Retriever(passages, progress=False)
    queries = query_mix(passages, 9, 120)
    expected = [ranking(h) for h in numpy_path(fast).search_batch(queries, 10)]
    errors: list[str] = []

    def work(i: int) -> None:
        for rep in range(3):
            if (i + rep) % 2:
                got = [ranking(h) for h in fast.search_batch(queries, 10)]
            else:
                got = [ranking(fast.search(q, 10)) for q in queries]
            if got != expected:
                errors.append(f"thread {i} rep {rep}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_memory_mapped_index_uses_the_kernels(tmp_path):
    passages = small_corpus(11, 500, 80)
    built = SparseBM25Retriever(passages, progress=False)
    save_index(built, tmp_path / "idx")
    loaded = load_index(tmp_path / "idx", mmap=True)
    assert not loaded.indices.flags.writeable
    queries = query_mix(passages, 12, 30)
    for k in (1, 10):
        assert [ranking(h) for h in loaded.search_batch(queries, k)] == [
            ranking(built.search(q, k)) for q in queries
        ]


def test_without_numba_the_numpy_path_is_used():
    code = (
        "from swirl_env.retrieval import kernels, Passage, SparseBM25Retriever\n"
        "assert not kernels.AVAILABLE and kernels.compile_seconds() == 0.0\n"
        "r = SparseBM25Retriever([Passage('1', 'Paris', 'France'), Passage('2', 'Rome', 'Italy')])\n"
        "assert r._kernels() is None\n"
        "print([[h.passage.id for h in hits] for hits in r.search_batch(['italy', 'france rome'], 2)])\n"
    )
    env = dict(os.environ, SWIRL_NO_NUMBA="1", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[['2'], ['1', '2']]"


def test_kernel_functions_directly():
    indptr = np.array([0, 2, 3, 3], dtype=np.int64)
    indices = np.array([0, 1, 1], dtype=np.int32)
    data = np.array([1.0, 2.0, 0.5])
    idf = np.array([1.0, 0.5, 0.2])
    buf = kernels.new_buffer(2)
    docs, scores = kernels.top_k(indptr, indices, data, idf, np.array([0, 1], dtype=np.int64), 5, buf)
    assert docs.tolist() == [1, 0] and scores.tolist() == [2.5, 1.0]
    assert not buf.any()  # left all zero
    docs, scores = kernels.top_k(indptr, indices, data, idf, np.array([2], dtype=np.int64), 5, buf)
    assert docs.tolist() == [] and scores.tolist() == []
    docs, scores, n = kernels.top_k_many(
        indptr, indices, data, idf, [np.array([1, 1]), np.zeros(0, np.int64)], 1, buf
    )
    assert n.tolist() == [1, 0] and docs[0, 0] == 1 and scores[0, 0] == 1.0
