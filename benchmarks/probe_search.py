"""Single-query and batched search times of the sparse index, repeated, for comparing two
checkouts of the search code on one saved index.

Builds (once, into ``--index``) a synthetic corpus's index, loads it unverified (memory-mapped),
and prints one line per repeat: the p50 and p95 of one ``search`` per query and the queries per
second of one ``search_batch`` over all of them. Run it from each checkout in turn, alternately
(``PYTHONPATH=CHECKOUT python -m benchmarks.probe_search``), so both see the same index and the
same machine.

Run:
    python -m benchmarks.probe_search --passages 100000 --queries 300 --repeats 5

Example:
    >>> _summary([0.001, 0.002, 0.003], 3, 0.001)
    (2.0, 2.9, 3000.0)
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np


def _summary(times: Sequence[float], n_queries: int, batch_s: float) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, batched queries per second)."""
    ms = np.asarray(times) * 1e3
    return (
        round(float(np.median(ms)), 3),
        round(float(np.percentile(ms, 95)), 3),
        round(n_queries / batch_s, 1),
    )


def main(argv: Sequence[str] | None = None) -> None:
    from swirl_env.retrieval import SparseBM25Retriever, load_index, save_index
    from swirl_env.retrieval.synthetic import synthetic_corpus, synthetic_queries

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--index", default="/tmp/swirl_probe_search_index", help="index directory (built if absent)"
    )
    args = ap.parse_args(argv)
    if not os.path.exists(os.path.join(args.index, "manifest.json")):
        save_index(SparseBM25Retriever(synthetic_corpus(args.passages, seed=0), progress=False), args.index)
    r = load_index(args.index, verify=False)
    ps = r.passages
    queries = synthetic_queries([ps[i] for i in range(0, len(ps), 37)], args.queries, seed=1)
    for q in queries[:20]:  # compiled kernels loaded, caches warm
        r.search(q, 10)
    r.search_batch(queries, 10)
    for rep in range(args.repeats):
        times = []
        for q in queries:
            t0 = time.perf_counter()
            r.search(q, 10)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r.search_batch(queries, 10)
        p50, p95, qps = _summary(times, len(queries), time.perf_counter() - t0)
        print(f"repeat {rep}: p50 {p50:.3f} ms, p95 {p95:.3f} ms, batched {qps:,.0f} QPS")


if __name__ == "__main__":
    main()
