"""``swirl train``: SWiRL and the baselines from the command line.

Examples::

    swirl train --algo swirl --data runs/gsm8k/filtered.jsonl --model Qwen/Qwen2.5-0.5B-Instruct \\
        --output runs/swirl --process-judge openai:judge-model@http://localhost:8000/v1
    swirl train --algo sft --data runs/gsm8k/filtered.jsonl --model PATH --output runs/sft
    swirl train --algo rft --data runs/gsm8k/judged.jsonl --model PATH --output runs/rft
    swirl train --algo outcome-rl --env-id SwiRL-GSM8K-v0 --n-tasks 512 --model PATH --output runs/orl

    # several GPUs (same arguments; one process per GPU):
    accelerate launch -m swirl_algos.cli train --algo swirl ...

The learners are those of :data:`~swirl_algos.learners.registry.LEARNERS`. Every field of a
learner's config is a flag of the same name (``per_device_train_batch_size`` is
``--per-device-train-batch-size``; ``--output`` is ``--output-dir``), generated from the config
class, its help from the field's docstring; ``--config FILE.json`` (a JSON object of field
values) and ``--set FIELD=VALUE`` (VALUE parsed as JSON when it parses) set them too. Precedence,
last wins: ``--config``, ``--set``, the flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from swirl_algos.config_args import (
    add_config_arguments,
    add_deprecated_alias,
    field_default,
    field_help,
    given_fields,
    parse_assignments,
    plain_help,
)
from swirl_algos.judge_options import add_judge_options, close_all, judges_from_args
from swirl_algos.learners.registry import LEARNERS, get_learner
from swirl_algos.prompt_settings import resolve_chat_template_kwargs

logger = logging.getLogger(__name__)

#: the old flags, kept for one release: old flag -> (config field, argparse settings)
_DEPRECATED_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--epochs": ("num_train_epochs", {"type": float}),
    "--batch-size": ("per_device_train_batch_size", {"type": int}),
    "--grad-accum": ("gradient_accumulation_steps", {"type": int}),
    "--lora": ("use_peft", {"flag": True}),
    "--filter": ("data_filter", {}),
    "--env": ("env_id", {}),
    "--resume": ("resume_from_checkpoint", {"nargs": "?", "const": True}),
}
#: fields the command sets itself (from --model / --output handling), never a flag of their own
_NOT_FLAGS = ("output_dir",)


def _config_classes() -> dict[str, type]:
    """One entry per distinct config class of the registered learners (first learner wins the name)."""
    classes: dict[str, type] = {}
    for name, learner in LEARNERS.items():
        cls = learner.config_class()
        if cls not in classes.values():
            classes[name] = cls
    return classes


def _shared_base(classes: list[type]) -> type | None:
    """The nearest dataclass every config class derives from (its fields are shown once, first)."""
    if not classes:
        return None
    for base in classes[0].__mro__:
        if dataclasses.is_dataclass(base) and all(issubclass(c, base) for c in classes):
            return base
    return None


def _help_for(classes: dict[str, type]) -> Any:
    """A field's ``--help``: its docstring text and default; where learners differ (another text, or
    another default, e.g. ``learning_rate``), each learner's own."""
    algos_of = {
        cls: ", ".join(k for k, v in LEARNERS.items() if v.config_class() is cls) for cls in classes.values()
    }

    def help_for(f: dataclasses.Field) -> str:
        per: dict[tuple[str, str], list[str]] = {}
        for cls, algos in algos_of.items():
            own = {x.name: x for x in dataclasses.fields(cls)}
            if f.name in own:
                key = (plain_help(field_help(cls).get(f.name, "")), repr(field_default(own[f.name])))
                per.setdefault(key, []).append(algos)
        if len(per) == 1:
            ((text, default),) = per
            return f"{text} (default: {default})"
        texts = {text for text, _ in per}
        if len(texts) == 1:
            defaults = "; ".join(f"{', '.join(a)}: {d}" for (_, d), a in per.items())
            return f"{next(iter(texts))} (default: {defaults})"
        return " | ".join(f"{', '.join(a)}: {t} (default: {d})" for (t, d), a in per.items())

    return help_for


def _check_flags_free(parser: argparse.ArgumentParser, cls: type, seen: set[str]) -> None:
    """A config field whose flag is taken by the command (``--data``, ``--model``...) is a clear error
    (fields in ``seen`` have their flag already, from another learner's config)."""
    taken = {s for action in parser._actions for s in action.option_strings}
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        if f.name not in seen and flag in taken:
            raise ValueError(
                f"{cls.__name__}.{f.name}: its flag {flag} is an option of swirl train itself; rename the field"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``swirl train``: the command's own, then every learner config's fields."""
    parser.add_argument(
        "--algo",
        required=True,
        choices=sorted(LEARNERS),
        help="learner: " + "; ".join(f"{k}: {v.description}" for k, v in sorted(LEARNERS.items())),
    )
    parser.add_argument("--data", help="step or trajectory records: JSONL file, directory, or saved dataset")
    parser.add_argument("--model", required=True, help="local path or hub id of the initial causal LM")
    parser.add_argument("--tokenizer", help="tokenizer path (default: the model's)")
    parser.add_argument(
        "--output-dir",
        "--output",
        "-o",
        dest="output_dir",
        required=True,
        help="output directory (checkpoints, final model); the config's output_dir",
    )
    parser.add_argument("--config", help="JSON file with config fields")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="set any config field"
    )
    add_judge_options(
        parser.add_argument_group("process judge (learners that take one, e.g. swirl)"),
        kinds=("process",),
        roles={"process": "the reward model R(a|s)"},
    )

    seen: set[str] = set(_NOT_FLAGS)
    classes = _config_classes()
    help_for = _help_for(classes)
    shared = _shared_base(list(classes.values()))
    if shared is not None:
        group = parser.add_argument_group(f"{shared.__name__} fields (every learner)")
        add_config_arguments(group, shared, seen=seen, help_for=help_for)
    for cls in classes.values():
        _check_flags_free(parser, cls, seen)
        algos = ", ".join(k for k, v in LEARNERS.items() if v.config_class() is cls)
        group = parser.add_argument_group(
            f"{cls.__name__} fields (--algo {algos})", (cls.__doc__ or "").strip().splitlines()[0]
        )
        add_config_arguments(group, cls, seen=seen, help_for=help_for)
    taken = {s for action in parser._actions for s in action.option_strings}
    old = parser.add_argument_group("deprecated flags (removed in the next release)")
    for flag, (field, kwargs) in _DEPRECATED_FLAGS.items():
        if flag not in taken:  # a plug-in learner's field of that name wins
            add_deprecated_alias(old, flag, field, **kwargs)


def build_config(args: argparse.Namespace) -> Any:
    """The algorithm's config from ``--config``, ``--set`` and the flags (in that order of precedence, last wins)."""
    cls = get_learner(args.algo).config_class()
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if args.config:
        try:
            loaded = json.loads(Path(args.config).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise SystemExit(f"--config {args.config}: {e}") from None
        if not isinstance(loaded, dict):
            raise SystemExit(f"--config {args.config}: expected a JSON object of config fields")
        values.update(loaded)
    values.update(parse_assignments(args.set))
    if values.get("output_dir", args.output_dir) != args.output_dir:  # --output-dir wins, and says so
        logger.warning(
            "output_dir %r from --config/--set is replaced by --output-dir %r",
            values["output_dir"],
            args.output_dir,
        )
    all_fields = {f for c in _config_classes().values() for f in (x.name for x in dataclasses.fields(c))}
    for key, value in given_fields(args, all_fields).items():
        if key in names:
            values[key] = value
        elif value is not None and value is not False:
            logger.warning("--%s does not apply to --algo %s; ignored", key.replace("_", "-"), args.algo)
    if "chat_template_kwargs" in names:
        given = given_fields(args, {"chat_template_kwargs"}).get("chat_template_kwargs")
        if given is not None and not isinstance(given, dict):
            raise SystemExit(f"--chat-template-kwargs: expected a JSON object, got {given!r}")
        if given is not None or "chat_template_kwargs" not in values:
            inherited = resolve_chat_template_kwargs(given, args.model)
            if inherited or given is not None:
                values["chat_template_kwargs"] = inherited
    values["output_dir"] = args.output_dir
    unknown = sorted(set(values) - names)
    if unknown:
        raise SystemExit(f"unknown {cls.__name__} fields: {unknown}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"invalid configuration: {e}") from None


def run(args: argparse.Namespace) -> int:
    """``swirl train``: run the chosen learner; prints where the model was saved."""
    learner = get_learner(args.algo)
    config = build_config(args)
    if learner.takes_data and not args.data:
        raise SystemExit(f"--data is required for --algo {args.algo}")
    if learner.takes_process_judge and not args.process_judge:
        raise SystemExit(f"--process-judge is required for --algo {args.algo} (the reward model R(a|s))")
    from swirl_algos.policies.factory import require_model

    require_model(args.model)
    if Path(args.output_dir).resolve() == Path(args.model).resolve():
        raise SystemExit(
            f"--output-dir {args.output_dir} is the model being trained: its weights would be overwritten"
        )
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    inputs: list[Any] = [args.data] if learner.takes_data else []
    judges = judges_from_args(args, kinds=("process",)) if learner.takes_process_judge else []
    inputs += judges
    try:
        result = learner.train_function()(config, *inputs, model=args.model, tokenizer=args.tokenizer)
    finally:
        close_all(judges)
    from accelerate import PartialState

    if PartialState().is_main_process:
        summary = {
            "algo": args.algo,
            "model_dir": result.model_dir,
            "stats": result.stats,
            "log_history": result.log_history,
        }
        (Path(args.output_dir) / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str))
        from swirl_algos.prompt_settings import save_prompt_settings

        for d in {Path(args.output_dir), Path(result.model_dir)}:
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


def __getattr__(name: str) -> Any:
    if name == "ALGOS":  # the learner names, before the registry; kept for one release
        import warnings

        warnings.warn(
            "swirl_algos.learners.cli.ALGOS is deprecated; use swirl_algos.learners.registry.LEARNERS",
            DeprecationWarning,
            stacklevel=2,
        )
        return tuple(LEARNERS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
