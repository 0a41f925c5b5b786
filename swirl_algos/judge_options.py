"""The judge options every command shares: ``--process-judge``, ``--outcome-judge``, their JSON
keyword arguments and ``--judge-cache`` (``swirl judge``, ``swirl evaluate``, ``swirl train``).

A judge is named as the judge registry names it (:func:`swirl_env.rewards.judges.registry.make_judge`):
a registered short name, ``hf:NAME_OR_PATH``, ``openai:MODEL@BASE_URL``, or ``package.module:Class``.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_judge_options(parser)
    >>> process, outcome = judges_from_args(parser.parse_args(["--process-judge", "rule"]))
    >>> type(process).__name__, outcome
    ('RuleProcessJudge', None)
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from swirl_algos.config_args import json_kwargs

__all__ = ["JUDGE_FORMS", "add_judge_options", "close_all", "judge_forms", "judges_from_args"]


def judge_forms() -> str:
    """How a judge is named on the command line (from the judge registry, so a plug-in's name shows)."""
    from swirl_env.rewards.judges.registry import judge_names

    return f"a registered name ({', '.join(judge_names())}; hf:NAME_OR_PATH, openai:MODEL@BASE_URL) or package.module:Class"


JUDGE_FORMS = judge_forms()
#: what each kind of judge decides, for the options' help
_JUDGE_ROLES = {"process": "judge of every step (GOOD/BAD)", "outcome": "judge of the final answer (YES/NO)"}


def add_judge_options(
    parser: Any, kinds: tuple[str, ...] = ("process", "outcome"), roles: dict[str, str] | None = None
) -> None:
    """``--{kind}-judge``, ``--{kind}-judge-kwargs`` for each kind, and ``--judge-cache``: the judge
    options of every command (``judge``, ``evaluate``, ``train``), read by :func:`judges_from_args`."""
    for kind in kinds:
        role = (roles or {}).get(kind, _JUDGE_ROLES[kind])
        parser.add_argument(f"--{kind}-judge", help=f"{role}: {judge_forms()}")
        parser.add_argument(
            f"--{kind}-judge-kwargs", default="{}", help=f"JSON keyword arguments of the {kind} judge"
        )
    parser.add_argument("--judge-cache", help="SQLite file caching judgements across runs")


def judges_from_args(args: argparse.Namespace, kinds: tuple[str, ...] = ("process", "outcome")) -> list[Any]:
    """The judges of :func:`add_judge_options`' options, one per kind (``None`` where not given);
    a bad spec or argument exits with its reason."""
    from swirl_algos.evaluation import load_judge

    cache = getattr(args, "judge_cache", None)
    if cache:
        for name in ("input", "output", "data", "output_dir"):
            other = getattr(args, name, None)
            if isinstance(other, str) and os.path.realpath(other) == os.path.realpath(cache):
                raise SystemExit(f"--judge-cache {cache}: the cache needs a file of its own, not the {name}")
        if os.path.isdir(cache):
            raise SystemExit(f"--judge-cache {cache}: a directory, not a file")
    judges = []
    for kind in kinds:
        kwargs = json_kwargs(getattr(args, f"{kind}_judge_kwargs"), f"--{kind}-judge-kwargs")
        try:
            judges.append(load_judge(getattr(args, f"{kind}_judge"), kind, kwargs, cache=args.judge_cache))
        except (ValueError, TypeError) as e:
            close_all(judges)
            raise SystemExit(f"--{kind}-judge: {e}") from None
    return judges


def close_all(objects: Any) -> None:
    """``close()`` each object that has one (judges, policies)."""
    for obj in objects:
        close = getattr(obj, "close", None)
        if callable(close):
            close()
