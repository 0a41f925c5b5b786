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
from collections.abc import Sequence
from typing import Any

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
