"""The prompt format a model was trained with, saved next to it and reused when it is evaluated.

``swirl train --chat-template-kwargs '{"enable_thinking": false}'`` trains with those
``apply_chat_template`` arguments and writes them to ``swirl_prompt.json`` in the output folder
(and in its ``merged/`` model, if any); ``swirl evaluate --model DIR`` and ``swirl generate
--model DIR`` read that file when no ``--chat-template-kwargs`` is given, so a model is evaluated
in the format it was trained in. A model trained from a folder that has the file inherits it.

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> save_prompt_settings(d, {"enable_thinking": False})
    >>> load_prompt_settings(d)["chat_template_kwargs"]
    {'enable_thinking': False}
    >>> parse_json_object('{"enable_thinking": false}', "--chat-template-kwargs")
    {'enable_thinking': False}
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from swirl_algos.config_args import parse_json_object  # re-exported: the one JSON-argument parser

logger = logging.getLogger(__name__)

__all__ = [
    "SETTINGS_FILE",
    "decode_tools",
    "load_prompt_settings",
    "parse_json_object",
    "resolve_chat_template_kwargs",
    "save_prompt_settings",
    "template_kwargs",
    "template_renders_tools",
    "tools_json",
]

SETTINGS_FILE = "swirl_prompt.json"


def save_prompt_settings(
    model_dir: str | os.PathLike[str], chat_template_kwargs: Mapping[str, Any] | None
) -> None:
    """Write ``swirl_prompt.json`` into ``model_dir`` (and ``model_dir/merged`` when present)."""
    record = {"chat_template_kwargs": dict(chat_template_kwargs or {})}
    for d in (Path(model_dir), Path(model_dir) / "merged"):
        if d.is_dir():
            (d / SETTINGS_FILE).write_text(json.dumps(record, indent=2) + "\n")


def load_prompt_settings(model: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The saved settings of a local model folder (or its parent for ``.../merged``); ``{}`` if none.

    Raises:
        ValueError: the file exists but is not a JSON object with a ``chat_template_kwargs`` object.
    """
    if not model:
        return {}
    p = Path(model)
    for d in (p, p.parent if p.name == "merged" else None):
        if d is not None and (d / SETTINGS_FILE).is_file():
            f = d / SETTINGS_FILE
            try:
                value = json.loads(f.read_text())
            except json.JSONDecodeError as e:
                raise ValueError(f"{f}: invalid JSON ({e.msg})") from None
            if not isinstance(value, dict) or not isinstance(value.get("chat_template_kwargs", {}), dict):
                raise ValueError(f"{f}: expected {{'chat_template_kwargs': {{...}}}}")
            return value
    return {}


def resolve_chat_template_kwargs(given: Mapping[str, Any] | None, model: str | None) -> dict[str, Any]:
    """``given`` when set (even ``{}``), else what was saved with ``model``, else ``{}``."""
    if given is not None:
        return dict(given)
    saved = load_prompt_settings(model).get("chat_template_kwargs") or {}
    if saved:
        logger.info("chat_template_kwargs %s (saved with %s)", saved, model)
    return dict(saved)


def decode_tools(tools: Any) -> list[dict[str, Any]] | None:
    """Tool schemas from a record's ``tools`` field: a list, its JSON string (TRL's convention for
    a dataset column) or ``None``/empty (no tools: the tag style).

    Raises:
        ValueError: anything else (invalid JSON, not a list, an entry that is not an object).

    Example:
        >>> decode_tools('[{"type": "function", "function": {"name": "calculator"}}]')[0]["type"]
        'function'
        >>> decode_tools(None) is None
        True
    """
    if tools is None or (isinstance(tools, str | list) and len(tools) == 0):
        return None
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError as e:
            raise ValueError(f"tools: invalid JSON ({e.msg})") from None
    if not isinstance(tools, list) or not all(isinstance(t, Mapping) for t in tools):
        raise ValueError(f"tools must be a list of JSON schemas (objects), got {tools!r:.80}")
    return [dict(t) for t in tools]


def template_kwargs(chat_template_kwargs: Mapping[str, Any] | None, tools: Any = None) -> dict[str, Any]:
    """The ``apply_chat_template`` arguments of one state: ``chat_template_kwargs`` plus the state's
    ``tools=`` (native tool calling; see :func:`decode_tools`), the one place the two are merged.

    Example:
        >>> template_kwargs({"enable_thinking": False}, '[{"type": "function", "function": {}}]')
        {'enable_thinking': False, 'tools': [{'type': 'function', 'function': {}}]}
        >>> template_kwargs(None, None)
        {}
    """
    out = dict(chat_template_kwargs or {})
    decoded = decode_tools(tools)
    if decoded is not None:
        out["tools"] = decoded
    return out


def template_renders_tools(tokenizer: Any, chat_template_kwargs: Mapping[str, Any] | None = None) -> bool:
    """Whether the tokenizer's chat template shows ``tools=`` to the model (its rendering changes).

    Example:
        >>> from swirl_algos.tiny import build_tiny_tokenizer
        >>> template_renders_tools(build_tiny_tokenizer([], vocab_size=300))
        False
    """
    probe = [{"role": "user", "content": "q"}]
    tool = {"type": "function", "function": {"name": "probe_tool", "description": "", "parameters": {}}}
    kw = dict(chat_template_kwargs or {})
    plain = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True, **kw)
    with_tools = tokenizer.apply_chat_template(
        probe, tokenize=False, add_generation_prompt=True, tools=[tool], **kw
    )
    return plain != with_tools


def tools_json(tools: Any) -> str | None:
    """A record's ``tools`` checked and as the JSON string a dataset column holds (``None``: no tools).

    Example:
        >>> tools_json([{"type": "function"}])
        '[{"type": "function"}]'
    """
    decoded = decode_tools(tools)
    return None if decoded is None else json.dumps(decoded, ensure_ascii=False)
