"""BM25 retrieval speed: rank_bm25 (the reference) vs the sparse backend, side by side in one run.

For each corpus size (synthetic Wikipedia-like passages, see ``swirl_env.retrieval.synthetic``:
Zipf vocabulary, 96 words per passage on average, questions of about 16 words), it reports:

* build time (tokenize + index) of each backend, and for the sparse backend the time to save the
  index and to load it back memory-mapped (``load_index``), with its size on disk;
* single-query latency (p50, p95 in ms) and throughput (queries/s, one thread) of ``search(q, k)``,
  and for the sparse backend the throughput of ``search_batch(queries, k)`` (one call, all cores)
  and the time to compile its numba kernels or load them from numba's cache, apart
  (``--no-kernels``: its numpy path);
* the speed ratio: sparse QPS / rank_bm25 QPS (and build time ratio);
* a check that both backends return the same top-k ids, with bit-identical scores, on every query
  both ran;
* bm25s rows (``--no-bm25s`` skips them; ``pip install -e ".[bench]"``): its numba and numpy
  backends on the same tokens, with the JIT time (first search in the process) apart, single-query
  latency, batched QPS (2 threads) and how many top-k lists equal the exact ones, and the sparse
  backend's latency paired query by query with theirs (ours, then theirs, on each query: the pair
  shares the machine's load of that moment);
* HTTP rows (``--no-http`` skips them): the sparse index behind ``RetrievalServer`` on 127.0.0.1,
  keep-alive single-query latency, batched throughput (``--http-batch`` queries per request), and
  a load test of ``--http-clients`` concurrent clients x ``--http-requests`` requests (p50/p99).

rank_bm25 needs about 10 GB of RAM at 1M passages and ~5 s per query, so above
``--rank-bm25-max-size`` (default 100,000) it is not built: its build time and latency are
extrapolated linearly from the largest measured size (its build is linear in the corpus tokens and
each query scans every passage), and the rows say ``extrapolated``. At measured sizes it runs on
a sample of ``--rank-bm25-queries`` queries (the sparse backend runs all ``--queries``).

Run (default: 10k, 100k, 1M passages, a few minutes on 2 CPU cores, ~4 GB of RAM):

    python -m benchmarks.bench_retrieval
    python -m benchmarks.bench_retrieval --sizes 10000 100000 --queries 500 --rank-bm25-queries 50
    python -m benchmarks.bench_retrieval --sizes 1000000 --rank-bm25-max-size 1000000   # ~10 GB RAM
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np

from swirl_env.retrieval import (
    HTTPRetriever,
    RankBM25Retriever,
    Retriever,
    SparseBM25Retriever,
    kernels,
    load_index,
    save_index,
)
from swirl_env.retrieval.server import RetrievalServer
from swirl_env.retrieval.synthetic import synthetic_corpus, synthetic_queries
from swirl_env.retrieval.tokenizer import tokenize


def _latencies(
    retriever: Retriever, queries: list[str], k: int
) -> tuple[list[float], list[list[str]], list[list[float]]]:
    retriever.search(queries[0], k)  # warm-up
    times, results, scores = [], [], []
    for q in queries:
        t = time.perf_counter()
        hits = retriever.search(q, k)
        times.append(time.perf_counter() - t)
        results.append([h.passage.id for h in hits])
        scores.append([h.score for h in hits])
    return times, results, scores


def _max_score_diff(a: list[list[float]], b: list[list[float]]) -> float:
    diffs = [abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)]
    return max(diffs, default=0.0)


def _summary(times: list[float]) -> dict[str, float]:
    a = np.asarray(times)
    return {
        "p50_ms": float(np.percentile(a, 50) * 1e3),
        "p95_ms": float(np.percentile(a, 95) * 1e3),
        "qps": float(len(a) / a.sum()),
    }


def _serve_child(retriever: Retriever, conn: Any, options: dict[str, Any]) -> None:
    srv = RetrievalServer(retriever, **options)
    conn.send(srv.url)
    srv.serve()


class _ServerProcess:
    """``RetrievalServer`` in a forked process (the clients do not share its GIL), as a context
    manager with ``url``; the index pages are shared copy-on-write."""

    def __init__(self, retriever: Retriever, **options: Any) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_child, args=(retriever, child, options), daemon=True)
        self.proc.start()
        if not parent.poll(60):
            self.proc.kill()
            raise RuntimeError("the retrieval server process did not start")
        self.url: str = parent.recv()

    def __enter__(self) -> _ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join(10)


def bench_http(
    retriever: Retriever,
    queries: list[str],
    k: int,
    args: argparse.Namespace,
    n: int,
    expected: list[list[str]],
) -> list[dict[str, Any]]:
    """Rows for the same index behind :class:`RetrievalServer` (its own process) on 127.0.0.1: keep-alive single-query
    latency, batched throughput (``--http-batch`` queries per request), and a load test of
    ``--http-clients`` concurrent clients sending ``--http-requests`` single-query requests each."""
    rows: list[dict[str, Any]] = []
    with _ServerProcess(retriever, max_queries=max(1024, args.http_batch)) as srv:
        client = HTTPRetriever(srv.url, k=k, timeout=30, retries=0, batch_size=args.http_batch)
        times, ids, _ = _latencies(client, queries, k)
        assert ids == expected, "the server's answers disagree with the in-process search"
        rows.append({"backend": "http keep-alive", "n": n, "build_s": 0.0, **_summary(times),
                     "measured": True, "queries": len(queries), "note": "one query per request"})  # fmt: skip
        t = time.perf_counter()
        batched = client.search_batch(queries, k)
        dt = time.perf_counter() - t
        assert [[h.passage.id for h in hits] for hits in batched] == expected
        rows.append({"backend": f"http batched ({args.http_batch}/req)", "n": n, "build_s": 0.0,
                     "p50_ms": float("nan"), "p95_ms": float("nan"), "qps": len(queries) / dt,
                     "measured": True, "queries": len(queries),
                     "note": f"{args.http_batch} queries per request"})  # fmt: skip
        lat: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def run(i: int) -> None:
            mine = []
            c = HTTPRetriever(srv.url, k=k, timeout=30, retries=0)
            try:
                for j in range(args.http_requests):
                    q = queries[(i * args.http_requests + j) % len(queries)]
                    t0 = time.perf_counter()
                    c.search(q, k)
                    mine.append(time.perf_counter() - t0)
            except Exception as e:  # recorded, reported below
                errors.append(f"{type(e).__name__}: {e}")
            finally:
                c.close()
            with lock:
                lat.extend(mine)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(args.http_clients)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join(600)
        wall = time.perf_counter() - t
        a = np.asarray(lat) if lat else np.zeros(1)
        rows.append({"backend": f"http load {args.http_clients}x{args.http_requests}", "n": n,
                     "build_s": 0.0, "p50_ms": float(np.percentile(a, 50) * 1e3),
                     "p95_ms": float(np.percentile(a, 95) * 1e3), "p99_ms": float(np.percentile(a, 99) * 1e3),
                     "qps": len(lat) / wall, "measured": True, "queries": len(lat), "errors": len(errors),
                     "note": f"{args.http_clients} concurrent clients; p99 {np.percentile(a, 99) * 1e3:.2f} ms; "
                             f"{len(errors)} errors"})  # fmt: skip
        client.close()
    for r in rows:
        p50 = "-" if r["p50_ms"] != r["p50_ms"] else f"{r['p50_ms']:.3f} ms"
        print(f"  {r['backend']:<22} p50 {p50}  QPS {r['qps']:,.0f}  {r['note']}", flush=True)
    return rows


def bench_bm25s(
    passages: list[Any],
    queries: list[str],
    k: int,
    n: int,
    expected: list[list[str]],
    exp_scores: list[list[float]],
    ours: Retriever | None = None,
) -> list[dict[str, Any]]:
    """Rows for ``bm25s`` (numba and numpy backends, float32, BM25Okapi's ``robertson`` method) on
    the same tokens as ours (``tokenize``): build, JIT (first search, reported apart), single-query
    latency, batched QPS (2 threads), and agreement with our exact top-k.

    With ``ours``, each timed bm25s query is also paired with ``ours.search`` of the same query
    just before it (``paired_*`` fields): both then share whatever load the machine has at that
    moment, which the rows measured one after the other do not."""
    try:
        import bm25s
    except ImportError:
        print("  bm25s not installed (pip install -e '.[bench]'): its rows are skipped", flush=True)
        return []
    rows: list[dict[str, Any]] = []
    qtoks = [tokenize(q) for q in queries]
    for backend in ("numba", "numpy"):
        t = time.perf_counter()
        toks = [tokenize(p.indexed_text) for p in passages]
        r = bm25s.BM25(k1=1.5, b=0.75, method="robertson", backend=backend)
        r.index(toks, show_progress=False)
        del toks
        build = time.perf_counter() - t
        t = time.perf_counter()
        r.retrieve(qtoks[:1], k=k, show_progress=False, n_threads=1)
        jit = time.perf_counter() - t
        times, ids, scores, paired = [], [], [], []
        for q, text in zip(qtoks, queries):
            if ours is not None:
                t = time.perf_counter()
                ours.search(text, k)
                paired.append(time.perf_counter() - t)
            t = time.perf_counter()
            d, sc = r.retrieve([q], k=k, show_progress=False, n_threads=1)
            times.append(time.perf_counter() - t)
            ids.append([passages[int(i)].id for i in d[0]])
            scores.append([float(x) for x in sc[0]])
        t = time.perf_counter()
        r.retrieve(qtoks[:8], k=k, show_progress=False, n_threads=2)  # the threaded path compiles too
        jit += time.perf_counter() - t
        t = time.perf_counter()
        r.retrieve(qtoks, k=k, show_progress=False, n_threads=2)
        batched = len(qtoks) / (time.perf_counter() - t)
        agree = [i for i, (a, b) in enumerate(zip(expected, ids)) if a == b[: len(a)]]
        same = len(agree)
        # scores compared where the top-k lists agree (elsewhere other passages sit at each rank)
        diff = _max_score_diff([exp_scores[i] for i in agree], [scores[i] for i in agree])
        row = {"backend": f"bm25s {backend} f32", "n": n, "build_s": build, **_summary(times), "measured": True,
               "queries": len(qtoks), "jit_s": jit, "batched_qps": batched, "same_topk_frac": same / len(qtoks),
               "max_score_diff": diff,
               "note": f"JIT/first searches {jit:.2f}s; batched (2 threads) {batched:,.0f} QPS; same top-{k} as "
                       f"exact on {same}/{len(qtoks)} queries, max |score diff| there {diff:.1e}"}  # fmt: skip
        if paired:
            pa, pb = np.asarray(paired), np.asarray(times)
            row.update(paired_ours_p50_ms=float(np.percentile(pa, 50) * 1e3),
                       paired_ours_p95_ms=float(np.percentile(pa, 95) * 1e3),
                       paired_ratio_median=float(np.median(pa / pb)))  # fmt: skip
            row["note"] += (f"; paired query by query with ours: ours p50 {row['paired_ours_p50_ms']:.3f} / p95 "
                            f"{row['paired_ours_p95_ms']:.3f} ms, median ours/bm25s time {row['paired_ratio_median']:.2f}")  # fmt: skip
        rows.append(row)
        print(
            f"  {row['backend']:<17} build {build:7.2f}s  p50 {row['p50_ms']:.3f} ms  {row['note']}",
            flush=True,
        )
        del r
        gc.collect()
    return rows


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_size(n: int, args: argparse.Namespace, ref: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Rows for one corpus size; ``ref`` is the largest measured rank_bm25 row (for extrapolation)."""
    t = time.perf_counter()
    passages = synthetic_corpus(n, seed=args.seed)
    queries = synthetic_queries(passages, args.queries, seed=args.seed + 1)
    gen_s = time.perf_counter() - t
    print(f"\n[{n:,} passages] generated in {gen_s:.1f}s", flush=True)
    rows: list[dict[str, Any]] = []

    t = time.perf_counter()
    sparse = SparseBM25Retriever(passages, progress=not args.no_progress)
    build = time.perf_counter() - t
    if not args.kernels:
        sparse.use_kernels = False
    engine = "numba kernels" if sparse._kernels() is not None else "numpy"
    # compile the kernels, or load them from numba's on-disk cache (0 on the numpy path)
    jit = kernels.compile_seconds() if engine != "numpy" else 0.0
    times, sparse_ids, sparse_scores = _latencies(sparse, queries, args.k)
    sparse.search_batch(queries[:8], args.k)  # warm-up
    t = time.perf_counter()
    batch = sparse.search_batch(queries, args.k)
    batched = len(queries) / (time.perf_counter() - t)
    assert [[h.passage.id for h in hits] for hits in batch] == sparse_ids, "search_batch != search"
    assert [[h.score for h in hits] for hits in batch] == sparse_scores, "search_batch scores != search"
    threads = (sparse.threads or kernels.thread_count()) if engine != "numpy" else 1
    nbytes = sparse.data.nbytes + sparse.indices.nbytes + sparse.indptr.nbytes
    row = {
        "backend": "sparse",
        "n": n,
        "build_s": build,
        **_summary(times),
        "measured": True,
        "queries": len(queries),
        "engine": engine,
        "jit_s": jit,
        "batched_qps": batched,
        "threads": threads,
    }
    row["index_mb"] = nbytes / 2**20
    rows.append(row)
    print(f"  sparse     build {build:7.2f}s  p50 {row['p50_ms']:.3f} ms  QPS {row['qps']:,.0f}  "
          f"batched ({threads} threads) {batched:,.0f} QPS  ({engine}; JIT/cache load {jit:.2f}s)", flush=True)  # fmt: skip

    if args.http:
        rows += bench_http(sparse, queries, args.k, args, n, sparse_ids)
    if args.bm25s:
        rows += bench_bm25s(passages, queries, args.k, n, sparse_ids, sparse_scores, ours=sparse)

    if args.mmap:
        d = tempfile.mkdtemp(prefix="swirl-bench-index-")
        try:
            t = time.perf_counter()
            save_index(sparse, d)
            save_s = time.perf_counter() - t
            t = time.perf_counter()
            loaded = load_index(d, mmap=True, verify=False)
            load_s = time.perf_counter() - t
            disk_mb = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) / 2**20
            times, loaded_ids, _ = _latencies(loaded, queries, args.k)
            assert loaded_ids == sparse_ids, "loaded index disagrees with the built one"
            mrow = {
                "backend": "sparse (mmap index)",
                "n": n,
                "build_s": load_s,
                **_summary(times),
                "measured": True,
            }
            mrow.update(save_s=save_s, disk_mb=disk_mb, queries=len(queries))
            rows.append(mrow)
            print(
                f"  sparse     save {save_s:.2f}s, load (mmap) {load_s:.2f}s, {disk_mb:,.0f} MB on disk",
                flush=True,
            )
            del loaded
        finally:
            shutil.rmtree(d, ignore_errors=True)

    if n <= args.rank_bm25_max_size:
        del sparse
        gc.collect()
        t = time.perf_counter()
        rank = RankBM25Retriever(passages, k1=1.5, b=0.75, epsilon=0.25)
        rbuild = time.perf_counter() - t
        sample = queries[: args.rank_bm25_queries]
        times, rank_ids, rank_scores = _latencies(rank, sample, args.k)
        diff = _max_score_diff(rank_scores, sparse_scores[: len(sample)])
        # exact: the same ids in the same order and bit-identical scores
        same = rank_ids == sparse_ids[: len(sample)] and rank_scores == sparse_scores[: len(sample)]
        rrow = {"backend": "rank_bm25", "n": n, "build_s": rbuild, **_summary(times), "measured": True}
        rrow.update(queries=len(sample), same_topk=same, max_score_diff=diff)
        print(f"  rank_bm25  build {rbuild:7.2f}s  p50 {rrow['p50_ms']:.1f} ms  QPS {rrow['qps']:.2f}  "
              f"same top-{args.k}: {same} (max |score diff| {diff:.1e})", flush=True)  # fmt: skip
        if not same:
            print("  ERROR: the backends disagree", file=sys.stderr)
        del rank
    elif ref is not None:
        scale = n / ref["n"]
        rrow = {
            "backend": "rank_bm25",
            "n": n,
            "build_s": ref["build_s"] * scale,
            "p50_ms": ref["p50_ms"] * scale,
            "p95_ms": ref["p95_ms"] * scale,
            "qps": ref["qps"] / scale,
            "measured": False,
            "extrapolated_from": ref["n"],
            "queries": 0,
        }
        print(f"  rank_bm25  extrapolated x{scale:g} from {ref['n']:,} passages", flush=True)
    else:
        rrow = None
    if rrow is not None:
        rows.append(rrow)
        for r in rows:
            if r is not rrow:
                r["speedup_qps"] = r["qps"] / rrow["qps"]
                if r["build_s"] > 0:
                    r["build_ratio"] = rrow["build_s"] / r["build_s"]
    del passages
    gc.collect()
    return rows


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(f"BM25 search, top-{args.k}, one thread; machine: {_cpu_name()}, {os.cpu_count()} cores; "
          f"Python {platform.python_version()}, numpy {np.__version__}")  # fmt: skip
    header = (f"| {'passages':>9} | {'backend':<19} | {'build s':>8} | {'p50 ms':>9} | {'p95 ms':>9} | "
              f"{'QPS':>9} | {'QPS ratio':>9} | note")  # fmt: skip
    print(header)
    print("|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|------|")
    for r in rows:
        note = []
        if not r["measured"]:
            note.append(f"extrapolated (linear) from {r['extrapolated_from']:,} passages")
        elif r["backend"] == "rank_bm25":
            note.append(
                f"{r['queries']} queries; same top-k ids as sparse: {r['same_topk']}, "
                f"max |score diff| {r['max_score_diff']:.1e}"
            )
        elif r["backend"] == "sparse":
            note.append(
                f"{r['queries']} queries; {r['engine']}, JIT/cache load {r['jit_s']:.2f}s apart; batched "
                f"({r['threads']} threads) {r['batched_qps']:,.0f} QPS; index {r['index_mb']:,.0f} MB"
            )
        elif r["backend"].startswith(("http", "bm25s")):
            note.append(r["note"])
        else:
            note.append(f"build = load time; save {r['save_s']:.1f}s, {r['disk_mb']:,.0f} MB on disk")
        ratio = (
            f"{r['speedup_qps']:,.0f}x"
            if "speedup_qps" in r
            else "1x"
            if r["backend"] == "rank_bm25"
            else "-"
        )
        print(f"| {r['n']:>9,} | {r['backend']:<19} | {r['build_s']:>8.2f} | {r['p50_ms']:>9.3f} | "
              f"{r['p95_ms']:>9.3f} | {r['qps']:>9,.1f} | {ratio:>9} | {'; '.join(note)}".replace(" nan ", "   - "))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="passages")
    parser.add_argument("--queries", type=int, default=200, help="queries per size (sparse backend)")
    parser.add_argument(
        "--rank-bm25-queries", type=int, default=20, help="sample of the queries for rank_bm25"
    )
    parser.add_argument("--rank-bm25-max-size", type=int, default=100_000,
                        help="largest size at which rank_bm25 is built; above it, extrapolated")  # fmt: skip
    parser.add_argument("--k", type=int, default=10, help="hits per query")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-mmap", dest="mmap", action="store_false", help="skip the save/load (mmap) rows")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--no-http", dest="http", action="store_false", help="skip the HTTP server rows")
    parser.add_argument("--no-bm25s", dest="bm25s", action="store_false", help="skip the bm25s rows")
    parser.add_argument("--no-kernels", dest="kernels", action="store_false",
                        help="the sparse backend's numpy path instead of its numba kernels")  # fmt: skip
    parser.add_argument("--http-batch", type=int, default=64, help="queries per request (batched HTTP row)")
    parser.add_argument("--http-clients", type=int, default=8, help="concurrent clients (HTTP load row)")
    parser.add_argument("--http-requests", type=int, default=200, help="requests per client (HTTP load row)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.queries < 1 or args.rank_bm25_queries < 1 or args.rank_bm25_queries > args.queries:
        parser.error("need 1 <= --rank-bm25-queries <= --queries")

    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    ref = None
    for n in sorted(args.sizes):
        size_rows = bench_size(n, args, ref)
        rows += size_rows
        measured = [r for r in size_rows if r["backend"] == "rank_bm25" and r["measured"]]
        if measured:
            ref = measured[0]
    print_table(rows, args)
    print(f"\ntotal {time.perf_counter() - start:.0f}s; command: python -m benchmarks.bench_retrieval "
          + " ".join(sys.argv[1:] if argv is None else argv))  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            clean = [{k: None if isinstance(v, float) and v != v else v for k, v in r.items()} for r in rows]
            json.dump(  # strict JSON: NaN (no such figure) is written as null
                {"rows": clean, "args": vars(args), "cpu": _cpu_name(), "cores": os.cpu_count()}, f, indent=2
            )
    bad = [r for r in rows if r.get("same_topk") is False]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
