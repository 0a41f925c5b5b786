"""``SwiRL-GSM8K-v0``: GSM8K word problems with the calculator, in one folder.

* :mod:`~swirl_env.envs.gsm8k.env`: :class:`GSM8KEnv` (the registered entry point
  ``swirl_env.envs.gsm8k:GSM8KEnv``) and its metric;
* :mod:`~swirl_env.envs.gsm8k.tasks`: the loader of the official files (:func:`load_gsm8k`).

Its process judge is the rule judge's math rules (``"rule"``). Names are imported on first use.

Example:
    >>> from swirl_env.envs.gsm8k import GSM8KEnv, load_gsm8k
    >>> GSM8KEnv.__module__, load_gsm8k("test")[0].id
    ('swirl_env.envs.gsm8k.env', 'gsm8k-test-0')
"""

from swirl_env._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {"env": "*", "tasks": "*"},  # each submodule's own __all__
    globals(),
)
