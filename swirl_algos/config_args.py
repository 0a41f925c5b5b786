"""Config dataclasses on the command line: one flag per field, its help from the field's docstring.

Every config of the package (:class:`~swirl_algos.learners.config.SwirlConfig`, the demo's...) is a
dataclass whose class docstring documents each field in an ``Attributes:`` section. This module
turns such a class into command-line flags with the field's own name (``per_device_train_batch_size``
is ``--per-device-train-batch-size``, nothing is renamed on the way), parses ``--set FIELD=VALUE``
and JSON arguments, and merges them into an instance. There is no table of flags to keep in step
with the config: a new field is a new flag.

Example:
    >>> import argparse
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class ToyConfig:
    ...     '''A toy.
    ...
    ...     Attributes:
    ...         lr: the learning rate.
    ...         tags / extra: free-form settings.
    ...     '''
    ...     lr: float = 0.1
    ...     tags: list[str] | None = None
    ...     extra: dict | None = None
    >>> field_help(ToyConfig)["extra"]
    'free-form settings.'
    >>> parser = argparse.ArgumentParser()
    >>> sorted(add_config_arguments(parser, ToyConfig))
    ['extra', 'lr', 'tags']
    >>> args = parser.parse_args(["--lr", "0.5", "--extra", '{"a": 1}'])
    >>> given_fields(args, ToyConfig)
    {'lr': 0.5, 'extra': {'a': 1}}
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import json
import re
import types
import typing
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "add_config_arguments",
    "add_deprecated_alias",
    "field_help",
    "given_fields",
    "parse_assignments",
    "parse_json_object",
    "parse_value",
]

_ATTR_LINE = re.compile(
    r"^(?P<names>[A-Za-z_][\w]*(?:\s*/\s*[A-Za-z_][\w]*)*)\s*(?:\([^)]*\))?:\s*(?P<text>.*)$"
)


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (``3``, ``true``, ``[1, 2]``), else the string.

    Example:
        >>> parse_value("1e-4"), parse_value("[0, 1]"), parse_value("cosine")
        (0.0001, [0, 1], 'cosine')
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_json_object(text: str | None, name: str) -> dict[str, Any] | None:
    """A JSON object from a command-line value (``None`` stays ``None``); a clear exit otherwise.

    Example:
        >>> parse_json_object('{"max_ops": 3}', "--env-kwargs")
        {'max_ops': 3}
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(f"{name}: invalid JSON ({e.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise SystemExit(f"{name}: expected a JSON object, got {text!r}")
    return value


def parse_assignments(
    items: Iterable[str], names: Iterable[str] | None = None, *, what: str = "--set"
) -> dict[str, Any]:
    """``["FIELD=VALUE", ...]`` -> ``{FIELD: value}``, values parsed by :func:`parse_value`.

    Dashes in a field name become underscores; ``names`` (when given) are the valid fields, and an
    unknown one exits with the list of valid names.

    Example:
        >>> parse_assignments(["learning-rate=1e-4", "report_to=[\\"none\\"]"])
        {'learning_rate': 0.0001, 'report_to': ['none']}
    """
    valid = None if names is None else set(names)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise SystemExit(f"{what} expects FIELD=VALUE, got {item!r}")
        if valid is not None and key not in valid:
            raise SystemExit(
                f"{what} expects FIELD=VALUE with FIELD one of {', '.join(sorted(valid))}; got {item!r}"
            )
        out[key] = parse_value(value)
    return out


@functools.cache
def field_help(cls: type) -> dict[str, str]:
    """Each field's help text, read from the ``Attributes:`` sections of ``cls`` and its bases.

    An entry ``a / b / c: text`` documents several fields at once; continuation lines (indented
    further) are joined. A subclass's entry wins over its base's.

    Example:
        >>> from swirl_algos.learners.config import SwirlConfig
        >>> field_help(SwirlConfig)["num_generations"].split(".")[0]
        'actions sampled per state (G)'
    """
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = inspect.cleandoc(klass.__dict__.get("__doc__") or "")
        lines = doc.splitlines()
        try:
            start = next(i for i, line in enumerate(lines) if line.strip().startswith("Attributes"))
        except StopIteration:
            continue
        names: list[str] = []
        for line in lines[start + 1 :]:
            if not line.strip():
                names = []
                continue
            indent = len(line) - len(line.lstrip())
            if indent == 0:
                break
            m = _ATTR_LINE.match(line.strip())
            if indent <= 4 and m:
                names = [n.strip() for n in m["names"].split("/")]
                for n in names:
                    found[n] = m["text"].strip()
            elif names:
                for n in names:
                    found[n] = f"{found[n]} {line.strip()}".strip()
    return found


_ROLE = re.compile(r":[a-z]+:`~?([\w.]+)`")


def _plain(text: str) -> str:
    """Docstring markup as plain text for ``--help`` (``:class:`~a.B``` -> ``B``, no double backticks)."""
    text = _ROLE.sub(lambda m: m[1].rsplit(".", 1)[-1] if "~" in m[0] else m[1], text)
    return text.replace("``", "")


def _optional(kind: Any) -> tuple[Any, bool]:
    """``(inner type, allows None)`` of an annotation."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        none = len(args) < len(typing.get_args(kind))
        return (args[0] if len(args) == 1 else kind), none
    return kind, False


def _scalar(kind: type, allows_none: bool) -> Any:
    def convert(text: str) -> Any:
        if allows_none and text.lower() in ("none", "null"):
            return None
        return kind(text)

    convert.__name__ = kind.__name__  # argparse names the type in its error messages
    return convert


def _json_value(text: str) -> Any:
    return parse_value(text)


def add_config_arguments(
    parser: argparse.ArgumentParser | Any,
    cls: type,
    *,
    skip: Iterable[str] = (),
    seen: set[str] | None = None,
) -> set[str]:
    """Add one ``--field-name`` flag per field of dataclass ``cls``; returns the fields added.

    The flag's type comes from the annotation (``int``/``float``/``str``; ``bool`` as
    ``--x/--no-x``; ``list[str]`` as several values; anything else, dicts and mixed types, as JSON,
    a plain string when it is not JSON); ``NAME | None`` also accepts ``none``. A flag not given
    on the command line is absent from the namespace (read it with :func:`given_fields`), so the
    dataclass default stays the one default. A field's ``metadata["choices"]`` become the flag's
    choices. ``seen`` collects the fields already added (to add the
    fields several configs share once), ``skip`` leaves fields out.
    """
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    seen = set() if seen is None else seen
    added: set[str] = set()
    for f in dataclasses.fields(cls):
        if f.name in seen or f.name in set(skip) or not f.init:
            continue
        kind, allows_none = _optional(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        text = _plain(helps.get(f.name, "")).replace("%", "%%")
        help_text = f"{text} (default: {default!r})" if text else f"default: {default!r}"
        flag = "--" + f.name.replace("_", "-")
        common: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if f.metadata.get("choices"):
            common["choices"] = tuple(f.metadata["choices"])
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif kind in (int, float, str):
            parser.add_argument(
                flag, type=_scalar(kind, allows_none), metavar=kind.__name__.upper(), **common
            )
        elif typing.get_origin(kind) is list and typing.get_args(kind) in ((str,), (int,)):
            (item,) = typing.get_args(kind)
            parser.add_argument(flag, nargs="+", type=item, metavar=item.__name__.upper(), **common)
        else:
            parser.add_argument(flag, type=_json_value, metavar="JSON", **common)
        seen.add(f.name)
        added.add(f.name)
    return added


class _DeprecatedAlias(argparse.Action):
    """Stores into the new field and warns that the old flag will go."""

    def __init__(self, option_strings: Sequence[str], dest: str, new_flag: str = "", **kwargs: Any) -> None:
        self.new_flag = new_flag
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        warnings.warn(
            f"{option_string} is deprecated and will be removed in the next release; use {self.new_flag}",
            FutureWarning,
            stacklevel=2,
        )
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def add_deprecated_alias(parser: Any, old: str, field: str, *, flag: bool = False, **kwargs: Any) -> None:
    """Keep the old flag ``old`` working for one release: it sets ``field`` and warns.

    ``flag=True`` for an old on/off flag (no value). Example:
        >>> p = argparse.ArgumentParser()
        >>> add_deprecated_alias(p, "--epochs", "num_train_epochs", type=float)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     p.parse_args(["--epochs", "2"]).num_train_epochs, caught[0].category.__name__
        (2.0, 'FutureWarning')
    """
    new_flag = "--" + field.replace("_", "-")
    extra: dict[str, Any] = {"nargs": 0} if flag else {}
    parser.add_argument(
        old,
        dest=field,
        action=_DeprecatedAlias,
        new_flag=new_flag,
        default=argparse.SUPPRESS,
        help=f"deprecated: use {new_flag}",
        **extra,
        **kwargs,
    )


def given_fields(args: argparse.Namespace, cls: type, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of ``cls`` set on the command line (flags added by :func:`add_config_arguments`)."""
    names = {f.name for f in dataclasses.fields(cls)} - set(exclude)
    return {k: v for k, v in vars(args).items() if k in names}
