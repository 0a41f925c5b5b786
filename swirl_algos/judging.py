"""Judge a trajectory file: per-step process labels and the outcome judgement, as new records.

:func:`judge_file` reads trajectories from ``input`` and appends judged copies to ``output`` (the
input is never modified). Each step gets ``Step.process = {"label", "score", "rationale",
"judge", "error"}``; the episode gets ``outcome["judge"]`` (same keys). Judging goes through
:func:`swirl_env.rewards.wrappers.judge_trajectories`, which builds exactly the requests the
online reward wrappers and evaluation build, so a judge labels a step the same way everywhere.

The output is resumable like a rollout file: trajectories are judged in chunks, each judged
trajectory is appended and fsynced, and a re-run skips the ids already in ``output``. A judge
that fails on an item records ``label=None`` with the error (never a silent GOOD); pass
``retry_failed=True`` to re-judge those on a later run (the output is then rewritten atomically).

Example:
    >>> # from swirl_env.rewards.judges.rule import RuleOutcomeJudge, RuleProcessJudge
    >>> # summary = judge_file("runs/gsm8k/trajectories.jsonl", "runs/gsm8k/judged.jsonl",
    >>> #                      process_judge=RuleProcessJudge(), outcome_judge=RuleOutcomeJudge())
    >>> # summary["judged"], summary["process_good_rate"]
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from swirl_algos.jsonl import JsonlWriter, iter_trajectories, safe_record
from swirl_env.checks import int_at_least
from swirl_env.rewards.judges.base import OutcomeJudge, ProcessJudge
from swirl_env.rewards.wrappers import judge_trajectories
from swirl_env.trajectory import Trajectory

logger = logging.getLogger(__name__)

__all__ = ["has_failures", "judge_file"]


def has_failures(traj: Trajectory, *, process: bool = True, outcome: bool = True) -> bool:
    """Whether a judged trajectory has a failed judgement (``label=None`` with an error).

    Example:
        >>> from swirl_env.trajectory import Trajectory
        >>> has_failures(Trajectory("q#0", "E", {"id": "q"}, [], [], outcome={"judge": {"label": None}}))
        True
    """
    if process and any(s.process is not None and s.process.get("label") is None for s in traj.steps):
        return True
    judge = (traj.outcome or {}).get("judge")
    return bool(outcome and isinstance(judge, dict) and judge.get("label") is None)


def _differs(judged: Trajectory, source: Trajectory) -> bool:
    """Whether a judged record is of another episode than ``source`` (other messages, task or seed)."""
    return judged.messages != source.messages or judged.task != source.task or judged.seed != source.seed


def _already_judged(
    src: Path,
    dst: Path,
    source: dict[str, Trajectory],
    process_judge: ProcessJudge | None,
    outcome_judge: OutcomeJudge | None,
) -> dict[str, Trajectory]:
    """The judged records of ``dst``, each checked against the trajectory of the same id in
    ``src``: another trajectory under that id (the input was regenerated) is refused, and
    judgements by another judge than this run's are kept with a warning."""
    done: dict[str, Trajectory] = {}
    mine = {getattr(j, "name", "") for j in (process_judge, outcome_judge) if j is not None}
    others: set[str] = set()
    by_others = 0
    for t in iter_trajectories(dst):
        if t.id not in source:
            raise ValueError(f"{dst} holds trajectory {t.id!r}, which is not in {src}; choose another output")

        # compared as a writer stored it (unencodable text repaired) only when it differs as read
        if _differs(t, source[t.id]) and _differs(t, safe_record(source[t.id])):
            raise ValueError(
                f"{dst} holds a judged {t.id!r} that differs from the trajectory of that id in {src} "
                "(was the input regenerated?): choose another output"
            )
        done.setdefault(t.id, t)
        names: set[str] = set()
        if process_judge is not None:
            names |= {str(p.get("judge")) for p in (st.process for st in t.steps) if p and p.get("judge")}
        outcome = (t.outcome or {}).get("judge")
        if outcome_judge is not None and isinstance(outcome, dict) and outcome.get("judge"):
            names.add(str(outcome["judge"]))
        if names - mine:
            others |= names - mine
            by_others += 1
    if others:
        logger.warning(
            "%s: %d judged trajectories carry judgements of %s, not of this run's judges (%s); they are "
            "kept: judge into a new output to judge them again",
            dst,
            by_others,
            ", ".join(sorted(others)),
            ", ".join(sorted(mine)),
        )
    return done


def _to_redo(t: Trajectory, process_judge: Any, outcome_judge: Any, retry_failed: bool) -> tuple[Any, Any]:
    """The judges a kept record needs again: the kinds it lacks (a judge added since) and, with
    ``retry_failed``, those that failed; its other judgements are kept."""
    process = process_judge is not None and (
        any(s.process is None for s in t.steps) or (retry_failed and has_failures(t, outcome=False))
    )
    judge = (t.outcome or {}).get("judge")
    outcome = outcome_judge is not None and (
        not isinstance(judge, dict) or (retry_failed and has_failures(t, process=False))
    )
    return (process_judge if process else None, outcome_judge if outcome else None)


def judge_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    process_judge: ProcessJudge | None = None,
    outcome_judge: OutcomeJudge | None = None,
    *,
    chunk_size: int = 256,
    retry_failed: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Judge every trajectory of ``input`` and append the judged records to ``output``.

    Args:
        input: a trajectory JSONL file (from :func:`swirl_algos.rollout.rollout`).
        output: the judged file (created, or continued when it exists); must differ from ``input``.
        process_judge: judges every step (GOOD/BAD); ``None`` keeps existing step labels.
        outcome_judge: judges the final answer against the answer key; ``None`` keeps any
            existing outcome judgement.
        chunk_size: trajectories judged per batch (requests of a chunk go to the judge together).
        retry_failed: re-judge trajectories of ``output`` whose judgement failed.
        progress: show a progress bar.

    Returns:
        Counts: ``input``, ``already_done``, ``judged``, ``steps_judged``, ``process_good``,
        ``process_failed``, ``outcome_yes``, ``outcome_failed``, ``process_good_rate``,
        ``outcome_yes_rate``.

    Raises:
        ValueError: no judge, ``output`` is ``input``, or ``output`` holds other trajectories.
    """
    if process_judge is None and outcome_judge is None:
        raise ValueError("give a process_judge, an outcome_judge, or both")
    int_at_least("chunk_size", chunk_size, 1)
    src, dst = Path(input), Path(output)
    if not src.exists():
        raise FileNotFoundError(f"no trajectory file at {src}")
    if dst.exists() and src.resolve() == dst.resolve():
        raise ValueError("the output must be a new file; the input is never rewritten in place")
    trajs = list(iter_trajectories(src))
    ids = [t.id for t in trajs]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        unique = []
        for t in trajs:
            if t.id not in seen:
                seen.add(t.id)
                unique.append(t)
        logger.warning("%s: %d duplicate trajectory ids ignored", src, len(trajs) - len(unique))
        trajs = unique
    source = {t.id: t for t in trajs}
    # the lock first: a second writer fails before anything is read or rewritten
    writer = JsonlWriter(dst).open()
    bar = None
    try:
        done = _already_judged(src, dst, source, process_judge, outcome_judge)
        redo = {i: _to_redo(t, process_judge, outcome_judge, retry_failed) for i, t in done.items()}
        redo = {i: judges for i, judges in redo.items() if judges != (None, None)}
        if redo:
            logger.info("judging %d kept trajectories again (failed or missing judgements)", len(redo))
            writer.replace_all([t for i, t in done.items() if i not in redo])
        # (trajectory, judges): new ones with both, kept ones (their other judgements kept) with theirs
        todo = [(done[i], redo[i]) for i in done if i in redo]
        todo += [(t, (process_judge, outcome_judge)) for t in trajs if t.id not in done]
        done = {i: t for i, t in done.items() if i not in redo}
        counts: dict[str, Any] = {"input": len(trajs), "already_done": len(done), "judged": 0}
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(trajs), initial=len(done), desc="judging", unit="trajectory")
        judged_all: list[Trajectory] = list(done.values())
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]
            sets = {tuple(map(id, j)): j for _, j in chunk}  # one batch per set of judges
            for key, judges in sets.items():
                part = [t for t, j in chunk if tuple(map(id, j)) == key]
                judged = judge_trajectories(part, *judges, batch_size=max(chunk_size, 1), progress=False)
                for t in judged:
                    writer.write(t)
                counts["judged"] += len(judged)
                judged_all.extend(judged)
                if bar is not None:
                    bar.update(len(judged))
    finally:
        writer.close()
        if bar is not None:
            bar.close()
    labels = [s.process.get("label") for t in judged_all for s in t.steps if s.process is not None]
    outcomes = [
        t.outcome["judge"].get("label") for t in judged_all if isinstance(t.outcome.get("judge"), dict)
    ]
    good = sum(lab is True for lab in labels)
    decided = sum(lab is not None for lab in labels)
    yes = sum(lab is True for lab in outcomes)
    decided_o = sum(lab is not None for lab in outcomes)
    counts.update(
        {
            "steps_judged": len(labels),
            "process_good": good,
            "process_failed": len(labels) - decided,
            "outcome_yes": yes,
            "outcome_failed": len(outcomes) - decided_o,
            "process_good_rate": good / decided if decided else None,
            "outcome_yes_rate": yes / decided_o if decided_o else None,
        }
    )
    logger.info("judged %s -> %s: %s", src, dst, counts)
    return counts
