"""Evaluation metrics, confidence intervals, judges, the results table and the `swirl evaluate` command."""

from __future__ import annotations

import argparse
import io
import json
import math

import numpy as np
import pytest
import toys
from scipy import stats as sps

from swirl_algos.evaluation import add_arguments, evaluate_trajectories, load_judge
from swirl_algos.report import (
    cluster_bootstrap_interval,
    print_table,
    summarize,
    t_interval,
    wilson_interval,
)
from swirl_env.rewards.judges.base import Judgement, OutcomeJudge, ProcessJudge
from swirl_env.trajectory import Step, Trajectory


def make_traj(
    tid: str, task: str, kinds: list[str], *, answer: str | None, score: float, labels=None, f1=None
) -> Trajectory:
    msgs = [{"role": "user", "content": f"Question {task}?"}]
    steps = []
    for i, kind in enumerate(kinds):
        action = {
            "call": "<math_exp> 1+1 </math_exp>",
            "answer": f"<answer> {answer} </answer>",
            "none": "I am thinking",
            "malformed": "<math_exp> 1+",
        }[kind]
        steps.append(
            Step(
                index=i,
                message_index=len(msgs),
                action=action,
                kind=kind,
                argument=answer if kind == "answer" else None,
                process=None if labels is None else {"label": labels[i]},
            )
        )
        msgs.append({"role": "assistant", "content": action})
        if kind != "answer":
            msgs.append({"role": "user", "content": "1+1 -> 2" if kind == "call" else "Error: no call"})
    metrics = {"em": score}
    if f1 is not None:
        metrics.update({"f1": f1, "precision": f1, "recall": f1})
    return Trajectory(
        id=tid,
        env_id="Toy-v0",
        task={
            "id": task,
            "question": f"Question {task}?",
            "answers": ["2"],
            "dataset": "toy",
            "split": "test",
        },
        messages=msgs,
        steps=steps,
        final_answer=answer,
        outcome={"score": score, "metric": "em", "metrics": metrics},
        terminated=answer is not None,
        truncated=answer is None,
    )


TRAJS = [
    make_traj("a#0", "a", ["call", "answer"], answer="2", score=1.0, labels=[True, True], f1=1.0),
    make_traj(
        "b#0", "b", ["none", "call", "answer"], answer="3", score=0.0, labels=[False, True, True], f1=0.5
    ),
    make_traj("c#0", "c", ["answer"], answer="2", score=1.0, labels=[True], f1=1.0),
    make_traj(
        "d#0", "d", ["malformed", "call", "call"], answer=None, score=0.0, labels=[False, None, True], f1=0.0
    ),
]


class KeyJudge(OutcomeJudge):
    """YES iff the prediction is the first gold answer; fails on a given prediction."""

    name = "key"

    def __init__(self, fail_on: str | None = None):
        self.fail_on = fail_on
        self.seen = []

    def judge_outcomes(self, requests):
        self.seen.extend(requests)
        return [
            Judgement(label=None, error="boom")
            if r.prediction == self.fail_on
            else Judgement(label=r.prediction == r.task.answers[0])
            for r in requests
        ]


class CallIsGood(ProcessJudge):
    name = "call-is-good"

    def __init__(self):
        self.seen = []

    def judge_steps(self, requests):
        self.seen.extend(requests)
        return [Judgement(label=r.step["kind"] in ("call", "answer")) for r in requests]


def test_wilson_matches_closed_form_and_edges():
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)  # textbook value
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and 0.15 < hi < 0.17
    assert wilson_interval(20, 20)[1] == 1.0
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    # narrower at higher n, wider at higher confidence
    assert np.diff(wilson_interval(80, 100))[0] < np.diff(wilson_interval(8, 10))[0]
    assert np.diff(wilson_interval(8, 10, 0.99))[0] > np.diff(wilson_interval(8, 10))[0]


def test_t_interval_matches_scipy_and_bootstrap_is_sane():
    x = [1.0, 2.5, 3.0, 4.5, 2.0]
    ref = sps.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=sps.sem(x))
    assert np.allclose(t_interval(x), ref)
    assert t_interval([2.0, 2.0]) == (2.0, 2.0)
    assert all(math.isnan(v) for v in t_interval([1.0]))
    values = [1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 1, 1]
    clusters = [i // 3 for i in range(12)]
    lo, hi = cluster_bootstrap_interval(values, clusters, seed=0)
    assert lo <= np.mean(values) <= hi and 0 <= lo < hi <= 1
    assert (lo, hi) == cluster_bootstrap_interval(values, clusters, seed=0)  # seeded
    # clustering widens the interval relative to treating the 12 as independent
    assert hi - lo > np.diff(wilson_interval(sum(values), 12))[0] * 0.5
    assert summarize([])["n"] == 0
    assert summarize([0.5, 1.0])["method"] == "t"
    assert summarize([1, 0, 1], clusters=["a", "a", "b"])["method"] == "cluster-bootstrap"


def test_metrics_from_env_outcomes_and_recorded_labels():
    r = evaluate_trajectories(TRAJS)
    m = r["metrics"]
    assert r["n_episodes"] == 4 and r["n_tasks"] == 4
    assert m["accuracy"]["mean"] == 0.5 and m["accuracy"]["method"] == "wilson"
    assert m["accuracy"]["source"] == "env:em"
    assert m["f1"]["mean"] == pytest.approx((1 + 0.5 + 1 + 0) / 4) and m["f1"]["method"] == "t"
    assert "precision" in m and "recall" in m
    # per trajectory then across: (1 + 2/3 + 1 + 1/2) / 4 (the None label is skipped)
    assert m["mean_process_label"]["mean"] == pytest.approx((1 + 2 / 3 + 1 + 0.5) / 4)
    assert m["mean_process_label"]["source"] == "recorded" and r["counts"]["process_label_missing"] == 1
    assert m["steps_per_episode"]["mean"] == pytest.approx(9 / 4)
    assert m["tool_calls_per_episode"]["mean"] == pytest.approx(4 / 4)
    assert m["answered_rate"]["mean"] == 0.75
    assert m["parse_failure_rate"]["mean"] == pytest.approx(2 / 9)
    assert m["parse_failure_rate"]["method"] == "cluster-bootstrap"  # steps of an episode are dependent
    for v in m.values():
        assert v["ci_low"] <= v["mean"] <= v["ci_high"] or math.isnan(v["ci_low"])


def test_outcome_and_process_judges_drive_accuracy_and_process_label():
    outcome, process = KeyJudge(fail_on="3"), CallIsGood()
    r = evaluate_trajectories(TRAJS, outcome_judge=outcome, process_judge=process)
    m = r["metrics"]
    # "d" has no answer: wrong without asking the judge; "b"'s judgement failed: left out and counted
    assert [q.prediction for q in outcome.seen] == ["2", "3", "2"]
    assert m["accuracy"]["mean"] == pytest.approx(2 / 3) and m["accuracy"]["n"] == 3
    assert m["accuracy"]["source"] == "judge:key" and r["counts"]["outcome_judge_failures"] == 1
    assert m["env_score"]["mean"] == 0.5
    assert len(process.seen) == 9
    first = process.seen[0]
    assert first.context == TRAJS[0].messages[:1] and first.task.id == "a"
    assert process.seen[3].context == TRAJS[1].messages[:3]  # state before b's second step
    assert m["mean_process_label"]["mean"] == pytest.approx((1 + 2 / 3 + 1 + 2 / 3) / 4)
    assert m["mean_process_label"]["source"] == "judge:call-is-good"


def test_recorded_judgements_are_used_without_judges():
    from swirl_algos.evaluation import judge_for_evaluation

    judged = judge_for_evaluation(TRAJS, outcome_judge=KeyJudge(fail_on="3"), process_judge=CallIsGood())
    assert TRAJS[0].outcome.get("judge") is None  # inputs are not modified
    r = evaluate_trajectories(judged)
    assert r["metrics"]["accuracy"]["mean"] == pytest.approx(2 / 3)
    assert r["metrics"]["accuracy"]["source"].startswith("recorded judge")
    assert r["metrics"]["mean_process_label"]["mean"] == pytest.approx((1 + 2 / 3 + 1 + 2 / 3) / 4)


def test_several_samples_per_task_use_cluster_intervals():
    trajs = [
        make_traj(
            f"{t}#{s}", t, ["answer"], answer="2" if (s + ord(t)) % 2 else "1", score=float((s + ord(t)) % 2)
        )
        for t in "abcdef"
        for s in range(3)
    ]
    r = evaluate_trajectories(trajs)
    assert r["n_tasks"] == 6 and r["n_episodes"] == 18
    assert r["metrics"]["accuracy"]["method"] == "cluster-bootstrap"
    assert "mean_process_label" not in r["metrics"]  # no labels recorded, no judge


def test_errors_and_judge_loading():
    with pytest.raises(ValueError, match="no trajectories"):
        evaluate_trajectories([])
    assert load_judge(None, "outcome") is None
    judge = load_judge(f"{__name__}:KeyJudge", "outcome", {"fail_on": "x"})
    assert isinstance(judge, KeyJudge) and judge.fail_on == "x"
    with pytest.raises(TypeError, match="ProcessJudge"):
        load_judge(f"{__name__}:KeyJudge", "process")
    with pytest.raises(ValueError, match="module:ClassName"):
        load_judge("KeyJudge", "outcome")
    with pytest.raises(ValueError, match="cannot import"):
        load_judge("no_such_module:Judge", "outcome")


def test_load_judge_shortcuts_build_real_judges(tmp_path):
    """'hf:PATH' loads a local model judge (with the on-disk cache); 'openai:MODEL@URL' an endpoint judge."""
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
    from swirl_env.rewards.judges.base import ProcessRequest

    tok = build_tiny_tokenizer(["Verdict: GOOD BAD YES NO"], vocab_size=300)
    build_tiny_model(tok, hidden_size=16, num_layers=1).save_pretrained(tmp_path / "judge")
    tok.save_pretrained(tmp_path / "judge")
    judge = load_judge(
        f"hf:{tmp_path / 'judge'}", "process", {"mode": "score"}, cache=str(tmp_path / "c.sqlite")
    )
    req = ProcessRequest(
        None, [{"role": "user", "content": "Question: 1+1?"}], "<math_exp> 1 + 1 </math_exp>"
    )
    first, again = judge.judge_steps([req])[0], judge.judge_steps([req])[0]
    assert 0.0 <= first.score <= 1.0 and first == again
    judge.close()
    assert (
        type(load_judge(f"hf:{tmp_path / 'judge'}", "outcome", {"mode": "score"})).__name__
        == "HFOutcomeJudge"
    )
    remote = load_judge("openai:judge-model@http://localhost:9/v1", "process")
    assert type(remote).__name__ == "OpenAIProcessJudge"
    remote.close()
    with pytest.raises(ValueError, match="MODEL@BASE_URL"):
        load_judge("openai:judge-model", "process")
    assert type(load_judge("rule", "process")).__name__ == "RuleProcessJudge"
    assert type(load_judge("rule", "outcome")).__name__ == "RuleOutcomeJudge"


def test_print_table_renders_all_metrics():
    from rich.console import Console

    results = {"env_id": "Toy-v0", **evaluate_trajectories(TRAJS, outcome_judge=KeyJudge(fail_on="3"))}
    buf = io.StringIO()
    print_table(results, console=Console(file=buf, width=140))
    out = buf.getvalue()
    for name in ("accuracy", "f1", "mean_process_label", "steps_per_episode", "parse_failure_rate", "95% CI"):
        assert name in out
    assert "outcome_judge_failures: 1" in out
    json.dumps(results)  # JSON-serialisable


def test_evaluate_command_arguments():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--env", "SwiRL-GSM8K-v0", "--model", "path", "--n-tasks", "3"])
    assert args.temperature == 0.0 and args.samples == 1 and args.n_tasks == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["--env", "X"])  # a model or a server is required


# ------------------------------------------------------------------------------------------ with rollout


ADD_ENV = "SwiRLTest-Add-v0"


@pytest.fixture(scope="module")
def add_env_id():
    """The registered toy env (integer addition with a calculator) for end-to-end evaluation."""
    return toys.register_add_env(ADD_ENV, max_tool_calls=2, n_tasks=8)


def test_evaluate_runs_episodes_with_real_tools(add_env_id, tmp_path):
    from swirl_algos.evaluation import evaluate
    from swirl_algos.policies.base import Policy

    # one calculator call, then the answer read from the tool result
    policy = type("Scripted", (toys.Adder, Policy), {"name": "scripted"})(preamble="I add. ")
    results = evaluate(add_env_id, policy, n_tasks=6, output_dir=tmp_path, progress=False)
    m = results["metrics"]
    assert results["n_episodes"] == 6 and m["accuracy"]["mean"] == 1.0
    assert m["steps_per_episode"]["mean"] == 2.0 and m["tool_calls_per_episode"]["mean"] == 1.0
    assert m["parse_failure_rate"]["mean"] == 0.0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["metrics"]["accuracy"]["mean"] == 1.0 and saved["policy"]["name"] == "scripted"
    assert len((tmp_path / "trajectories.jsonl").read_text().splitlines()) == 6
    judged = evaluate(
        add_env_id,
        policy,
        n_tasks=4,
        samples_per_task=2,
        outcome_judge=KeyJudge(),
        process_judge=CallIsGood(),
        output_dir=tmp_path / "judged",
        progress=False,
    )
    lines = (tmp_path / "judged" / "judged.jsonl").read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[0])["outcome"]["judge"]["label"] is True
    assert judged["n_episodes"] == 8 and judged["metrics"]["accuracy"]["method"] == "cluster-bootstrap"
    assert judged["metrics"]["mean_process_label"]["mean"] == 1.0


def test_evaluate_command_with_a_tiny_hf_model(add_env_id, tmp_path, capsys):
    from swirl_algos.evaluation import run
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

    tok = build_tiny_tokenizer(
        ["What is 1 + 2? <math_exp> 1 + 2 </math_exp> <answer> 3 </answer>"], vocab_size=300
    )
    build_tiny_model(tok, hidden_size=16, num_layers=1).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--env",
            add_env_id,
            "--model",
            str(tmp_path / "m"),
            "--n-tasks",
            "3",
            "--max-new-tokens",
            "4",
            "--output",
            str(tmp_path / "eval"),
            "--no-progress",
        ]
    )
    assert run(args) == 0
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["n_episodes"] == 3 and 0.0 <= results["metrics"]["accuracy"]["mean"] <= 1.0
    assert "accuracy" in capsys.readouterr().out


def test_the_intervals_old_import_path_warns_and_works():
    import swirl_algos.evaluation as evaluation

    with pytest.warns(DeprecationWarning, match="swirl_algos.report.wilson_interval"):
        assert evaluation.wilson_interval is wilson_interval
