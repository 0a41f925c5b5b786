"""Rule-based judges on real GSM8K data, and online (wrapper) vs offline judging."""

from __future__ import annotations

import gymnasium as gym
import pytest

import swirl_env  # noqa: F401
from benchmarks.bench_judges import CORRUPTIONS, build_gold_trajectories, corrupted_requests, judge_agreement
from swirl_env.rewards import OutcomeReward, ProcessReward, RuleOutcomeJudge, RuleProcessJudge
from swirl_env.rewards.judges.base import OutcomeRequest
from swirl_env.rewards.wrappers import judge_trajectory
from swirl_env.tasks.base import Task


@pytest.fixture(scope="module")
def report():
    return judge_agreement(n_tasks=150, progress=False)


def test_gold_replay_steps_are_mostly_good(report) -> None:
    # Measured on the whole bundled test split: 5271 of 5601 gold steps GOOD (0.941); the BAD ones are
    # GSM8K solutions that use numbers computed in prose, outside any <<annotation>> (docs/judges.md).
    counts = report.counts["gold"]
    assert counts["failed"] == 0
    assert report.rate("gold") >= 0.90
    assert set(report.disagreements.get("gold", {})) <= {
        "math.operands",
        "math.answer",
        "math.early_answer",
        "math.repeat",
    }


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupted_steps_are_bad(report, kind: str) -> None:
    # wrong_answer can coincide with an earlier calculator result (20 of 1319 on the whole split)
    assert report.rate(kind) >= (0.97 if kind == "wrong_answer" else 1.0), report.to_dict()


def test_every_corruption_kind_is_built_at_a_real_gold_state() -> None:
    traj = build_gold_trajectories(n_tasks=1, progress=False)[0]
    pairs = corrupted_requests(traj)
    assert {k for k, _ in pairs} == set(CORRUPTIONS)
    for _, req in pairs:
        n = len(req.context)
        assert req.context == traj.messages[:n]  # an exact prefix of the real conversation


def test_outcome_judge_uses_numeric_equivalence() -> None:
    task = Task("t", "How much?", ("18",), "gsm8k", "test")
    judge = RuleOutcomeJudge()
    labels = [
        j.label
        for j in judge.judge_outcomes(
            [OutcomeRequest(task, p, []) for p in ("$18.00", "18 dollars", "17", "no idea")]
        )
    ]
    assert labels == [True, True, False, False]


def test_online_wrapper_and_offline_judging_give_the_same_labels() -> None:
    judge = RuleProcessJudge()
    env = ProcessReward(OutcomeReward(gym.make("SwiRL-GSM8K-v0"), RuleOutcomeJudge()), judge)
    tasks = env.unwrapped.tasks
    seen_bad = seen_good = 0
    for i in range(12):
        _, info = env.reset(options={"task_index": i})
        task = tasks[i]
        exprs = [a.split("=", 1)[0] for a in task.metadata["annotations"]][:3]
        # a mix of good steps, a repeat, a made-up number and a prose step, then the answer
        actions = [f"<math_exp> {e} </math_exp>" for e in exprs]
        if exprs:
            actions.insert(1, f"<math_exp> {exprs[0]} </math_exp>")
        actions += [
            "<math_exp> 12345 * 3 </math_exp>",
            "hmm, let me think",
            f"<answer> {task.answer} </answer>",
        ]
        online = []
        for a in actions:
            _, reward, term, trunc, info = env.step(a)
            online.append(info["step"]["process"]["label"])
            assert info["reward_components"]["process"] == float(online[-1])
            assert reward == pytest.approx(sum(info["reward_components"].values()))
            if term or trunc:
                break
        offline = judge_trajectory(env.unwrapped.trajectory(), judge).process_labels
        assert online == offline
        assert online == env.trajectory().process_labels
        seen_bad += online.count(False)
        seen_good += online.count(True)
    assert seen_bad >= 24 and seen_good >= 12


def test_qa_outcome_judge_scores_as_the_official_script() -> None:
    # MuSiQue's metrics/answer.py gives "No" against "numero symbol, No" F1 0.5; HotPotQA's gives 0
    judge = RuleOutcomeJudge(qa_metric="f1", f1_threshold=0.5)
    labels = [
        j.label
        for j in judge.judge_outcomes(
            [
                OutcomeRequest(Task("m", "?", ("numero symbol, No",), "musique", "dev"), "No", []),
                OutcomeRequest(Task("h", "?", ("numero symbol, No",), "hotpotqa", "dev"), "No", []),
            ]
        )
    ]
    assert labels == [True, False]
    # BeerQA's EM: the first alias with the best F1 decides
    em = RuleOutcomeJudge(qa_metric="em")
    tie = OutcomeRequest(Task("b", "?", ("y x", "x y"), "beerqa", "dev"), "x y", [])
    assert [j.label for j in em.judge_outcomes([tie])] == [False]
