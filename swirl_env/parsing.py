"""The one action parser used by environments, generation, judging, training and evaluation.

An *action* is the model's text for one step: optional reasoning, then EITHER one tool call OR a
final answer. Two call syntaxes are registered:

* ``tags`` (the paper's): ``<math_exp> 48/2 </math_exp>``, ``<search_query> q </search_query>``,
  ``<answer> 24 </answer>``. Tag names are matched case-insensitively and whitespace inside the
  angle brackets is tolerated (``< Math_Exp >``).
* ``json``: a JSON object ``{"name": NAME, "arguments": {"ARG": "value"}}`` where ``NAME`` is a
  tool's name or tag (or ``"answer"``) and ``arguments`` (or ``parameters``, as Llama 3.x writes
  it) holds exactly one string value (a bare string is accepted too). The object may be wrapped in ``<tool_call> ... </tool_call>``.

The *first complete call wins*: of all complete calls in the text, the one that ENDS first is
taken and everything after it is ignored. This is the same rule a generator uses when it stops
at the first closing tag, so what the model was cut at and what the environment executes agree.
When several calls end at the same place (an opening tag mentioned in the reasoning, or nested
calls: ``I answer in <answer> tags. <answer>X</answer>``, ``<answer><answer>X</answer></answer>``),
the *innermost* one, the one starting last, wins: the answer is ``X``.

Parsing is linear in the length of the text: tags are found in one pass, and a JSON call is
scanned only while it nests at most ``max_json_depth`` levels, so no input (a hundred thousand
opening tags or ``{"name"`` fragments, a thousand nested brackets, a number of 5,000 digits)
is slow or makes the parser raise: it is reported as a malformed call. JSON numbers are kept as
written (``{"arguments": {"x": 1e400}}`` gives the argument ``"1e400"``).

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

import bisect
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

ANSWER_TAG = "answer"
#: the tag that wraps a JSON call in native tool calling (``<tool_call>{...}</tool_call>``)
TOOL_CALL_TAG = "tool_call"

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
        max_json_depth: deepest nesting of objects and arrays in a JSON call (a call needs 2);
            deeper ones are reported as malformed without being decoded.

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
        max_json_depth: int = 4,
    ) -> None:
        unknown = set(syntaxes) - {"tags", "json"}
        if unknown:
            raise ValueError(f"unknown action syntaxes {sorted(unknown)}; choose from 'tags', 'json'")
        if not isinstance(tool_tags, Mapping):
            raise ValueError(f"tool_tags must map tags to tool names, got {type(tool_tags).__name__}")
        for tag, name in tool_tags.items():
            if not isinstance(tag, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", tag):
                raise ValueError(f"invalid tag name {tag!r}: use letters, digits, '_' or '-'")
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"the tool name of tag {tag!r} must be a non-empty string, got {name!r}")
        if ANSWER_TAG in {t.lower() for t in tool_tags}:
            raise ValueError("'answer' is reserved for final answers and cannot name a tool tag")
        self.tool_tags = {t.lower(): name for t, name in tool_tags.items()}
        self.syntaxes = tuple(syntaxes)
        self.max_argument_chars = max_argument_chars
        self.max_json_depth = max_json_depth
        # names accepted in the JSON syntax: tool names and tags
        self._json_names = {**{n.lower(): n for n in self.tool_tags.values()}, **self.tool_tags}
        tags = [*self.tool_tags, ANSWER_TAG]
        alt = "|".join(re.escape(t) for t in sorted(tags, key=len, reverse=True))
        self._tag_re = re.compile(rf"<\s*(/)?\s*({alt})\s*>", re.IGNORECASE)  # opening or closing tag

    # ------------------------------------------------------------------ public API
    @property
    def stop_strings(self) -> list[str]:
        """Canonical closing tags; a generator stops at the first of them (``</math_exp>``...),
        and ``</tool_call>``, which closes a wrapped JSON call, when the JSON syntax is accepted."""
        tags = [f"</{t}>" for t in [*self.tool_tags, ANSWER_TAG]]
        return [*tags, f"</{TOOL_CALL_TAG}>"] if "json" in self.syntaxes else tags

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
            best = min(
                (c for c in candidates if c.kind in ("call", "answer")),
                key=lambda c: (c.span[1], -c.span[0]),  # type: ignore[index]
                default=None,
            )
            candidates.extend(self._json_candidates(text, best.span if best is not None else None))
        complete = [c for c in candidates if c.kind in ("call", "answer")]
        if complete:
            # the call that ends first wins; ties (nested calls) -> the innermost, starting last
            return min(complete, key=lambda c: (c.span[1], -c.span[0]))  # type: ignore[index]
        broken = [c for c in candidates if c.kind == "malformed"]
        if broken:
            return min(broken, key=lambda c: c.span[0] if c.span else 0)
        wrapper = _WRAP_ANY.search(text) if "json" in self.syntaxes else None
        if wrapper is not None:  # a <tool_call> with no JSON call in it
            return ParsedAction(
                "malformed",
                syntax="json",
                span=(wrapper.start(), len(text)),
                error='<tool_call> holds no JSON call; write <tool_call>{"name": TOOL, "arguments": '
                '{"ARGUMENT": "VALUE"}}</tool_call>',
            )
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
        """Every complete tag call (a closing tag with the latest opening tag of the same name
        before it: the innermost) and the first unclosed opening tag, in one pass."""
        out: list[ParsedAction] = []
        pending: dict[str, re.Match[str]] = {}  # tag -> latest opening tag not yet closed
        unclosed: dict[str, re.Match[str]] = {}  # tag -> first opening tag after its last closing tag
        for m in self._tag_re.finditer(text):
            tag = m.group(2).lower()
            if m.group(1) is None:
                pending[tag] = m
                unclosed.setdefault(tag, m)
                continue
            unclosed.pop(tag, None)
            opening = pending.pop(tag, None)
            if opening is not None:
                out.append(
                    self._make(tag, text[opening.end() : m.start()], "tags", (opening.start(), m.end()))
                )
        if unclosed:
            m = min(unclosed.values(), key=lambda x: x.start())
            tag = m.group(2).lower()
            out.append(
                ParsedAction(
                    "malformed",
                    syntax="tags",
                    span=(m.start(), len(text)),
                    error=f"unclosed <{tag}> tag: close it with </{tag}>",
                )
            )
        return out

    def _json_candidates(self, text: str, best: tuple[int, int] | None = None) -> list[ParsedAction]:
        """The JSON calls that can win: they are decoded in the order they end, up to the first
        complete one (or one ending after ``best``, the span of a complete call found already);
        of those that cannot be found at all, only the first is reported."""
        out: list[ParsedAction] = []
        starts = [m.start() for m in _JSON_START.finditer(text)]
        extents = _json_extents(text, starts, self.max_json_depth, self._max_json_chars)
        unfound = [s for s in starts if extents[s][0] is None]
        if unfound:
            start = unfound[0]
            out.append(
                ParsedAction(
                    "malformed",
                    syntax="json",
                    span=(start, len(text)),
                    error=f"invalid JSON call: {extents[start][1]}",
                )
            )
        found = sorted((end, -start) for start in starts if (end := extents[start][0]) is not None)
        names = self._json_name_re
        skipped: list[tuple[int, int]] = []  # cannot be complete: no known name in them
        for end, neg_start in found:
            start = -neg_start
            if best is not None and (end, -start) > (best[1], -best[0]):
                break
            if "\\" not in text[start:end] and not names.search(text, start, end):
                skipped.append((start, end))
                continue
            action = self._decode_json(text, start, end)
            if action.kind in ("call", "answer"):
                out.append(_with_wrapper(text, action))
                return out
            out.append(action)
        if skipped:  # no complete call: report the first broken one, decoded for its message
            first = min(skipped)
            if not out or first[0] < min(c.span[0] for c in out if c.span is not None):
                out.append(self._decode_json(text, *first))
        return out

    def _decode_json(self, text: str, start: int, end: int) -> ParsedAction:
        try:
            obj = _loads(text[start:end])
        except (ValueError, RecursionError) as e:
            msg = e.msg if isinstance(e, json.JSONDecodeError) else "not valid JSON"
            return ParsedAction(
                "malformed", syntax="json", span=(start, len(text)), error=f"invalid JSON call: {msg}"
            )
        return self._from_json(obj, (start, end))

    @functools.cached_property
    def _json_name_re(self) -> re.Pattern[str]:
        # a complete JSON call names a known tool (or "answer") as a JSON string
        names = sorted({*self._json_names, ANSWER_TAG}, key=len, reverse=True)
        return re.compile('"(?:' + "|".join(re.escape(n) for n in names) + ')"', re.IGNORECASE)

    @property
    def _max_json_chars(self) -> int:
        # the longest JSON text a valid call can need: the argument with every character escaped
        return 6 * self.max_argument_chars + 1024

    def _from_json(self, obj: Any, span: tuple[int, int]) -> ParsedAction:
        if not isinstance(obj, dict):
            return ParsedAction("malformed", syntax="json", span=span, error="JSON call must be an object")
        name = obj.get("name", obj.get("tool"))
        args = obj.get("arguments", obj.get("parameters", obj.get("args")))  # "parameters": Llama 3.x
        if isinstance(args, str):
            try:  # OpenAI-style: arguments is a JSON-encoded string
                bounded = (
                    args[:1] in ("{", "[") and _json_extents(args, [0], self.max_json_depth, len(args))[0][0]
                )
                decoded = _loads(args) if bounded else None
                args = decoded if isinstance(decoded, dict) else args
            except (ValueError, RecursionError):
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


_WRAP_OPEN = re.compile(rf"<\s*{TOOL_CALL_TAG}\s*>\s*$", re.IGNORECASE)
_WRAP_ANY = re.compile(rf"<\s*{TOOL_CALL_TAG}\s*>", re.IGNORECASE)
_WRAP_CLOSE = re.compile(rf"\s*<\s*/\s*{TOOL_CALL_TAG}\s*>", re.IGNORECASE)


def _with_wrapper(text: str, action: ParsedAction) -> ParsedAction:
    """A JSON call wrapped in ``<tool_call> ... </tool_call>``: its span covers the wrapper, so the
    kept action (what the model wrote up to the end of its call) ends with the closing tag, which
    is where a generator stops."""
    start, end = action.span  # type: ignore[misc]
    close = _WRAP_CLOSE.match(text, end)
    if close is None:
        return action
    head = text[:start].rstrip()  # the opening tag, then any whitespace, then the JSON
    before = max(0, len(head) - 32)
    opening = _WRAP_OPEN.search(head[before:])
    if opening is None:
        return action
    return replace(action, span=(before + opening.start(), close.end()))


# a JSON call's opening: an object whose first key is one a call has ("arguments" may come first)
_JSON_START = re.compile(r'\{\s*"(?:name|tool|arguments|parameters|args)"')
_QUOTE = re.compile(r'(?<!\\)\\*"')  # a quote and the backslashes before it (odd length: not escaped)
_BRACKET = re.compile(r"[{}\[\]]")


class _JsonNumber(str):
    """A JSON number kept as its text: exact, and never a 4,301-digit ``int`` conversion."""


def _loads(text: str) -> Any:
    return json.loads(text, parse_int=_JsonNumber, parse_float=_JsonNumber, parse_constant=_JsonNumber)


def _json_extents(
    text: str, starts: list[int], max_depth: int, max_chars: int
) -> dict[int, tuple[int | None, str]]:
    """For each start (an opening brace), ``(end, "")`` where its JSON value closes, or ``(None, why)``.

    Linear in the text, whatever it holds. A quote is escaped when an odd number of
    backslashes precedes it (outside a string that is invalid JSON anyway), so the unescaped
    quotes pair up into strings in only two ways: from the first quote after a start, quotes
    ``0-1, 2-3, ...`` or ``1-2, 3-4, ...`` of the text. Each start uses one of the two; for each,
    one pass over the brackets outside its strings, with a stack, finds where every start's
    value closes and how deep it nests. A value nesting deeper than ``max_depth`` levels or
    longer than ``max_chars`` is refused without being decoded (decoding is left to
    :func:`json.loads`, on the bounded text).
    """
    results: dict[int, tuple[int | None, str]] = {}
    if not starts:
        return results
    quotes = [m.end() - 1 for m in _QUOTE.finditer(text) if (m.end() - m.start()) % 2 == 1]
    brackets = [(m.start(), text[m.start()]) for m in _BRACKET.finditer(text, starts[0])]
    too_deep = f"nested too deeply (more than {max_depth} levels)"
    by_parity: dict[int, set[int]] = {0: set(), 1: set()}
    for start in starts:
        by_parity[bisect.bisect_left(quotes, start) % 2].add(start)
    for parity, wanted in by_parity.items():
        if not wanted:
            continue
        first = min(wanted)
        stack: list[int] = []  # open brackets
        failed = 0  # stack[:failed] nest deeper than max_depth
        q = bisect.bisect_left(quotes, first)  # quotes[q:] not yet passed
        for pos, ch in brackets:
            if pos < first:
                continue
            while q < len(quotes) and quotes[q] < pos:
                q += 1
            if (q - parity) % 2 == 1:  # an odd number of this parity's quotes before: inside a string
                continue
            if ch in "{[":
                stack.append(pos)
                while failed < len(stack) - max_depth:
                    if stack[failed] in wanted:
                        results.setdefault(stack[failed], (None, too_deep))
                    failed += 1
            elif stack:
                opened = stack.pop()
                if len(stack) < failed:
                    failed = len(stack)
                elif opened in wanted and opened not in results:
                    end = pos + 1
                    ok = end - opened <= max_chars
                    results[opened] = (end, "") if ok else (None, "the JSON call is too long")
        for opened in stack[failed:]:
            if opened in wanted:
                results.setdefault(opened, (None, "the JSON object is not closed"))
    for start in starts:
        results.setdefault(start, (None, "the JSON object is not closed"))
    return results
