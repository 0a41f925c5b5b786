"""The one action parser used by environments, generation, judging, training and evaluation.

An *action* is the model's text for one step: optional reasoning, then EITHER one tool call OR a
final answer. Two call syntaxes are registered:

* ``tags`` (the paper's): ``<math_exp> 48/2 </math_exp>``, ``<search_query> q </search_query>``,
  ``<answer> 24 </answer>``. Tag names are matched case-insensitively and whitespace inside the
  angle brackets is tolerated (``< Math_Exp >``).
* ``json``: a JSON object ``{"name": NAME, "arguments": {"ARG": "value"}}`` where ``NAME`` is a
  tool's name or tag (or ``"answer"``) and ``arguments`` holds exactly one string value (a bare
  string is accepted too). The object may be wrapped in ``<tool_call> ... </tool_call>``.

The *first complete call wins*: of all complete calls in the text, the one that ENDS first is
taken and everything after it is ignored. This is the same rule a generator uses when it stops
at the first closing tag, so what the model was cut at and what the environment executes agree.

Example:
    >>> p = ActionParser(tool_tags={"math_exp": "calculator"})
    >>> a = p.parse("I need 48/2. <math_exp>48 / 2</math_exp> then more text")
    >>> (a.kind, a.tool, a.argument)
    ('call', 'calculator', '48 / 2')
    >>> p.parse("<answer> 24 </answer>").argument
    '24'
    >>> p.parse("no call at all").kind
    'none'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

ANSWER_TAG = "answer"

ActionKind = Literal["call", "answer", "none", "malformed"]


@dataclass(frozen=True)
class ParsedAction:
    """Result of parsing one action.

    Attributes:
        kind: ``"call"`` (a tool call), ``"answer"`` (final answer), ``"none"`` (no call found) or
            ``"malformed"`` (a call was started but is unusable; see ``error``).
        tool: the tool's name for ``kind == "call"`` (e.g. ``"calculator"``), else ``None``.
        argument: the call's argument (query, expression) or the answer text, stripped.
        syntax: ``"tags"`` or ``"json"`` for calls and answers, else ``None``.
        span: ``(start, end)`` character offsets of the call inside the action text.
        error: a human readable reason for ``"none"``/``"malformed"``.
    """

    kind: ActionKind
    tool: str | None = None
    argument: str | None = None
    syntax: str | None = None
    span: tuple[int, int] | None = None
    error: str | None = None

    @property
    def is_answer(self) -> bool:
        return self.kind == "answer"

    @property
    def is_call(self) -> bool:
        return self.kind == "call"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["span"] = list(self.span) if self.span is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParsedAction:
        span = d.get("span")
        return cls(
            kind=d["kind"],
            tool=d.get("tool"),
            argument=d.get("argument"),
            syntax=d.get("syntax"),
            span=tuple(span) if span is not None else None,  # type: ignore[arg-type]
            error=d.get("error"),
        )


class ActionParser:
    """Parses model actions into tool calls or answers.

    Args:
        tool_tags: mapping from the tag a model writes (``"math_exp"``) to the tool name the
            environment dispatches to (``"calculator"``). ``"answer"`` is always recognised.
        syntaxes: which syntaxes to accept, any of ``("tags", "json")``.
        max_argument_chars: arguments longer than this are reported as malformed.

    Example:
        >>> p = ActionParser({"search_query": "search"})
        >>> p.parse('{"name": "search", "arguments": {"query": "Paris"}}').argument
        'Paris'
    """

    def __init__(
        self,
        tool_tags: Mapping[str, str],
        syntaxes: tuple[str, ...] = ("tags", "json"),
        max_argument_chars: int = 4000,
    ) -> None:
        unknown = set(syntaxes) - {"tags", "json"}
        if unknown:
            raise ValueError(f"unknown action syntaxes {sorted(unknown)}; choose from 'tags', 'json'")
        for tag in tool_tags:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", tag):
                raise ValueError(f"invalid tag name {tag!r}: use letters, digits, '_' or '-'")
        if ANSWER_TAG in {t.lower() for t in tool_tags}:
            raise ValueError("'answer' is reserved for final answers and cannot name a tool tag")
        self.tool_tags = {t.lower(): name for t, name in tool_tags.items()}
        self.syntaxes = tuple(syntaxes)
        self.max_argument_chars = max_argument_chars
        # names accepted in the JSON syntax: tool names and tags
        self._json_names = {**{n.lower(): n for n in self.tool_tags.values()}, **self.tool_tags}
        tags = [*self.tool_tags, ANSWER_TAG]
        alt = "|".join(re.escape(t) for t in sorted(tags, key=len, reverse=True))
        self._open_re = re.compile(rf"<\s*({alt})\s*>", re.IGNORECASE)
        self._close_res = {t: re.compile(rf"<\s*/\s*{re.escape(t)}\s*>", re.IGNORECASE) for t in tags}

    # ------------------------------------------------------------------ public API
    @property
    def stop_strings(self) -> list[str]:
        """Canonical closing tags; a generator stops at the first of them (``</math_exp>``...)."""
        return [f"</{t}>" for t in [*self.tool_tags, ANSWER_TAG]]

    def format_call(self, tool_or_tag: str, argument: str) -> str:
        """Render a call in the tag syntax (``format_call("calculator", "1+1")``)."""
        tag = self.tag_for(tool_or_tag)
        return f"<{tag}> {argument} </{tag}>"

    def tag_for(self, tool_or_tag: str) -> str:
        key = tool_or_tag.lower()
        if key == ANSWER_TAG or key in self.tool_tags:
            return key
        for tag, name in self.tool_tags.items():
            if name.lower() == key:
                return tag
        raise KeyError(f"no tag for tool {tool_or_tag!r}; known: {sorted(self.tool_tags)}")

    def parse(self, text: str) -> ParsedAction:
        """Parse one action. Never raises on any string input."""
        if not isinstance(text, str):
            return ParsedAction("malformed", error=f"action must be a string, got {type(text).__name__}")
        candidates: list[ParsedAction] = []
        if "tags" in self.syntaxes:
            candidates.extend(self._tag_candidates(text))
        if "json" in self.syntaxes:
            candidates.extend(self._json_candidates(text))
        complete = [c for c in candidates if c.kind in ("call", "answer")]
        if complete:
            # the call that ends first wins; ties (nested) -> the one starting first
            return min(complete, key=lambda c: (c.span[1], c.span[0]))  # type: ignore[index]
        broken = [c for c in candidates if c.kind == "malformed"]
        if broken:
            return min(broken, key=lambda c: c.span[0] if c.span else 0)
        return ParsedAction(
            "none",
            error="no tool call or answer found; write exactly one call such as "
            + ", ".join(f"<{t}> ... </{t}>" for t in [*self.tool_tags, ANSWER_TAG]),
        )

    # ------------------------------------------------------------------ internals
    def _make(self, tag_or_name: str, argument: str, syntax: str, span: tuple[int, int]) -> ParsedAction:
        argument = argument.strip()
        key = tag_or_name.lower()
        is_answer = key == ANSWER_TAG
        if not argument:
            what = "answer" if is_answer else f"<{key}> call"
            return ParsedAction("malformed", syntax=syntax, span=span, error=f"empty {what}")
        if len(argument) > self.max_argument_chars:
            return ParsedAction(
                "malformed",
                syntax=syntax,
                span=span,
                error=f"argument too long ({len(argument)} > {self.max_argument_chars} characters)",
            )
        if is_answer:
            return ParsedAction("answer", argument=argument, syntax=syntax, span=span)
        tool = self.tool_tags.get(key) or self._json_names.get(key)
        return ParsedAction("call", tool=tool, argument=argument, syntax=syntax, span=span)

    def _tag_candidates(self, text: str) -> list[ParsedAction]:
        out: list[ParsedAction] = []
        seen_unclosed = False
        for m in self._open_re.finditer(text):
            tag = m.group(1).lower()
            close = self._close_res[tag].search(text, m.end())
            if close is None:
                if not seen_unclosed:
                    seen_unclosed = True
                    out.append(
                        ParsedAction(
                            "malformed",
                            syntax="tags",
                            span=(m.start(), len(text)),
                            error=f"unclosed <{tag}> tag: close it with </{tag}>",
                        )
                    )
                continue
            out.append(self._make(tag, text[m.end() : close.start()], "tags", (m.start(), close.end())))
        return out

    def _json_candidates(self, text: str) -> list[ParsedAction]:
        out: list[ParsedAction] = []
        decoder = json.JSONDecoder()
        for m in re.finditer(r"\{", text):
            start = m.start()
            if not re.match(r"\{\s*\"(name|tool)\"", text[start:]):
                continue
            try:
                obj, end = decoder.raw_decode(text, start)
            except json.JSONDecodeError as e:
                out.append(
                    ParsedAction(
                        "malformed",
                        syntax="json",
                        span=(start, len(text)),
                        error=f"invalid JSON call: {e.msg}",
                    )
                )
                continue
            out.append(self._from_json(obj, (start, end)))
        return out

    def _from_json(self, obj: Any, span: tuple[int, int]) -> ParsedAction:
        if not isinstance(obj, dict):
            return ParsedAction("malformed", syntax="json", span=span, error="JSON call must be an object")
        name = obj.get("name", obj.get("tool"))
        args = obj.get("arguments", obj.get("args"))
        if isinstance(args, str):
            try:  # OpenAI-style: arguments is a JSON-encoded string
                decoded = json.loads(args)
                args = decoded if isinstance(decoded, dict) else args
            except json.JSONDecodeError:
                pass
        if not isinstance(name, str):
            return ParsedAction(
                "malformed", syntax="json", span=span, error='JSON call needs a string "name"'
            )
        key = name.lower()
        if key != ANSWER_TAG and key not in self._json_names:
            known = sorted({*self._json_names, ANSWER_TAG})
            return ParsedAction(
                "malformed", syntax="json", span=span, error=f"unknown tool {name!r}; known: {known}"
            )
        if isinstance(args, dict):
            values = [
                v for v in args.values() if isinstance(v, str | int | float) and not isinstance(v, bool)
            ]
            if len(args) != 1 or len(values) != 1:
                return ParsedAction(
                    "malformed",
                    syntax="json",
                    span=span,
                    error='"arguments" must hold exactly one string value',
                )
            arg = str(values[0])
        elif isinstance(args, str | int | float) and not isinstance(args, bool):
            arg = str(args)
        else:
            return ParsedAction("malformed", syntax="json", span=span, error='JSON call needs "arguments"')
        tag = key if key == ANSWER_TAG or key in self.tool_tags else self.tag_for(self._json_names[key])
        return self._make(tag, arg, "json", span)
