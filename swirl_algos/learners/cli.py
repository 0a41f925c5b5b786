"""``swirl train``: SWiRL and the baselines from the command line.

Examples::

    swirl train --algo swirl --data runs/gsm8k/filtered.jsonl --model Qwen/Qwen2.5-0.5B-Instruct \\
        --output runs/swirl --process-judge openai:judge-model@http://localhost:8000/v1
    swirl train --algo sft --data runs/gsm8k/filtered.jsonl --model PATH --output runs/sft
    swirl train --algo rft --data runs/gsm8k/judged.jsonl --model PATH --output runs/rft
    swirl train --algo outcome-rl --env SwiRL-GSM8K-v0 --n-tasks 512 --model PATH --output runs/orl

    # several GPUs (same arguments; one process per GPU):
    accelerate launch -m swirl_algos.cli train --algo swirl ...

Every field of the algorithm's config dataclass can also be set with ``--config FILE.json`` (a JSON
object of field values) and ``--set FIELD=VALUE`` (VALUE parsed as JSON when it parses).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from swirl_algos.learners.config import REWARD_SOURCES, OutcomeRLConfig, SupervisedConfig, SwirlConfig

logger = logging.getLogger(__name__)

ALGOS = ("swirl", "sft", "rft", "outcome-rl")

#: argparse dest -> config field (set only when given on the command line)
_FLAG_FIELDS = {
    "learning_rate": "learning_rate",
    "max_steps": "max_steps",
    "epochs": "num_train_epochs",
    "batch_size": "per_device_train_batch_size",
    "grad_accum": "gradient_accumulation_steps",
    "seed": "seed",
    "bf16": "bf16",
    "gradient_checkpointing": "gradient_checkpointing",
    "logging_steps": "logging_steps",
    "save_steps": "save_steps",
    "save_total_limit": "save_total_limit",
    "report_to": "report_to",
    "lora": "use_peft",
    "lora_r": "lora_r",
    "lora_alpha": "lora_alpha",
    "filter": "data_filter",
    "filter_level": "filter_level",
    # swirl
    "num_generations": "num_generations",
    "beta": "beta",
    "advantage": "advantage",
    "temperature": "temperature",
    "max_completion_length": "max_completion_length",
    "max_prompt_length": "max_prompt_length",
    "reward": "reward",
    "judge_failure": "judge_failure",
    "deduplicate_states": "deduplicate_states",
    # sft
    "sft_mode": "sft_mode",
    "max_length": "max_length",
    # outcome-rl
    "env": "env_id",
    "n_tasks": "n_tasks",
    "tasks_per_step": "tasks_per_step",
    "max_new_tokens": "max_new_tokens",
    "num_envs": "num_envs",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl train``."""
    parser.add_argument("--algo", required=True, choices=ALGOS, help="learner")
    parser.add_argument("--data", help="step or trajectory records: JSONL file, directory, or saved dataset")
    parser.add_argument("--model", required=True, help="local path or hub id of the initial causal LM")
    parser.add_argument("--tokenizer", help="tokenizer path (default: the model's)")
    parser.add_argument("--output", required=True, help="output directory (checkpoints, final model)")
    parser.add_argument("--config", help="JSON file with config fields")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="set any config field"
    )
    parser.add_argument(
        "--chat-template-kwargs",
        help="JSON arguments of apply_chat_template used in training, e.g. '{\"enable_thinking\": false}'; "
        "saved with the model (swirl_prompt.json) and reused by swirl evaluate (default: those saved "
        "with --model, if any)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        help="resume from the latest checkpoint (or from PATH)",
    )

    g = parser.add_argument_group("optimisation and infrastructure")
    g.add_argument("--learning-rate", type=float)
    g.add_argument("--max-steps", type=int)
    g.add_argument("--epochs", type=float)
    g.add_argument("--batch-size", type=int, help="per-device micro-batch (SWiRL: sampled actions)")
    g.add_argument("--grad-accum", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="default: auto")
    g.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--logging-steps", type=int)
    g.add_argument("--save-steps", type=int)
    g.add_argument("--save-total-limit", type=int)
    g.add_argument("--report-to", nargs="+", help="tensorboard, wandb, ... (default: none)")
    g.add_argument("--lora", action="store_true", default=None, help="train LoRA adapters (peft)")
    g.add_argument("--lora-r", type=int)
    g.add_argument("--lora-alpha", type=int)
    g.add_argument("--filter", choices=("none", "process", "outcome", "process+outcome"))
    g.add_argument("--filter-level", choices=("trajectory", "step"))

    s = parser.add_argument_group("swirl")
    s.add_argument(
        "--process-judge",
        help="the reward model R(a|s), required for --algo swirl: 'rule', 'hf:NAME_OR_PATH', "
        "'openai:MODEL@BASE_URL' or 'package.module:Class'",
    )
    s.add_argument("--process-judge-kwargs", default="{}", help="JSON kwargs of the process judge")
    s.add_argument("--judge-cache", help="SQLite file caching judgements (repeated identical actions)")
    s.add_argument("--num-generations", type=int, help="actions sampled per state (G)")
    s.add_argument("--beta", type=float, help="KL coefficient to the initial policy")
    s.add_argument("--advantage", choices=("rloo", "group_norm"))
    s.add_argument("--temperature", type=float)
    s.add_argument("--max-completion-length", type=int)
    s.add_argument("--max-prompt-length", type=int)
    s.add_argument("--reward", choices=REWARD_SOURCES)
    s.add_argument("--judge-failure", choices=("skip", "zero"))
    s.add_argument("--deduplicate-states", action="store_true", default=None)
    s.add_argument("--tool-tags", help="JSON {tag: tool_name} (default: from each record's env_id)")

    f = parser.add_argument_group("sft / rft")
    f.add_argument("--sft-mode", choices=("single_pass", "per_step"))
    f.add_argument("--max-length", type=int)

    o = parser.add_argument_group("outcome-rl")
    o.add_argument("--env", help="environment id")
    o.add_argument("--env-kwargs", default=None, help="JSON kwargs for gym.make")
    o.add_argument("--n-tasks", type=int)
    o.add_argument("--tasks-per-step", type=int)
    o.add_argument("--max-new-tokens", type=int)
    o.add_argument("--num-envs", type=int)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _json_obj(text: str | None, name: str) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(f"{name}: invalid JSON ({e.msg})") from None
    if not isinstance(value, dict):
        raise SystemExit(f"{name}: expected a JSON object")
    return value


def build_config(args: argparse.Namespace) -> SwirlConfig | SupervisedConfig | OutcomeRLConfig:
    """The algorithm's config from ``--config``, ``--set`` and the flags (in that order of precedence, last wins)."""
    cls = {
        "swirl": SwirlConfig,
        "sft": SupervisedConfig,
        "rft": SupervisedConfig,
        "outcome-rl": OutcomeRLConfig,
    }[args.algo]
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if args.config:
        values.update(json.loads(Path(args.config).read_text()))
    for item in args.set:
        if "=" not in item:
            raise SystemExit(f"--set expects FIELD=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        values[k.strip().replace("-", "_")] = _parse_value(v)
    for dest, fname in _FLAG_FIELDS.items():
        v = getattr(args, dest, None)
        if v is not None and fname in names:
            values[fname] = v
        elif v is not None and v is not False:
            logger.warning("--%s does not apply to --algo %s; ignored", dest.replace("_", "-"), args.algo)
    if args.tool_tags:
        values["tool_tags"] = _json_obj(args.tool_tags, "--tool-tags")
    if args.env_kwargs is not None:
        values["env_kwargs"] = _json_obj(args.env_kwargs, "--env-kwargs")
    from swirl_algos.prompt_settings import parse_json_object, resolve_chat_template_kwargs

    given = parse_json_object(getattr(args, "chat_template_kwargs", None), "--chat-template-kwargs")
    if given is not None or "chat_template_kwargs" not in values:
        inherited = resolve_chat_template_kwargs(given, args.model)
        if inherited or given is not None:
            values["chat_template_kwargs"] = inherited
    values["output_dir"] = args.output
    if args.resume is not None:
        values["resume_from_checkpoint"] = args.resume
    unknown = sorted(set(values) - names)
    if unknown:
        raise SystemExit(f"unknown {cls.__name__} fields: {unknown}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"invalid configuration: {e}") from None


def run(args: argparse.Namespace) -> int:
    """``swirl train``: run the chosen learner; prints where the model was saved."""
    config = build_config(args)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    if args.algo != "outcome-rl" and not args.data:
        raise SystemExit(f"--data is required for --algo {args.algo}")
    tokenizer = args.tokenizer
    if args.algo == "swirl":
        from swirl_algos.evaluation import load_judge
        from swirl_algos.learners.swirl import train_swirl

        if not args.process_judge:
            raise SystemExit("--process-judge is required for --algo swirl (the reward model R(a|s))")
        judge = load_judge(
            args.process_judge,
            "process",
            _json_obj(args.process_judge_kwargs, "--process-judge-kwargs"),
            cache=args.judge_cache,
        )
        try:
            result = train_swirl(config, args.data, judge, model=args.model, tokenizer=tokenizer)  # type: ignore[arg-type]
        finally:
            close = getattr(judge, "close", None)
            if callable(close):
                close()
    elif args.algo in ("sft", "rft"):
        from swirl_algos.learners.sft import train_rft, train_sft

        fn = train_sft if args.algo == "sft" else train_rft
        result = fn(config, args.data, model=args.model, tokenizer=tokenizer)  # type: ignore[arg-type]
    else:
        from swirl_algos.learners.outcome_rl import train_outcome_rl

        result = train_outcome_rl(config, model=args.model, tokenizer=tokenizer)  # type: ignore[arg-type]
    from accelerate import PartialState

    if PartialState().is_main_process:
        summary = {
            "algo": args.algo,
            "model_dir": result.model_dir,
            "stats": result.stats,
            "log_history": result.log_history,
        }
        (Path(args.output) / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str))
        from swirl_algos.prompt_settings import save_prompt_settings

        for d in {Path(args.output), Path(result.model_dir)}:
            save_prompt_settings(d, getattr(config, "chat_template_kwargs", None))
        print(f"trained model saved to {result.model_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m swirl_algos.learners.cli ...``)."""
    parser = argparse.ArgumentParser(prog="swirl train", description=__doc__.split("\n")[0])
    add_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
