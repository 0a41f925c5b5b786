"""The paper's four data filters: none, process, outcome, process+outcome.

* ``"none"``: keep everything;
* ``"process"``: keep a trajectory only if EVERY step was judged GOOD (``Step.process["label"]``
  is ``True``); a step the judge failed on, or never judged, does not pass;
* ``"outcome"``: keep trajectories whose final answer is correct: the outcome judge's YES when
  an outcome judgement is recorded, else the environment's metric score ``>= outcome_threshold``
  (see :func:`swirl_algos.decompose.outcome_score`); an episode without an answer is wrong;
* ``"process+outcome"``: both.

``level="trajectory"`` (the paper's) keeps or drops whole trajectories and returns them.
``level="step"`` keeps individual sub-trajectories ``(s_i, a_i)``: every GOOD step of a
trajectory that passes the outcome filter, even when other steps of it are BAD (they stay in the
state as context). As that keeps steps rather than episodes, it returns step records (the format
of :func:`swirl_algos.decompose.decompose`), ready for :func:`~swirl_algos.decompose.to_hf_dataset`.

Trajectory ids are unique in the output: when the input repeats an id (e.g. two files
concatenated), the first trajectory of that id is kept and the others are dropped before
filtering, with a warning counting them (:func:`swirl_algos.decompose.unique_trajectories`).

Example:
    >>> from swirl_env.trajectory import Step, Trajectory
    >>> def traj(i, labels, score):
    ...     msgs = [{"role": "user", "content": "Q"}]
    ...     steps = []
    ...     for k, lab in enumerate(labels):
    ...         steps.append(Step(k, len(msgs), f"a{k}", "call", process={"label": lab}))
    ...         msgs += [{"role": "assistant", "content": f"a{k}"}, {"role": "user", "content": "r"}]
    ...     return Trajectory(f"q{i}#0", "E", {"id": f"q{i}"}, msgs, steps, outcome={"score": score})
    >>> trajs = [traj(0, [True, True], 1.0), traj(1, [True, False], 1.0), traj(2, [True, True], 0.0)]
    >>> [[t.id for t in filter_trajectories(trajs, m)] for m in ("process", "outcome", "process+outcome")]
    [['q0#0', 'q2#0'], ['q0#0', 'q1#0'], ['q0#0']]
    >>> [(r["trajectory_id"], r["step_index"]) for r in filter_trajectories(trajs, "process+outcome", level="step")]
    [('q0#0', 0), ('q0#0', 1), ('q1#0', 0)]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from swirl_algos.decompose import decompose, outcome_score, unique_trajectories
from swirl_env.trajectory import Trajectory

logger = logging.getLogger(__name__)

__all__ = ["FILTER_LEVELS", "FILTER_MODES", "filter_counts", "filter_trajectories", "passes"]

FILTER_MODES = ("none", "process", "outcome", "process+outcome")
FILTER_LEVELS = ("trajectory", "step")


def _check(mode: str, level: str) -> tuple[bool, bool]:
    if mode not in FILTER_MODES:
        raise ValueError(f"filter mode must be one of {FILTER_MODES}, got {mode!r}")
    if level not in FILTER_LEVELS:
        raise ValueError(f"filter level must be one of {FILTER_LEVELS}, got {level!r}")
    return "process" in mode, "outcome" in mode


def _outcome_ok(traj: Trajectory, threshold: float, source: str) -> bool:
    score = outcome_score(traj, source)
    return score is not None and score >= threshold


def passes(
    traj: Trajectory, mode: str, *, outcome_threshold: float = 1.0, outcome_source: str = "auto"
) -> bool:
    """Whether a whole trajectory passes ``mode`` (the paper's trajectory-level rule).

    Example:
        >>> from swirl_env.trajectory import Trajectory
        >>> passes(Trajectory("q#0", "E", {"id": "q"}, [], [], outcome={"score": 1.0}), "outcome")
        True
    """
    process, outcome = _check(mode, "trajectory")
    if process and (not traj.steps or not all(lab is True for lab in traj.process_labels)):
        return False
    return not (outcome and not _outcome_ok(traj, outcome_threshold, outcome_source))


def _require_labels(trajs: list[Trajectory], process: bool, outcome: bool, source: str) -> None:
    if process and trajs and not any(s.process is not None for t in trajs for s in t.steps):
        raise ValueError(
            "process filtering needs process labels and no step is judged; "
            "run 'swirl judge --process-judge ...' (or swirl_algos.judging.judge_file) first"
        )
    if outcome and source == "judge" and trajs and not any("judge" in (t.outcome or {}) for t in trajs):
        raise ValueError(
            "outcome_source='judge' but no trajectory has an outcome judgement; run 'swirl judge'"
        )


def filter_trajectories(
    trajs: Iterable[Trajectory],
    mode: str = "none",
    level: str = "trajectory",
    *,
    outcome_threshold: float = 1.0,
    outcome_source: str = "auto",
) -> list[Trajectory] | list[dict[str, Any]]:
    """Apply one of the paper's filters (see the module docstring).

    Args:
        trajs: judged trajectories (process labels for ``"process"``; outcome judgements or the
            environment's score for ``"outcome"``).
        mode: ``"none"``, ``"process"``, ``"outcome"`` or ``"process+outcome"``.
        level: ``"trajectory"`` (returns the kept trajectories) or ``"step"`` (returns the kept
            steps as step records).
        outcome_threshold: the outcome score that counts as correct.
        outcome_source: ``"auto"`` (judge, else environment), ``"judge"`` or ``"env"``.

    A trajectory whose id repeats an earlier one is dropped first (the first is kept; a warning
    counts the dropped ones), so the output never repeats a trajectory.

    Raises:
        ValueError: an unknown mode or level, or a process filter on trajectories none of which
            has been judged.

    Example:
        >>> # kept = filter_trajectories(read_trajectories("judged.jsonl"), "process")
    """
    process, outcome = _check(mode, level)
    items = unique_trajectories(trajs)
    _require_labels(items, process, outcome, outcome_source)
    if level == "trajectory":
        kept = [
            t
            for t in items
            if passes(t, mode, outcome_threshold=outcome_threshold, outcome_source=outcome_source)
        ]
        logger.info("filter %s: kept %d of %d trajectories", mode, len(kept), len(items))
        return kept
    records: list[dict[str, Any]] = []
    for t in items:
        if outcome and not _outcome_ok(t, outcome_threshold, outcome_source):
            continue
        steps = [k for k, lab in enumerate(t.process_labels) if lab is True] if process else None
        if steps is not None and not steps:
            continue
        records.extend(decompose([t], steps=steps, outcome_source=outcome_source))
    logger.info("filter %s (steps): kept %d of %d steps", mode, len(records), sum(t.num_steps for t in items))
    return records


def filter_counts(
    trajs: Iterable[Trajectory], *, outcome_threshold: float = 1.0, outcome_source: str = "auto"
) -> dict[str, dict[str, int]]:
    """How many trajectories and steps each mode keeps, at both levels (a dry run).

    Repeated trajectory ids are counted once, as :func:`filter_trajectories` keeps them.

    Example:
        >>> filter_counts([])["none"]
        {'trajectories': 0, 'steps': 0, 'steps_step_level': 0}
    """
    items = unique_trajectories(trajs)
    out = {}
    for mode in FILTER_MODES:
        process, outcome = "process" in mode, "outcome" in mode
        kept = [
            t
            for t in items
            if passes(t, mode, outcome_threshold=outcome_threshold, outcome_source=outcome_source)
        ]
        step_level = 0
        for t in items:
            if outcome and not _outcome_ok(t, outcome_threshold, outcome_source):
                continue
            step_level += sum(lab is True for lab in t.process_labels) if process else t.num_steps
        out[mode] = {
            "trajectories": len(kept),
            "steps": sum(t.num_steps for t in kept),
            "steps_step_level": step_level,
        }
    return out
