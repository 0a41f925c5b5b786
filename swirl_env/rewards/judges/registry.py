"""Judges by short name: ``make_judge("rule", "process")``, ``make_judge("hf:PATH", "outcome")``.

A *judge spec* is a string, as written on a command line:

* a registered short name (``"rule"``, ``"arithmetic"``, ``"arithmetic-step"``);
* a short name with an argument, for judges that take one: ``"hf:NAME_OR_PATH"`` (a local Hugging
  Face model), ``"openai:MODEL@BASE_URL"`` (an OpenAI-compatible endpoint; several servers of the
  same model: ``"openai:MODEL@URL1,URL2"``);
* an import path: ``"package.module:Class"`` or ``"package.module:Class.factory"``.

Each registered name maps a judge *kind* (``"process"``, ``"outcome"``) to a factory given as a
lazy ``"module:attr"`` string (imported only when that judge is built, so the registry itself
loads nothing) or as a callable. :func:`register_judge` adds a name (a plug-in's judge), and
:func:`judge_names` lists them.

Example:
    >>> type(make_judge("rule", "outcome")).__name__
    'RuleOutcomeJudge'
    >>> make_judge(None, "process") is None
    True
    >>> "arithmetic-step" in judge_names("process")
    True
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swirl_env._lazy import import_class_factory, import_object
from swirl_env.checks import one_of
from swirl_env.rewards.judges.base import OutcomeJudge, ProcessJudge

__all__ = ["JudgeEntry", "judge_names", "make_judge", "register_judge", "unregister_judge"]

KINDS = ("process", "outcome")

#: a factory: a lazy ``"module:attr"`` (``attr`` may be dotted: ``"Class.from_pretrained"``) or a callable
Factory = str | Callable[..., Any]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class JudgeEntry:
    """One registered short name.

    Attributes:
        name: the short name (``"rule"``).
        factories: kind -> factory (``{"process": "pkg.mod:Class"}``).
        takes_argument: the spec is ``NAME:ARGUMENT`` (``hf:PATH``) instead of ``NAME``.
        parse_argument: ``ARGUMENT -> positional arguments`` of the factory (default: the
            argument itself, as the only one); raises ``ValueError`` for a bad argument.
        usage: the spec's form for error messages (``"hf:NAME_OR_PATH"``).
    """

    name: str
    factories: Mapping[str, Factory]
    takes_argument: bool = False
    parse_argument: Callable[[str], Sequence[Any]] | None = None
    usage: str = ""

    def arguments(self, argument: str) -> list[Any]:
        """The factory's positional arguments for ``NAME:argument``."""
        if self.parse_argument is None:
            return [argument]
        return list(self.parse_argument(argument))


_REGISTRY: dict[str, JudgeEntry] = {}
_LOCK = threading.Lock()


def register_judge(
    name: str,
    *,
    process: Factory | None = None,
    outcome: Factory | None = None,
    takes_argument: bool = False,
    parse_argument: Callable[[str], Sequence[Any]] | None = None,
    usage: str = "",
    replace: bool = False,
) -> None:
    """Register a judge under a short name, for :func:`make_judge` and every ``--judge`` option.

    Args:
        name: letters, digits, ``-`` and ``_`` (no ``:``, which separates the argument).
        process / outcome: the factory of each kind the name provides (at least one): a lazy
            ``"module:attr"`` string or a callable. It is called with the spec's positional
            arguments (none, or those of the argument) and the caller's keyword arguments.
        takes_argument: the spec is ``NAME:ARGUMENT``; the argument (or ``parse_argument(ARGUMENT)``)
            becomes the factory's positional arguments.
        parse_argument: turns the argument into positional arguments (raise ``ValueError``
            with the expected form when it is malformed); implies ``takes_argument``.
        usage: the expected form, shown in errors (default ``NAME`` or ``NAME:ARGUMENT``).
        replace: allow re-registering an existing name (else ``ValueError``).

    Example:
        >>> register_judge("strict-math", process="swirl_env.rewards.judges.rule:RuleProcessJudge")
        >>> make_judge("strict-math", "process", {"constants": ()}).constants
        frozenset()
        >>> make_judge("strict-math", "outcome")
        Traceback (most recent call last):
        ...
        ValueError: judge 'strict-math' has no outcome judge (it has: process)
        >>> unregister_judge("strict-math")
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a judge name is letters, digits, '-' and '_' (no ':'), got {name!r}")
    factories = {k: f for k, f in (("process", process), ("outcome", outcome)) if f is not None}
    if not factories:
        raise ValueError(f"judge {name!r}: give a process and/or an outcome factory")
    for kind, factory in factories.items():
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise ValueError(
                f"judge {name!r}: the {kind} factory must be a callable or a 'module:attr' string, got {factory!r}"
            )
    takes_argument = takes_argument or parse_argument is not None
    entry = JudgeEntry(
        name,
        factories,
        takes_argument,
        parse_argument,
        usage or (f"{name}:ARGUMENT" if takes_argument else name),
    )
    with _LOCK:
        if name in _REGISTRY and not replace:
            raise ValueError(f"judge {name!r} is already registered (pass replace=True to replace it)")
        _REGISTRY[name] = entry


def unregister_judge(name: str) -> None:
    """Forget a short name (``KeyError`` if it is not registered).

    Example:
        >>> unregister_judge("no-such-judge")
        Traceback (most recent call last):
        ...
        KeyError: "no judge registered as 'no-such-judge'"
    """
    with _LOCK:
        if name not in _REGISTRY:
            raise KeyError(f"no judge registered as {name!r}")
        del _REGISTRY[name]


def judge_names(kind: str | None = None) -> tuple[str, ...]:
    """The registered short names, sorted; only those with a ``kind`` judge when given.

    Example:
        >>> [n for n in judge_names() if n in ("hf", "openai", "rule")]
        ['hf', 'openai', 'rule']
        >>> "arithmetic" in judge_names("outcome")
        False
    """
    if kind is not None:
        _check_kind(kind)
    with _LOCK:
        entries = list(_REGISTRY.values())
    return tuple(sorted(e.name for e in entries if kind is None or kind in e.factories))


def _check_kind(kind: str) -> None:
    one_of("kind", kind, KINDS)


def _import_object(spec: str) -> Any:
    """The object at ``"module:attr.attr"``; ``ValueError`` when it cannot be imported."""
    if ":" not in spec:
        raise ValueError(f"judge spec must look like 'package.module:ClassName', got {spec!r}")
    try:
        return import_object(spec)
    except ValueError as e:
        raise ValueError(f"cannot import judge {spec!r}: {e.__cause__ or e}") from e


def _resolve(spec: str, kind: str) -> tuple[Any, list[Any]]:
    """``(factory, positional arguments)`` of a spec."""
    with _LOCK:
        exact = _REGISTRY.get(spec)
        prefix, sep, rest = spec.partition(":")
        prefixed = _REGISTRY.get(prefix) if sep else None
    entry, args = None, []
    if exact is not None:
        if exact.takes_argument:
            raise ValueError(f"judge {spec!r} needs an argument: {exact.usage!r}")
        entry = exact
    elif prefixed is not None and prefixed.takes_argument:
        if not rest:
            raise ValueError(f"judge {prefix!r} needs an argument: {prefixed.usage!r}, got {spec!r}")
        entry, args = prefixed, prefixed.arguments(rest)
    if entry is None:
        if not sep:
            raise ValueError(
                f"unknown judge {spec!r}: not a short name (known: {', '.join(judge_names())}) "
                "nor an import path 'package.module:ClassName'"
            )
        expected = ProcessJudge if kind == "process" else OutcomeJudge
        try:  # a user's path may only name a judge class (or its factory), checked before any call
            return import_class_factory(spec, lambda c: issubclass(c, expected), f"a {expected.__name__}"), []
        except ValueError as e:
            if prefixed is not None:  # 'rule:x': a name that takes no argument, not a module
                raise ValueError(f"{e}; note: judge {prefix!r} takes no argument, write {prefix!r}") from e
            raise
    factory = entry.factories.get(kind)
    if factory is None:
        raise ValueError(f"judge {entry.name!r} has no {kind} judge (it has: {', '.join(entry.factories)})")
    return (_import_object(factory) if isinstance(factory, str) else factory), args


def make_judge(
    spec: str | None,
    kind: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    cache: str | None = None,
) -> Any:
    """Build a process or outcome judge from a spec (see the module doc for the forms).

    Args:
        spec: the judge spec; ``None`` or ``""``: no judge (returns ``None``).
        kind: ``"process"`` or ``"outcome"``; the built judge is checked against it.
        kwargs: keyword arguments of the factory (e.g. ``{"mode": "score", "prompt": "process-math-v1"}``).
        cache: a SQLite path: the judge is wrapped in the on-disk judgement cache
            (:class:`~swirl_env.rewards.judges.cache.CachedJudge`).

    Raises:
        ValueError: a bad kind, an unknown name, a malformed argument, an import that fails, or a
            name without a judge of that kind.
        TypeError: the factory did not return a judge of ``kind``.

    Example:
        >>> type(make_judge("arithmetic", "process")).__name__
        'ArithmeticProcessJudge'
        >>> make_judge("openai:judge-model", "process")
        Traceback (most recent call last):
        ...
        ValueError: openai judge spec must look like 'openai:MODEL@BASE_URL', got 'openai:judge-model'
    """
    _check_kind(kind)
    if spec is None or spec == "":
        return None
    if not isinstance(spec, str):
        raise TypeError(f"a judge spec is a string (a short name or 'package.module:Class'), got {spec!r}")
    factory, args = _resolve(spec, kind)
    try:
        judge = factory(*args, **dict(kwargs or {}))
    except Exception as e:  # a bad keyword, a missing model...: named by the spec
        raise ValueError(f"judge {spec!r} could not be built: {type(e).__name__}: {e}") from e
    expected = ProcessJudge if kind == "process" else OutcomeJudge
    if not isinstance(judge, expected):
        raise TypeError(f"{spec} is not a {expected.__name__}")
    if cache:
        from swirl_env.rewards.judges.cache import CachedJudge

        judge = CachedJudge(judge, cache)
    return judge


# ---------------------------------------------------------------------------------------------- built-ins
def _openai_arguments(argument: str) -> list[str]:
    """``"MODEL@URL"`` -> ``[URL, MODEL]`` (the judges' ``(base_url, model)``); ``URL`` may be ``URL1,URL2``."""
    model, sep, base_url = argument.rpartition("@")
    if not sep or not model or not base_url:
        raise ValueError(
            f"openai judge spec must look like 'openai:MODEL@BASE_URL', got {'openai:' + argument!r}"
        )
    return [base_url, model]


register_judge(
    "rule",
    process="swirl_env.rewards.judges.rule:RuleProcessJudge",
    outcome="swirl_env.rewards.judges.rule:RuleOutcomeJudge",
)
register_judge(
    "hf",
    process="swirl_env.rewards.judges.hf:HFProcessJudge.from_pretrained",
    outcome="swirl_env.rewards.judges.hf:HFOutcomeJudge.from_pretrained",
    takes_argument=True,
    usage="hf:NAME_OR_PATH",
)
register_judge(
    "openai",
    process="swirl_env.rewards.judges.openai:OpenAIProcessJudge",
    outcome="swirl_env.rewards.judges.openai:OpenAIOutcomeJudge",
    parse_argument=_openai_arguments,
    usage="openai:MODEL@BASE_URL",
)
register_judge("arithmetic", process="swirl_env.envs.arithmetic.judge:ArithmeticProcessJudge")
register_judge("arithmetic-step", process="swirl_env.envs.arithmetic.judge:ArithmeticStepJudge")
