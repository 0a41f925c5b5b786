"""Tool base class: subclass it, list the tool in an environment, and the parser, prompt and
environment loop pick it up with no edit anywhere else.

Example:
    >>> class Echo(Tool):
    ...     name = "echo"
    ...     tag = "echo"
    ...     description = "repeats its input"
    ...     def run(self, argument: str) -> ToolResult:
    ...         return ToolResult(text=argument.upper())
    >>> Echo()("hi").text
    'HI'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class ToolResult:
    """What a tool returns.

    Attributes:
        text: the RESULT the model sees, rendered by the environment as ``ARGUMENT -> RESULT``.
        ok: ``False`` when the call failed; ``text`` then explains why (``"Error: ..."``).
        value: JSON-serialisable structured result (exact value, retrieved passage ids...).
    """

    text: str
    ok: bool = True
    value: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def error(cls, message: str, **metadata: Any) -> ToolResult:
        return cls(text=f"Error: {message}", ok=False, metadata=metadata)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Tool(ABC):
    """A tool the model calls with ``<tag> argument </tag>``.

    Class attributes:
        name: the tool's name (``"calculator"``), also accepted in JSON calls.
        tag: the tag the model writes (``"math_exp"``).
        description: one line for prompts and docs.
    """

    name: ClassVar[str]
    tag: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def run(self, argument: str) -> ToolResult:
        """Execute one call. Must not raise on bad input: return :meth:`ToolResult.error`."""

    def __call__(self, argument: str) -> ToolResult:
        try:
            return self.run(argument)
        except Exception as e:  # a tool bug must not kill an episode
            return ToolResult.error(f"{type(e).__name__} in tool {self.name!r}: {e}")
