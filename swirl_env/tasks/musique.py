"""Deprecated alias: the MuSiQue reader moved to :mod:`swirl_env.envs.qa.musique`
(loading by name: :mod:`swirl_env.envs.qa.loaders`).

Every name still works from here, with a ``DeprecationWarning``.
"""

from swirl_env._lazy import moved_module

__all__, __getattr__, __dir__ = moved_module(
    __name__,
    ["swirl_env.envs.qa.musique", "swirl_env.envs.qa.loaders"],
    globals(),
    ["load_musique", "musique_corpus", "read_musique"],
)
