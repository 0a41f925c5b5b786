"""Module attributes on first use: lazy package exports and deprecated module aliases.

* :func:`lazy_exports`: a package re-exports names of its submodules, each imported when first
  read (``swirl_env.envs.gsm8k.GSM8KEnv`` imports ``swirl_env.envs.gsm8k.env`` then), so that
  importing one light submodule (a loader) does not import the whole environment;
* :func:`moved_module`: a module that moved keeps working under its old name: every attribute is
  read from the new module(s), with a :class:`DeprecationWarning` naming the new path;
* :func:`moved_submodules`: a package serves such aliases of its old submodules without a file
  each (``import swirl_env.tasks.gsm8k`` makes the alias when it is first imported);
* :func:`private_helpers`: a module that stays the public home of its names, split into parts,
  keeps its old private helpers readable (no warning).

The first two return ``(__all__, __getattr__, __dir__)`` for the module to assign.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     from swirl_env.tasks.gsm8k import load_gsm8k
    >>> load_gsm8k.__module__, caught[0].category.__name__
    ('swirl_env.envs.gsm8k.tasks', 'DeprecationWarning')
    >>> str(caught[0].message)
    'swirl_env.tasks.gsm8k is deprecated; import load_gsm8k from swirl_env.envs.gsm8k.tasks'
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "import_class_factory",
    "import_object",
    "lazy_exports",
    "moved_module",
    "moved_names",
    "moved_submodules",
    "private_helpers",
    "static_all",
]

ModuleHooks = tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str] | str], namespace: dict[str, Any]
) -> ModuleHooks:
    """``(__all__, __getattr__, __dir__)`` of a package exporting ``{submodule: [names]}`` lazily.

    Args:
        package: the package's ``__name__``.
        exports: submodule (relative to the package) -> the names it provides, or ``"*"``: the
            submodule's own ``__all__``, read from its source without importing it (so the names
            are written once, in the submodule).
        namespace: the package's ``globals()`` (for ``dir()``).
    """
    here = Path(namespace["__file__"]).parent
    exports = {
        module: static_all(here / (module.replace(".", "/") + ".py")) if names == "*" else names
        for module, names in exports.items()
    }
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return sorted(where), __getattr__, __dir__


def static_all(path: str | Path) -> list[str]:
    """The names of a module's literal ``__all__ = [...]``, read from its source (nothing imported).

    Example:
        >>> "env_spec" in static_all(Path(__file__).with_name("registration.py"))
        True
    """
    for node in ast.parse(Path(path).read_text(encoding="utf-8")).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
            return [str(n) for n in ast.literal_eval(node.value)]
    raise ValueError(f"{path} has no literal __all__")


def moved_module(
    old: str, new: Sequence[str], namespace: dict[str, Any], names: Sequence[str] | None = None
) -> ModuleHooks:
    """``(__all__, __getattr__, __dir__)`` of a deprecated alias of the modules ``new``.

    Any attribute (public or private) is looked up in the new modules in order, and every read
    warns (``DeprecationWarning``, pointing at the reader's line). ``dir()`` lists only the
    alias's own names, so tools that read every attribute ``dir()`` lists (pytest's collection)
    do not warn.

    Args:
        old: the alias's ``__name__``.
        new: the modules the content moved to.
        namespace: the alias's ``globals()`` (its ``dir()``).
        names: the alias's ``__all__`` (default: the union of the new modules' ``__all__``).
    """
    modules = [importlib.import_module(name) for name in new]
    if names is None:
        names = sorted({n for m in modules for n in getattr(m, "__all__", ())})
    names = list(names)

    def __getattr__(name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):  # __path__, __test__...: not forwarded
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        for module in modules:
            if hasattr(module, name):
                warnings.warn(
                    f"{old} is deprecated; import {name} from {module.__name__}",
                    DeprecationWarning,
                    stacklevel=2,
                )
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(namespace)

    return names, __getattr__, __dir__


#: an old submodule's new homes and its ``__all__`` (``None``: the new modules' ``__all__``)
Move = tuple[Sequence[str], Sequence[str] | None]


class _MovedSubmodules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``<package>.<old>`` for every old name of ``moves`` and makes it a :func:`moved_module`."""

    def __init__(self, package: str, moves: Mapping[str, Move]) -> None:
        self.package = package
        self.moves = dict(moves)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        parent, _, leaf = fullname.rpartition(".")
        if parent != self.package or leaf not in self.moves:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        new, names = self.moves[module.__name__.rpartition(".")[2]]
        module.__doc__ = (
            f"Deprecated alias: the content moved to {', '.join(new)}.\n\n"
            "Every name still works from here, with a ``DeprecationWarning``.\n"
        )
        hooks = moved_module(module.__name__, new, vars(module), names)
        module.__all__, module.__getattr__, module.__dir__ = hooks  # type: ignore[method-assign]


def moved_submodules(package: str, moves: Mapping[str, Move]) -> None:
    """Serve the old submodules ``<package>.<old>`` of ``moves`` (old name -> ``(new modules,
    names)``) as deprecated aliases (:func:`moved_module`), with no file of their own.

    A finder on :data:`sys.meta_path`, after the file finders, makes each alias when it is first
    imported (so the new modules are imported only then); calling it again for ``package``
    replaces its table.

    Example:
        >>> import swirl_env.tasks.musique as old  # one of the aliases swirl_env.tasks serves
        >>> old.__all__, hasattr(old, "__file__")
        (['load_musique', 'musique_corpus', 'read_musique'], False)
    """
    sys.meta_path[:] = [
        f for f in sys.meta_path if not (isinstance(f, _MovedSubmodules) and f.package == package)
    ]
    sys.meta_path.append(_MovedSubmodules(package, moves))


def moved_names(old: str, moves: Mapping[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of a module some of whose names moved: ``moves`` is name -> new module;
    reading a moved name from ``old`` warns (``DeprecationWarning``) and returns it.

    Example:
        >>> getattr_ = moved_names("pkg.old", {"wilson_interval": "swirl_algos.report"})
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     getattr_("wilson_interval").__module__, str(caught[0].message)
        ('swirl_algos.report', 'pkg.old.wilson_interval moved to swirl_algos.report.wilson_interval')
    """

    def __getattr__(name: str) -> Any:
        if name not in moves:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(f"{old}.{name} moved to {moves[name]}.{name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(moves[name]), name)

    return __getattr__


def private_helpers(module: str, homes: Sequence[str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of a module whose private helpers moved to ``homes`` while the module
    stays the public home of its names (and imports those plainly): a private name (``_name``,
    not a dunder) that the module lacks is read from the first of ``homes`` that has it, without a
    warning; any other missing name is an ``AttributeError``.

    Example:
        >>> getattr_ = private_helpers("pkg.old", ["swirl_env.tools.calculator_limits"])
        >>> getattr_("_hard_deadline").__module__
        'swirl_env.tools.calculator_limits'
        >>> getattr_("hard_deadline")
        Traceback (most recent call last):
        ...
        AttributeError: module 'pkg.old' has no attribute 'hard_deadline'
    """

    def __getattr__(name: str) -> Any:
        if name.startswith("_") and not name.startswith("__"):
            for home in homes:
                found = importlib.import_module(home)
                if hasattr(found, name):
                    return getattr(found, name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def import_object(spec: str) -> Any:
    """The object at ``"package.module:attr"`` (``attr`` may be dotted: ``"module:Class.factory"``).

    Raises ``ValueError`` (with the reason) when the spec is malformed or the import fails.

    Example:
        >>> import_object("swirl_env.registration:env_spec").__name__
        'env_spec'
    """
    if not isinstance(spec, str):
        raise TypeError(f"expected 'package.module:Name' as a string, got {spec!r}")
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'package.module:Name', got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot import {spec!r}: {e}") from e
    except Exception as e:  # the module itself fails (a syntax error, an error at import)
        raise ValueError(f"cannot import {spec!r}: {type(e).__name__}: {e}") from e
    return obj


def import_class_factory(spec: str, accepts: Callable[[type], bool], what: str) -> Any:
    """The class at ``"module:Class"``, or the factory at ``"module:Class.factory"`` (a classmethod
    or staticmethod), when ``accepts(Class)``; else ``TypeError`` naming the spec. Nothing is
    called: a user-given path can only name a class of the expected kind, never an arbitrary
    callable (``os:system``).

    Example:
        >>> import_class_factory("collections:OrderedDict", lambda c: issubclass(c, dict), "a dict").__name__
        'OrderedDict'
        >>> import_class_factory("os:system", lambda c: True, "a class")
        Traceback (most recent call last):
        ...
        TypeError: 'os:system' is not a class (it must name a class, or a factory of one: 'module:Class.factory')
    """
    obj = import_object(spec)
    module_name, _, attr = spec.partition(":")
    owner = obj if "." not in attr else import_object(f"{module_name}:{attr.rsplit('.', 1)[0]}")
    if not isinstance(owner, type) or not callable(obj):
        raise TypeError(
            f"{spec!r} is not a class (it must name a class, or a factory of one: 'module:Class.factory')"
        )
    if not accepts(owner):
        raise TypeError(f"{spec!r} is not {what}")
    return obj
