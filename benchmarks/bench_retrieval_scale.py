"""A Wikipedia-size corpus end to end: write it, build its index in bounded memory, load it, search it.

For each size (synthetic passages streamed by ``swirl_env.retrieval.synthetic.iter_synthetic_corpus``,
the statistics of ``bench_retrieval``'s corpora), in this order:

1. write the corpus as JSONL (``save_corpus``), timed apart;
2. ``build_index(corpus, dir)`` in a fresh process: wall time, the process's peak RSS
   (``ru_maxrss``, which counts the pages of the memory-mapped index files it touched) and its
   peak anonymous memory (``RssAnon`` sampled every 0.1 s: what it cannot give back to the page
   cache), the index size on disk and the free disk space it needed;
3. in another fresh process: ``load_index(dir, verify=False)`` (what ``get_retriever`` does right
   after a build) and ``load_index(dir)`` (SHA-256 of every file), then ``--queries`` single
   searches (p50, p95, QPS; the first search apart) and one ``search_batch`` of all of them.

The line ``estimate`` extends the build time, peak memory and index size to ``--estimate``
passages (21M: wiki-18) along the line through the two largest sizes (see :func:`estimate_line`).

    python -m benchmarks.bench_retrieval_scale --sizes 1000000 10000000 --workdir /var/tmp/swirl-scale
    python -m benchmarks.bench_retrieval_scale --sizes 100000 --queries 100      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from swirl_env.retrieval import build_index, load_index, save_corpus
from swirl_env.retrieval.synthetic import iter_synthetic_corpus, synthetic_queries


def _dir_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.iterdir() if p.is_file())


def _peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_anon_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _child(stage: str, args: argparse.Namespace, corpus: Path, index: Path) -> dict[str, Any]:
    """Run ``stage`` of this module in a fresh Python process; its JSON result, plus its peak
    anonymous memory (sampled here every 0.1 s)."""
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_retrieval_scale",
        "--stage",
        stage,
        "--corpus",
        str(corpus),
        "--index",
        str(index),
        "--queries",
        str(args.queries),
        "--k",
        str(args.k),
        "--seed",
        str(args.seed),
    ]
    if args.no_progress:
        cmd.append("--no-progress")
    out = index.parent / f"{stage}.json"
    cmd += ["--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1])
    peak_anon = 0
    while proc.poll() is None:
        peak_anon = max(peak_anon, _rss_anon_kb(proc.pid))
        time.sleep(0.1)
    if proc.returncode:
        raise RuntimeError(f"stage {stage} failed with exit code {proc.returncode}")
    result = json.loads(out.read_text())
    result["peak_anon_mb"] = peak_anon / 1024
    return result


def stage_build(args: argparse.Namespace) -> dict[str, Any]:
    t = time.perf_counter()
    build_index(args.corpus, args.index, progress=not args.no_progress)
    return {"build_s": time.perf_counter() - t, "peak_rss_mb": _peak_rss_mb()}


def stage_search(args: argparse.Namespace) -> dict[str, Any]:
    t = time.perf_counter()
    r = load_index(args.index, verify=False)
    load_fast = time.perf_counter() - t
    t = time.perf_counter()
    load_index(args.index)
    load_verify = time.perf_counter() - t
    queries = synthetic_queries(r.passages, args.queries + 1, seed=args.seed + 1)
    t = time.perf_counter()
    r.search(queries[0], args.k)  # kernels loaded from numba's cache, first pages touched
    first = time.perf_counter() - t
    times = []
    for q in queries[1:]:
        t = time.perf_counter()
        r.search(q, args.k)
        times.append(time.perf_counter() - t)
    a = np.asarray(times)
    t = time.perf_counter()
    r.search_batch(queries[1:], args.k)
    batch = time.perf_counter() - t
    return {
        "load_s": load_fast,
        "load_verify_s": load_verify,
        "first_search_ms": first * 1e3,
        "p50_ms": float(np.percentile(a, 50) * 1e3),
        "p95_ms": float(np.percentile(a, 95) * 1e3),
        "qps": float(len(a) / a.sum()),
        "batched_qps": len(a) / batch,
        "n_terms": r.n_terms,
        "nnz": int(r.data.shape[0]),
        "peak_rss_mb": _peak_rss_mb(),
    }


def bench_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir) / f"n{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    corpus, index = work / "corpus.jsonl", work / "index"
    t = time.perf_counter()
    save_corpus(iter_synthetic_corpus(n, seed=args.seed), corpus)
    row: dict[str, Any] = {
        "passages": n,
        "write_corpus_s": time.perf_counter() - t,
        "corpus_mb": corpus.stat().st_size / 2**20,
    }
    free_before = shutil.disk_usage(work).free
    stop = threading.Event()
    low = [free_before]

    def watch() -> None:
        while not stop.wait(0.5):
            low[0] = min(low[0], shutil.disk_usage(work).free)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    built = _child("build", args, corpus, index)
    stop.set()
    watcher.join()
    row.update(
        build_s=built["build_s"],
        build_peak_rss_mb=built["peak_rss_mb"],
        build_peak_anon_mb=built["peak_anon_mb"],
        index_mb=_dir_bytes(index) / 2**20,
        build_disk_peak_mb=(free_before - low[0]) / 2**20,
    )
    searched = _child("search", args, corpus, index)
    searched["search_peak_rss_mb"] = searched.pop("peak_rss_mb")
    row.update(searched)
    row["search_peak_anon_mb"] = row.pop("peak_anon_mb")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return row


def print_rows(rows: list[dict[str, Any]], estimate: int) -> None:
    cols = [
        ("passages", "{:,}"),
        ("write_corpus_s", "{:.0f}"),
        ("corpus_mb", "{:,.0f}"),
        ("build_s", "{:.0f}"),
        ("build_peak_rss_mb", "{:,.0f}"),
        ("build_peak_anon_mb", "{:,.0f}"),
        ("index_mb", "{:,.0f}"),
        ("build_disk_peak_mb", "{:,.0f}"),
        ("load_s", "{:.3f}"),
        ("search_peak_rss_mb", "{:,.0f}"),
        ("load_verify_s", "{:.1f}"),
        ("first_search_ms", "{:.1f}"),
        ("p50_ms", "{:.3f}"),
        ("p95_ms", "{:.3f}"),
        ("qps", "{:,.0f}"),
        ("batched_qps", "{:,.0f}"),
    ]
    print("| " + " | ".join(c for c, _ in cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join("-" if r.get(c) is None else f.format(r[c]) for c, f in cols) + " |")
    print("\n" + estimate_line(rows, estimate))


def estimate_line(rows: list[dict[str, Any]], estimate: int) -> str:
    """Build time, peak anonymous memory, index size and postings at ``estimate`` passages: a line
    through the two largest sizes (fixed costs such as the build's block buffers stay fixed), or
    proportional to the one size (an upper bound for memory, which has a fixed part).

    Example:
        >>> rows = [{"passages": n, "build_s": 60.0 * n / 1e6, "build_peak_anon_mb": 300 + n / 1e4,
        ...          "index_mb": n / 1e3, "nnz": 70 * n} for n in (1_000_000, 2_000_000)]
        >>> estimate_line(rows, 4_000_000)
        'estimate for 4,000,000 passages (line through 1,000,000 and 2,000,000): build 4 min, peak anonymous memory 0.7 GiB, index 3.9 GiB on disk (+ the corpus file), postings 0.28 G'
    """
    rows = sorted(rows, key=lambda r: r["passages"])
    keys = ("build_s", "build_peak_anon_mb", "index_mb", "nnz")
    big = rows[-1]
    if len(rows) >= 2 and rows[-2]["passages"] < big["passages"]:
        small = rows[-2]
        t = (estimate - small["passages"]) / (big["passages"] - small["passages"])
        est = {k: small[k] + t * (big[k] - small[k]) for k in keys}
        how = f"line through {small['passages']:,} and {big['passages']:,}"
    else:
        est = {k: big[k] * estimate / big["passages"] for k in keys}
        how = f"proportional to {big['passages']:,}"
    return (
        f"estimate for {estimate:,} passages ({how}): build {est['build_s'] / 60:.0f} min, "
        f"peak anonymous memory {est['build_peak_anon_mb'] / 1024:.1f} GiB, "
        f"index {est['index_mb'] / 1024:.1f} GiB on disk (+ the corpus file), postings {est['nnz'] / 1e9:.2f} G"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000], help="passages")
    parser.add_argument("--queries", type=int, default=300, help="single searches per size")
    parser.add_argument("--k", type=int, default=10, help="hits per query")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir",
        default="/var/tmp/swirl-bench-scale",
        help="where the corpus and index are written (needs ~2 KB of disk per passage)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the corpus and index files")
    parser.add_argument("--estimate", type=int, default=21_000_000, help="passages of the estimate line")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--stage", choices=["build", "search"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--index", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        result = (stage_build if args.stage == "build" else stage_search)(args)
        Path(args.out).write_text(json.dumps(result))
        return 0
    print(f"# bench_retrieval_scale: {os.cpu_count()} CPUs, numpy {np.__version__}", flush=True)
    rows = []
    for n in args.sizes:
        rows.append(bench_size(n, args))
        print(json.dumps(rows[-1]), flush=True)
    print_rows(rows, args.estimate)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
