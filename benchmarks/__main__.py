"""Benchmark suites: ``python -m benchmarks paper|perf ...`` (also ``swirl bench paper|perf ...``).

* ``paper``: the paper's experiments at a chosen scale (Table 2 layout, the four filters x SWiRL/SFT,
  data-size scaling); see :mod:`benchmarks.paper`.
* ``perf``: speed of the environment step, retrieval, the single-pass loss and the batched rollout,
  each against its reference in the same run; see :mod:`benchmarks.perf`.

Example:
    >>> # python -m benchmarks perf --quick
    >>> # python -m benchmarks paper filters --n-questions 32
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

SUITES = {
    "paper": ("benchmarks.paper", "the paper's tables at a chosen scale (table2, filters, scaling)"),
    "perf": ("benchmarks.perf", "speed ratios measured side by side (env step, retrieval, loss, rollout)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl bench``: a suite, then that suite's own arguments."""
    sub = parser.add_subparsers(dest="suite", metavar="SUITE", required=True)
    for name, (module, summary) in SUITES.items():
        p = sub.add_parser(name, help=summary, description=summary)
        _module(module).add_arguments(p)


def _module(name: str):
    import importlib

    return importlib.import_module(name)


def run(args: argparse.Namespace) -> int:
    """Run the chosen suite."""
    return int(_module(SUITES[args.suite][0]).run(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark suites: paper (the paper's tables at a chosen scale) and perf (speed ratios).",
    )
    add_arguments(parser)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
