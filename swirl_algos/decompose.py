"""Step-wise decomposition of trajectories and export as Hugging Face datasets for TRL.

A trajectory ``(s_1, a_1, ..., s_K, a_K)`` gives ``K`` sub-trajectories ``(s_i, a_i)`` (the
paper's Stage 1 output). :func:`decompose` turns each into one *step record*, in TRL's
conversational prompt-completion format:

.. code-block:: text

    {"prompt": [messages of state s_i],            # the exact prefix of the conversation
     "completion": [{"role": "assistant", "content": a_i}],
     "trajectory_id": str, "step_index": int, "num_steps": int, "env_id": str,
     "task": JSON string of Task.to_dict(),
     "process_label": bool | None, "process_score": float | None,   # the step's judgement
     "outcome_score": float | None,                                # the episode's outcome
     "tools": JSON string of the tool schemas | None}              # native tool calling only

``outcome_score`` is the outcome judge's decision (1.0 YES / 0.0 NO) when the trajectory was
judged (``None`` when that judge failed), else the environment's metric score
(:func:`outcome_score`). :func:`to_hf_dataset` makes a ``datasets.Dataset`` that TRL's
``SFTTrainer`` (``kind="sft"``) or prompt-only trainers such as ``GRPOTrainer``
(``kind="prompts"``) take as is.

Example:
    >>> from swirl_env.trajectory import Step, Trajectory
    >>> t = Trajectory(id="q#0", env_id="E", task={"id": "q", "question": "2+2?", "answers": ["4"]},
    ...     messages=[{"role": "user", "content": "2+2?"},
    ...               {"role": "assistant", "content": "<math_exp>2+2</math_exp>"},
    ...               {"role": "user", "content": "2+2 -> 4"},
    ...               {"role": "assistant", "content": "<answer>4</answer>"}],
    ...     steps=[Step(0, 1, "<math_exp>2+2</math_exp>", "call", tool="calculator", argument="2+2"),
    ...            Step(1, 3, "<answer>4</answer>", "answer", argument="4")],
    ...     final_answer="4", outcome={"score": 1.0, "metric": "numeric"}, terminated=True)
    >>> records = decompose([t])
    >>> [len(r["prompt"]) for r in records], records[1]["completion"][0]["content"]
    ([1, 3], '<answer>4</answer>')
    >>> records[1]["outcome_score"]
    1.0
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from swirl_env.checks import one_of
from swirl_env.trajectory import Message, RecordError, Trajectory

logger = logging.getLogger(__name__)

__all__ = [
    "RECORD_FIELDS",
    "StepRecord",
    "decompose",
    "outcome_label",
    "outcome_score",
    "save_dataset",
    "to_hf_dataset",
    "unique_step_records",
    "unique_trajectories",
    "validate_step_record",
]


class StepRecord(TypedDict):
    """One sub-trajectory ``(s_i, a_i)``: what :func:`decompose` returns, the filters keep and the
    learners read (a JSON object on disk, a ``dict`` in memory; checked by :func:`validate_step_record`).

    Attributes:
        prompt: the state ``s_i``: the exact messages before the action.
        completion: ``[{"role": "assistant", "content": a_i}]``.
        trajectory_id / step_index / num_steps / env_id: where the step comes from.
        task: the episode's ``Task.to_dict()`` as a JSON string.
        process_label / process_score: the step's process judgement (``None``: not judged or failed).
        outcome_score: the episode's outcome (see :func:`outcome_score`).
        tools: the tool schemas of a native tool-calling env as a JSON string (passed to
            ``apply_chat_template(tools=...)``, as TRL reads a ``tools`` column); ``None`` in the tag style.
    """

    prompt: list[Message]
    completion: list[Message]
    trajectory_id: str
    step_index: int
    num_steps: int
    env_id: str
    task: str
    process_label: bool | None
    process_score: float | None
    outcome_score: float | None
    tools: str | None


#: The fields of a step record, in order.
RECORD_FIELDS: tuple[str, ...] = tuple(StepRecord.__annotations__)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_messages(value: Any, name: str) -> None:
    if not isinstance(value, list) or not value:
        raise RecordError(name, f"expected a non-empty list of chat messages, got {type(value).__name__}")
    for i, m in enumerate(value):
        if not isinstance(m, Mapping):
            raise RecordError(f"{name}[{i}]", f"expected a message object, got {type(m).__name__}")
        for key in ("role", "content"):
            if not isinstance(m.get(key), str):
                got = "missing" if key not in m else f"expected a string, got {type(m[key]).__name__}"
                raise RecordError(f"{name}[{i}].{key}", got)


def _tools_ok(value: Any) -> bool:
    from swirl_algos.prompt_settings import decode_tools

    if not isinstance(value, str | list):
        return False
    try:
        decode_tools(value)
    except ValueError:
        return False
    return True


#: (field, check, description) of the optional fields of a step record.
_STEP_RECORD_FIELDS: tuple[tuple[str, Any, str], ...] = (
    ("trajectory_id", lambda v: isinstance(v, str), "a string"),
    ("step_index", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
    ("num_steps", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
    ("env_id", lambda v: isinstance(v, str), "a string"),
    ("task", lambda v: isinstance(v, str | Mapping), "a JSON string or an object"),
    ("process_label", lambda v: v is None or isinstance(v, bool), "true, false or null"),
    ("process_score", lambda v: v is None or _is_number(v), "a number or null"),
    ("outcome_score", lambda v: v is None or _is_number(v), "a number or null"),
    ("tools", lambda v: v is None or _tools_ok(v), "null, or a list of tool schemas (or its JSON string)"),
)


def validate_step_record(record: Any, *, completion: bool = True) -> None:
    """Check a step record (see the module docstring); raises ``RecordError`` naming the field.

    ``prompt`` (and, with ``completion=True``, ``completion``) must be non-empty lists of
    ``{"role": str, "content": str}`` messages; the metadata fields, when present, must have
    their types.

    Example:
        >>> validate_step_record({"prompt": [{"role": "user", "content": "Q"}], "completion": "A"})
        Traceback (most recent call last):
        ...
        swirl_env.trajectory.RecordError: field 'completion': expected a non-empty list of chat messages, got str
    """
    if not isinstance(record, Mapping):
        raise RecordError("", f"expected a step record object, got {type(record).__name__}")
    if "prompt" not in record:
        raise RecordError("prompt", "missing (neither a trajectory nor a step record)")
    _check_messages(record["prompt"], "prompt")
    if completion:
        _check_messages(record.get("completion"), "completion")
    for name, ok, want in _STEP_RECORD_FIELDS:
        if name in record and not ok(record[name]):
            raise RecordError(
                name, f"expected {want}, got {type(record[name]).__name__} {record[name]!r:.40}"
            )


def unique_trajectories(trajs: Iterable[Trajectory | Mapping[str, Any]]) -> list[Trajectory]:
    """The trajectories with distinct ids, the first of each id kept (a warning counts the rest).

    Example:
        >>> a, b = (Trajectory(f"q#{i}", "E", {"id": "q"}, [], []) for i in (0, 1))
        >>> [t.id for t in unique_trajectories([a, b, a])]
        ['q#0', 'q#1']
    """
    out: list[Trajectory] = []
    seen: set[str] = set()
    dropped = 0
    for t in trajs:
        traj = t if isinstance(t, Trajectory) else Trajectory.from_dict(t)
        if traj.id in seen:
            dropped += 1
            continue
        seen.add(traj.id)
        out.append(traj)
    if dropped:
        logger.warning(
            "dropped %d trajectories whose id repeats an earlier one (kept the first of each; %d unique)",
            dropped,
            len(out),
        )
    return out


def unique_step_records(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Step records with distinct ``(trajectory_id, step_index)``, the first kept (a warning counts the rest).

    Records without a ``trajectory_id`` are all kept.

    Example:
        >>> r = {"prompt": [], "trajectory_id": "q#0", "step_index": 0}
        >>> len(unique_step_records([r, dict(r), {**r, "step_index": 1}]))
        2
    """
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, Any]] = set()
    dropped = 0
    for r in records:
        tid = r.get("trajectory_id")
        if tid is not None:
            key = (str(tid), r.get("step_index"))
            if key in seen:
                dropped += 1
                continue
            seen.add(key)
        out.append(dict(r))
    if dropped:
        logger.warning(
            "dropped %d step records whose (trajectory_id, step_index) repeats an earlier one (kept the first)",
            dropped,
        )
    return out


def outcome_score(traj: Trajectory, source: str = "auto") -> float | None:
    """The episode's outcome as a number in [0, 1].

    ``source="auto"``: the outcome judge's label (1.0 / 0.0) when an outcome judgement is
    recorded (``None`` if the judge failed), else the environment's metric score. ``"judge"``:
    only the judge (``None`` when not judged). ``"env"``: only the environment's score.

    Example:
        >>> from swirl_env.trajectory import Trajectory
        >>> t = Trajectory("q#0", "E", {"id": "q"}, [], [], outcome={"score": 0.0, "judge": {"label": True}})
        >>> outcome_score(t), outcome_score(t, "env")
        (1.0, 0.0)
    """
    one_of("outcome source", source, ("auto", "judge", "env"))
    outcome = traj.outcome or {}
    judge = outcome.get("judge")
    if source in ("auto", "judge") and isinstance(judge, Mapping):
        label = judge.get("label")
        return None if label is None else float(bool(label))
    if source == "judge":
        return None
    score = outcome.get("score")
    return None if score is None else float(score)


def outcome_label(traj: Trajectory, source: str = "auto", threshold: float = 1.0) -> bool | None:
    """Whether the episode's outcome is correct (``score >= threshold``), ``None`` if unknown.

    Example:
        >>> from swirl_env.trajectory import Trajectory
        >>> outcome_label(Trajectory("q#0", "E", {"id": "q"}, [], [], outcome={"score": 1.0}))
        True
    """
    score = outcome_score(traj, source)
    return None if score is None else score >= threshold


def _check_step(traj: Trajectory, k: int) -> None:
    step = traj.steps[k]
    mi = step.message_index
    if not 0 < mi < len(traj.messages):
        raise ValueError(
            f"trajectory {traj.id!r} step {k}: message_index {mi} outside its {len(traj.messages)} messages"
        )
    msg = traj.messages[mi]
    if msg.get("role") != "assistant" or msg.get("content") != step.action:
        raise ValueError(
            f"trajectory {traj.id!r} step {k}: messages[{mi}] is not this step's action; the record is inconsistent"
        )
    if k > 0 and mi <= traj.steps[k - 1].message_index:
        raise ValueError(f"trajectory {traj.id!r}: steps are not in conversation order at step {k}")


def decompose(
    trajs: Iterable[Trajectory | Mapping[str, Any]],
    *,
    steps: Sequence[int] | None = None,
    outcome_source: str = "auto",
) -> list[StepRecord]:
    """Split trajectories into step records ``(s_i, a_i)`` (see the module docstring).

    Args:
        trajs: :class:`~swirl_env.trajectory.Trajectory` objects (or their dicts).
        steps: only these step indices of every trajectory (default: all).
        outcome_source: where ``outcome_score`` comes from (see :func:`outcome_score`).

    Returns:
        One record per step, trajectory by trajectory, steps in order. The state is the exact
        prefix of the conversation before the action. A trajectory whose id repeats an earlier
        one is left out (see :func:`unique_trajectories`).

    Raises:
        ValueError: a trajectory whose ``steps`` do not point at its assistant messages.

    Example:
        >>> # records = decompose(read_trajectories("runs/gsm8k/filtered.jsonl"))
    """
    wanted = None if steps is None else set(steps)
    out: list[StepRecord] = []
    for traj in unique_trajectories(trajs):
        oscore = outcome_score(traj, outcome_source)
        task_json = json.dumps(traj.task, ensure_ascii=False, sort_keys=True)
        tools_json = None if traj.tools is None else json.dumps(traj.tools, ensure_ascii=False)
        for k, step in enumerate(traj.steps):
            if wanted is not None and k not in wanted:
                continue
            _check_step(traj, k)
            process = step.process or {}
            label = process.get("label")
            score = process.get("score")
            out.append(
                {
                    "prompt": traj.state_messages(k),
                    "completion": [{"role": "assistant", "content": step.action}],
                    "trajectory_id": traj.id,
                    "step_index": step.index,
                    "num_steps": traj.num_steps,
                    "env_id": traj.env_id,
                    "task": task_json,
                    "process_label": None if label is None else bool(label),
                    "process_score": None if score is None else float(score),
                    "outcome_score": oscore,
                    "tools": tools_json,
                }
            )
    return out


def _as_records(records: Iterable[Any], *, completion: bool = True) -> list[dict[str, Any]]:
    rows = list(records)
    if rows and all(isinstance(r, Trajectory) or (isinstance(r, Mapping) and "steps" in r) for r in rows):
        return decompose(rows)
    for n, r in enumerate(rows):
        if isinstance(r, Trajectory):
            raise ValueError(f"record {n} is a trajectory among step records; export one kind per file")
        try:
            validate_step_record(r, completion=completion)
        except RecordError as e:
            raise RecordError(e.field, f"record {n}: {e.reason}") from None
    return unique_step_records(rows)


def to_hf_dataset(records: Iterable[Any], kind: str = "sft") -> Any:
    """A ``datasets.Dataset`` of step records in TRL's conversational format.

    Args:
        records: step records (from :func:`decompose`) or trajectories (decomposed here).
            A repeated trajectory id (or, among step records, ``(trajectory_id, step_index)``)
            is kept once: its first occurrence, with a warning counting the others.
        kind: ``"sft"``: ``prompt`` + ``completion`` columns (``SFTTrainer``, prompt-completion
            format: the loss is on the completion only); ``"prompts"``: ``prompt`` only, each
            distinct state once (prompt-only trainers such as ``GRPOTrainer``, SWiRL's Stage 2).
            Both keep the metadata columns (``trajectory_id``, ``step_index``, ``task``...).

    Example:
        >>> ds = to_hf_dataset([{"prompt": [{"role": "user", "content": "2+2?"}],
        ...                      "completion": [{"role": "assistant", "content": "<answer>4</answer>"}],
        ...                      "trajectory_id": "q#0", "step_index": 0, "num_steps": 1, "env_id": "E",
        ...                      "task": "{}", "process_label": True, "process_score": 1.0,
        ...                      "outcome_score": 1.0}])
        >>> ds.column_names[:2], ds[0]["completion"][0]["role"]
        (['prompt', 'completion'], 'assistant')
    """
    from datasets import Dataset, Features, Value

    one_of("kind", kind, ("sft", "prompts"))
    rows = _as_records(records, completion=kind == "sft")
    message = {"role": Value("string"), "content": Value("string")}
    feats = {
        "prompt": [message],
        **({"completion": [message]} if kind == "sft" else {}),
        "trajectory_id": Value("string"),
        "step_index": Value("int64"),
        "num_steps": Value("int64"),
        "env_id": Value("string"),
        "task": Value("string"),
        "process_label": Value("bool"),
        "process_score": Value("float64"),
        "outcome_score": Value("float64"),
        "tools": Value("string"),
    }
    if kind == "prompts":
        seen: set[str] = set()
        unique = []
        for r in rows:
            key = json.dumps(r["prompt"], sort_keys=True, ensure_ascii=False)
            if key not in seen:
                seen.add(key)
                unique.append(r)
        rows = unique
    data: dict[str, list[Any]] = {name: [] for name in feats}
    for r in rows:
        for name in feats:
            value = r.get(name)
            if name in ("prompt", "completion"):  # checked by validate_step_record
                value = [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
            elif name == "task" and isinstance(value, Mapping):
                value = json.dumps(dict(value), ensure_ascii=False, sort_keys=True)
            elif name == "tools" and isinstance(value, list):
                value = json.dumps(value, ensure_ascii=False)
            data[name].append(value)
    return Dataset.from_dict(data, features=Features(feats))


def save_dataset(ds: Any, path: str | os.PathLike) -> None:
    """Save a ``datasets.Dataset`` by the path's suffix (``.jsonl``/``.json`` lines, ``.parquet``,
    else a ``save_to_disk`` directory), into a temporary sibling renamed to ``path`` at the end: an
    interrupted export never leaves a partial output that looks whole, and the old one stays.

    Example:
        >>> # save_dataset(to_hf_dataset(records), "runs/gsm8k/steps.jsonl")
    """
    out = Path(path)
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if suffix in (".jsonl", ".json"):
            ds.to_json(str(tmp), lines=True, force_ascii=False)
        elif suffix == ".parquet":
            ds.to_parquet(str(tmp))
        else:
            ds.save_to_disk(str(tmp))
        if tmp.is_dir() and out.exists():  # a directory cannot be renamed over: move the old aside
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
