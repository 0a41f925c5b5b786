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
        parameter: the name of the tool's one string argument in native tool calls
            (``"expression"``, ``"query"``).
        parameter_description: one line on that argument, for its JSON schema.

    Example:
        >>> class Echo(Tool):
        ...     name, tag, description, parameter = "echo", "echo", "repeats its input", "text"
        ...     def run(self, argument): return ToolResult(argument)
        >>> Echo.schema()["function"]["parameters"]["required"]
        ['text']
    """

    name: ClassVar[str]
    tag: ClassVar[str]
    description: ClassVar[str] = ""
    parameter: ClassVar[str] = "input"
    parameter_description: ClassVar[str] = ""

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The tool as a JSON schema in the function-calling format chat templates take
        (``tokenizer.apply_chat_template(..., tools=[schema, ...])``, an OpenAI request's ``tools``)."""
        argument: dict[str, Any] = {"type": "string"}
        if cls.parameter_description:
            argument["description"] = cls.parameter_description
        return {
            "type": "function",
            "function": {
                "name": cls.name,
                "description": cls.description or f"the {cls.name} tool",
                "parameters": {
                    "type": "object",
                    "properties": {cls.parameter: argument},
                    "required": [cls.parameter],
                },
            },
        }

    @abstractmethod
    def run(self, argument: str) -> ToolResult:
        """Execute one call. Must not raise on bad input: return :meth:`ToolResult.error`."""

    def __call__(self, argument: str) -> ToolResult:
        try:
            return self.run(argument)
        except Exception as e:  # a tool bug must not kill an episode
            return ToolResult.error(f"{type(e).__name__} in tool {self.name!r}: {e}")
