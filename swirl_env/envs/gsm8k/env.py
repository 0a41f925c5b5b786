"""``SwiRL-GSM8K-v0``: grade-school math word problems solved with the SymPy calculator.

The model works in up to ``max_tool_calls`` calculator steps (``<math_exp> EXPR </math_exp>``,
shown back as ``EXPR -> RESULT``, e.g. ``48 / 2 -> 24.0``), then answers with
``<answer> NUMBER </answer>``. The outcome reward is 1.0 when the answer equals the gold answer as
a number (:func:`swirl_env.metrics.numeric.numeric_match`: ``18``, ``18.0``, ``$18``, ``18.00``
and ``"18 dollars"`` are equal; commas are ignored), else 0.0. An episode that reaches the step
cap without an answer ends with ``truncated=True`` and reward 0.

Tasks come from the bundled official test (1,319) or train (7,473) split, or any GSM8K JSONL
file (``path=``); the file is read once per process (:func:`~swirl_env.envs.gsm8k.tasks.load_gsm8k`)
and shared by every environment copy. Each task's metadata holds the gold solution's calculator
annotations (``["48/2=24", ...]``) and the full solution text.

Example:
    >>> import gymnasium as gym, swirl_env
    >>> env = gym.make("SwiRL-GSM8K-v0")
    >>> obs, info = env.reset(options={"task_index": 0})
    >>> info["task"]["metadata"]["annotations"]
    ['16-3-4=9', '9*2=18']
    >>> obs, r, term, trunc, info = env.step("<math_exp> 16-3-4 </math_exp>")
    >>> info["step"]["observation"]
    '16-3-4 -> 9.0'
    >>> env.step("<answer> $18 </answer>")[1:4]
    (1.0, True, False)
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from swirl_env.checks import int_at_least
from swirl_env.env import ToolEnv
from swirl_env.envs.gsm8k.tasks import load_gsm8k
from swirl_env.metrics.numeric import numeric_match
from swirl_env.prompts import PromptTemplate
from swirl_env.tasks.base import Task
from swirl_env.tools.base import Tool
from swirl_env.tools.calculator import Calculator

logger = logging.getLogger(__name__)

__all__ = ["GSM8KEnv", "gsm8k_metric"]


def gsm8k_metric(prediction: str, golds: Sequence[str]) -> dict[str, float]:
    """``{"correct": 1.0 or 0.0}``: numeric equivalence of an answer with the gold answer.

    Example:
        >>> gsm8k_metric("18 dollars", ["18"]), gsm8k_metric("17", ["18"])
        ({'correct': 1.0}, {'correct': 0.0})
    """
    return {"correct": float(bool(numeric_match(prediction, golds)["correct"]))}


class GSM8KEnv(ToolEnv):
    """GSM8K with the calculator tool (see the module docstring).

    Args:
        split: ``"test"`` (default) or ``"train"``: the bundled official split. With ``path``,
            the tasks' split label (default: from the file name).
        path: a GSM8K JSONL file (official format) to read instead of the bundled split.
        n_tasks: serve only the first ``n_tasks`` questions of the file.
        prompt: prompt version (``"math-v1"``, the paper's instructions) or a
            :class:`~swirl_env.prompts.PromptTemplate`.
        max_tool_calls: calculator steps before the answer is due (the paper: 10).
        calculator_options: keyword arguments of :class:`~swirl_env.tools.calculator.Calculator`
            (``display="exact"``, ``timeout_s``, ``max_digits``...).
        calculator: a ready calculator tool to use instead (overrides ``calculator_options``).
        strict: reject GSM8K files with malformed annotations (see :func:`~swirl_env.envs.gsm8k.tasks.read_gsm8k`).
        **kwargs: passed to :class:`~swirl_env.env.ToolEnv` (``syntaxes``, ``render_mode``...).

    Subclasses add tools by overriding :meth:`make_tools` (nothing else to edit).

    Example:
        >>> env = GSM8KEnv(split="train", n_tasks=50, calculator_options={"display": "exact"})
        >>> obs, info = env.reset(seed=0)
        >>> len(env.tasks), info["task"]["split"], env.step("<math_exp> 48 / 2 </math_exp>")[4]["tool_result"]
        (50, 'train', '24')
    """

    def __init__(
        self,
        *,
        split: str | None = None,
        path: str | os.PathLike[str] | None = None,
        n_tasks: int | None = None,
        prompt: PromptTemplate | str = "math-v1",
        max_tool_calls: int = 10,
        calculator_options: Mapping[str, Any] | None = None,
        calculator: Tool | None = None,
        strict: bool = True,
        **kwargs: Any,
    ) -> None:
        tasks: Sequence[Task] = load_gsm8k(split, path, strict=strict)
        if n_tasks is not None:
            int_at_least("n_tasks", n_tasks, 1)
            if n_tasks > len(tasks):
                logger.warning(
                    "n_tasks=%d but the GSM8K file has %d questions: using all", n_tasks, len(tasks)
                )
            tasks = tasks[:n_tasks]
        if calculator is None:
            if calculator_options is not None and not isinstance(calculator_options, Mapping):
                raise TypeError(
                    f"calculator_options must be a dict of Calculator arguments, got {calculator_options!r:.60}"
                )
            calculator = Calculator(**dict(calculator_options or {}))
        elif calculator_options:
            raise ValueError("pass calculator= or calculator_options=, not both")
        self.calculator = calculator
        super().__init__(
            tasks,
            self.make_tools(calculator),
            metric=gsm8k_metric,
            primary_metric="correct",
            prompt=prompt,
            max_tool_calls=max_tool_calls,
            **kwargs,
        )
        self.split = tasks[0].split
        self.path = path

    def make_tools(self, calculator: Tool) -> list[Tool]:
        """The environment's tools; override to add some (called before the base class is set up).

        Example:
            >>> GSM8KEnv(n_tasks=1).make_tools(Calculator())[0].tag
            'math_exp'
        """
        return [calculator]

    def score_answer(self, answer: str, task: Task) -> dict[str, Any]:
        """The outcome, with the numbers read from the answer and the gold answer.

        Example:
            >>> env = GSM8KEnv(n_tasks=1)
            >>> env.score_answer("18 dollars", env.tasks[0])["numbers"]
            {'prediction': 18.0, 'gold': 18.0}
        """
        match = numeric_match(answer, task.answers)
        correct = float(bool(match["correct"]))
        return {
            "score": correct,
            "metric": "correct",
            "metrics": {"correct": correct},
            "numbers": {"prediction": match["prediction"], "gold": match["gold"]},
        }

    # the tasks are shared by every env of the process: hand out copies of their metadata
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        info["task"] = copy.deepcopy(info["task"])
        return obs, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        info["task"] = copy.deepcopy(info["task"])
        return obs, reward, terminated, truncated, info

    def __repr__(self) -> str:
        return (
            f"GSM8KEnv(split={self.split!r}, tasks={len(self.tasks)}, max_tool_calls={self.max_tool_calls})"
        )
