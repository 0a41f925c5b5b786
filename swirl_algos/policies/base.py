"""The policy interface: a batch of states in, a batch of actions out.

A state is the conversation so far as chat messages (``info["messages"]`` of a SwiRL env, or
``Trajectory.state_messages(i)``). An action is the model's text for one step and stops at the
end of the first complete tool call or answer (generation stops at the env parser's
``stop_strings``).

Example:
    >>> class Constant(Policy):
    ...     name = "constant"
    ...     def act(self, states, *, seeds=None):
    ...         return ["<answer> 42 </answer>" for _ in states]
    >>> Constant().act([[{"role": "user", "content": "Q?"}]])
    ['<answer> 42 </answer>']
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from swirl_env.tasks.base import Task
from swirl_env.trajectory import Message

State = Sequence[Message]


class Policy(ABC):
    """Maps states to actions, batched."""

    name: str = "policy"

    @abstractmethod
    def act(self, states: Sequence[State], *, seeds: Sequence[int] | None = None) -> list[str]:
        """One action per state. ``seeds`` (one per state) make sampling reproducible where supported."""

    def describe(self) -> dict[str, Any]:
        """Model name and sampling settings, stored in each trajectory's ``policy`` field."""
        return {"name": self.name}

    def set_stop_strings(self, stop_strings: Sequence[str]) -> None:  # noqa: B027
        """Called by rollout with the env parser's stop strings; generators stop at the first."""

    def set_tools(self, tools: Sequence[Mapping[str, Any]] | None) -> None:  # noqa: B027
        """Called by rollout with the env's tool schemas (native tool calling; ``None`` in the tag
        style); model policies pass them to the chat template (``tools=``) or the server."""


class TaskOracle(Policy):
    """A policy that knows its tasks (a scripted oracle): it finds the task a state is about from
    the question in the state's first message.

    Subclasses set ``self.tasks`` and call :meth:`index_tasks` once.

    Example:
        >>> from swirl_env.tasks.base import Task
        >>> class Echo(TaskOracle):
        ...     def act(self, states, *, seeds=None):
        ...         return [f"<answer> {self.task_of(s).answer} </answer>" for s in states]
        >>> p = Echo(); p.tasks = [Task("q", "What is 2+2?", ("4",), "toy", "test")]; p.index_tasks()
        >>> p.act([[{"role": "user", "content": "Solve it.\\n\\nQuestion: What is 2+2?"}]])
        ['<answer> 4 </answer>']
    """

    tasks: list[Task]
    #: where the question starts in the prompts of the package
    question_mark = "Question: "

    def index_tasks(self) -> None:
        """Index :attr:`tasks` by question (the first task of a repeated question wins)."""
        self._by_question: dict[str, Task] = {}
        for t in self.tasks:
            self._by_question.setdefault(t.question.strip(), t)

    def task_of(self, state: State) -> Task:
        """The task a state is about, found from the question in its first message."""
        if not state:
            raise ValueError("empty state: expected at least the prompt message")
        prompt = str(state[0].get("content", ""))
        i = prompt.rfind(self.question_mark)
        if i >= 0:
            task = self._by_question.get(prompt[i + len(self.question_mark) :].strip())
            if task is not None:
                return task
        for question, task in self._by_question.items():  # another prompt layout
            if question in prompt:
                return task
        raise KeyError(f"the question of this state is not one of the policy's {len(self.tasks)} tasks")
