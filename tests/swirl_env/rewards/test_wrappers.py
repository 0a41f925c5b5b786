"""The reward wrappers under judges that fail, lie or are stacked: the step is kept, the judgements
stay aligned with their steps, and a broken judge is named."""

from __future__ import annotations

import gymnasium as gym
import pytest

import swirl_env  # noqa: F401  (registers the ids)
from swirl_env.rewards import OutcomeReward, ProcessReward, RuleOutcomeJudge, RuleProcessJudge
from swirl_env.rewards.judges.base import Judgement, OutcomeJudge, ProcessJudge

ENV_ID = "SwiRL-GSM8K-v0"


class Scripted(ProcessJudge):
    """Raises on the calls listed in ``fail``, else returns what ``make(n)`` gives for call ``n``."""

    name = "scripted"

    def __init__(self, fail=(), make=None):
        self.fail, self.calls, self.contexts = set(fail), 0, []
        self.make = make or (lambda n: [Judgement(True, 1.0, rationale=f"call {n}", judge=self.name)])

    def judge_steps(self, requests):
        self.calls += 1
        self.contexts.append(len(requests[0].context))
        if self.calls in self.fail:
            raise ConnectionError("judge server down")
        return self.make(self.calls)


class RaisingOutcome(OutcomeJudge):
    name = "raising-outcome"

    def judge_outcomes(self, requests):
        raise TimeoutError("no reply")


def test_a_judge_that_raises_is_a_failed_judgement_and_later_steps_stay_aligned():
    judge = Scripted(fail={1})
    env = ProcessReward(gym.make(ENV_ID), judge, on_failure=0.0)
    env.reset(seed=0)
    _, reward, *_, info = env.step("<math_exp>1+1</math_exp>")
    assert reward == 0.0 and "ConnectionError: judge server down" in info["process"]["error"]
    env.step("<math_exp>2+2</math_exp>")
    env.step("<math_exp>3+3</math_exp>")
    steps = env.trajectory().steps
    assert [s.process["rationale"] for s in steps] == ["", "call 2", "call 3"]
    assert steps[0].process["label"] is None and env.failures == 1
    assert judge.contexts == [1, 3, 5]  # each judge call saw the state before its own step


def test_an_outcome_judge_that_raises_keeps_the_answer_and_ends_the_episode():
    env = OutcomeReward(gym.make(ENV_ID), RaisingOutcome(), on_failure=0.0)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("<answer> 18 </answer>")
    assert terminated and reward == 0.0 and "TimeoutError" in info["outcome"]["judge"]["error"]
    assert env.trajectory().final_answer == "18" and env.failures == 1


@pytest.mark.parametrize(
    ("returned", "error"),
    [
        (lambda n: [], RuntimeError),
        (lambda n: None, RuntimeError),
        (lambda n: ["GOOD"], TypeError),
        (lambda n: [{"label": True}], TypeError),
        (lambda n: [Judgement("yes", 1.0)], TypeError),
        (lambda n: [Judgement(True), Judgement(True)], RuntimeError),
    ],
)
def test_a_judge_that_returns_the_wrong_thing_is_a_failed_judgement_naming_it(returned, error):
    env = ProcessReward(gym.make(ENV_ID), Scripted(make=returned))
    env.reset(seed=0)
    *_, info = env.step("<math_exp>1+1</math_exp>")
    assert info["process"]["error"].startswith(f"{error.__name__}: judge 'scripted' returned")
    assert env.failures == 1 and env.trajectory().steps[0].tool_result == "2.0"  # the step is kept


@pytest.mark.parametrize("score", [float("nan"), 5.0, -3.0, "high", float("inf")])
def test_a_score_outside_0_1_is_a_failed_judgement_not_a_reward(score):
    judge = Scripted(make=lambda n: [Judgement(True, score, judge="scripted")])
    env = ProcessReward(gym.make(ENV_ID), judge, reward="score", on_failure=0.25)
    env.reset(seed=0)
    _, reward, *_, info = env.step("<math_exp>1+1</math_exp>")
    assert reward == 0.25 and "not a number in [0, 1]" in info["process"]["error"] and env.failures == 1


def test_stacking_the_same_wrapper_twice_is_an_error():
    with pytest.raises(ValueError, match="already wrapped in ProcessReward"):
        ProcessReward(ProcessReward(gym.make(ENV_ID), RuleProcessJudge()), RuleProcessJudge())
    with pytest.raises(ValueError, match="already wrapped in OutcomeReward"):
        OutcomeReward(ProcessReward(OutcomeReward(gym.make(ENV_ID)), RuleProcessJudge()), RuleOutcomeJudge())
    env = OutcomeReward(ProcessReward(gym.make(ENV_ID), RuleProcessJudge()))  # one of each: fine
    env.reset(seed=0)
    assert sorted(env.step("<answer> 1 </answer>")[4]["reward_components"]) == ["outcome", "process"]


@pytest.mark.parametrize(
    "kwargs", [{"weight": float("nan")}, {"weight": "2"}, {"on_failure": None}, {"on_failure": float("inf")}]
)
def test_weights_and_failure_values_are_finite_numbers(kwargs):
    (name,) = kwargs
    with pytest.raises(ValueError, match=name):
        ProcessReward(gym.make(ENV_ID), RuleProcessJudge(), **kwargs)


def test_a_wrapper_over_an_env_that_is_not_a_tool_env_says_so():
    env = ProcessReward(gym.make("CartPole-v1"), RuleProcessJudge())
    with pytest.raises(TypeError, match="needs a SwiRL ToolEnv"):
        env.reset(seed=0)


def test_numpy_and_integer_labels_are_booleans_and_a_failed_judgements_bad_score_is_dropped():
    import numpy as np

    from swirl_env.rewards.judges.base import checked_judgements

    out = checked_judgements(
        [Judgement(np.bool_(True)), Judgement(0), Judgement(None, float("nan"), error="x")], 3, None
    )
    assert [j.label for j in out] == [True, False, None] and out[2].score is None
    assert all(type(j.label) is bool for j in out[:2])


def test_labels_that_are_no_booleans_are_named():
    import numpy as np
    import torch

    from swirl_env.rewards.judges.base import checked_judgements

    for bad in ("yes", 1.0, 2, np.array([1, 0]), torch.tensor([True, False]), torch.tensor(1.0)):
        with pytest.raises(TypeError, match="a label is True, False or None"):
            checked_judgements([Judgement(bad)], 1, None)
    assert checked_judgements([Judgement(torch.tensor(True))], 1, None)[0].label is True
