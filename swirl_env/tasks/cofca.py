"""Deprecated alias: the CofCA reader moved to :mod:`swirl_env.envs.qa.cofca`
(loading by name: :mod:`swirl_env.envs.qa.loaders`).

Every name still works from here, with a ``DeprecationWarning``.
"""

from swirl_env._lazy import moved_module

__all__, __getattr__, __dir__ = moved_module(
    __name__,
    ["swirl_env.envs.qa.cofca", "swirl_env.envs.qa.loaders"],
    globals(),
    ["cofca_corpus", "load_cofca", "read_cofca"],
)
