"""The trajectory record: one episode, one JSON line. The contract between ``swirl_env`` (which
produces it) and ``swirl_algos`` (which judges, filters, decomposes and trains on it).

``messages`` is the whole conversation: the user prompt, then alternating assistant actions and
user tool-result turns. The state ``s_i`` before action ``i`` is ``messages[: steps[i].message_index]``
(see :meth:`Trajectory.state_messages`); every state is a prefix of the next.

Example:
    >>> t = Trajectory(id="t0", env_id="SwiRL-GSM8K-v0", task={"id": "q"},
    ...                messages=[{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "<answer>1</answer>"}],
    ...                steps=[Step(index=0, message_index=1, action="<answer>1</answer>", kind="answer", argument="1")])
    >>> t.state_messages(0)
    [{'role': 'user', 'content': 'Q?'}]
    >>> Trajectory.from_json(t.to_json()).steps[0].argument
    '1'

Records read from files are checked field by field (:func:`validate_trajectory_dict`): a wrong type
or a missing field raises :class:`RecordError` naming the field, e.g. ``messages[2].content``.

Text that UTF-8 cannot encode (a lone surrogate such as ``"\\ud83d"``, which a model or a server
reply can produce) is repaired by :func:`repair_unencodable`: the character becomes U+FFFD, a
valid surrogate pair becomes its character, and the record's ``text_repairs`` list keeps each
original string as an ASCII JSON literal: ``json.loads(repair["original"])`` gives it back, each
lone surrogate exactly (a surrogate pair reads back as the one character it encodes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "Message",
    "RecordError",
    "Step",
    "Trajectory",
    "repair_unencodable",
    "validate_trajectory_dict",
]

SCHEMA_VERSION = 1

Message = dict[str, str]


class RecordError(ValueError):
    """A record that does not have the trajectory schema.

    Attributes:
        field: where in the record, e.g. ``"messages[2].content"`` (``""`` for the whole record).
        reason: what is wrong with it.
        path / line: the file and 1-based line number, when the record was read from a file.

    Example:
        >>> str(RecordError("task", "missing", path="runs/t.jsonl", line=7))
        "runs/t.jsonl:7: field 'task': missing"
    """

    def __init__(self, field: str, reason: str, *, path: Any = None, line: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.path = path
        self.line = line
        where = f"{path}:{line}: " if path is not None and line is not None else f"{path}: " if path else ""
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}{what}{reason}")

    def at(self, path: Any, line: int | None) -> RecordError:
        """The same error, located at ``path:line``."""
        return RecordError(self.field, self.reason, path=path, line=line)


# ---------------------------------------------------------------------------------------------- validation
def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: (field, accepted check, description, required) of a trajectory record's top level.
_TOP_FIELDS: tuple[tuple[str, Any, str, bool], ...] = (
    ("id", lambda v: isinstance(v, str), "a string", True),
    ("env_id", lambda v: isinstance(v, str), "a string", True),
    ("task", lambda v: isinstance(v, dict), "an object", True),
    ("messages", lambda v: isinstance(v, list), "a list of messages", True),
    ("steps", lambda v: isinstance(v, list), "a list of steps", True),
    ("final_answer", lambda v: v is None or isinstance(v, str), "a string or null", False),
    ("outcome", lambda v: isinstance(v, dict), "an object", False),
    ("terminated", lambda v: isinstance(v, bool), "true or false", False),
    ("truncated", lambda v: isinstance(v, bool), "true or false", False),
    ("env_kwargs", lambda v: isinstance(v, dict), "an object", False),
    ("policy", lambda v: isinstance(v, dict), "an object", False),
    ("seed", lambda v: v is None or _is_int(v), "an integer or null", False),
    ("sample", lambda v: _is_int(v) and v >= 0, "an integer >= 0", False),
    ("text_repairs", lambda v: isinstance(v, list), "a list", False),
    (
        "tools",
        lambda v: v is None or (isinstance(v, list) and all(isinstance(t, dict) for t in v)),
        "a list of tool schemas or null",
        False,
    ),
)

_OPT_STR = (lambda v: v is None or isinstance(v, str), "a string or null")

#: (field, check, description, required) of one step.
_STEP_FIELDS: tuple[tuple[str, Any, str, bool], ...] = (
    ("index", lambda v: _is_int(v) and v >= 0, "an integer >= 0", True),
    ("message_index", lambda v: _is_int(v) and v >= 0, "an integer >= 0", True),
    ("action", lambda v: isinstance(v, str), "a string", True),
    ("kind", lambda v: isinstance(v, str), "a string", True),
    ("tool", *_OPT_STR, False),
    ("argument", *_OPT_STR, False),
    ("syntax", *_OPT_STR, False),
    ("error", *_OPT_STR, False),
    ("tool_result", *_OPT_STR, False),
    ("tool_ok", lambda v: v is None or isinstance(v, bool), "true, false or null", False),
    ("observation", *_OPT_STR, False),
    ("ignored_chars", lambda v: _is_int(v) and v >= 0, "an integer >= 0", False),
    ("process", lambda v: v is None or isinstance(v, dict), "an object or null", False),
)


_OPT_SCORE = (lambda v: v is None or (_is_number(v) and 0 <= v <= 1), "a number in [0, 1] or null")

#: (field, check, description, required) of a judgement record (``Step.process``, ``outcome["judge"]``).
_JUDGEMENT_FIELDS: tuple[tuple[str, Any, str, bool], ...] = (
    ("label", lambda v: v is None or isinstance(v, bool), "true, false or null", False),
    ("score", *_OPT_SCORE, False),
    ("rationale", *_OPT_STR, False),
    ("judge", *_OPT_STR, False),
    ("error", *_OPT_STR, False),
)

#: (field, check, description, required) of an episode's outcome.
_OUTCOME_FIELDS: tuple[tuple[str, Any, str, bool], ...] = (
    ("score", lambda v: _is_number(v) and math.isfinite(v), "a finite number", False),
    ("judge", lambda v: v is None or isinstance(v, dict), "an object or null", False),
)


def _check_fields(d: Mapping[str, Any], spec: Any, prefix: str) -> None:
    for name, ok, want, required in spec:
        if name not in d:
            if required:
                raise RecordError(prefix + name, "missing")
            continue
        value = d[name]
        if not ok(value):
            raise RecordError(prefix + name, f"expected {want}, got {_type_name(value)} {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_trajectory_dict(d: Any) -> None:
    """Check that ``d`` has the trajectory schema; raises :class:`RecordError` naming the field.

    Checked: the ``schema_version`` (an integer, at most :data:`SCHEMA_VERSION`; a record without
    one is taken as the current version), the type of every field of the record and of each of its
    messages (``role`` and ``content`` strings) and steps. Unknown fields are allowed (and dropped
    by :meth:`Trajectory.from_dict`).

    Example:
        >>> validate_trajectory_dict({"id": "q#0", "env_id": "E", "task": {}, "messages": "hi", "steps": []})
        Traceback (most recent call last):
        ...
        swirl_env.trajectory.RecordError: field 'messages': expected a list of messages, got str 'hi'
    """
    if not isinstance(d, Mapping):
        raise RecordError("", f"expected a JSON object, got {_type_name(d)}")
    if "schema_version" in d:
        version = d["schema_version"]
        if not _is_int(version) or version < 1:
            raise RecordError(
                "schema_version", f"expected an integer >= 1, got {_type_name(version)} {_short(version)}"
            )
        if version > SCHEMA_VERSION:
            raise RecordError(
                "schema_version",
                f"{version} is newer than this package's {SCHEMA_VERSION}; upgrade the package",
            )
    _check_fields(d, _TOP_FIELDS, "")
    for i, m in enumerate(d["messages"]):
        if not isinstance(m, Mapping):
            raise RecordError(f"messages[{i}]", f"expected a message object, got {_type_name(m)} {_short(m)}")
        for key in ("role", "content"):
            if key not in m:
                raise RecordError(f"messages[{i}].{key}", "missing")
            if not isinstance(m[key], str):
                raise RecordError(
                    f"messages[{i}].{key}", f"expected a string, got {_type_name(m[key])} {_short(m[key])}"
                )
    for i, st in enumerate(d["steps"]):
        if not isinstance(st, Mapping):
            raise RecordError(f"steps[{i}]", f"expected a step object, got {_type_name(st)} {_short(st)}")
        _check_fields(st, _STEP_FIELDS, f"steps[{i}].")
        if st.get("index") != i:
            raise RecordError(
                f"steps[{i}].index", f"expected {i} (steps in order, none missing), got {st.get('index')!r}"
            )
        m = st["message_index"]
        if m >= len(d["messages"]) or d["messages"][m].get("role") != "assistant":
            raise RecordError(f"steps[{i}].message_index", f"{m} is not an assistant message of the record")
        if st.get("process") is not None:
            _check_fields(st["process"], _JUDGEMENT_FIELDS, f"steps[{i}].process.")
    outcome = d.get("outcome") or {}
    _check_fields(outcome, _OUTCOME_FIELDS, "outcome.")
    if outcome.get("judge") is not None:
        _check_fields(outcome["judge"], _JUDGEMENT_FIELDS, "outcome.judge.")
    task = d["task"]
    if "answers" in task and not (
        isinstance(task["answers"], list) and all(isinstance(a, str) for a in task["answers"])
    ):
        raise RecordError(
            "task.answers",
            f"expected a list of strings, got {_type_name(task['answers'])} {_short(task['answers'])}",
        )


# ---------------------------------------------------------------------------------------------- text repair
def _pointer(parts: list[str]) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""


def _fix(text: str) -> str:
    # surrogate pairs become their character, lone surrogates U+FFFD
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def repair_unencodable(value: Any) -> tuple[Any, list[dict[str, str]]]:
    r"""``value`` (JSON data) with every string UTF-8 cannot encode repaired, and the repairs made.

    A lone surrogate becomes U+FFFD and a surrogate pair its character. Each repair is
    ``{"path": JSON pointer (RFC 6901) of the string, "original": the original as an ASCII JSON
    string literal}``; for a repaired object key the entry says ``"original_key"`` instead. The
    original is ``json.loads(repair["original"])``: lone surrogates exactly, and a surrogate pair
    as the character it encodes (JSON's reading of the same escapes). Data that needs no repair is
    returned as is.

    Example:
        >>> fixed, repairs = repair_unencodable({"messages": [{"content": "ok \ud83d"}]})
        >>> fixed["messages"][0]["content"] == "ok \ufffd", repairs
        (True, [{'path': '/messages/0/content', 'original': '"ok \\ud83d"'}])
        >>> json.loads(repairs[0]["original"]) == "ok \ud83d"
        True
        >>> repair_unencodable("pair \ud83d\ude00")[0] == "pair \U0001f600"
        True
    """
    repairs: list[dict[str, str]] = []

    def walk(v: Any, parts: list[str]) -> Any:
        if isinstance(v, str):
            if _encodable(v):
                return v
            repairs.append({"path": _pointer(parts), "original": json.dumps(v)})
            return _fix(v)
        if isinstance(v, Mapping):
            out = {}
            for k, item in v.items():
                key = str(k)
                if not _encodable(key):
                    fixed_key = _fix(key)
                    repairs.append({"path": _pointer([*parts, fixed_key]), "original_key": json.dumps(key)})
                    key = fixed_key
                out[key] = walk(item, [*parts, key])
            return out
        if isinstance(v, list | tuple):
            return [walk(item, [*parts, str(i)]) for i, item in enumerate(v)]
        return v

    fixed = walk(value, [])
    return (fixed, repairs) if repairs else (value, [])


@dataclass
class Step:
    """One action of an episode.

    Attributes:
        index: 0-based step number.
        message_index: index of this action in ``Trajectory.messages``; the state is the prefix before it.
        action: the action text as kept in ``messages`` (cut after the first complete call).
        kind: parsed kind: ``"call"``, ``"answer"``, ``"none"`` or ``"malformed"``.
        tool: tool name for calls.
        argument: the call's argument or the answer text.
        syntax: ``"tags"`` or ``"json"``.
        error: parse error, for ``"none"``/``"malformed"``.
        tool_result: the tool's RESULT text (calls only).
        tool_ok: ``False`` when the tool reported an error.
        tool_value: the tool's structured result (exact value, passage ids...).
        observation: the user turn appended after this action (``"ARG -> RESULT"`` or an error notice).
        ignored_chars: characters of the raw action after the first complete call, dropped.
        process: process judgement when judged: ``{"label": bool|None, "score": float|None,
            "rationale": str, "judge": str, "error": str|None}``.
    """

    index: int
    message_index: int
    action: str
    kind: str
    tool: str | None = None
    argument: str | None = None
    syntax: str | None = None
    error: str | None = None
    tool_result: str | None = None
    tool_ok: bool | None = None
    tool_value: Any = None
    observation: str | None = None
    ignored_chars: int = 0
    process: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Step:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_parsed(cls, parsed: Any, text: str, *, index: int, message_index: int) -> Step:
        """The step of action ``text`` as an environment keeps it, from its parse ``parsed`` (what
        :meth:`~swirl_env.parsing.ActionParser.parse` returned): cut after the first complete call
        or answer, the rest counted in ``ignored_chars``. The environment and the SWiRL learner
        (which judges sampled actions without running them) build their steps here.

        Example:
            >>> from swirl_env.parsing import ActionParser
            >>> text = "<math_exp>2+2</math_exp> more"
            >>> s = Step.from_parsed(ActionParser({"math_exp": "calculator"}).parse(text), text,
            ...                      index=0, message_index=1)
            >>> s.kind, s.tool, s.argument, s.action, s.ignored_chars
            ('call', 'calculator', '2+2', '<math_exp>2+2</math_exp>', 5)
        """
        kept = text[: parsed.span[1]] if parsed.kind in ("call", "answer") and parsed.span else text
        return cls(
            index=index,
            message_index=message_index,
            action=kept,
            kind=parsed.kind,
            tool=parsed.tool,
            argument=parsed.argument,
            syntax=parsed.syntax,
            error=parsed.error,
            ignored_chars=len(text) - len(kept),
        )


@dataclass
class Trajectory:
    """One episode (see module docstring for the state convention).

    Attributes:
        id: unique record id, ``"{task_id}#{sample}"`` by convention.
        env_id: registered environment id.
        task: :meth:`swirl_env.tasks.Task.to_dict` of the episode's task.
        messages: the full conversation.
        steps: one :class:`Step` per action.
        final_answer: the answer text, ``None`` if the episode ended without one.
        outcome: ``{"score": float, "metric": str, "metrics": {...}}`` from the env's metric, plus
            ``"judge": {...}`` once an outcome judge has run.
        terminated / truncated: Gymnasium's flags at the last step.
        env_kwargs: keyword arguments the environment was made with.
        policy: model name and sampling settings of the policy that acted.
        seed: the reset seed.
        sample: sample index for this task (several samples per question).
        schema_version: :data:`SCHEMA_VERSION`.
        tools: the tool schemas the policy was given (``apply_chat_template(tools=...)``) when the
            env used native tool calling; ``None`` (and left out of the JSON) in the tag style.
        text_repairs: the strings that were not valid Unicode text (lone surrogates) and were
            repaired before the record was stored (see :func:`repair_unencodable`); empty, and
            left out of the JSON, for almost every record.
    """

    id: str
    env_id: str
    task: dict[str, Any]
    messages: list[Message]
    steps: list[Step]
    final_answer: str | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    terminated: bool = False
    truncated: bool = False
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    sample: int = 0
    schema_version: int = SCHEMA_VERSION
    text_repairs: list[dict[str, str]] = field(default_factory=list)
    tools: list[dict[str, Any]] | None = None

    # ------------------------------------------------------------------ views
    def state_messages(self, step: int) -> list[Message]:
        """Messages of the state ``s_step`` (everything before action ``step``)."""
        return [dict(m) for m in self.messages[: self.steps[step].message_index]]

    def action_message(self, step: int) -> Message:
        return dict(self.messages[self.steps[step].message_index])

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    @property
    def process_labels(self) -> list[bool | None]:
        return [(s.process or {}).get("label") for s in self.steps]

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["steps"] = [s.to_dict() for s in self.steps]
        if not d["text_repairs"]:
            del d["text_repairs"]
        if d["tools"] is None:
            del d["tools"]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Trajectory:
        """A trajectory from its dict, checked by :func:`validate_trajectory_dict`.

        Raises:
            RecordError: a missing field or one of the wrong type (a ``ValueError``).
        """
        validate_trajectory_dict(d)
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["steps"] = [Step.from_dict(s) for s in d.get("steps", [])]
        kw["messages"] = [dict(m) for m in d.get("messages", [])]
        return cls(**kw)

    @classmethod
    def from_json(cls, line: str) -> Trajectory:
        return cls.from_dict(json.loads(line))
