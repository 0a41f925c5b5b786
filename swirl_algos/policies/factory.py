"""One factory for the policies of the commands: a local HF model, a served model, or any Policy class.

``swirl generate`` and ``swirl evaluate`` take the same policy arguments (``--model`` or
``--base-url``/``--served-model``, or ``--policy module:Class``, plus the decoding settings) and
build their policy here, so a new kind of policy is added in one place.

Example:
    >>> import argparse
    >>> args = argparse.Namespace(model=None, base_url=None, policy="swirl_algos.policies.scripted:GoldReplayPolicy",
    ...                           policy_kwargs='{"max_calls": 3}')
    >>> type(policy_from_args(args)).__name__
    'GoldReplayPolicy'
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from swirl_algos.config_args import parse_json_object
from swirl_algos.prompt_settings import resolve_chat_template_kwargs

__all__ = ["import_object", "policy_from_args", "require_model", "trained_model_dir"]


def import_object(spec: str, what: str = "object") -> Any:
    """``"package.module:Name"`` (or ``"module:Class.factory"``) -> the object; a clear exit otherwise.

    Example:
        >>> import_object("swirl_algos.policies.factory:import_object").__name__
        'import_object'
    """
    from swirl_env._lazy import import_object as load

    try:
        return load(spec)
    except ValueError as e:
        raise SystemExit(f"{what}: {e}") from None


def require_model(model: str, flag: str = "--model") -> None:
    """A clear exit when ``model`` reads as a local path (``/``, ``.`` or ``~`` first) that does
    not exist, instead of the hub client's error about repository names.

    Example:
        >>> require_model("HuggingFaceTB/SmolLM2-135M-Instruct")  # a hub id: left to the loader
        >>> require_model("/no/such/model")
        Traceback (most recent call last):
        ...
        SystemExit: --model /no/such/model: no such directory (give a model folder or a hub id)
    """
    if str(model).startswith(("/", ".", "~")) and not Path(model).expanduser().exists():
        raise SystemExit(f"{flag} {model}: no such directory (give a model folder or a hub id)")


def trained_model_dir(path: str) -> str:
    """The directory to load: a LoRA run's ``merged/`` model when ``path`` itself holds none."""
    p = Path(path)
    if (p / "merged").is_dir() and not (p / "config.json").exists():
        return str(p / "merged")
    return path


def policy_from_args(args: argparse.Namespace) -> Any:
    """The policy named by a command's parsed arguments.

    Reads ``model`` (a HF model path, a learner's output directory or a hub id), else
    ``base_url`` + ``served_model`` (an OpenAI-compatible server), else ``policy`` (+
    ``policy_kwargs``, JSON); and the decoding settings ``max_new_tokens``, ``temperature`` (0 =
    greedy), ``top_p``, ``top_k``, ``batch_size``, ``num_envs``, ``concurrency``, ``device``,
    ``seed`` and ``chat_template_kwargs`` (JSON; default: those saved with the model), each
    optional (a command that lacks one gets the policy's default).
    """
    get = lambda name, default=None: getattr(args, name, default)  # noqa: E731
    model, base_url = get("model"), get("base_url")
    temperature = get("temperature", 0.0)
    do_sample = temperature > 0
    if model or base_url:
        given = parse_json_object(get("chat_template_kwargs"), "--chat-template-kwargs")
        template_kwargs = resolve_chat_template_kwargs(given, model)
    if model:
        from swirl_algos.policies.hf import HFPolicy

        require_model(model)
        return HFPolicy.from_pretrained(
            trained_model_dir(model),
            chat_template_kwargs=template_kwargs,
            device=get("device"),
            max_new_tokens=get("max_new_tokens", 256),
            do_sample=do_sample,
            temperature=temperature if do_sample else 1.0,
            top_p=get("top_p", 1.0),
            top_k=get("top_k") or 0,
            batch_size=get("batch_size") or get("num_envs") or 8,
            seed=get("seed"),
        )
    if base_url:
        from swirl_algos.policies.openai import OpenAIPolicy

        if not get("served_model"):
            raise SystemExit("--served-model is required with --base-url (the model name on the server)")
        return OpenAIPolicy(
            base_url,
            args.served_model,
            chat_template_kwargs=template_kwargs,
            concurrency=get("concurrency") or get("num_envs") or 8,
            max_tokens=get("max_new_tokens", 256),
            temperature=temperature,
            top_p=get("top_p", 1.0),
        )
    if not get("policy"):
        raise SystemExit("give a policy: --model, --base-url (with --served-model) or --policy")
    from swirl_env._lazy import import_class_factory

    try:  # a class with act(...) (or its factory), checked before anything is called
        factory = import_class_factory(
            args.policy,
            lambda c: callable(getattr(c, "act", None)),
            "a policy class (with act(states, seeds=...))",
        )
    except (TypeError, ValueError) as e:
        raise SystemExit(f"policy: {e}") from None
    policy = factory(**(parse_json_object(get("policy_kwargs") or None, "--policy-kwargs") or {}))
    if not callable(getattr(policy, "act", None)):
        raise SystemExit(f"{args.policy} did not give a policy (an object with act(states, seeds=...))")
    return policy
