"""Rollout: run a policy on a registered environment, many episodes at once, resumably.

:func:`rollout` plays ``samples_per_task`` episodes for each selected task. ``num_envs``
environment copies are stepped together: at each round the states of all live episodes go to
the policy in ONE ``act`` call (one batched ``generate`` for a Hugging Face policy, concurrent
requests for a server), then every environment steps with its action. A finished episode frees
its slot for the next one, so the batch stays full.

Every episode has a distinct, reproducible seed derived from ``(seed, task index, sample)``;
the policy gets one seed per state derived from the episode seed and the step number, so a
sample's actions do not depend on which other episodes shared its batch.

With ``output``, each finished episode is appended as one :class:`~swirl_env.trajectory.Trajectory`
JSON line (flushed and fsynced, see :mod:`swirl_algos.jsonl`). Re-running the same call after an
interruption (even ``SIGKILL``) continues: episodes whose ``(task id, sample)`` is already in the
file are not run again, a half-written last line is dropped, and nothing is duplicated. Text
UTF-8 cannot encode (a lone surrogate in an action or a tool result) is repaired as the writer
stores it (U+FFFD, the original kept in the trajectory's ``text_repairs``), and the returned
trajectory is the repaired one, as stored.

Example:
    >>> import gymnasium as gym
    >>> from swirl_env import Task, Tool, ToolEnv, ToolResult
    >>> class Echo(Tool):
    ...     name = tag = "echo"
    ...     def run(self, argument): return ToolResult(argument)
    >>> def make(): return ToolEnv([Task("t0", "Say hi", ("hi",), "toy", "test")], [Echo()],
    ...                             metric=lambda p, g: {"em": float(p in g)}, primary_metric="em")
    >>> gym.register("Doc-Echo-v0", entry_point=make)
    >>> from swirl_algos.policies.base import Policy
    >>> class SayHi(Policy):
    ...     def act(self, states, *, seeds=None): return ["<answer>hi</answer>" for _ in states]
    >>> trajs = rollout("Doc-Echo-v0", SayHi(), samples_per_task=2, progress=False)
    >>> [(t.id, t.outcome["score"]) for t in trajs]
    [('t0#0', 1.0), ('t0#1', 1.0)]
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from swirl_algos.jsonl import JsonlWriter, iter_trajectories, record_key, safe_record
from swirl_env.checks import int_at_least
from swirl_env.trajectory import Trajectory

logger = logging.getLogger(__name__)

__all__ = ["Episode", "episode_seed", "plan_episodes", "rollout", "step_seed"]


def episode_seed(seed: int, task_index: int, sample: int) -> int:
    """The reset seed of one episode: distinct for every ``(seed, task, sample)``, reproducible.

    Example:
        >>> episode_seed(0, 3, 1) == episode_seed(0, 3, 1) != episode_seed(0, 3, 2)
        True
    """
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, task_index, sample, 0]).generate_state(1)[0])


def step_seed(ep_seed: int, step: int) -> int:
    """The policy's sampling seed for step ``step`` of the episode with reset seed ``ep_seed``.

    Example:
        >>> step_seed(7, 0) != step_seed(7, 1)
        True
    """
    state = np.random.SeedSequence([ep_seed, step, 1]).generate_state(2)
    return int(state[0]) << 32 | int(state[1])


@dataclass
class Episode:
    """One planned episode: task index and id, sample index, reset seed."""

    task_index: int
    task_id: str
    sample: int
    seed: int
    key: tuple[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.key = (self.task_id, self.sample)


def _make_env(env_id: str, env_kwargs: Mapping[str, Any]) -> Any:
    import gymnasium as gym

    import swirl_env  # noqa: F401  (registers the ids)

    try:
        return gym.make(env_id, **dict(env_kwargs))
    except gym.error.Error as e:
        raise ValueError(f"cannot make environment {env_id!r}: {e}") from e


def plan_episodes(
    tasks: Sequence[Any],
    *,
    n_tasks: int | None = None,
    task_indices: Sequence[int] | None = None,
    samples_per_task: int = 1,
    seed: int = 0,
) -> list[Episode]:
    """The episodes a rollout runs, in order (task by task, samples of a task together).

    Example:
        >>> from swirl_env import Task
        >>> tasks = [Task(f"q{i}", "?", ("1",), "toy", "test") for i in range(3)]
        >>> [e.key for e in plan_episodes(tasks, n_tasks=2, samples_per_task=2)]
        [('q0', 0), ('q0', 1), ('q1', 0), ('q1', 1)]
    """
    int_at_least("samples_per_task", samples_per_task, 1)
    n_avail = len(tasks)
    if task_indices is not None:
        if n_tasks is not None:
            raise ValueError("give n_tasks or task_indices, not both")
        indices = [int(i) for i in task_indices]
        bad = [i for i in indices if not 0 <= i < n_avail]
        if bad:
            raise IndexError(f"task indices out of range [0, {n_avail}): {bad[:5]}")
    else:
        if n_tasks is not None and n_tasks < 0:
            raise ValueError(f"n_tasks must be >= 0, got {n_tasks}")
        if n_tasks is not None and n_tasks > n_avail:
            logger.warning("n_tasks=%d but the environment has %d tasks: using all", n_tasks, n_avail)
        indices = list(range(n_avail if n_tasks is None else min(n_tasks, n_avail)))
    ids = [str(tasks[i].id) for i in indices]
    seen: dict[str, int] = {}
    for i, tid in zip(indices, ids):
        if tid in seen and seen[tid] != i:
            raise ValueError(f"tasks {seen[tid]} and {i} share the id {tid!r}; trajectory ids must be unique")
        seen[tid] = i
    if len(seen) != len(indices):
        logger.warning("task indices repeat; each (task, sample) episode runs once")
    out, planned = [], set()
    for i, tid in zip(indices, ids):
        for s in range(samples_per_task):
            if (tid, s) in planned:
                continue
            planned.add((tid, s))
            out.append(Episode(i, tid, s, episode_seed(seed, i, s)))
    return out


def _json_safe(value: Any) -> Any:
    """``value`` with anything JSON cannot hold replaced by its ``repr`` (records stay writable)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return repr(value)


#: policy fields that say where a policy runs, not what it does (a resumed run may use another server)
_WHERE = ("base_url", "servers")


def _what(policy: Mapping[str, Any]) -> Any:
    """What a policy does, comparable across runs: where it runs left out, a local model's path
    resolved (``runs/sft/`` and ``./runs/sft`` are one model)."""
    what = {k: v for k, v in policy.items() if k not in _WHERE}
    model = what.get("model")
    if isinstance(model, str) and os.path.exists(model):
        what["model"] = os.path.realpath(model)
    return json.loads(json.dumps(_json_safe(what)))


def _load_done(
    output: str | os.PathLike,
    env_id: str,
    wanted: Mapping[tuple[str, int], int],
    env_kwargs: Mapping[str, Any],
    policy: Mapping[str, Any],
) -> dict[tuple[str, int], Trajectory]:
    """The episodes of ``output`` that this run plans (``wanted``: key -> reset seed). A file of
    another environment, policy (model, sampling settings) or seed is refused: resuming from it
    would credit its episodes to this run."""
    done: dict[tuple[str, int], Trajectory] = {}
    if not os.path.exists(output):
        return done
    others = 0
    expected_kwargs = json.loads(json.dumps(_json_safe(env_kwargs)))
    expected_policy = _what(policy)
    checked: Any = None  # the last record's policy found the same (records of one run share it)
    warned = False
    for t in iter_trajectories(output):
        if t.env_id != env_id:
            raise ValueError(
                f"{output} holds episodes of {t.env_id!r}, not {env_id!r}; choose another output file"
            )
        if t.policy == checked:
            pass
        elif _what(t.policy) == expected_policy:
            checked = t.policy
        else:
            raise ValueError(
                f"{output} holds episodes of another policy ({json.dumps(_what(t.policy))[:300]}); this run's "
                f"is {json.dumps(expected_policy)[:300]}: choose another output file, or delete it to start over"
            )
        if not warned and t.env_kwargs != expected_kwargs:
            warned = True
            logger.warning(
                "%s was written with env kwargs %s, this run uses %s: the file will mix both",
                output,
                t.env_kwargs,
                expected_kwargs,
            )
        key = record_key(t)
        if key in done:
            logger.warning("%s: duplicate episode %s; keeping the first", output, key)
            continue
        if key in wanted:
            if t.seed != wanted[key]:
                raise ValueError(
                    f"{output}: episode {t.id!r} was run with reset seed {t.seed}, this run's is "
                    f"{wanted[key]} (another --seed?): choose another output file, or delete it to start over"
                )
            done[key] = t
        else:
            others += 1
    if others:
        logger.info("%s: %d episodes outside this run's tasks are kept untouched", output, others)
    return done


def _describe(policy: Any) -> dict[str, Any]:
    describe = getattr(policy, "describe", None)
    if callable(describe):
        return dict(describe())
    return {"name": getattr(policy, "name", type(policy).__name__)}


def rollout(
    env_id: str,
    policy: Any,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    n_tasks: int | None = None,
    task_indices: Sequence[int] | None = None,
    samples_per_task: int = 1,
    num_envs: int = 8,
    seed: int = 0,
    output: str | os.PathLike | None = None,
    progress: bool = True,
) -> list[Trajectory]:
    """Run ``policy`` on ``env_id``: ``samples_per_task`` episodes per task, ``num_envs`` at a time.

    Args:
        env_id: a registered environment id (``"SwiRL-GSM8K-v0"``...); its env must be a
            :class:`~swirl_env.env.ToolEnv` (or wrap one and expose ``trajectory()``).
        policy: a :class:`~swirl_algos.policies.base.Policy` (``act(states, seeds=...)``); it
            gets the env parser's stop strings through ``set_stop_strings`` and the env's tool
            schemas (``None`` in the tag style) through ``set_tools``.
        env_kwargs: keyword arguments of ``gym.make`` (split, data path, step cap...).
        n_tasks: the first ``n_tasks`` tasks (default: all); or ``task_indices``: these tasks.
        samples_per_task: episodes per task (the paper: 5), each with its own seed.
        num_envs: episodes stepped together (the policy's batch).
        seed: the run's seed; episode and sampling seeds derive from it.
        output: a JSONL file; finished episodes are appended as they end, and a re-run skips
            the episodes already there (resume).
        progress: show a progress bar (episodes, episodes/s, steps).

    Returns:
        The planned episodes' trajectories (including those already in ``output``), in plan
        order: task by task, samples in order.

    Example:
        >>> # trajs = rollout("SwiRL-GSM8K-v0", HFPolicy.from_pretrained(path), n_tasks=100,
        >>> #                 samples_per_task=5, output="runs/gsm8k/trajectories.jsonl")
    """
    int_at_least("num_envs", num_envs, 1)
    env_kwargs = dict(env_kwargs or {})
    first = _make_env(env_id, env_kwargs)
    envs = [first]
    base = first.unwrapped
    tasks = getattr(base, "tasks", None)
    if tasks is None:
        first.close()
        raise TypeError(f"{env_id} is not a SwiRL ToolEnv (no .tasks); rollout needs one")
    plan = plan_episodes(
        tasks, n_tasks=n_tasks, task_indices=task_indices, samples_per_task=samples_per_task, seed=seed
    )
    parser = getattr(base, "parser", None)
    if parser is not None and hasattr(policy, "set_stop_strings"):
        policy.set_stop_strings(list(parser.stop_strings))
    if hasattr(policy, "set_tools"):  # native tool calling: the schemas go to the chat template
        policy.set_tools(getattr(base, "tool_schemas", None))
    policy_info = _describe(policy)
    full_id = first.spec.id if first.spec is not None else env_id
    spec_kwargs = dict(first.spec.kwargs) if first.spec is not None else {}
    done = {}
    if output is not None:
        try:
            done = _load_done(output, full_id, {e.key: e.seed for e in plan}, spec_kwargs, policy_info)
        except BaseException:
            first.close()
            raise
    todo = [e for e in plan if e.key not in done]
    if done:
        logger.info("resuming %s: %d of %d episodes already done", output, len(done), len(plan))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan), initial=len(plan) - len(todo), desc=f"rollout {env_id}", unit="episode")
    writer = JsonlWriter(output) if output is not None else None
    new: dict[tuple[str, int], Trajectory] = {}
    n_steps, t0 = 0, time.perf_counter()
    try:
        if writer is not None:
            writer.open()
        for _ in range(min(num_envs, len(todo)) - 1):
            envs.append(_make_env(env_id, env_kwargs))
        slots: list[dict[str, Any] | None] = [None] * len(envs)
        queue = list(reversed(todo))

        def start(k: int) -> None:
            ep = queue.pop()
            _, info = envs[k].reset(seed=ep.seed, options={"task_index": ep.task_index})
            if str(info["task"]["id"]) != ep.task_id:  # pragma: no cover - env ignoring options
                raise RuntimeError(f"{env_id} ignored options['task_index']={ep.task_index}")
            slots[k] = {"episode": ep, "messages": info["messages"], "step": 0}

        for k in range(len(envs)):
            if queue:
                start(k)
        while any(s is not None for s in slots):
            live = [k for k, s in enumerate(slots) if s is not None]
            states = [slots[k]["messages"] for k in live]  # type: ignore[index]
            seeds = [step_seed(slots[k]["episode"].seed, slots[k]["step"]) for k in live]  # type: ignore[index]
            actions = policy.act(states, seeds=seeds)
            if len(actions) != len(live):
                raise RuntimeError(f"policy returned {len(actions)} actions for {len(live)} states")
            for k, action in zip(live, actions):
                slot = slots[k]
                assert slot is not None
                _, _, terminated, truncated, info = envs[k].step(action)
                slot["step"] += 1
                n_steps += 1
                slot["messages"] = info["messages"]
                if not (terminated or truncated):
                    continue
                ep: Episode = slot["episode"]
                traj = envs[k].get_wrapper_attr("trajectory")(
                    id=f"{ep.task_id}#{ep.sample}", sample=ep.sample, policy=policy_info
                )
                if truncated and not traj.truncated and not traj.terminated:
                    traj.truncated = True  # e.g. a TimeLimit wrapper ended it
                traj.env_kwargs = _json_safe(traj.env_kwargs)
                traj.policy = _json_safe(traj.policy)
                traj = safe_record(traj)  # the record as stored: unencodable text repaired
                if writer is not None:
                    writer.write(traj)
                new[ep.key] = traj
                slots[k] = None
                if queue:
                    start(k)
                if bar is not None:
                    bar.update(1)
                    elapsed = max(time.perf_counter() - t0, 1e-9)
                    bar.set_postfix(steps=n_steps, eps_per_s=f"{len(new) / elapsed:.2f}", refresh=False)
    finally:
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
        for e in envs:
            e.close()
    elapsed = time.perf_counter() - t0
    if new:
        logger.info(
            "rollout %s: %d episodes, %d steps in %.1fs (%.2f episodes/s)",
            env_id,
            len(new),
            n_steps,
            elapsed,
            len(new) / max(elapsed, 1e-9),
        )
    return [done[e.key] if e.key in done else new[e.key] for e in plan]
