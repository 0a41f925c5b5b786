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
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA_VERSION = 1

Message = dict[str, str]


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
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Trajectory:
        version = d.get("schema_version", SCHEMA_VERSION)
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"trajectory {d.get('id')!r} has schema_version {version}, newer than this package's "
                f"{SCHEMA_VERSION}; upgrade the package"
            )
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["steps"] = [Step.from_dict(s) for s in d.get("steps", [])]
        kw["messages"] = [dict(m) for m in d.get("messages", [])]
        return cls(**kw)

    @classmethod
    def from_json(cls, line: str) -> Trajectory:
        return cls.from_dict(json.loads(line))
