"""Deprecated alias: the arithmetic task generator moved to :mod:`swirl_env.envs.arithmetic.tasks`.

Every name still works from here, with a ``DeprecationWarning``.
"""

from swirl_env._lazy import moved_module

__all__, __getattr__, __dir__ = moved_module(__name__, ["swirl_env.envs.arithmetic.tasks"], globals())
