"""Gymnasium reward wrappers (outcome and process rewards) and offline judging of trajectories.

* :class:`OutcomeReward` gives the terminal reward from the environment's metric (default) or from
  an outcome judge (e.g. an LLM grading against the answer key, as in the paper's evaluation).
* :class:`ProcessReward` gives a per-step reward from a process judge, which sees the state before
  the action (the conversation so far) and the executed step record (``info["step"]``: the parsed
  call and the tool result).

They stack in either order. Each reward component is logged separately in
``info["reward_components"]`` (``{"outcome": ..., "process": ...}``), and the step reward is their
sum. The environment's own reward, which for a :class:`~swirl_env.env.ToolEnv` is the outcome
score, appears as ``"env"`` until an :class:`OutcomeReward` replaces it. Judgements are also
written where the trajectory record keeps them: ``info["step"]["process"]`` and
``info["outcome"]["judge"]``; each wrapper's ``trajectory()`` returns the episode record with them.

:func:`judge_trajectory` / :func:`judge_trajectories` judge finished episodes offline. They build
exactly the requests the wrappers build online (same task, same context, same step record), so
the same judge gives the same labels either way.

Example:
    >>> import gymnasium as gym, swirl_env
    >>> from swirl_env.rewards import OutcomeReward, ProcessReward, RuleProcessJudge
    >>> env = ProcessReward(OutcomeReward(gym.make("SwiRL-GSM8K-v0")), RuleProcessJudge(), weight=0.1)
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, term, trunc, info = env.step("<answer> 7 </answer>")
    >>> sorted(info["reward_components"])
    ['outcome', 'process']
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym

from swirl_env.checks import finite, int_at_least
from swirl_env.env import vector_info
from swirl_env.rewards.judges.base import (
    Judgement,
    OutcomeJudge,
    OutcomeRequest,
    ProcessJudge,
    ProcessRequest,
    check_reward_mode,
    checked_judgements,
    judgement_reward,
)
from swirl_env.tasks.base import Task
from swirl_env.trajectory import Message, Trajectory

logger = logging.getLogger(__name__)

__all__ = [
    "OutcomeReward",
    "ProcessReward",
    "judge_trajectories",
    "judge_trajectory",
    "outcome_request",
    "process_requests",
]


def _components(info: dict[str, Any], reward: float) -> dict[str, float]:
    comps = info.get("reward_components")
    return dict(comps) if isinstance(comps, dict) else {"env": float(reward)}


def _no_answer(name: str) -> Judgement:
    return Judgement(label=False, score=0.0, rationale="no final answer", judge=name)


# ---------------------------------------------------------------------------------------------- requests
def process_requests(traj: Trajectory) -> list[ProcessRequest]:
    """One request per step of ``traj``: the state before the step, the action, the step record."""
    task = Task.from_dict(traj.task) if traj.task.get("question") is not None else None
    return [
        ProcessRequest(task=task, context=traj.state_messages(k), action=s.action, step=s.to_dict())
        for k, s in enumerate(traj.steps)
    ]


def outcome_request(traj: Trajectory) -> OutcomeRequest | None:
    """The outcome request of ``traj`` (``None`` when the episode has no final answer)."""
    if traj.final_answer is None:
        return None
    return OutcomeRequest(task=Task.from_dict(traj.task), prediction=traj.final_answer, context=traj.messages)


def judge_trajectories(
    trajs: Sequence[Trajectory],
    process_judge: ProcessJudge | None = None,
    outcome_judge: OutcomeJudge | None = None,
    *,
    batch_size: int = 256,
    progress: bool = False,
) -> list[Trajectory]:
    """Judge finished episodes; returns copies with ``Step.process`` and ``outcome["judge"]`` set.

    Requests of many trajectories go to the judge together (``batch_size`` at a time), which is
    what makes model judges fast. An episode without a final answer gets the outcome judgement
    "no" without asking the judge (as :class:`OutcomeReward` does online).

    Example:
        >>> # judged = judge_trajectories(trajs, RuleProcessJudge(), RuleOutcomeJudge())
    """
    if process_judge is None and outcome_judge is None:
        raise ValueError("give a process_judge, an outcome_judge, or both")
    int_at_least("batch_size", batch_size, 1)
    out = [Trajectory.from_dict(copy.deepcopy(t.to_dict())) for t in trajs]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = (sum(t.num_steps for t in out) if process_judge else 0) + (len(out) if outcome_judge else 0)
        bar = tqdm(total=total, desc="judging", unit="judgement")
    if process_judge is not None:
        where = [(i, k) for i, t in enumerate(out) for k in range(t.num_steps)]
        requests = [r for t in out for r in process_requests(t)]
        for start in range(0, len(requests), batch_size):
            chunk = requests[start : start + batch_size]
            results = checked_judgements(process_judge.judge_steps(chunk), len(chunk), process_judge)
            for (i, k), j in zip(where[start : start + batch_size], results):
                out[i].steps[k].process = j.to_record()
            if bar is not None:
                bar.update(len(chunk))
    if outcome_judge is not None:
        name = getattr(outcome_judge, "name", type(outcome_judge).__name__)
        pending = [(i, outcome_request(t)) for i, t in enumerate(out)]
        for i, req in pending:
            if req is None:
                out[i].outcome["judge"] = _no_answer(name).to_record()
        asked = [(i, r) for i, r in pending if r is not None]
        for start in range(0, len(asked), batch_size):
            chunk = asked[start : start + batch_size]
            results = checked_judgements(
                outcome_judge.judge_outcomes([r for _, r in chunk]), len(chunk), outcome_judge
            )
            for (i, _), j in zip(chunk, results):
                out[i].outcome["judge"] = j.to_record()
        if bar is not None:
            bar.update(len(out))
    if bar is not None:
        bar.close()
    return out


def judge_trajectory(
    traj: Trajectory, process_judge: ProcessJudge | None = None, outcome_judge: OutcomeJudge | None = None
) -> Trajectory:
    """Judge one finished episode (see :func:`judge_trajectories`); ``traj`` is not modified.

    Example:
        >>> # judged = judge_trajectory(env.trajectory(), RuleProcessJudge(), RuleOutcomeJudge())
        >>> # judged.process_labels, judged.outcome["judge"]["label"]
    """
    return judge_trajectories([traj], process_judge, outcome_judge)[0]


# ---------------------------------------------------------------------------------------------- wrappers
class _RecordingWrapper(gym.Wrapper):
    """What both reward wrappers hold: the judge, how its judgements become reward (``weight``,
    ``reward``, ``on_failure``, the count of failed ones), the episode's task, and the wrapped
    environment's episode record."""

    def __init__(self, env: gym.Env, judge: Any, *, weight: float, reward: str, on_failure: float) -> None:
        super().__init__(env)
        self._check_judge(judge)
        check_reward_mode(reward)
        inner = env
        while isinstance(inner, gym.Wrapper):  # a second one would overwrite the first's component
            if type(inner) is type(self):
                raise ValueError(
                    f"the environment is already wrapped in {type(self).__name__}: one per environment "
                    "(for several judges, write one judge that combines them)"
                )
            inner = inner.env
        self.judge = judge
        self.weight = finite("weight", weight)
        self.reward_mode = reward
        self.on_failure = finite("on_failure", on_failure)
        self.failures = 0
        self._task: Task | None = None

    def _judged(self, call: Any, request: Any) -> Judgement:
        """``call(request)``, with a judge that raises recorded as a failed judgement: the
        environment has already stepped, so its step is kept and the episode goes on."""
        try:
            return call(request)
        except Exception as e:
            logger.exception("the judge raised; recorded as a failed judgement")
            return Judgement.failure(f"{type(e).__name__}: {e}", judge=getattr(self.judge, "name", ""))

    @staticmethod
    def _check_judge(judge: Any) -> None:
        """Raise ``TypeError`` for a judge of the wrong kind."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        if not isinstance(info.get("task"), Mapping):
            raise TypeError(
                f"{type(self).__name__} needs a SwiRL ToolEnv (its reset info has no 'task'), got {self.env!r}"
            )
        self._task = Task.from_dict(info["task"])
        return obs, info

    def _inner_trajectory(self, **kwargs: Any) -> Trajectory:
        try:
            fn = self.env.get_wrapper_attr("trajectory")
        except AttributeError:
            raise AttributeError(
                "the wrapped environment has no trajectory() method (not a ToolEnv)"
            ) from None
        return fn(**kwargs)


class ProcessReward(_RecordingWrapper):
    """Per-step reward from a process judge.

    Args:
        env: a :class:`~swirl_env.env.ToolEnv` (or a wrapper of one).
        judge: the process judge.
        weight: the component is ``weight * value`` (value: 1 for GOOD, 0 for BAD, or the soft score).
        reward: ``"label"`` or ``"score"`` (the judge's soft score, when it gives one).
        on_failure: the value (before ``weight``) of a failed judgement (``label=None``); the
            failure is logged in ``info["process"]["error"]`` and counted in :attr:`failures`.

    Info keys added every step: ``reward_components["process"]``, ``process`` (the judgement
    record, also in ``info["step"]["process"]``); at the end of an episode ``process_labels``.

    Example:
        >>> import gymnasium as gym, swirl_env
        >>> from swirl_env.rewards import ProcessReward, RuleProcessJudge
        >>> env = ProcessReward(gym.make("SwiRL-GSM8K-v0"), RuleProcessJudge())
        >>> _ = env.reset(seed=0)
        >>> info = env.step("no call here")[4]
        >>> info["process"]["label"], info["reward_components"]
        (False, {'env': 0.0, 'process': 0.0})
    """

    def __init__(
        self,
        env: gym.Env,
        judge: ProcessJudge,
        *,
        weight: float = 1.0,
        reward: str = "label",
        on_failure: float = 0.0,
    ) -> None:
        super().__init__(env, judge, weight=weight, reward=reward, on_failure=on_failure)
        self.judge: ProcessJudge
        self._messages: list[Message] = []
        self._judgements: list[dict[str, Any]] = []

    @staticmethod
    def _check_judge(judge: Any) -> None:
        if not isinstance(judge, ProcessJudge):
            raise TypeError(f"judge must be a ProcessJudge, got {type(judge).__name__}")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = super().reset(seed=seed, options=options)
        self._messages = copy.deepcopy(info["messages"])
        self._judgements = []
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        context = self._messages
        obs, reward, terminated, truncated, info = self.env.step(action)
        step = info["step"]
        request = ProcessRequest(task=self._task, context=context, action=step["action"], step=dict(step))
        judgement = self._judged(self.judge.judge_step, request)
        if judgement.label is None:
            self.failures += 1
            logger.warning("process judgement failed at step %d: %s", step["index"], judgement.error)
        record = judgement.to_record()
        self._judgements.append(record)
        step["process"] = info["process"] = vector_info(record)
        comps = _components(info, reward)
        comps["process"] = self.weight * judgement_reward(judgement, self.reward_mode, self.on_failure)
        info["reward_components"] = comps
        if terminated or truncated:
            info["process_labels"] = [j["label"] for j in self._judgements]
        self._messages = copy.deepcopy(info["messages"])
        return obs, float(sum(comps.values())), terminated, truncated, info

    def trajectory(self, **kwargs: Any) -> Trajectory:
        """The episode record with this wrapper's process judgements in ``Step.process``."""
        traj = self._inner_trajectory(**kwargs)
        for step, record in zip(traj.steps, self._judgements):
            step.process = dict(record)
        return traj


class OutcomeReward(_RecordingWrapper):
    """Terminal reward from the environment's metric or from an outcome judge.

    Replaces the environment's own reward (for a ToolEnv, the metric score at the end of the
    episode) with the ``"outcome"`` component: ``weight * value`` at the last step, 0 before.

    Args:
        env: a :class:`~swirl_env.env.ToolEnv` (or a wrapper of one).
        judge: an outcome judge; ``None`` uses the environment's metric (``info["outcome"]["score"]``).
        weight: scale of the component.
        reward: ``"label"`` or ``"score"`` (a judge's soft score).
        on_failure: the value of a failed judgement (logged, counted in :attr:`failures`).

    Info keys: ``reward_components["outcome"]``; at the end of an episode with a judge,
    ``outcome["judge"]`` (the judgement record). An episode without an answer scores 0 and the
    judge is not asked.

    Example:
        >>> import gymnasium as gym, swirl_env
        >>> from swirl_env.rewards import OutcomeReward, RuleOutcomeJudge
        >>> env = OutcomeReward(gym.make("SwiRL-GSM8K-v0"), RuleOutcomeJudge())
        >>> _ = env.reset(seed=0)
        >>> info = env.step("<answer> -1 </answer>")[4]
        >>> info["outcome"]["judge"]["label"], info["reward_components"]
        (False, {'outcome': 0.0})
    """

    def __init__(
        self,
        env: gym.Env,
        judge: OutcomeJudge | None = None,
        *,
        weight: float = 1.0,
        reward: str = "label",
        on_failure: float = 0.0,
    ) -> None:
        super().__init__(env, judge, weight=weight, reward=reward, on_failure=on_failure)
        self.judge: OutcomeJudge | None
        self._judgement: dict[str, Any] | None = None

    @staticmethod
    def _check_judge(judge: Any) -> None:
        if judge is not None and not isinstance(judge, OutcomeJudge):
            raise TypeError(f"judge must be an OutcomeJudge or None, got {type(judge).__name__}")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = super().reset(seed=seed, options=options)
        self._judgement = None
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        comps = _components(info, reward)
        comps.pop("env", None)  # the env's reward is its outcome reward: replaced by this component
        value = 0.0
        if terminated or truncated:
            outcome = info.get("outcome") or {}
            if self.judge is None:
                value = float(outcome.get("score", 0.0))
            else:
                answer = info.get("final_answer")
                if answer is None:
                    judgement = _no_answer(self.judge.name)
                else:
                    req = OutcomeRequest(task=self._task, prediction=answer, context=info["messages"])  # type: ignore[arg-type]
                    judgement = self._judged(self.judge.judge_outcome, req)
                if judgement.label is None:
                    self.failures += 1
                    logger.warning("outcome judgement failed: %s", judgement.error)
                value = judgement_reward(judgement, self.reward_mode, self.on_failure)
                self._judgement = judgement.to_record()
                info["outcome"] = {**outcome, "judge": vector_info(self._judgement)}
        comps["outcome"] = self.weight * value
        info["reward_components"] = comps
        return obs, float(sum(comps.values())), terminated, truncated, info

    def trajectory(self, **kwargs: Any) -> Trajectory:
        """The episode record with this wrapper's outcome judgement in ``outcome["judge"]``."""
        traj = self._inner_trajectory(**kwargs)
        if self._judgement is not None:
            traj.outcome["judge"] = dict(self._judgement)
        return traj
