"""``SwiRL-Arithmetic-v0``: procedural multi-step arithmetic word problems, in one folder.

* :mod:`~swirl_env.envs.arithmetic.env`: :class:`ArithmeticEnv` (the registered entry point
  ``swirl_env.envs.arithmetic:ArithmeticEnv``);
* :mod:`~swirl_env.envs.arithmetic.tasks`: the task generator (difficulty knobs, disjoint splits)
  and the reader of a question back into its solution (the sentence templates and that reader are
  in :mod:`~swirl_env.envs.arithmetic.questions`);
* :mod:`~swirl_env.envs.arithmetic.judge`: its process judges, the gold-free
  :class:`ArithmeticStepJudge` (short name ``"arithmetic-step"``, the demo's default) and the
  gold-aware :class:`ArithmeticProcessJudge` (``"arithmetic"``).

Names are imported on first use.

Example:
    >>> from swirl_env.envs.arithmetic import ArithmeticStepJudge, generate_task
    >>> ArithmeticStepJudge.__module__, generate_task(0).dataset
    ('swirl_env.envs.arithmetic.judge', 'arithmetic')
"""

from swirl_env._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {"env": "*", "judge": "*", "tasks": "*"},  # each submodule's own __all__
    globals(),
)
