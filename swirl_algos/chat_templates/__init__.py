"""Chat templates bundled with the package, for models whose own template has no tool calling.

``chatml-tools``: ChatML (``<|im_start|>ROLE ... <|im_end|>``, the format of SmolLM2, Qwen and
many small instruct models) with native tool calling: ``apply_chat_template(..., tools=[...])``
lists the tools' JSON schemas in the system turn, the model calls one with
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, and a ``role: "tool"`` message is
rendered as a user turn holding ``<tool_response> ... </tool_response>``. An assistant turn is its
content verbatim, so a conversation recorded by a native tool-calling env renders to exactly the
tokens the model generated.

Example:
    >>> from swirl_algos.tiny import build_tiny_tokenizer
    >>> tok = build_tiny_tokenizer([], vocab_size=300)
    >>> tok.chat_template = load_chat_template("chatml-tools")
    >>> text = tok.apply_chat_template([{"role": "user", "content": "2+2?"}], tools=[{"type": "function",
    ...     "function": {"name": "calculator"}}], tokenize=False, add_generation_prompt=True)
    >>> '"name": "calculator"' in text and text.endswith("<|im_start|>assistant\\n")
    True
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CHAT_TEMPLATES", "load_chat_template"]

_HERE = Path(__file__).parent

#: name -> file of each bundled template
CHAT_TEMPLATES: dict[str, Path] = {"chatml-tools": _HERE / "chatml_tools.jinja"}


def load_chat_template(name_or_path: str) -> str:
    """The Jinja source of a bundled template (by name) or of a template file (by path).

    Raises:
        ValueError: neither a bundled name nor a readable file.
    """
    path = CHAT_TEMPLATES.get(name_or_path) or Path(name_or_path)
    if not path.is_file():
        raise ValueError(
            f"unknown chat template {name_or_path!r}: give a bundled name ({', '.join(CHAT_TEMPLATES)}) "
            "or the path of a .jinja file"
        )
    return path.read_text(encoding="utf-8")
