"""The data-pipeline commands of ``swirl``: generate, judge, filter, export, show, stats.

Each command is a pair ``add_<name>_arguments(parser)`` / ``run_<name>(args) -> int`` that
:mod:`swirl_algos.cli` loads on demand; each calls the Python function of the same step, so the
command line and the library cannot drift apart.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_filter_arguments(p)
    >>> p.parse_args(["in.jsonl", "out.jsonl", "--mode", "process"]).level
    'trajectory'
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from swirl_algos.config_args import finite_float, json_kwargs, nonnegative_int
from swirl_algos.judge_options import (  # noqa: F401 (JUDGE_FORMS: still importable from here)
    JUDGE_FORMS,
    add_judge_options,
    close_all,
    judges_from_args,
)
from swirl_algos.policies.factory import policy_from_args

logger = logging.getLogger(__name__)


def _existing(path: str, what: str = "input") -> Path:
    p = Path(path)
    if not p.exists():
        raise SystemExit(f"{what} file not found: {p}")
    if p.is_dir():
        raise SystemExit(f"{what} is a directory, not a file: {p}")
    return p


def _read_trajectories(path: str) -> list[Any]:
    """The checked trajectories of ``path``; a bad record exits with its file, line and field."""
    from swirl_algos.jsonl import read_trajectories

    try:
        return read_trajectories(_existing(path))
    except ValueError as e:  # RecordError and corrupt lines name the file and line
        raise SystemExit(str(e)) from None


# ---------------------------------------------------------------------------------------------- generate
def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl generate``."""
    parser.add_argument("--env", required=True, help="registered environment id, e.g. SwiRL-GSM8K-v0")
    parser.add_argument(
        "--env-kwargs", default="{}", help='JSON keyword arguments for gym.make, e.g. \'{"split": "train"}\''
    )
    parser.add_argument(
        "--output", "-o", required=True, help="trajectory JSONL file (continued if it exists)"
    )
    src = parser.add_argument_group("policy (exactly one of)")
    x = src.add_mutually_exclusive_group(required=True)
    x.add_argument("--model", help="local path or hub id of a Hugging Face causal LM with a chat template")
    x.add_argument(
        "--base-url",
        help="OpenAI-compatible server, e.g. http://localhost:8000/v1 (vLLM); several, comma-separated: each request goes to the least-loaded one",
    )
    x.add_argument("--policy", help="a Policy class or factory 'package.module:Name' (scripted policies)")
    src.add_argument("--served-model", help="model name on the server (with --base-url)")
    src.add_argument("--policy-kwargs", default="{}", help="JSON keyword arguments of the --policy class")
    which = parser.add_argument_group("episodes")
    which.add_argument("--n-tasks", type=int, help="the first N tasks of the split (default: all)")
    which.add_argument("--task-indices", help="explicit task indices, e.g. '0,5,7' or '0-99'")
    which.add_argument(
        "--shard",
        help="I/N: run only the tasks whose position is I modulo N (0 <= I < N) of the planned ones, "
        "e.g. one machine each; the shard files are resumable and concatenate into the full run",
    )
    which.add_argument("--samples", type=int, default=1, help="trajectories per task (the paper: 5)")
    which.add_argument("--num-envs", type=int, default=8, help="episodes stepped together (the batch)")
    which.add_argument(
        "--seed", type=int, default=0, help="run seed (episode and sampling seeds derive from it)"
    )
    gen = parser.add_argument_group("sampling")
    gen.add_argument("--max-new-tokens", type=int, default=256, help="longest action in tokens")
    gen.add_argument("--temperature", type=float, default=1.0, help="0 = greedy decoding")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0, help="HF models only; 0 = off")
    gen.add_argument("--batch-size", type=int, default=None, help="HF generate batch (default: --num-envs)")
    gen.add_argument(
        "--concurrency", type=int, default=None, help="server requests in flight (default: --num-envs)"
    )
    gen.add_argument("--device", help="HF model device (default: cuda if available, else cpu)")
    gen.add_argument(
        "--chat-template-kwargs",
        help="JSON arguments of apply_chat_template, e.g. '{\"enable_thinking\": false}' (HF models; sent "
        "as chat_template_kwargs to servers); default: those saved with --model, if any",
    )
    gen.add_argument(
        "--few-shot",
        type=int,
        default=0,
        help="show N solved examples of the env's scripted oracle in the prompt (training tasks)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _task_indices(text: str | None) -> list[int] | None:
    if not text:
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                if int(b) < int(a) or int(b) - int(a) >= 10_000_000:
                    raise SystemExit(f"--task-indices: the range {part!r} is empty or too large")
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise SystemExit(
            f"--task-indices: expected numbers and ranges like '0,5,10-19', got {text!r}"
        ) from None
    return out


def shard_indices(
    shard: str, env_id: str, env_kwargs: dict[str, Any], indices: list[int] | None, n_tasks: int | None
) -> list[int]:
    """The task indices of shard ``"I/N"``: every N-th of the planned tasks, starting at the I-th.

    Episode seeds depend on the task index, not on the shard, so the N shard files together hold
    exactly the episodes of the unsharded run (``cat`` merges them).

    Example:
        >>> shard_indices("1/3", "SwiRL-GSM8K-v0", {}, None, 8)
        [1, 4, 7]
    """
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise SystemExit(f"--shard: expected I/N like 0/4, got {shard!r}") from None
    if n < 1 or not 0 <= i < n:
        raise SystemExit(f"--shard: need 0 <= I < N, got {shard!r}")
    if indices is None:
        from swirl_algos.rollout import _make_env

        env = _make_env(env_id, env_kwargs)
        total = len(env.unwrapped.tasks)
        env.close()
        indices = list(range(total if n_tasks is None else min(n_tasks, total)))
    return list(indices[i::n])


#: the policy of ``swirl generate``'s arguments (the one factory of the commands)
build_policy = policy_from_args


def run_generate(args: argparse.Namespace) -> int:
    """``swirl generate``: roll out a policy on an environment into a trajectory file."""
    from swirl_algos.few_shot import with_few_shot
    from swirl_algos.rollout import rollout
    from swirl_algos.stats import print_stats, trajectory_stats

    env_kwargs = json_kwargs(args.env_kwargs, "--env-kwargs")
    if args.few_shot:
        try:
            env_kwargs = with_few_shot(args.env, env_kwargs, args.few_shot)
        except ValueError as e:
            raise SystemExit(f"--few-shot {args.few_shot}: {e}") from None
    indices = _task_indices(args.task_indices)
    if indices is not None and args.n_tasks is not None:
        raise SystemExit("give --n-tasks or --task-indices, not both")
    if getattr(args, "shard", None):
        indices = shard_indices(args.shard, args.env, env_kwargs, indices, args.n_tasks)
        args.n_tasks = None
    from swirl_env.chat_client import ChatRequestError
    from swirl_env.trajectory import RecordError

    policy = build_policy(args)
    try:
        trajs = rollout(
            args.env,
            policy,
            env_kwargs=env_kwargs,
            n_tasks=args.n_tasks,
            task_indices=indices,
            samples_per_task=args.samples,
            num_envs=args.num_envs,
            seed=args.seed,
            output=args.output,
            progress=not args.no_progress,
        )
    except ChatRequestError as e:
        raise SystemExit(
            f"swirl generate: a generation request failed for good ({e}); every finished episode is "
            f"saved in {args.output}, and running the same command again resumes"
        ) from None
    except RecordError as e:  # a bad record in the output being continued: file, line, field
        raise SystemExit(f"swirl generate: {e}") from None
    finally:
        close = getattr(policy, "close", None)
        if callable(close):
            close()
    print_stats(trajectory_stats(trajs), title=f"{args.output}: {len(trajs)} trajectories")
    return 0


# ---------------------------------------------------------------------------------------------- judge
def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl judge``."""
    parser.add_argument("input", help="trajectory JSONL file (not modified)")
    parser.add_argument("output", help="judged trajectory file (continued if it exists)")
    add_judge_options(parser)
    parser.add_argument("--chunk-size", type=int, default=256, help="trajectories judged per batch")
    parser.add_argument("--retry-failed", action="store_true", help="re-judge records whose judgement failed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_judge(args: argparse.Namespace) -> int:
    """``swirl judge``: add process labels and outcome judgements to a trajectory file."""
    from swirl_algos.judging import judge_file

    _existing(args.input)
    if not args.process_judge and not args.outcome_judge:
        raise SystemExit("give --process-judge, --outcome-judge, or both (e.g. --process-judge rule)")
    process, outcome = judges_from_args(args)
    try:
        counts = judge_file(
            args.input,
            args.output,
            process_judge=process,
            outcome_judge=outcome,
            chunk_size=args.chunk_size,
            retry_failed=args.retry_failed,
            progress=not args.no_progress,
        )
    except ValueError as e:
        raise SystemExit(str(e)) from None
    finally:
        close_all((process, outcome))
    _print_counts(counts, title=f"judged {args.input} -> {args.output}")
    return 0


def _print_counts(counts: dict[str, Any], *, title: str) -> None:
    from rich.table import Table

    from swirl_algos.terminal import make_console

    table = Table(title=title)
    table.add_column("count")
    table.add_column("value", justify="right")
    for k, v in counts.items():
        if isinstance(v, float):
            v = "-" if math.isnan(v) else f"{v:.3f}"
        table.add_row(k, "-" if v is None else str(v))
    make_console().print(table)


# ---------------------------------------------------------------------------------------------- filter
def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl filter``."""
    from swirl_algos.filtering import FILTER_LEVELS, FILTER_MODES

    parser.add_argument("input", help="judged trajectory file")
    parser.add_argument("output", nargs="?", help="kept trajectories (or step records with --level step)")
    parser.add_argument(
        "--mode",
        choices=FILTER_MODES,
        default="process",
        help="none | process (every step GOOD; the paper's best for SWiRL) | outcome (correct answer) "
        "| process+outcome (default: process)",
    )
    parser.add_argument(
        "--level",
        choices=FILTER_LEVELS,
        default="trajectory",
        help="trajectory: keep or drop whole episodes (the paper); step: keep every GOOD step "
        "(writes step records)",
    )
    parser.add_argument(
        "--outcome-threshold", type=finite_float, default=1.0, help="outcome score counted as correct"
    )
    parser.add_argument(
        "--outcome-source",
        choices=("auto", "judge", "env"),
        default="auto",
        help="auto: the outcome judge when recorded, else the env's metric",
    )
    parser.add_argument("--dry-run", action="store_true", help="only print what every mode would keep")


def run_filter(args: argparse.Namespace) -> int:
    """``swirl filter``: apply one of the paper's four filters."""
    from swirl_algos.decompose import unique_trajectories
    from swirl_algos.filtering import filter_counts, filter_trajectories
    from swirl_algos.jsonl import write_jsonl

    read = _read_trajectories(args.input)
    trajs = unique_trajectories(read)  # the first of each id; a warning counts the others
    if len(trajs) < len(read):
        print(
            f"{args.input}: {len(read) - len(trajs)} trajectories repeat an earlier id and are left out "
            f"({len(trajs)} unique)",
            file=sys.stderr,
        )
    if args.dry_run or not args.output:
        if not args.dry_run:
            raise SystemExit("give an output file (or --dry-run to only count)")
        counts = filter_counts(
            trajs, outcome_threshold=args.outcome_threshold, outcome_source=args.outcome_source
        )
        from rich.table import Table

        from swirl_algos.terminal import make_console

        table = Table(
            title=f"{args.input}: {len(trajs)} trajectories, {sum(t.num_steps for t in trajs)} steps"
        )
        for col in ("mode", "trajectories kept", "their steps", "steps kept (--level step)"):
            table.add_column(col, justify="right" if col != "mode" else "left")
        for mode, c in counts.items():
            table.add_row(mode, str(c["trajectories"]), str(c["steps"]), str(c["steps_step_level"]))
        make_console().print(table)
        return 0
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise SystemExit("the output must differ from the input")
    try:
        kept = filter_trajectories(
            trajs,
            args.mode,
            args.level,
            outcome_threshold=args.outcome_threshold,
            outcome_source=args.outcome_source,
        )
    except ValueError as e:
        raise SystemExit(str(e)) from None
    n = write_jsonl(args.output, kept)
    unit = "trajectories" if args.level == "trajectory" else "step records"
    total = len(trajs) if args.level == "trajectory" else sum(t.num_steps for t in trajs)
    print(f"{args.mode} ({args.level} level): kept {n} of {total} {unit} -> {args.output}")
    return 0


# ---------------------------------------------------------------------------------------------- export
def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl export``."""
    parser.add_argument("input", help="trajectory file (decomposed here) or step-record file")
    parser.add_argument(
        "output",
        help="a directory (datasets.save_to_disk), or a file ending in .jsonl / .json / .parquet",
    )
    parser.add_argument(
        "--kind",
        choices=("sft", "prompts"),
        default="sft",
        help="sft: prompt + completion (SFTTrainer); prompts: distinct states only (GRPO-style trainers)",
    )


def run_export(args: argparse.Namespace) -> int:
    """``swirl export``: decompose into step records and save a Hugging Face dataset."""
    from swirl_algos.decompose import save_dataset, to_hf_dataset
    from swirl_algos.jsonl import iter_records

    try:
        rows = list(iter_records(_existing(args.input)))
    except ValueError as e:  # RecordError and corrupt lines name the file, line and field
        raise SystemExit(str(e)) from None
    if not rows:
        raise SystemExit(f"{args.input} has no records")
    try:
        # repeated trajectory ids (or step records) are exported once, with a warning
        ds = to_hf_dataset(rows, kind=args.kind)
    except ValueError as e:
        raise SystemExit(f"{args.input}: {e}") from None
    out = Path(args.output)
    if out.resolve() == Path(args.input).resolve():
        raise SystemExit("the output must differ from the input")
    save_dataset(ds, out)
    print(f"exported {len(ds)} {args.kind} records ({', '.join(ds.column_names)}) -> {out}")
    return 0


# ---------------------------------------------------------------------------------------------- show
def add_show_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl show``."""
    parser.add_argument("input", help="trajectory file")
    parser.add_argument(
        "--id", action="append", help="trajectory id to show, e.g. 'gsm8k-train-12#0' (repeatable)"
    )
    parser.add_argument(
        "--index", type=int, action="append", help="0-based position in the file (repeatable)"
    )
    parser.add_argument("--limit", "-n", type=int, default=1, help="how many to show (default 1)")
    parser.add_argument("--bad", action="store_true", help="only episodes with a step judged BAD")
    parser.add_argument("--wrong", action="store_true", help="only episodes with a wrong outcome")
    parser.add_argument(
        "--max-chars", type=nonnegative_int, default=4000, help="shorten longer messages (0: never)"
    )


def run_show(args: argparse.Namespace) -> int:
    """``swirl show``: print trajectories nicely."""
    from swirl_algos.decompose import outcome_label
    from swirl_algos.show import show_trajectory

    trajs = _read_trajectories(args.input)
    picked = []
    if args.id:
        by_id = {t.id: t for t in trajs}
        missing = [i for i in args.id if i not in by_id]
        if missing:
            raise SystemExit(f"no trajectory with id {missing[0]!r} in {args.input}")
        picked += [by_id[i] for i in args.id]
    if args.index:
        for i in args.index:
            if not -len(trajs) <= i < len(trajs):
                raise SystemExit(f"--index {i} out of range: the file has {len(trajs)} trajectories")
            picked.append(trajs[i])
    if not args.id and not args.index:
        picked = trajs
    if args.bad:
        picked = [t for t in picked if any(lab is False for lab in t.process_labels)]
    if args.wrong:
        picked = [t for t in picked if outcome_label(t) is not True]
    if not args.id and not args.index:
        picked = picked[: max(args.limit, 0)]
    if not picked:
        print("no trajectory matches")
        return 1
    for t in picked:
        show_trajectory(t, max_chars=args.max_chars or None)
    return 0


# ---------------------------------------------------------------------------------------------- stats
def _finite(value: Any) -> Any:
    """NaN and infinities -> None, recursively (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def add_stats_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl stats``."""
    parser.add_argument("inputs", nargs="+", help="trajectory file(s); several are counted together")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run_stats(args: argparse.Namespace) -> int:
    """``swirl stats``: summary statistics of trajectory files."""
    from swirl_algos.stats import print_stats, trajectory_stats

    trajs = [t for path in args.inputs for t in _read_trajectories(path)]
    stats = trajectory_stats(trajs)
    if args.json:
        json.dump(_finite(stats), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print_stats(stats, title=", ".join(args.inputs))
    return 0
