"""SwiRL environments for TRL's ``GRPOTrainer(environment_factory=...)`` (online multi-turn RL).

TRL (>= 1.x) runs multi-turn episodes where the *tools are an environment's methods*: it renders
their JSON schemas (from type hints and docstrings) with the model's own tool-calling chat
template, parses the model's native tool calls, calls the methods and feeds their return values
back as ``role: "tool"`` messages, then scores the episode with the environment's ``get_reward()``.
:func:`environment_factory` turns any registered SwiRL env id into such a class:

* one method per tool of the env, named after the tool (``calculator(expression)``,
  ``search(query)``), documented with the tool's description; a call is executed by the real env
  (``env.step`` with the paper's call syntax), so step caps, error observations and the recorded
  trajectory are the env's own;
* ``answer(answer)``: the final answer; it ends the episode with the env's outcome score;
* ``reset(task_index=..., **row)``: the dataset row selects the task (so the ``num_generations``
  rollouts of one prompt share it, as GRPO's group baseline needs);
* ``get_reward()``: the env's outcome score (0 for an unanswered episode).

:func:`trl_dataset` builds the matching prompt dataset (one row per task: the question and how to
use the tools, plus ``task_index``). In a few lines::

    from trl import GRPOConfig, GRPOTrainer
    from swirl_algos.trl_env import environment_factory, trl_dataset

    trainer = GRPOTrainer(
        model="Qwen/Qwen3-0.6B",
        args=GRPOConfig(output_dir="runs/trl-arith", num_generations=4, max_completion_length=256),
        train_dataset=trl_dataset("SwiRL-Arithmetic-v0", n_tasks=500, env_kwargs={"split": "train"}),
        environment_factory=environment_factory("SwiRL-Arithmetic-v0", env_kwargs={"split": "train"}),
    )
    trainer.train()

Example:
    >>> Env = environment_factory("SwiRL-Arithmetic-v0", env_kwargs={"n_tasks": 3, "min_ops": 1, "max_ops": 1})
    >>> env = Env()
    >>> env.reset(task_index=0) is None
    True
    >>> steps = env.env.tasks[0].metadata["solution_steps"]
    >>> env.calculator(steps[0]["expression"]) == str(steps[0]["value"])
    True
    >>> env.answer(str(steps[0]["value"])), env.get_reward()
    ('Answer recorded: the episode is over.', 1.0)
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["SwirlTRLEnvironment", "environment_factory", "tool_argument_name", "tool_schema", "trl_dataset"]


def tool_argument_name(tool: Any) -> str:
    """The name of a tool's single string argument in its function schema (``expression``, ``query``):
    the tool's own ``parameter``, as in :meth:`~swirl_env.tools.base.Tool.schema`."""
    return str(getattr(tool, "parameter", None) or "input")


def tool_schema(tool: Any) -> dict[str, Any]:
    """The OpenAI/HF function schema of a :class:`~swirl_env.tools.base.Tool`: ``Tool.schema()``,
    the one the native tool style of the envs declares too.

    Example:
        >>> from swirl_env.tools.calculator import Calculator
        >>> tool_schema(Calculator())["function"]["parameters"]["required"]
        ['expression']
    """
    return tool.schema()


class SwirlTRLEnvironment:
    """Base of the classes :func:`environment_factory` builds (tools are added as methods there).

    Attributes:
        env: the SwiRL env (unwrapped :class:`~swirl_env.env.ToolEnv`) of the current episode.
    """

    env_id: str = ""
    env_kwargs: Mapping[str, Any] = {}
    seed: int = 0

    def __init__(self) -> None:
        from swirl_algos.rollout import _make_env

        self._gym_env = _make_env(self.env_id, self.env_kwargs)
        self.env = self._gym_env.unwrapped
        self._episodes = 0
        self._reward = 0.0
        self._done = True

    def reset(self, task_index: int | None = None, **row: Any) -> None:
        """Start the episode of ``task_index`` (a column of :func:`trl_dataset`); other row fields are
        ignored. Returns ``None``: the prompt is the dataset row's."""
        options = {"task_index": int(task_index)} if task_index is not None else None
        self._episodes += 1
        self._gym_env.reset(seed=self.seed + self._episodes, options=options)
        self._reward = 0.0
        self._done = False

    def get_reward(self) -> float:
        """The env's outcome score of the episode (0.0 when it ended without an answer)."""
        return float(self._reward)

    def answer(self, answer: str) -> str:
        """Give the final answer; this ends the episode.

        Args:
            answer: the final answer, as short as possible (a number, or a few words).
        """
        return self._step(f"<answer> {answer} </answer>")

    def _step(self, action: str) -> str:
        if self._done:
            return "Error: the episode is over; no more calls."
        _, reward, terminated, truncated, info = self._gym_env.step(action)
        self._done = terminated or truncated
        if terminated:
            self._reward = float(reward)
            return "Answer recorded: the episode is over."
        if truncated:
            why = info.get("step", {}).get("error") or "step cap reached without an answer"
            return f"Error: {why}; the episode is over."
        step = info["step"]
        return step["tool_result"] if step.get("tool_result") is not None else (step.get("observation") or "")

    @property
    def episode(self) -> Any:
        """The episode as a SwiRL :class:`~swirl_env.trajectory.Trajectory` (the env's record; a
        property, so TRL does not take it for a tool)."""
        return self.env.trajectory()


def _tool_method(tool: Any, tag: str) -> Callable[..., str]:
    arg = tool_argument_name(tool)

    def method(self: SwirlTRLEnvironment, **kwargs: str) -> str:
        value = kwargs.get(arg, next(iter(kwargs.values()), ""))
        return self._step(f"<{tag}> {value} </{tag}>")

    method.__name__ = tool.name
    method.__qualname__ = f"SwirlTRLEnvironment.{method.__name__}"
    method.__doc__ = (
        f"{(tool.description or f'The {tool.name} tool').strip().rstrip('.').capitalize()}.\n\n"
        f"Args:\n    {arg}: the {arg} for the {tool.name} tool.\n"
    )
    params = [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter(arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
    ]
    method.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    method.__annotations__ = {arg: str, "return": str}

    def call(self: SwirlTRLEnvironment, *args: str, **kwargs: str) -> str:
        if args:
            kwargs[arg] = args[0]
        return method(self, **kwargs)

    for attr in ("__name__", "__qualname__", "__doc__", "__signature__", "__annotations__"):
        setattr(call, attr, getattr(method, attr))
    return call


def environment_factory(
    env_id: str, *, env_kwargs: Mapping[str, Any] | None = None, seed: int = 0
) -> type[SwirlTRLEnvironment]:
    """A class for ``GRPOTrainer(environment_factory=...)`` playing ``env_id`` (see the module docstring).

    Every call of the class makes a fresh env (TRL keeps one instance per concurrent rollout).

    Example:
        >>> Env = environment_factory("SwiRL-GSM8K-v0", env_kwargs={"n_tasks": 2})
        >>> sorted(n for n in vars(Env) if not n.startswith("_"))
        ['calculator', 'env_id', 'env_kwargs', 'seed']
    """
    from swirl_algos.rollout import _make_env

    kwargs = dict(env_kwargs or {})
    probe = _make_env(env_id, kwargs).unwrapped
    methods: dict[str, Any] = {}
    for tool in probe.tools.values():
        name = tool.name
        if name in ("reset", "get_reward", "answer", "episode"):
            raise ValueError(f"tool {tool.name!r} would shadow the environment method {name!r}")
        methods[name] = _tool_method(tool, tool.tag)
    probe.close()
    cls_name = "".join(c for c in env_id.split("-v")[0] if c.isalnum()) + "TRLEnv"
    attrs = {"env_id": env_id, "env_kwargs": kwargs, "seed": seed, **methods, "__module__": __name__}
    return type(cls_name, (SwirlTRLEnvironment,), attrs)


def trl_prompt(env: Any, question: str) -> str:
    """The user message of a TRL row: the question and how to use the tools (native tool calls)."""
    names = [t.name for t in env.tools.values()]
    tools = " and ".join(f"`{n}`" for n in names)
    return (
        f"Answer the question step by step. Call the {tools} tool for every step it helps with "
        f"(at most {env.max_tool_calls} calls, one per turn); its result comes back to you. When you "
        "know the answer, call `answer` with the final answer (as short as possible: a number or a "
        f"few words).\n\nQuestion: {question}"
    )


def trl_dataset(
    env_id: str, *, n_tasks: int | None = None, env_kwargs: Mapping[str, Any] | None = None
) -> Any:
    """A ``datasets.Dataset`` of ``{"prompt": [user message], "task_index": i}`` rows for ``env_id``.

    Example:
        >>> ds = trl_dataset("SwiRL-Arithmetic-v0", n_tasks=2, env_kwargs={"n_tasks": 2})
        >>> ds.column_names, ds[1]["task_index"]
        (['prompt', 'task_index'], 1)
    """
    from datasets import Dataset

    from swirl_algos.rollout import _make_env

    env = _make_env(env_id, dict(env_kwargs or {})).unwrapped
    n = len(env.tasks) if n_tasks is None else min(n_tasks, len(env.tasks))
    rows = {
        "prompt": [[{"role": "user", "content": trl_prompt(env, env.tasks[i].question)}] for i in range(n)],
        "task_index": list(range(n)),
    }
    env.close()
    return Dataset.from_dict(rows)
