"""Sparse BM25 index persistence: round trip, stale and corrupt detection, automatic rebuilds."""

from __future__ import annotations

import json
import os
import shutil
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


@pytest.fixture(scope="module")
def built_once(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("built")
    passages = synthetic_corpus(3000, seed=21)
    passages[5] = Passage("ünï-5", "Beyoncé — “Lemonade”", "Beyoncé’s sixth album, 東京 and Москва.")
    corpus = tmp / "corpus.jsonl"
    save_corpus(passages, corpus)
    r = SparseBM25Retriever(passages, k1=1.2, b=0.7)
    save_index(r, tmp / "index", corpus=corpus)
    return passages, corpus, r, tmp / "index"


@pytest.fixture()
def built(built_once, tmp_path):
    """A fresh copy (corpus file + index recording it) per test, built once per module."""
    passages, corpus0, r, index0 = built_once
    corpus, index = tmp_path / "corpus.jsonl", tmp_path / "index"
    shutil.copy2(corpus0, corpus)
    shutil.copytree(index0, index)
    m = json.loads((index / "manifest.json").read_text())
    m["corpus"].update(path=str(corpus.resolve()), mtime_ns=corpus.stat().st_mtime_ns)
    (index / "manifest.json").write_text(json.dumps(m))
    return list(passages), corpus, r, index


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


# ---------------------------------------------------------------------------- crafted indexes
def _rewrite(index: Path, name: str, arr: np.ndarray) -> None:
    """Replace ``name.npy`` by ``arr`` and recompute its size and checksum in the manifest, as a
    crafted (not merely damaged) index would."""
    import hashlib

    path = index / f"{name}.npy"
    np.save(path, arr, allow_pickle=False)
    m = json.loads((index / "manifest.json").read_text())
    m["files"][f"{name}.npy"] = {
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    (index / "manifest.json").write_text(json.dumps(m))


def _edit_manifest(index: Path, edit) -> None:
    m = json.loads((index / "manifest.json").read_text())
    edit(m)
    (index / "manifest.json").write_text(json.dumps(m))


def _arr(index: Path, name: str) -> np.ndarray:
    return np.load(index / f"{name}.npy").copy()


def _set(a: np.ndarray, i: int, v) -> np.ndarray:
    a[i] = v
    return a


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.pop("params"), "params"),
        (lambda m: m.update(params={"k1": "1.5", "b": 0.75, "epsilon": 0.25}), "params"),
        (lambda m: m.update(params={"k1": 1.5, "b": 7, "epsilon": 0.25}), "params"),
        (lambda m: m.update(params=[1.5, 0.75, 0.25]), "params"),
        (lambda m: m.update(n_docs="3000"), "n_docs"),
        (lambda m: m.update(n_terms=None), "n_terms"),
        (lambda m: m.update(nnz=-1), "nnz"),
        (lambda m: m.update(n_docs=True), "n_docs"),
        (lambda m: m.update(avgdl="x"), "avgdl"),
        (lambda m: m.update(avgdl=0), "avgdl"),
        (lambda m: m.update(average_idf=None), "average_idf"),
        (lambda m: m.update(files=[]), "files"),
        (lambda m: m["files"].update({"data.npy": [1, 2]}), "files"),
        (lambda m: m["files"]["data.npy"].update(bytes="12"), "files"),
        (lambda m: m.update(n_docs=2999), "shapes"),
    ],
)
def test_bad_manifest_fields_are_corrupt(built, edit, match):
    _, _, _, index = built
    _edit_manifest(index, edit)
    with pytest.raises(CorruptIndexError, match=match) as e:
        load_index(index)
    assert "rebuild" in str(e.value)


def test_manifest_not_utf8_is_corrupt(built):
    _, _, _, index = built
    (index / "manifest.json").write_bytes(b'{"format": "\xff\xfe"}')
    with pytest.raises(CorruptIndexError, match="unreadable"):
        load_index(index)


@pytest.mark.parametrize(
    ("name", "make", "match"),
    [
        # wrong dtypes
        ("indices", lambda a: a.astype(np.int64), "expected a 1-d int32"),
        ("data", lambda a: a.astype(np.float32), "expected a 1-d float64"),
        ("texts", lambda a: a.astype(np.int8), "expected a 1-d uint8"),
        ("indptr", lambda a: a.reshape(1, -1), "1-d"),
        # out-of-range, negative, unsorted posting passage numbers
        ("indices", lambda a: _set(a, 3, 200_000_000), "outside"),
        ("indices", lambda a: _set(a, -1, 3000), "outside"),
        ("indices", lambda a: _set(a, 7, -5), "outside"),
        # posting weights
        ("data", lambda a: _set(a, 10, np.nan), "non-finite"),
        ("data", lambda a: _set(a, 10, -1.0), "negative"),
        ("idf", lambda a: _set(a, 0, np.inf), "non-finite"),
        # row pointers and offsets
        ("indptr", lambda a: _set(a, 5, a[4] - 1), "decreases"),
        ("indptr", lambda a: _set(a, 0, 1), "runs from"),
        ("texts_offsets", lambda a: _set(a, 10, a[9] - 1), "decreases"),
        ("ids_offsets", lambda a: _set(a, -1, a[-1] + 100), "runs from"),
        ("doc_len", lambda a: _set(a, 0, -3), "negative passage length"),
        # bad UTF-8
        ("texts", lambda a: _set(a, 50, 0xFF), "not valid UTF-8"),
        ("vocab", lambda a: _set(a, 0, 0xC3), "not valid UTF-8"),
    ],
)
def test_crafted_arrays_with_valid_checksums_are_corrupt(built, name, make, match):
    _, _, _, index = built
    _rewrite(index, name, make(_arr(index, name)))
    with pytest.raises(CorruptIndexError, match=match) as e:
        load_index(index)
    assert "rebuild" in str(e.value)


@pytest.mark.parametrize("swap", [False, True])
def test_unsorted_postings_are_corrupt(built, swap):
    _, _, _, index = built
    indptr, indices = _arr(index, "indptr"), _arr(index, "indices")
    t = int(np.argmax(np.diff(indptr)))  # the longest posting list
    s = int(indptr[t])
    if swap:
        indices[s], indices[s + 1] = indices[s + 1], indices[s]
    else:
        indices[s + 1] = indices[s]  # a duplicate posting
    _rewrite(index, "indices", indices)
    with pytest.raises(CorruptIndexError, match="not sorted"):
        load_index(index)


def test_offsets_cutting_a_character_are_corrupt(built):
    _, _, _, index = built
    off = _arr(index, "titles_offsets")
    blob = _arr(index, "titles")
    # passage 5's title starts with "Beyoncé": move the start of passage 6 inside a 2-byte character
    start = int(off[5])
    inner = start + bytes(blob[start : off[6]]).index("é".encode()) + 1
    off[5 + 1] = inner
    _rewrite(index, "titles_offsets", off)
    with pytest.raises(CorruptIndexError, match="cut a UTF-8 character"):
        load_index(index)


def test_get_retriever_rebuilds_a_crafted_index(built, caplog):
    passages, corpus, r, index = built
    clear_retriever_cache()
    _edit_manifest(index, lambda m: m.pop("params"))
    with caplog.at_level("WARNING"):
        got = get_retriever(corpus, index_dir=index, k1=1.2, b=0.7)
    assert "params" in caplog.text
    q = synthetic_queries(passages, 3, seed=5)
    assert [ranking(got.search(x, 5)) for x in q] == [ranking(r.search(x, 5)) for x in q]
    clear_retriever_cache()
    _rewrite(index, "indices", _set(_arr(index, "indices"), 3, 200_000_000))
    with caplog.at_level("WARNING"):
        got = get_retriever(corpus, index_dir=index, k1=1.2, b=0.7)
    assert "outside" in caplog.text and len(load_index(index)) == 3000
    clear_retriever_cache()


def test_unverified_load_still_checks_structure(built):
    _, _, _, index = built
    _rewrite(index, "indptr", _set(_arr(index, "indptr"), 5, -1))
    with pytest.raises(CorruptIndexError, match="decreases"):
        load_index(index, verify=False)


@pytest.mark.parametrize("value", [2**30, 3000, -1])
@pytest.mark.parametrize("kernels", [True, False])
def test_an_unverified_load_of_damaged_postings_is_an_error_never_out_of_bounds(built, value, kernels):
    """A flipped passage number in ``indices.npy`` (the size unchanged) is not seen by an unverified
    load; a search that meets it raises, instead of writing outside its buffer (a segfault) or
    returning another passage, and searches of other words still answer."""
    passages, _, _, index = built
    indices, indptr = _arr(index, "indices"), _arr(index, "indptr")
    i = indices.shape[0] // 2
    indices[i] = value
    np.save(index / "indices.npy", indices, allow_pickle=False)  # its checksum is now wrong
    loaded = load_index(index, verify=False)
    loaded.use_kernels = kernels
    term = int(np.searchsorted(indptr, i, side="right")) - 1  # the term whose postings hold i
    word = next(w for w, t in loaded.vocab.items() if t == term)
    other = next(w for w, t in loaded.vocab.items() if t != term and indptr[t + 1] - indptr[t] > 3)
    for query in (word, f"{word} {word}", f"{other} {word}"):
        with pytest.raises(CorruptIndexError, match="verify=True"):
            loaded.search(query, 10)
        with pytest.raises(CorruptIndexError, match="verify=True"):
            loaded.search_batch([query, other], 10)
    hits = loaded.search(other, 5)
    assert hits and all(0 <= passages.index(h.passage) < len(passages) for h in hits)


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace('"corpus": {', '"corpus": "oops", "was": {', 1),
        lambda text: text[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=["corpus-not-a-record", "nested-too-deeply"],
)
def test_a_damaged_manifest_is_corrupt_and_rebuilt(built, edit):
    _, corpus, _, index = built
    manifest = index / "manifest.json"
    manifest.write_text(edit(manifest.read_text()))
    with pytest.raises(CorruptIndexError):
        load_index(index)
    clear_retriever_cache()
    assert len(get_retriever(corpus, index_dir=index)) == 3000  # rebuilt


def test_a_header_shape_beyond_the_file_is_corrupt_before_any_allocation(built):
    _, _, _, index = built
    path = index / "indices.npy"
    raw = path.read_bytes()
    n = _arr(index, "indices").shape[0]
    old, new = f"({n},)".encode(), b"(99999999999,)"
    head = raw[:128].replace(old, new).replace(b" " * len(new), b" " * len(old), 1)  # same length
    assert len(head) == 128 and new in head
    path.write_bytes(head + raw[128:])
    for mmap in (True, False):
        with pytest.raises(CorruptIndexError, match=r"indices\.npy"):
            load_index(index, mmap=mmap, verify=False)
