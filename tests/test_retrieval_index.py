"""Sparse BM25 index persistence: round trip, stale and corrupt detection, automatic rebuilds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from swirl_env.retrieval import (
    CorruptIndexError,
    IncompatibleIndexError,
    IndexNotFoundError,
    Passage,
    RetrievalIndexError,
    SparseBM25Retriever,
    StaleIndexError,
    clear_retriever_cache,
    corpus_fingerprint,
    get_retriever,
    load_index,
    save_corpus,
    save_index,
)
from swirl_env.retrieval.index import PassageStore
from swirl_env.retrieval.synthetic import synthetic_corpus, synthetic_queries


def ranking(hits):
    return [(h.passage, h.score, h.rank) for h in hits]


@pytest.fixture()
def built(tmp_path):
    passages = synthetic_corpus(3000, seed=21)
    passages[5] = Passage("ünï-5", "Beyoncé — “Lemonade”", "Beyoncé’s sixth album, 東京 and Москва.")
    corpus = tmp_path / "corpus.jsonl"
    save_corpus(passages, corpus)
    r = SparseBM25Retriever(passages, k1=1.2, b=0.7)
    index = tmp_path / "index"
    save_index(r, index, corpus=corpus)
    return passages, corpus, r, index


@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip(built, mmap):
    passages, corpus, r, index = built
    loaded = load_index(index, mmap=mmap)
    assert isinstance(loaded.passages, PassageStore) and list(loaded.passages) == passages
    assert loaded.params == r.params == {"k1": 1.2, "b": 0.7, "epsilon": 0.25}
    assert loaded.vocab == r.vocab and loaded.avgdl == r.avgdl and loaded.average_idf == r.average_idf
    for name in ("indptr", "indices", "data", "doc_len", "idf"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(r, name))
    queries = [*synthetic_queries(passages, 30, seed=22), "Beyoncé 東京", "москва", ""]
    for q in queries:
        assert ranking(loaded.search(q, 5)) == ranking(r.search(q, 5))
        np.testing.assert_array_equal(loaded.get_scores(q), r.get_scores(q))
    assert loaded.search("東京", 1)[0].passage.id == "ünï-5"
    # re-saving a loaded index writes the same bytes
    save_index(loaded, index.parent / "copy", corpus=corpus)
    m1 = json.loads((index / "manifest.json").read_text())
    m2 = json.loads((index.parent / "copy" / "manifest.json").read_text())
    assert {k: v["sha256"] for k, v in m1["files"].items()} == {
        k: v["sha256"] for k, v in m2["files"].items()
    }


def test_manifest_contents(built):
    passages, corpus, r, index = built
    m = json.loads((index / "manifest.json").read_text())
    assert m["format"] == "swirl-bm25-sparse" and m["format_version"] == 1
    assert m["n_docs"] == 3000 and m["n_terms"] == r.n_terms and m["nnz"] == r.data.shape[0]
    assert m["params"] == {"k1": 1.2, "b": 0.7, "epsilon": 0.25}
    assert m["corpus"]["sha256"] == corpus_fingerprint(corpus) and m["corpus"]["path"] == str(
        corpus.resolve()
    )
    assert m["corpus"]["passages_sha256"] == corpus_fingerprint(passages)
    assert set(m["files"]) >= {
        "indptr.npy",
        "indices.npy",
        "data.npy",
        "vocab.npy",
        "texts.npy",
        "ids_offsets.npy",
    }
    for name, info in m["files"].items():
        assert (index / name).stat().st_size == info["bytes"] and len(info["sha256"]) == 64
    assert not [p for p in index.iterdir() if p.name.startswith(".tmp")]


def test_stale_corpus_detected(built):
    passages, corpus, _, index = built
    # same content, new mtime: the hash decides, the index is still valid
    os.utime(corpus, ns=(10**9, 10**9))
    assert len(load_index(index)) == 3000
    assert len(load_index(index, corpus=corpus)) == 3000
    assert len(load_index(index, corpus=passages)) == 3000
    with pytest.raises(StaleIndexError, match="rebuild"):
        load_index(index, corpus=passages[:-1])
    save_corpus([*passages, Passage("new", "New", "a new passage")], corpus)
    with pytest.raises(StaleIndexError, match=r"another corpus.*changed.*rebuild"):
        load_index(index)  # the recorded corpus path changed
    with pytest.raises(StaleIndexError):
        load_index(index, corpus=corpus)
    other = corpus.parent / "other.jsonl"
    save_corpus(passages, other)
    assert len(load_index(index, corpus=other)) == 3000  # same content elsewhere: valid
    other.write_text(
        "\n".join(json.dumps({"id": p.id, "contents": p.contents}) for p in passages), encoding="utf-8"
    )
    assert len(load_index(index, corpus=other)) == 3000  # same passages in another layout: valid


def _flip_byte(path: Path, offset: int = -9) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("damage", "error", "match"),
    [
        (
            lambda d: (d / "data.npy").write_bytes((d / "data.npy").read_bytes()[:-100]),
            CorruptIndexError,
            "truncated",
        ),
        (lambda d: _flip_byte(d / "indices.npy"), CorruptIndexError, "SHA-256"),
        (lambda d: _flip_byte(d / "texts.npy", 200), CorruptIndexError, "SHA-256"),
        (lambda d: (d / "vocab.npy").unlink(), CorruptIndexError, "missing"),
        (lambda d: (d / "manifest.json").write_text("{not json"), CorruptIndexError, "unreadable"),
        (lambda d: (d / "manifest.json").unlink(), IndexNotFoundError, "manifest.json missing"),
    ],
)
def test_corrupt_index_detected(built, damage, error, match):
    _, _, _, index = built
    damage(index)
    with pytest.raises(error, match=match) as e:
        load_index(index)
    assert "rebuild" in str(e.value) and isinstance(e.value, RetrievalIndexError)


def test_header_damage_caught_without_checksums(built):
    _, _, _, index = built
    path = index / "indptr.npy"
    raw = bytearray(path.read_bytes())
    raw[:6] = b"NOTNPY"
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptIndexError, match=r"cannot read indptr\.npy"):
        load_index(index, verify=False)


@pytest.mark.parametrize(
    ("field", "value"), [("format_version", 99), ("tokenizer", "other-v0"), ("format", "x")]
)
def test_incompatible_index(built, field, value):
    _, _, _, index = built
    m = json.loads((index / "manifest.json").read_text())
    m[field] = value
    (index / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IncompatibleIndexError, match="rebuild"):
        load_index(index)


def test_load_index_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_index(tmp_path / "nothing")


def test_get_retriever_builds_loads_and_rebuilds(tmp_path, caplog):
    clear_retriever_cache()
    passages = synthetic_corpus(1500, seed=23)
    corpus, index = tmp_path / "c.jsonl", tmp_path / "idx"
    save_corpus(passages, corpus)
    q = synthetic_queries(passages, 1, seed=24)[0]
    expected = ranking(SparseBM25Retriever(passages).search(q, 5))

    a = get_retriever(corpus, index_dir=index)
    assert (index / "manifest.json").is_file() and ranking(a.search(q, 5)) == expected
    assert get_retriever(corpus, index_dir=index) is a  # cached
    clear_retriever_cache()
    mtime = (index / "data.npy").stat().st_mtime_ns
    b = get_retriever(corpus, index_dir=index)  # loaded, not rebuilt
    assert (index / "data.npy").stat().st_mtime_ns == mtime and ranking(b.search(q, 5)) == expected

    clear_retriever_cache()
    _flip_byte(index / "data.npy")
    with caplog.at_level("WARNING"):
        c = get_retriever(corpus, index_dir=index)  # corrupt: rebuilt
    assert "SHA-256" in caplog.text and ranking(c.search(q, 5)) == expected
    load_index(index)

    clear_retriever_cache()
    d = get_retriever(corpus, index_dir=index, k1=0.8)  # other parameters: rebuilt with them
    assert d.params["k1"] == 0.8 and load_index(index).params["k1"] == 0.8

    save_corpus(passages[:1000], corpus)  # the corpus changes: new cache key, stale index rebuilt
    e = get_retriever(corpus, index_dir=index, k1=0.8)
    assert len(e) == 1000 and len(load_index(index)) == 1000
    clear_retriever_cache()


def test_concurrent_processes_build_once(tmp_path):
    corpus, index = tmp_path / "c.jsonl", tmp_path / "idx"
    save_corpus(synthetic_corpus(2000, seed=25), corpus)
    code = (
        "import sys; from swirl_env.retrieval import get_retriever; "
        "r = get_retriever(sys.argv[1], index_dir=sys.argv[2]); print(len(r), r.search('he from', 1)[0].passage.id)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(corpus), str(index)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1] and outs[0].startswith("2000 ")
    assert len(load_index(index, corpus=corpus)) == 2000
