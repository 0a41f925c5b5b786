"""Suite configs: the configs of the jobs that run several learners (the demo, the paper suite).

A suite's config nests each learner's own config (:class:`~swirl_algos.learners.config.SwirlConfig`,
:class:`~swirl_algos.learners.config.SupervisedConfig`) as one field made by :func:`nested_config`,
instead of re-declaring the learner's fields under new names. A dict given for such a field merges
onto the suite's defaults, ``--set swirl.learning_rate=1e-5`` reaches it from the command line
(:func:`expand_assignments`), and the fingerprint of a run is the nested config whole
(:func:`nested_settings`), so a new learner field is in it without a list to keep in step.

Example:
    >>> from swirl_algos.demo import DemoConfig
    >>> config = DemoConfig.from_assignments({"swirl.max_steps": 12})
    >>> config.swirl.max_steps, type(config.swirl).__name__
    (12, 'SwirlConfig')
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Any, ClassVar

__all__ = [
    "SuiteConfig",
    "accepts_renamed",
    "expand_assignments",
    "merge_settings",
    "nested_config",
    "nested_settings",
    "resolve_nested",
]


def nested_config(
    factory: Callable[[], Any],
    *,
    stages: Sequence[str] = (),
    per_run: Sequence[str] = (),
    scaled: Mapping[str, Callable[[int], int]] | None = None,
) -> Any:
    """A field of a suite's config (the demo's, the paper suite's) that holds a learner's config.

    ``factory`` makes the learner config with the suite's defaults; ``per_run`` names the fields
    the suite sets itself for every run (``output_dir``, ``seed``...), which a user may not set
    and which stay out of the fingerprint (:func:`nested_settings`); ``stages`` tags the field
    for :meth:`stage_settings`-style fingerprints. Call :func:`resolve_nested` in the suite's
    ``__post_init__``: a ``dict`` given for the field is merged onto ``factory()``. ``scaled``
    maps fields that follow the run's length (``warmup_steps``, ``logging_steps``) to a function
    of ``max_steps``: when ``max_steps`` is changed and such a field is not, the field becomes
    that function's value.

    Example:
        >>> from dataclasses import dataclass
        >>> from swirl_algos.learners.config import SupervisedConfig
        >>> @dataclass
        ... class Suite:
        ...     sft: SupervisedConfig = nested_config(
        ...         lambda: SupervisedConfig(learning_rate=1e-4), per_run=("output_dir", "seed"))
        ...     def __post_init__(self):
        ...         resolve_nested(self)
        >>> suite = Suite(sft={"num_train_epochs": 2.0})
        >>> suite.sft.learning_rate, suite.sft.num_train_epochs, "seed" in nested_settings(suite, "sft")
        (0.0001, 2.0, False)
    """
    return field(
        default_factory=factory,
        metadata={
            "stages": tuple(stages),
            "nested": factory,
            "per_run": tuple(per_run),
            "scaled": dict(scaled or {}),
        },
    )


def _nested_fields(obj: Any) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(obj) if "nested" in f.metadata]


def resolve_nested(obj: Any) -> None:
    """Turn every :func:`nested_config` field given as a dict into its config (merged onto the
    suite's defaults); a per-run field set by the user, or an unknown name, is a ``ValueError``."""
    for f in _nested_fields(obj):
        value = getattr(obj, f.name)
        default = f.metadata["nested"]()
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {g.name for g in dataclasses.fields(default)})
            if unknown:
                raise ValueError(f"{f.name}: unknown {type(default).__name__} fields {unknown}")
            given = dict(value)
            try:  # the learner config's own checks, named by the dotted field (swirl.temperature)
                value = dataclasses.replace(default, **given)
                if "max_steps" in given and given["max_steps"] != default.max_steps:
                    follow = {
                        k: fn(value.max_steps) for k, fn in f.metadata["scaled"].items() if k not in given
                    }
                    value = dataclasses.replace(value, **follow)
            except (TypeError, ValueError) as e:
                raise type(e)(
                    f"{f.name}.{e}" if str(e).split(" ", 1)[0] in given else f"{f.name}: {e}"
                ) from None
        elif not isinstance(value, type(default)):
            raise ValueError(
                f"{f.name} must be a {type(default).__name__} or a dict, got {type(value).__name__}"
            )
        changed = [k for k in f.metadata["per_run"] if getattr(value, k) != getattr(default, k)]
        if changed:
            raise ValueError(
                f"{f.name}: {changed} are set by {type(obj).__name__} for every run; leave them out"
            )
        setattr(obj, f.name, value)


def nested_settings(obj: Any, name: str) -> dict[str, Any]:
    """Every field of the nested config ``name`` but its per-run ones: what its runs depend on."""
    f = next(f for f in _nested_fields(obj) if f.name == name)
    values = dataclasses.asdict(getattr(obj, name))
    return {k: v for k, v in values.items() if k not in f.metadata["per_run"]}


def expand_assignments(
    cls: type, values: Mapping[str, Any], renamed: Mapping[str, str | Sequence[str]] | None = None
) -> dict[str, Any]:
    """Keyword arguments of suite config ``cls`` from flat assignments.

    ``"swirl.learning_rate"`` (a dotted name) sets a field of a nested config; a name in
    ``renamed`` (an old flat name -> its new dotted name or names) still works for one release,
    with a ``FutureWarning``; anything else must be a field of ``cls``. Nested dicts merge, so
    several assignments to one nested config add up.

    Example:
        >>> from swirl_algos.demo import DemoConfig
        >>> expand_assignments(DemoConfig, {"seeds": [3], "swirl.beta": 0.2, "swirl.max_steps": 9})
        {'seeds': [3], 'swirl': {'beta': 0.2, 'max_steps': 9}}
    """
    renamed = renamed or {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in renamed:
            new = renamed[key]
            targets = [new] if isinstance(new, str) else list(new)
            warnings.warn(
                f"{cls.__name__} field {key!r} is deprecated and will be removed in the next release; "
                f"use {' and '.join(repr(t) for t in targets)}",
                FutureWarning,
                stacklevel=2,
            )
        else:
            targets = [key]
        for target in targets:
            head, dot, tail = target.partition(".")
            f = fields.get(head)
            if f is None or (dot and "nested" not in f.metadata):
                nested = [g.name + ".FIELD" for g in fields.values() if "nested" in g.metadata]
                raise ValueError(
                    f"{cls.__name__} has no field {target!r}; its fields are "
                    f"{', '.join(sorted(fields))} (and {', '.join(nested)} for the nested configs)"
                )
            if not dot:
                if "nested" in f.metadata and isinstance(value, Mapping):
                    out.setdefault(head, {}).update(value)
                else:
                    out[head] = value
                continue
            names = {g.name for g in dataclasses.fields(f.metadata["nested"]())}
            if tail not in names:
                raise ValueError(
                    f"{cls.__name__}.{head} has no field {tail!r}; its fields are {', '.join(sorted(names))}"
                )
            out.setdefault(head, {})[tail] = value
    return out


class SuiteConfig:
    """Base of the configs of the suites that run learners (the demo, the paper suite).

    A subclass is a dataclass whose learner settings are the learners' own configs, nested with
    :func:`nested_config`; ``RENAMED`` maps the flat names of an earlier release to the dotted
    names that replaced them. It gets the dict-to-config merge of :func:`resolve_nested` (call
    ``super().__post_init__()``), :meth:`from_assignments`, and old names read with a warning.
    """

    RENAMED: ClassVar[dict[str, str | tuple[str, ...]]] = {}

    def __post_init__(self) -> None:
        from swirl_algos.learners.config_checks import check_fields

        resolve_nested(self)
        check_fields(self)  # the suite's own fields: types from the annotations, ranges from BOUNDS

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self).RENAMED:
            renamed = type(self).RENAMED[name]
            raise AttributeError(
                f"{type(self).__name__}.{name} was renamed to {renamed!r}; set that field instead"
            )
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:
        # an earlier release's flat name (``config.swirl_lr``): read from its new place, with a warning
        renamed = type(self).RENAMED.get(name)
        if renamed is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        target = renamed if isinstance(renamed, str) else renamed[0]
        warnings.warn(
            f"{type(self).__name__}.{name} is deprecated; use {type(self).__name__}.{target}",
            FutureWarning,
            stacklevel=2,
        )
        value: Any = self
        for part in target.split("."):
            value = getattr(value, part)
        return value

    @classmethod
    def from_assignments(cls, values: Mapping[str, Any], *, build: Callable[..., Any] | None = None) -> Any:
        """An instance from flat assignments (:func:`expand_assignments`: dotted names for nested
        fields, ``RENAMED`` names with a warning); ``build`` makes it from the keyword arguments
        (default: the class itself)."""
        return (build or cls)(**expand_assignments(cls, values, cls.RENAMED))

    def to_dict(self) -> dict[str, Any]:
        """Every setting, nested configs as dicts (``cls(**config.to_dict())`` is ``config``)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def merge_settings(cls: type, base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of suite config ``cls``: ``base`` updated by ``overrides``, where a
    :func:`nested_config` field given on both sides merges field by field (a dict onto a dict, or
    onto a config object with ``dataclasses.replace``); any other field is replaced.

    Example:
        >>> from swirl_algos.demo import DemoConfig
        >>> merge_settings(DemoConfig, {"swirl": {"beta": 0.2}, "seeds": [0]}, {"swirl": {"max_steps": 9}})
        {'swirl': {'beta': 0.2, 'max_steps': 9}, 'seeds': [0]}
    """
    nested = {f.name for f in dataclasses.fields(cls) if "nested" in f.metadata}
    out = dict(base)
    for name, value in overrides.items():
        given = out.get(name)
        if name in nested and isinstance(value, Mapping) and isinstance(given, Mapping):
            out[name] = {**given, **value}
        elif name in nested and isinstance(value, Mapping) and dataclasses.is_dataclass(given):
            out[name] = dataclasses.replace(given, **value)  # type: ignore[type-var]
        else:
            out[name] = value
    return out


def accepts_renamed(cls: type) -> type:
    """Class decorator (over ``@dataclass``) of a :class:`SuiteConfig`: its constructor, and so
    ``dataclasses.replace``, also takes the earlier flat names of ``cls.RENAMED`` (with a
    ``FutureWarning``), merged into the nested configs they moved to.

    Example:
        >>> import warnings
        >>> from swirl_algos.demo import DemoConfig
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     DemoConfig(swirl_lr=3e-4, swirl={"beta": 0.2}).swirl.learning_rate
        0.0003
    """
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        old = {k: kwargs.pop(k) for k in list(kwargs) if k in cls.RENAMED}  # type: ignore[attr-defined]
        init(self, *args, **merge_settings(cls, kwargs, expand_assignments(cls, old, cls.RENAMED)))  # type: ignore[attr-defined]

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls
