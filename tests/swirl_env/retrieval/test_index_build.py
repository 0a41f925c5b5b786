"""The streaming index build: the same files as an in-memory build and save, bounded chunks, errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import swirl_env.retrieval.index_build as index_build
from swirl_env.retrieval import (
    Passage,
    SparseBM25Retriever,
    build_index,
    clear_retriever_cache,
    get_retriever,
    load_index,
    save_corpus,
    save_index,
)
from swirl_env.retrieval.synthetic import synthetic_corpus, synthetic_queries


def manifest(d: Path) -> dict:
    m = json.loads((d / "manifest.json").read_text())
    m.pop("created")
    return m


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stream")
    passages = synthetic_corpus(4000, seed=5)
    passages[7] = Passage("ünï-7", "Beyoncé — “Lemonade”", "Beyoncé’s sixth album, 東京 and Москва.")
    passages[8] = Passage("8", "", "the of and")  # stopwords only: length 0, no postings
    path = tmp / "corpus.jsonl"
    save_corpus(passages, path)
    reference = tmp / "reference"
    save_index(SparseBM25Retriever(passages, k1=1.2, b=0.7), reference, corpus=path)
    return passages, path, reference


@pytest.mark.parametrize("chunk, block", [(20_000, 8_000_000), (999, 5_000), (1, 1)])
def test_stream_build_writes_the_same_bytes_as_save_index(corpus, tmp_path, monkeypatch, chunk, block):
    passages, path, reference = corpus
    monkeypatch.setattr(index_build, "CHUNK_PASSAGES", chunk)
    monkeypatch.setattr(index_build, "BLOCK_POSTINGS", block)
    if chunk == 1:  # one passage per chunk is slow: a prefix of the corpus, against its own reference
        passages = passages[:300]
        path = tmp_path / "small.jsonl"
        save_corpus(passages, path)
        reference = tmp_path / "ref"
        save_index(SparseBM25Retriever(passages, k1=1.2, b=0.7), reference, corpus=path)
    out = build_index(path, tmp_path / "built", k1=1.2, b=0.7, progress=False)
    assert manifest(out) == manifest(reference)  # every file's size and SHA-256, the corpus record
    for name in manifest(reference)["files"]:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert not [p.name for p in out.iterdir() if p.name.startswith(".tmp")]


def test_stream_build_from_passages_and_gzip_equals_the_in_memory_retriever(corpus, tmp_path):
    passages, _, _ = corpus
    gz = tmp_path / "corpus.jsonl.gz"
    save_corpus(passages, gz)
    from_file = load_index(build_index(gz, tmp_path / "a", progress=False))
    from_iter = load_index(build_index((p for p in passages), tmp_path / "b", progress=False))
    memory = SparseBM25Retriever(passages)
    for q in [*synthetic_queries(passages, 60, seed=2), "Beyoncé Москва", "the of", ""]:
        want = [(h.passage, h.score, h.rank) for h in memory.search(q, k=10)]
        assert [(h.passage, h.score, h.rank) for h in from_file.search(q, k=10)] == want
        assert [(h.passage, h.score, h.rank) for h in from_iter.search(q, k=10)] == want
    np.testing.assert_array_equal(from_file.data, memory.data)
    np.testing.assert_array_equal(from_iter.indices, memory.indices)


def test_get_retriever_builds_file_corpora_by_streaming(corpus, tmp_path, monkeypatch):
    passages, path, _ = corpus
    calls = []
    real = index_build.build_index
    monkeypatch.setattr(
        "swirl_env.retrieval.factory.build_index", lambda *a, **kw: calls.append(a) or real(*a, **kw)
    )
    clear_retriever_cache()
    r = get_retriever(path, index_dir=tmp_path / "idx", cache=False)
    assert len(calls) == 1 and len(r) == len(passages)
    assert r.search("Lemonade", k=1)[0].passage.id == "ünï-7"
    r2 = get_retriever(path, index_dir=tmp_path / "idx", cache=False)  # loaded, not rebuilt
    assert len(calls) == 1 and r2.search("Lemonade", k=1)[0].passage.id == "ünï-7"


def test_duplicate_ids_in_a_file_are_refused_before_inverting(tmp_path, monkeypatch):
    path = tmp_path / "dup.jsonl"
    rows = [
        {"id": "a", "text": "one"},
        {"id": "b", "text": "two"},
        {"id": "c", "text": "x"},
        {"id": "b", "text": "three"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(index_build, "_invert", lambda *a, **kw: pytest.fail("inverted a bad corpus"))
    with pytest.raises(ValueError, match=r"duplicate passage id 'b' \(passages 1 and 3"):
        build_index(path, tmp_path / "idx", progress=False)
    assert not (tmp_path / "idx" / "manifest.json").exists()
    assert not list((tmp_path / "idx").iterdir())  # the spool is gone too


def test_hash_collisions_are_compared_in_full(tmp_path, monkeypatch):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "text": f"word{i}"}) + "\n" for i in range(50)))
    monkeypatch.setattr(index_build, "_id_hash", lambda ids: np.zeros(len(ids), dtype=np.int64))
    out = build_index(path, tmp_path / "idx", progress=False)  # every hash equal, every id distinct
    assert len(load_index(out)) == 50


@pytest.mark.parametrize(
    "lines, error",
    [
        ("", "empty corpus"),
        ('{"id": 1, "text": "the of"}\n{"id": 2, "text": "and"}\n', "no indexable token"),
        ('{"id": 1, "text": "fine"}\n{"id": 2, "text": \n', r"bad.jsonl:2: invalid JSON"),
        ('{"id": 1, "text": "fine"}\n[1, 2]\n', "expected a JSON object"),
        (
            '{"id": 1, "text": "fine"}\n' + "[" * 100_000 + "\n",
            r"bad.jsonl:2: invalid JSON \(maximum recursion",
        ),
        (
            '{"id": 1, "text": "' + "9" * 10 + '", "n": ' + "1" * 5000 + "}\n",
            r"bad.jsonl:1: invalid JSON \(Exceeds",
        ),
        ('{"id": 1, "body": "no text"}\n', "needs 'text'"),
        ('{"id": [1], "text": "fine"}\n', "bad.jsonl:1: 'id' must be a string, got list"),
        ('{"id": 1, "contents": ["a"]}\n', "'contents' must be a string, got list"),
        ('{"id": 1, "text": ["a", 2]}\n', "'text' must be a string or a list of strings"),
    ],
)
def test_bad_corpora_raise_clear_errors_and_leave_no_index(tmp_path, lines, error):
    path = tmp_path / "bad.jsonl"
    path.write_text(lines)
    with pytest.raises(ValueError, match=error):
        build_index(path, tmp_path / "idx", progress=False)
    assert not list((tmp_path / "idx").iterdir())


def test_a_corpus_line_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"id": 1, "text": "fine"}\n{"id": 2, "text": "\xff\xfe"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not UTF-8"):
        build_index(path, tmp_path / "idx", progress=False)
    assert not list((tmp_path / "idx").iterdir())


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_index(tmp_path / "missing.jsonl", tmp_path / "idx", progress=False)
    with pytest.raises(TypeError, match="Passage"):
        build_index([Passage("1", "", "x"), "not a passage"], tmp_path / "idx", progress=False)
    with pytest.raises(TypeError):
        build_index(b"corpus.jsonl", tmp_path / "idx", progress=False)
    with pytest.raises(ValueError, match="k1"):
        build_index([Passage("1", "", "x")], tmp_path / "idx", k1=-1, progress=False)


def test_rebuild_replaces_an_older_index(tmp_path):
    first = [Passage("1", "", "alpha beta"), Passage("2", "", "gamma")]
    build_index(first, tmp_path / "idx", progress=False)
    build_index([Passage("9", "", "delta")], tmp_path / "idx", progress=False)
    r = load_index(tmp_path / "idx")
    assert len(r) == 1 and r.search("delta")[0].passage.id == "9" and r.search("alpha") == []


def test_gzip_corpus_written_by_hand(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"id": "x", "contents": '"Title"\nbody words'}) + "\n")
    r = load_index(build_index(path, tmp_path / "idx", progress=False))
    assert r.search("title")[0].passage.title == "Title"


def test_a_streamed_synthetic_corpus_is_chunk_seeded_and_builds_from_its_iterator(tmp_path):
    from swirl_env.retrieval.synthetic import iter_synthetic_corpus

    ps = list(iter_synthetic_corpus(2500, seed=3, chunk=1000))
    assert [p.id for p in ps] == [f"s{i}" for i in range(2500)]
    assert ps == list(iter_synthetic_corpus(2500, seed=3, chunk=1000))  # reproducible
    assert ps[:1000] == list(iter_synthetic_corpus(1000, seed=3, chunk=1000))  # chunk i: its own seed
    assert ps != list(iter_synthetic_corpus(2500, seed=4, chunk=1000))
    lengths = np.array([len(p.text.split()) for p in ps])
    assert 80 < lengths.mean() < 112  # synthetic_corpus's statistics (mean 96 words)
    out = build_index(iter_synthetic_corpus(2500, seed=3, chunk=1000), tmp_path / "idx", progress=False)
    ref = SparseBM25Retriever(ps)
    r = load_index(out)
    for q in synthetic_queries(ps, 10, seed=1):
        assert [(h.passage.id, h.score) for h in r.search(q, 10)] == [
            (h.passage.id, h.score) for h in ref.search(q, 10)
        ]
    for bad in ({"chunk": 0}, {"vocab_size": 10}):
        with pytest.raises(ValueError):
            next(iter_synthetic_corpus(5, **bad))
    with pytest.raises(ValueError):
        next(iter_synthetic_corpus(0))
