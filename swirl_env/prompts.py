"""Generation prompts: the one place that turns a question and an env's tools into state ``s_1``.

The wording follows the paper's prompt in substance: answer in a few words; if a tool would
help, emit one call in its tags; at most N sequential calls; do not repeat calls; results come
back as ``QUERY -> RESULT``; answer in ``<answer>`` tags; one call OR one answer per step.

Prompts are versioned: change wording by adding a new version, never by editing one in place,
so that trajectories on disk stay reproducible (``Trajectory.env_kwargs["prompt_version"]``).

Example:
    >>> p = PROMPTS["search-v1"]
    >>> "<search_query>" in p.render(question="Who?", max_tool_calls=5, tool_tags=["search_query"])
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_TOOL_PHRASES = {
    "search_query": (
        "a search engine would help",
        "a search query",
        "<search_query> QUERY </search_query>",
        "search results",
    ),
    "math_exp": (
        "a calculator would help",
        "a math expression for the calculator (Python/SymPy syntax: + - * / ** and parentheses)",
        "<math_exp> EXPRESSION </math_exp>",
        "calculator results",
    ),
}


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned generation prompt.

    Args:
        version: unique name, e.g. ``"search-v1"``.
        header: the instructions; ``{max_tool_calls}``, ``{call_format}``, ``{when}``, ``{what}``,
            ``{results}`` are filled from the env's tools.
        footer: the part with the question; ``{question}`` is filled.
    """

    version: str
    header: str
    footer: str = "Question: {question}"
    native_header: str | None = None

    def render(
        self,
        question: str,
        max_tool_calls: int,
        tool_tags: Sequence[str],
        demonstrations: Sequence[Mapping[str, Any]] | None = None,
        *,
        tool_style: str = "tags",
        tool_names: Sequence[str] = (),
    ) -> str:
        """The first user message; ``demonstrations`` (see :func:`render_demonstrations`) go between
        the instructions and the question.

        ``tool_style="native"`` uses :attr:`native_header`: the tools are declared to the chat
        template (``tools=``), so the instructions name them (``tool_names``) instead of spelling
        out a call syntax.
        """
        if tool_style == "native":
            if self.native_header is None:
                raise ValueError(f"prompt {self.version!r} has no native tool-calling variant")
            return (
                self.native_header.format(
                    max_tool_calls=max_tool_calls, tools=" or ".join(f"`{n}`" for n in tool_names)
                )
                + "\n\n"
                + (render_demonstrations(demonstrations) if demonstrations else "")
                + self.footer.format(question=question)
            )
        when, what, fmt, results = [], [], [], []
        for tag in tool_tags:
            w, wh, f, r = _TOOL_PHRASES.get(
                tag,
                (f"the {tag} tool would help", f"a {tag} call", f"<{tag}> INPUT </{tag}>", f"{tag} results"),
            )
            when.append(w)
            what.append(wh)
            fmt.append(f)
            results.append(r)
        header = self.header.format(
            max_tool_calls=max_tool_calls,
            when=" or ".join(when),
            what=" or ".join(what),
            call_format=" or ".join(fmt),
            results=" and ".join(results),
        )
        examples = render_demonstrations(demonstrations) if demonstrations else ""
        return header + "\n\n" + examples + self.footer.format(question=question)


def render_demonstrations(demonstrations: Sequence[Mapping[str, Any]]) -> str:
    """Solved examples as text for the prompt: each ``{"question": str, "turns": [str, ...]}``
    (the turns after the prompt: actions and ``QUERY -> RESULT`` results, in order).

    The examples come before the real question, so ``Question:`` of the real question is the
    last one of the prompt (what the judges and scripted policies read).

    Example:
        >>> print(render_demonstrations([{"question": "2 + 3 times 4?", "turns": [
        ...     "<math_exp> 2 + 3 * 4 </math_exp>", "2 + 3 * 4 -> 14", "<answer> 14 </answer>"]}]))
        Example 1:
        Question: 2 + 3 times 4?
        <math_exp> 2 + 3 * 4 </math_exp>
        2 + 3 * 4 -> 14
        <answer> 14 </answer>
        <BLANKLINE>
        Now the real question.
        <BLANKLINE>
        <BLANKLINE>
    """
    blocks = []
    for i, demo in enumerate(demonstrations, 1):
        question, turns = demo.get("question"), demo.get("turns")
        if not isinstance(question, str) or not isinstance(turns, Sequence) or isinstance(turns, str):
            raise ValueError(
                f"demonstration {i} must be {{'question': str, 'turns': [str, ...]}}, got {demo!r:.200}"
            )
        lines = [f"Example {i}:", f"Question: {question.strip()}", *(str(t).strip() for t in turns)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n\nNow the real question.\n\n"


_GENERIC_HEADER = (
    "You are answering a question step by step. Your final answer should be as short as possible "
    "(a few words, or a number).\n"
    "If {when}, write {what} in the form {call_format}. "
    "You may make up to {max_tool_calls} sequential calls, one per step. Do not repeat a call you "
    "have already made. The {results} will come back to you in the form: QUERY -> RESULT.\n"
    "When you know enough to answer, write the final answer in the form <answer> ANSWER </answer>.\n"
    "In each step, first think briefly, then write EITHER exactly one call OR the final answer, not both."
)

# Native tool calling: the chat template shows the tools' schemas and how to call them, and the
# results come back as tool messages; the answer is still given in <answer> tags.
_NATIVE_HEADER = (
    "You are answering a question step by step. Your final answer should be as short as possible "
    "(a few words, or a number).\n"
    "You can call the {tools} tool. You may make up to {max_tool_calls} sequential calls, one per "
    "step. Do not repeat a call you have already made. Each result comes back to you as a tool message.\n"
    "When you know enough to answer, write the final answer in the form <answer> ANSWER </answer>.\n"
    "In each step, first think briefly, then write EITHER exactly one tool call OR the final answer, not both."
)
_MATH_RULE = (
    " Use the calculator for every arithmetic operation rather than computing in your head; "
    "the final answer is a number."
)

PROMPTS: dict[str, PromptTemplate] = {
    "search-v1": PromptTemplate("search-v1", _GENERIC_HEADER, native_header=_NATIVE_HEADER),
    "math-v1": PromptTemplate(
        "math-v1", _GENERIC_HEADER + _MATH_RULE, native_header=_NATIVE_HEADER + _MATH_RULE
    ),
    "generic-v1": PromptTemplate("generic-v1", _GENERIC_HEADER, native_header=_NATIVE_HEADER),
}


def get_prompt(version: str) -> PromptTemplate:
    """Look up a prompt by version, with a clear error listing the known ones."""
    if not isinstance(version, str):
        raise TypeError(f"prompt must be a prompt version name or a PromptTemplate, got {version!r}")
    try:
        return PROMPTS[version]
    except KeyError:
        raise KeyError(f"unknown prompt version {version!r}; known: {sorted(PROMPTS)}") from None
