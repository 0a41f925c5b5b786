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
    "load_prompt_settings",
    "parse_json_object",
    "resolve_chat_template_kwargs",
    "save_prompt_settings",
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
