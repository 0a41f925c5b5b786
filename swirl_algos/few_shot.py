"""Few-shot prompting from the scripted oracles: a small model's first usable trajectories.

A small instruct model given only the instructions rarely writes a call in the paper's tag
format. :func:`oracle_demonstrations` plays the environment's scripted oracle (GSM8K: the gold
calculator annotations replayed; arithmetic: the solver with no mistakes; QA: the gold titles
searched) on a few training tasks with the real tools, keeps correct episodes that use a tool,
and returns them as ``{"question", "turns"}`` records; passed to any SwiRL env as
``demonstrations=`` they are shown in the first message before the question (``Example 1: ...
Now the real question.``). :func:`with_few_shot` does both for a ``gym.make`` kwargs dict; the
``--few-shot N`` option of ``swirl generate`` and ``swirl evaluate`` calls it.

The demonstration tasks are the *last* tasks of the training split (the environment's own split
when it has no training split), so they are not the first ``n_tasks`` a run uses, and never test
tasks. The demonstrations are stored in every trajectory's ``env_kwargs``, so a trajectory file
records the exact prompt, and an evaluation can reuse them.

Example:
    >>> demos = oracle_demonstrations("SwiRL-Arithmetic-v0", 1, env_kwargs={"max_ops": 2})
    >>> demos[0]["turns"][-1].startswith("<answer>")
    True
    >>> import gymnasium as gym, swirl_env
    >>> env = gym.make("SwiRL-Arithmetic-v0", **with_few_shot("SwiRL-Arithmetic-v0", {"max_ops": 2}, 1))
    >>> obs, _ = env.reset(seed=0)
    >>> obs.count("Question:")
    2
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["oracle_demonstrations", "oracle_policy", "with_few_shot"]

_NOT_SPLIT_KWARGS = ("n_tasks", "offset", "task_indices", "demonstrations")


def oracle_policy(env: Any) -> Any:
    """The scripted oracle of an env (unwrapped ``GSM8KEnv``, ``ArithmeticEnv`` or ``SearchQAEnv``).

    Raises:
        ValueError: no oracle is known for that env class (pass ``policy=`` to
            :func:`oracle_demonstrations`).
    """
    from swirl_env.envs.arithmetic import ArithmeticEnv
    from swirl_env.envs.gsm8k import GSM8KEnv
    from swirl_env.envs.qa import SearchQAEnv

    base = getattr(env, "unwrapped", env)
    if isinstance(base, GSM8KEnv):
        from swirl_algos.policies.scripted import GoldReplayPolicy

        return GoldReplayPolicy(base.tasks, max_calls=base.max_tool_calls)
    if isinstance(base, ArithmeticEnv):
        from swirl_algos.policies.arithmetic_oracle import ArithmeticOraclePolicy

        return ArithmeticOraclePolicy(error_rates=0.0)
    if isinstance(base, SearchQAEnv):
        from swirl_algos.policies.gold_search import GoldSearchPolicy

        return GoldSearchPolicy(base.tasks, max_searches=base.max_tool_calls)
    raise ValueError(f"no scripted oracle for {type(base).__name__}; pass policy= (a Policy) instead")


def _make(env_id: str, kwargs: Mapping[str, Any]) -> Any:
    import gymnasium as gym

    import swirl_env  # noqa: F401  (registers the ids)

    return gym.make(env_id, **dict(kwargs))


def oracle_demonstrations(
    env_id: str,
    n: int = 2,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    split: str | None = "train",
    policy: Any = None,
    min_tool_calls: int = 1,
    max_candidates: int = 50,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """``n`` solved episodes of the env's scripted oracle, as ``{"question", "turns"}`` records.

    Args:
        env_id: a registered id; ``env_kwargs`` are its settings (``n_tasks``/``offset`` are
            ignored: the demonstrations come from the end of the split).
        n: how many demonstrations (0 returns ``[]``).
        split: the split to draw them from (default ``"train"``; ``None``, or a split the env
            does not have, uses the env's own split).
        policy: a policy to play instead of the env's oracle.
        min_tool_calls: keep only episodes with at least this many tool calls.
        max_candidates: tasks tried (from the last one backwards) before giving up.
        seed: the oracle's sampling seed.

    Raises:
        ValueError: fewer than ``n`` correct episodes among ``max_candidates`` tasks.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return []
    kwargs = {k: v for k, v in dict(env_kwargs or {}).items() if k not in _NOT_SPLIT_KWARGS}
    env = None
    if split is not None:
        try:
            env = _make(env_id, {**kwargs, "split": split})
        except (ValueError, KeyError, FileNotFoundError, OSError) as e:
            logger.info("%s has no %r split (%s): demonstrations from its own split", env_id, split, e)
    if env is None:
        env = _make(env_id, kwargs)
    base = env.unwrapped
    policy = policy if policy is not None else oracle_policy(env)
    set_stops = getattr(policy, "set_stop_strings", None)
    if callable(set_stops):
        set_stops(base.parser.stop_strings)
    demos: list[dict[str, Any]] = []
    n_tasks = len(base.tasks)
    for k in range(min(max_candidates, n_tasks)):
        index = n_tasks - 1 - k
        _, info = env.reset(seed=seed, options={"task_index": index})
        messages = info["messages"]
        done = False
        while not done:
            action = policy.act([messages], seeds=[seed + index])[0]
            _, _, terminated, truncated, info = env.step(action)
            messages, done = info["messages"], terminated or truncated
        traj = base.trajectory()
        calls = sum(1 for s in traj.steps if s.kind == "call" and s.tool_ok is not False)
        if traj.outcome.get("score") != 1.0 or calls < min_tool_calls:
            continue
        demos.append({"question": traj.task["question"], "turns": [m["content"] for m in traj.messages[1:]]})
        if len(demos) == n:
            env.close()
            return demos
    env.close()
    raise ValueError(
        f"only {len(demos)} of the {n} demonstrations requested: the oracle solved too few of the last "
        f"{max_candidates} tasks of {env_id} with >= {min_tool_calls} tool calls"
    )


def with_few_shot(
    env_id: str, env_kwargs: Mapping[str, Any] | None, n: int, **options: Any
) -> dict[str, Any]:
    """``env_kwargs`` with ``demonstrations`` of ``n`` oracle episodes added (unchanged when ``n``
    is 0 or demonstrations are already given).

    Example:
        >>> with_few_shot("SwiRL-GSM8K-v0", {"n_tasks": 5}, 0)
        {'n_tasks': 5}
    """
    kwargs = dict(env_kwargs or {})
    if n and not kwargs.get("demonstrations"):
        kwargs["demonstrations"] = oracle_demonstrations(env_id, n, env_kwargs=kwargs, **options)
    return kwargs
