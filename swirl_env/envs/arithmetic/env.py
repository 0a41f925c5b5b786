"""``SwiRL-Arithmetic-v0``: multi-step arithmetic word problems solved with the calculator tool.

The default, learnable task of the package: procedurally generated questions
(:mod:`swirl_env.envs.arithmetic.tasks`), the SymPy calculator (``<math_exp> EXPR </math_exp>``), the
numeric-equivalence outcome metric, and two rule-based process judges
(:mod:`swirl_env.envs.arithmetic.judge`). Small enough for a tiny transformer to learn on a CPU, and
rich enough that step quality and final correctness come apart (a trajectory can have BAD steps
and a right answer, or GOOD calculations and a wrong answer).

Example:
    >>> import gymnasium as gym, swirl_env
    >>> env = gym.make("SwiRL-Arithmetic-v0", n_tasks=100, max_ops=2)
    >>> obs, info = env.reset(options={"task_index": 0})
    >>> steps = info["task"]["metadata"]["solution_steps"]
    >>> obs, r, term, trunc, info = env.step(f"<math_exp> {steps[0]['expression']} </math_exp>")
    >>> info["step"]["observation"] == f"{steps[0]['expression']} -> {steps[0]['value']}"
    True
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from swirl_env.env import ToolEnv
from swirl_env.envs.arithmetic.tasks import ArithmeticConfig, ArithmeticTasks
from swirl_env.prompts import PromptTemplate, get_prompt
from swirl_env.tools.base import Tool

logger = logging.getLogger(__name__)

__all__ = ["ARITHMETIC_PROMPT", "ArithmeticEnv"]

#: A compact version of the ``math-v1`` instructions (same content, a fifth of the tokens), so that
#: tiny models spend their compute on the problem. Pass ``prompt="math-v1"`` for the paper's wording.
ARITHMETIC_PROMPT = PromptTemplate(
    "arithmetic-v1",
    "Solve the problem step by step with the calculator. In each step write EITHER one call "
    "{call_format} OR the final answer <answer> NUMBER </answer>. You may make up to "
    "{max_tool_calls} calls; each result comes back as EXPRESSION -> RESULT.",
    native_header="Solve the problem step by step with the {tools} tool. In each step write EITHER one "
    "tool call OR the final answer <answer> NUMBER </answer>. You may make up to {max_tool_calls} "
    "calls; each result comes back as a tool message.",
)


def _resolve_prompt(prompt: PromptTemplate | str) -> PromptTemplate:
    if isinstance(prompt, PromptTemplate):
        return prompt
    if prompt == ARITHMETIC_PROMPT.version:
        return ARITHMETIC_PROMPT
    return get_prompt(prompt)


def _pair(name: str, value: Any) -> tuple[int, int]:
    """``value`` as a ``(low, high)`` pair; ``ValueError`` naming ``name`` for anything else."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (low, high) of integers, got {value!r:.60}")
    return (value[0], value[1])


class ArithmeticEnv(ToolEnv):
    """Multi-step arithmetic word problems with the calculator.

    Args:
        split: ``"train"``, ``"dev"`` or ``"test"`` (disjoint task streams).
        seed: the task stream's seed (task ``i`` of ``(seed, split)`` never changes).
        n_tasks: how many tasks of the stream the environment serves (indices ``0..n_tasks-1``;
            they are generated on demand, any size works).
        offset: index in the stream of the environment's first task.
        min_ops / max_ops / min_distractors / max_distractors / start_range / operand_range /
            factor_range / max_value / operations / distractor_range: difficulty knobs
            (:class:`~swirl_env.envs.arithmetic.tasks.ArithmeticConfig`).
        max_tool_calls: calculator calls before the answer is due (the paper's cap for math: 10).
        prompt: ``"arithmetic-v1"`` (compact, the default), ``"math-v1"`` (the paper's wording) or
            a :class:`~swirl_env.prompts.PromptTemplate`.
        calculator: the calculator tool (default: the package's SymPy calculator with
            ``display="exact"``: whole numbers read ``7 + 5 -> 12``; pass ``Calculator()`` for the
            paper's float display ``12.0``).
        **kwargs: passed to :class:`~swirl_env.env.ToolEnv` (``syntaxes``, ``render_mode``...).

    Example:
        >>> env = ArithmeticEnv(n_tasks=10, split="test", max_distractors=0)
        >>> obs, info = env.reset(seed=3)
        >>> obs.startswith("Solve the problem step by step")
        True
    """

    def __init__(
        self,
        *,
        split: str = "train",
        seed: int = 0,
        n_tasks: int = 1000,
        offset: int = 0,
        min_ops: int = 2,
        max_ops: int = 4,
        min_distractors: int = 0,
        max_distractors: int = 1,
        start_range: Sequence[int] = (2, 20),
        operand_range: Sequence[int] = (1, 9),
        factor_range: Sequence[int] = (2, 3),
        max_value: int = 99,
        operations: Sequence[str] = ("+", "-", "*", "/"),
        distractor_range: Sequence[int] = (2, 30),
        max_tool_calls: int = 10,
        prompt: PromptTemplate | str = ARITHMETIC_PROMPT.version,
        calculator: Tool | None = None,
        **kwargs: Any,
    ) -> None:
        from swirl_env.metrics.numeric import numeric_match
        from swirl_env.tools.calculator import Calculator

        self.config = ArithmeticConfig(
            min_ops=min_ops,
            max_ops=max_ops,
            min_distractors=min_distractors,
            max_distractors=max_distractors,
            start_range=_pair("start_range", start_range),
            operand_range=_pair("operand_range", operand_range),
            factor_range=_pair("factor_range", factor_range),
            max_value=max_value,
            operations=tuple(operations),
            distractor_range=_pair("distractor_range", distractor_range),
        )
        tasks = ArithmeticTasks(n_tasks, seed=seed, split=split, config=self.config, offset=offset)
        super().__init__(
            tasks[:1],  # the full stream is set below: ToolEnv would index every task id eagerly
            [calculator if calculator is not None else Calculator(display="exact")],
            metric=_numeric_metric(numeric_match),
            primary_metric="correct",
            prompt=_resolve_prompt(prompt),
            max_tool_calls=max_tool_calls,
            **kwargs,
        )
        self.tasks = tasks
        self._task_index = _StreamIndex(tasks)  # task id -> index, computed from the id: O(1) set-up
        self.split = split
        self.seed = seed


class _StreamIndex(Mapping[str, int]):
    """``task_id -> index`` of an :class:`ArithmeticTasks` stream, read from the id itself."""

    def __init__(self, tasks: ArithmeticTasks) -> None:
        self.tasks = tasks
        self._prefix = f"arithmetic-{tasks.split}-s{tasks.seed}-"

    def __getitem__(self, task_id: str) -> int:
        if isinstance(task_id, str) and task_id.startswith(self._prefix):
            rest = task_id[len(self._prefix) :]
            if rest.isascii() and rest.isdigit() and len(rest) <= 18:
                i = int(rest) - self.tasks.offset
                if 0 <= i < len(self.tasks):
                    return i
        raise KeyError(task_id)

    def __iter__(self) -> Iterator[str]:
        return (f"{self._prefix}{self.tasks.offset + i}" for i in range(len(self.tasks)))

    def __len__(self) -> int:
        return len(self.tasks)


def _numeric_metric(numeric_match: Any) -> Any:
    def metric(prediction: str, golds: Sequence[str]) -> dict[str, float]:
        result = numeric_match(prediction, golds)
        return {"correct": float(bool(result["correct"]))}

    return metric
