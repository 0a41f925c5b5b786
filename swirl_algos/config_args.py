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
import math
import re
import types
import typing
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = [
    "add_config_arguments",
    "add_deprecated_alias",
    "field_default",
    "field_help",
    "finite_float",
    "given_fields",
    "json_kwargs",
    "nonnegative_int",
    "parse_assignments",
    "parse_json_object",
    "parse_value",
    "plain_help",
]

_ATTR_LINE = re.compile(
    r"^(?P<names>[A-Za-z_][\w]*(?:\s*/\s*[A-Za-z_][\w]*)*)\s*(?:\([^)]*\))?:\s*(?P<text>.*)$"
)


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (``3``, ``true``, ``[1, 2]``), else the string;
    text that starts a JSON list, object or string (``[``, ``{``, ``"``) must be JSON.

    Example:
        >>> parse_value("1e-4"), parse_value("[0, 1]"), parse_value("cosine")
        (0.0001, [0, 1], 'cosine')
        >>> parse_value("[bad")
        Traceback (most recent call last):
        ...
        ValueError: invalid JSON (Expecting value): '[bad'
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip()[:1] in ("[", "{", '"'):
            raise ValueError(f"invalid JSON ({e.msg}): {text!r}") from None
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


def json_kwargs(text: str | None, name: str) -> dict[str, Any]:
    """Keyword arguments given as a JSON object on the command line (``None`` or ``""``: none).

    Example:
        >>> json_kwargs(None, "--env-kwargs"), json_kwargs('{"split": "dev"}', "--env-kwargs")
        ({}, {'split': 'dev'})
    """
    return parse_json_object(text or None, name) or {}


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
        try:
            out[key] = parse_value(value)
        except ValueError as e:
            raise SystemExit(f"{what} {key}: {e}") from None
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


def plain_help(text: str) -> str:
    """Docstring markup as plain text for ``--help`` (``:class:`~a.B``` -> ``B``, no double backticks)."""
    text = _ROLE.sub(lambda m: m[1].rsplit(".", 1)[-1] if "~" in m[0] else m[1], text)
    return text.replace("``", "")


def field_default(f: dataclasses.Field) -> Any:
    """A dataclass field's default value (built from its factory when it has one)."""
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]


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


def nonnegative_int(text: str) -> int:
    """An argparse type: an integer >= 0.

    Example:
        >>> nonnegative_int("3")
        3
    """
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """An argparse type: a finite number (not nan or inf).

    Example:
        >>> finite_float("0.5")
        0.5
    """
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


nonnegative_int.__name__, finite_float.__name__ = "integer >= 0", "finite number"


def _json_object(text: str) -> dict[str, Any]:
    """A dict-typed field's value: a JSON object, else a clear argparse error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"invalid JSON ({e.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


_json_object.__name__ = "JSON object"


def _path_or_flag(text: str) -> Any:
    """A ``str | bool | None`` field's value: ``true``/``false``/``none`` (any case), else the text."""
    return {"true": True, "false": False, "none": None, "null": None}.get(text.lower(), text)


def _argument_kwargs(kind: Any, allows_none: bool, has_choices: bool) -> dict[str, Any]:
    """argparse settings of a field of type ``kind`` (see :func:`add_config_arguments`)."""
    args = tuple(a for a in typing.get_args(kind) if a is not type(None))
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction}
    if kind in (int, float, str):
        return {"type": _scalar(kind, allows_none), "metavar": None if has_choices else kind.__name__.upper()}
    if typing.get_origin(kind) is list and args in ((str,), (int,)):
        return {"nargs": "+", "type": args[0], "metavar": args[0].__name__.upper()}
    if typing.get_origin(kind) is dict or kind is dict:
        return {"type": _json_object, "metavar": "JSON"}
    if set(args) == {list[str], str}:  # one value: the string; several: the list
        return {"nargs": "+", "type": str, "metavar": "STR", "action": _OneOrMany}
    if set(args) == {str, bool}:  # a path, or true / false (optionally no value: true)
        return {"nargs": "?", "const": True, "type": _path_or_flag, "metavar": "PATH|true|false"}
    return {"type": parse_value, "metavar": "JSON"}


class _OneOrMany(argparse.Action):
    """``--x a`` stores ``"a"``, ``--x a b`` stores ``["a", "b"]`` (a ``list[str] | str`` field)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values[0] if len(values) == 1 else list(values))


def add_config_arguments(
    parser: argparse.ArgumentParser | Any,
    cls: type,
    *,
    skip: Iterable[str] = (),
    seen: set[str] | None = None,
    help_for: Callable[[dataclasses.Field], str] | None = None,
) -> set[str]:
    """Add one ``--field-name`` flag per field of dataclass ``cls``; returns the fields added.

    The flag's type comes from the annotation: ``int``/``float``/``str``; ``bool`` as
    ``--x/--no-x``; ``list[str]`` as several values (``list[str] | str``: one value is the string);
    a dict as a JSON object (anything else is an error); ``str | bool`` as a path or
    ``true``/``false`` (no value: ``true``); other types as JSON, a plain string when it is not
    JSON. ``NAME | None`` also accepts ``none``. A flag not given
    on the command line is absent from the namespace (read it with :func:`given_fields`), so the
    dataclass default stays the one default. A field's ``metadata["choices"]`` become the flag's
    choices. ``seen`` collects the fields already added (to add the fields several configs share
    once), ``skip`` leaves fields out, ``help_for(field)`` (when given) writes a field's help.
    """
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    seen = set() if seen is None else seen
    added: set[str] = set()
    for f in dataclasses.fields(cls):
        if f.name in seen or f.name in set(skip) or not f.init:
            continue
        kind, allows_none = _optional(hints[f.name])
        default = field_default(f)
        if help_for is not None:
            help_text = help_for(f).replace("%", "%%")
        else:
            text = plain_help(helps.get(f.name, ""))
            help_text = (f"{text} (default: {default!r})" if text else f"default: {default!r}").replace(
                "%", "%%"
            )
        flag = "--" + f.name.replace("_", "-")
        common: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if f.metadata.get("choices"):
            common["choices"] = tuple(f.metadata["choices"])
        parser.add_argument(flag, **_argument_kwargs(kind, allows_none, "choices" in common), **common)
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


def given_fields(args: argparse.Namespace, fields: type | Iterable[str]) -> dict[str, Any]:
    """The fields (of dataclass ``fields``, or the names ``fields``) set on the command line: a flag
    added by :func:`add_config_arguments` and not given is absent from the namespace."""
    names = {f.name for f in dataclasses.fields(fields)} if isinstance(fields, type) else set(fields)
    return {k: v for k, v in vars(args).items() if k in names}
