"""Deprecated alias: the GSM8K loader moved to :mod:`swirl_env.envs.gsm8k.tasks`.

Every name still works from here, with a ``DeprecationWarning``.
"""

from swirl_env._lazy import moved_module

__all__, __getattr__, __dir__ = moved_module(__name__, ["swirl_env.envs.gsm8k.tasks"], globals())
