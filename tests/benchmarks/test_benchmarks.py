"""Benchmark suites on tiny settings: ``perf`` (every component, side-by-side ratios) and ``paper``
(Table 2 layout, the filter comparison and data-size scaling, end to end with a tiny model)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import pytest

from benchmarks import __main__ as bench_cli
from benchmarks.paper import EVAL_ENVS, PAPER_TABLE2, PaperConfig, print_report, run_paper
from benchmarks.perf import bench_env, run_perf, summary_rows

pytestmark = pytest.mark.timeout(900)


def test_env_step_overhead_rows():
    result = bench_env(20)
    names = [r["env"] for r in result["rows"]]
    assert names[0].startswith("CartPole") and "ToolEnv, no-op tool" in names
    for r in result["rows"]:
        assert r["steps"] > 0 and r["us_per_step"] > 0 and r["x_cartpole"] > 0
    rows = {r["env"]: r for r in result["rows"]}
    # the framework does strictly more work than appending text: parsing, records, copies
    assert rows["ToolEnv, no-op tool"]["us_per_step"] > rows["minimal text env (append only)"]["us_per_step"]
    assert rows["SwiRL-Arithmetic-v0, SymPy calculator"]["steps"] == 20 * 5


def test_stepwise_benchmark_writes_its_rows_as_json(tmp_path, capsys):
    from benchmarks import bench_stepwise

    out = tmp_path / "s.json"
    argv = ["--ks", "2", "3", "--n-traj", "2", "--hidden-size", "32", "--layers", "1", "--repeats", "1"]
    assert bench_stepwise.main([*argv, "--no-sft", "--device", "cpu", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["K"] for r in rows] == [2, 3]
    for r in rows:
        assert r["tokens_per_step"] > r["tokens_single_pass"] > 0 and r["x_tokens"] > 1
        assert r["same_loss"] and r["loss_per_step"] == pytest.approx(r["loss_single_pass"], abs=1e-4)
    assert "speed-up" in capsys.readouterr().out


def test_perf_quick_runs_every_component_and_reports_ratios(tmp_path):
    results = run_perf(quick=True, device="cpu")
    assert results["retrieval"]["rows"] and results["retrieval"]["rows"][0]["x_qps"] > 1
    assert results["retrieval"]["rows"][0]["same_topk"] is True
    assert [r["K"] for r in results["stepwise"]["rows"]] == [2, 5, 10]
    assert all(r["same_loss"] and r["x_tokens"] > 1 for r in results["stepwise"]["rows"])
    roll = results["rollout"]["rows"]
    assert [r["num_envs"] for r in roll] == [1, 8] and roll[1]["same_trajectories"].split("/")[0] == (
        roll[1]["same_trajectories"].split("/")[1]
    )
    step = results["swirl_step"]["rows"]
    assert [r["setting"] for r in step] == ["demo"]
    # same states, G and action length; the shared prefix processes several times fewer tokens
    assert step[0]["action_tokens_ours"] == pytest.approx(step[0]["action_tokens_trl"], rel=0.2)
    assert step[0]["x_tokens"] > 3
    lines = summary_rows(results)
    assert {r["component"] for r in lines} == {
        "env step",
        "retrieval",
        "learner loss",
        "rollout",
        "SWiRL step",
    }
    assert all(r["ours"] > 0 and r["reference"] > 0 for r in lines)


def test_bench_command_dispatches_to_the_suites(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    out = tmp_path / "perf.json"
    code = bench_cli.run(parser.parse_args(["perf", "--only", "env", "--quick", "--json", str(out)]))
    assert code == 0 and json.loads(out.read_text())["env"]["rows"]
    assert "env step cost" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["nope"])
    args = parser.parse_args(["paper", "filters", "--n-questions", "3", "--data", "beerqa=/x.json"])
    assert args.experiments == ["filters"] and args.n_questions == 3


def _tiny_config(tmp_path, **kw):
    settings = {
        "output_dir": str(tmp_path / "paper"),
        "n_questions": 2,
        "samples": 2,
        "n_eval": 2,
        "swirl": {"max_steps": 1, "num_generations": 2, "per_device_train_batch_size": 4},
        "sft": {"per_device_train_batch_size": 4},
        "sizes": [2, 4],
        "max_new_tokens": 12,
        "num_envs": 4,
        "tiny_warmstart_steps": 3,
        "tiny_warmstart_tasks": 12,
        "arithmetic_base": {
            "oracle_tasks": 24,
            "warmstart": {"max_steps": 4},
            "vocab_size": 300,
            "hidden_size": 32,
            "num_layers": 1,
            "num_heads": 2,
            "num_envs": 8,
        },
        "progress": False,
    }
    settings.update(kw)
    return PaperConfig(**settings)


def test_paper_suite_end_to_end_on_tiny_settings(tmp_path, capsys):
    cfg = _tiny_config(tmp_path)
    results = run_paper(cfg)
    t2 = results["table2"]
    assert list(t2) == list(EVAL_ENVS)
    for row in ("GSM8K", "HotPotQA", "MuSiQue"):
        for col in ("base", "trained on gsm8k", "trained on hotpotqa"):
            acc = t2[row][col]["accuracy"]
            assert 0.0 <= acc["mean"] <= 1.0, (row, col)
    assert t2["BeerQA"]["base"] is None and t2["CofCA"]["base"] is None  # no bundled data
    f = results["filters"]
    assert f["eval_env"] == "Arithmetic" and results["scaling"]["eval_env"] == "Arithmetic"
    assert set(f["kept_trajectories"]) == {"none", "process", "outcome", "process+outcome"}
    assert f["kept_trajectories"]["none"] == cfg.n_questions * cfg.samples
    assert all(f["results"][f"{a}-{m}"] for a in ("swirl", "sft") for m in f["kept_trajectories"])
    assert set(results["scaling"]["results"]) == {"0", "2", "4"}
    print_report(results)
    printed = capsys.readouterr().out
    assert "Table 2 layout" in printed and "no data" in printed and "data-size scaling" in printed
    assert json.loads((tmp_path / "paper" / "results.json").read_text())["config"]["n_questions"] == 2
    # a second run re-uses every unit
    again = run_paper(cfg, ["filters"])
    assert again["unit_seconds"] == {}
    assert again["filters"]["results"] == f["results"]


def test_paper_config_validation():
    with pytest.raises(ValueError, match="train_env"):
        PaperConfig(train_env="musique")
    with pytest.raises(ValueError, match="--data"):
        PaperConfig(data={"arithmetic-train": "/x"})  # generated on demand: no file
    with pytest.raises(ValueError, match="--data"):
        PaperConfig(data={"wikipedia": "/x"})
    with pytest.raises(ValueError, match="multiple"):
        PaperConfig(swirl={"per_device_train_batch_size": 6, "num_generations": 4})
    with pytest.warns(FutureWarning, match="swirl.per_device_train_batch_size"):
        old = PaperConfig.from_assignments({"batch_size": 16, "swirl_steps": 5})
    assert old.swirl.per_device_train_batch_size == old.sft.per_device_train_batch_size == 16
    assert old.swirl.max_steps == 5
    assert set(PAPER_TABLE2) == set(EVAL_ENVS) and not math.isnan(PAPER_TABLE2["GSM8K"][1])


def test_sweep_demo_parses_variants_and_rejects_malformed_ones():
    from benchmarks.sweep_demo import parse_variant

    assert parse_variant("big=swirl.per_device_train_batch_size=256,swirl.advantage=group_norm") == (
        "big",
        {"swirl.per_device_train_batch_size": 256, "swirl.advantage": "group_norm"},
    )
    assert parse_variant("defaults=") == ("defaults", {})
    for bad in ("no-equals", "=swirl_lr=1", "x=swirl_lr"):
        with pytest.raises(ValueError):
            parse_variant(bad)


def test_sweep_demo_state_sets(tmp_path):
    from benchmarks.sweep_demo import write_state_set
    from swirl_algos.jsonl import read_jsonl, write_jsonl
    from swirl_env.trajectory import Step, Trajectory

    def traj(i, labels):
        msgs, steps = [{"role": "user", "content": "Q"}], []
        for k, lab in enumerate(labels):
            steps.append(Step(k, len(msgs), f"a{k}", "call", process={"label": lab}))
            msgs += [{"role": "assistant", "content": f"a{k}"}, {"role": "user", "content": "r"}]
        return Trajectory(f"q{i}#0", "E", {"id": f"q{i}"}, msgs, steps, outcome={"score": 1.0})

    demo_dir = tmp_path / "demo"
    (demo_dir / "generate").mkdir(parents=True)
    write_jsonl(demo_dir / "generate" / "judged.jsonl", [traj(0, [True, True]), traj(1, [True, False, True])])
    assert write_state_set(demo_dir, "process", tmp_path / "out") == demo_dir / "generate"
    got = {}
    for states in ("reached", "all"):
        data = write_state_set(demo_dir, states, tmp_path / "out")
        got[states] = [
            (r["trajectory_id"], r["step_index"]) for r in read_jsonl(data / f"steps-{states}.jsonl")
        ]
    # reached: up to and including the first BAD step; all: every step
    assert got["reached"] == [("q0#0", 0), ("q0#0", 1), ("q1#0", 0), ("q1#0", 1)]
    assert got["all"] == [*got["reached"], ("q1#0", 2)]
    with pytest.raises(ValueError, match="states must be one of"):
        write_state_set(demo_dir, "outcome", tmp_path / "out")


@pytest.mark.slow
def test_bench_outcome_rl_trains_both_paths_on_one_budget():
    from benchmarks import bench_outcome_rl

    rows = bench_outcome_rl.run(steps=1, tasks_per_step=1, generations=2, max_new_tokens=6, max_tool_calls=1)
    assert [r["steps"] for r in rows] == [1, 1]
    assert all(r["s_per_step"] > 0 and 0.0 <= r["reward"] <= 1.0 for r in rows)
    assert rows[0]["speed_vs_trl"] > 0


def test_retrieval_scale_benchmark_builds_loads_and_searches(tmp_path, capsys):
    from benchmarks import bench_retrieval_scale

    out = tmp_path / "rows.json"
    argv = ["--sizes", "300", "600", "--queries", "5", "--workdir", str(tmp_path / "w"), "--no-progress"]
    assert bench_retrieval_scale.main([*argv, "--json", str(out), "--estimate", "1200"]) == 0
    rows = json.loads(out.read_text())
    assert [r["passages"] for r in rows] == [300, 600]
    for r in rows:
        assert r["build_s"] > 0 and r["index_mb"] > 0 and r["p95_ms"] >= r["p50_ms"] > 0
        assert r["build_peak_rss_mb"] > 0 and r["search_peak_rss_mb"] > 0 and r["nnz"] > 0
    assert not (tmp_path / "w" / "n300").exists()  # removed without --keep
    printed = capsys.readouterr().out
    assert "estimate for 1,200 passages (line through 300 and 600)" in printed


def test_probe_states_reads_the_reached_states_and_judges_greedy_actions(tmp_path):
    from benchmarks.probe_states import greedy_good_rate, parse_model, reached_states, silent_bad_states
    from swirl_algos.jsonl import write_jsonl
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
    from swirl_env.trajectory import Step, Trajectory
    from tests.toys import RecordingJudge

    def traj(i, labels):
        msgs = [{"role": "user", "content": f"Question {i}"}]
        steps = []
        for k, lab in enumerate(labels):
            steps.append(
                Step(k, len(msgs), f"<math_exp> {k} + 1 </math_exp>", "call", process={"label": lab})
            )
            msgs += [
                {"role": "assistant", "content": steps[-1].action},
                {"role": "user", "content": f"{k} + 1 -> {k + 1}"},
            ]
        return Trajectory(
            f"q{i}#0", "SwiRL-Arithmetic-v0", {"id": f"q{i}", "question": f"Question {i}"}, msgs, steps
        )

    judged = tmp_path / "judged.jsonl"
    write_jsonl(
        judged, [t.to_dict() for t in (traj(0, [True, True]), traj(1, [True, False, True]), traj(2, [False]))]
    )
    records = reached_states(judged)
    # all of q0; q1 up to and including its first BAD step; the first state of q2
    assert [(r["trajectory_id"], r["step_index"]) for r in records] == [
        ("q0#0", 0),
        ("q0#0", 1),
        ("q1#0", 0),
        ("q1#0", 1),
        ("q2#0", 0),
    ]
    tok = build_tiny_tokenizer(["Question 1 <math_exp> 1 + 1 </math_exp>"], vocab_size=300)
    model_dir = tmp_path / "model"
    build_tiny_model(tok, hidden_size=32, num_layers=1).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    judge = RecordingJudge()
    assert greedy_good_rate(model_dir, records, judge) == 1.0
    assert len(judge.requests) == len(records)

    class BadJudge(RecordingJudge):
        def judge_steps(self, requests):
            return [dataclasses.replace(j, label=False) for j in super().judge_steps(requests)]

    # greedy BAD everywhere and every sample BAD: every state is a group without signal
    assert silent_bad_states(model_dir, records, BadJudge(), num_generations=3) == (5, 5)
    assert silent_bad_states(model_dir, records, RecordingJudge(), num_generations=3) == (0, 0)
    assert parse_model("a=b/c") == ("a", "b/c")
    with pytest.raises(ValueError, match="NAME=DIR"):
        parse_model("nodir")


def test_probe_misreading_counts_flipped_transfer_operators(tmp_path, capsys):
    from benchmarks.probe_misreading import main, misreading_row
    from swirl_algos.jsonl import write_jsonl
    from swirl_env.trajectory import Step, Trajectory

    q_transfer = "Ann has 7 apples. She gets 5 more from Tom. She sells 2. How many apples does Ann have now?"
    q_plain = "Bob has 9 cards. He sells 4. How many cards does Bob have now?"

    def traj(i, question, actions, score):
        steps = [Step(k, 1 + 2 * k, a, "call") for k, a in enumerate(actions)]
        messages = [{"role": "user", "content": "Question: " + question}]
        for a in actions:
            messages += [{"role": "assistant", "content": a}, {"role": "user", "content": "result"}]
        return Trajectory(
            f"q{i}#0",
            "SwiRL-Arithmetic-v0",
            {"id": f"q{i}", "question": question},
            messages,
            steps,
            outcome={"score": score},
        )

    judged = tmp_path / "eval" / "base-s0" / "judged.jsonl"
    judged.parent.mkdir(parents=True)
    write_jsonl(
        judged,
        [
            t.to_dict()
            for t in (
                traj(0, q_transfer, ["<math_exp> 7 - 5 </math_exp>", "<math_exp> 2 - 2 </math_exp>"], 0.0),
                traj(1, q_transfer, ["<math_exp> 7 + 5 </math_exp>", "<math_exp> 12 - 2 </math_exp>"], 1.0),
                traj(2, q_transfer, ["<math_exp> 7 + 5 </math_exp>"], 0.0),
                traj(3, q_plain, ["<math_exp> 9 - 4 </math_exp>"], 1.0),
            )
        ],
    )
    row = misreading_row(judged)
    # calls on the transfer number 5: one "-" (flipped), two "+"; "2" is not a transfer number
    assert row["transfer_calls"] == 3 and row["flipped"] == pytest.approx(1 / 3)
    assert row["acc_transfer"] == pytest.approx(100 / 3) and row["acc_other"] == 100.0
    assert (row["questions_transfer"], row["questions_other"]) == (3, 1)
    assert main(["--demo", str(tmp_path), "--json", str(tmp_path / "rows.json")]) == 0
    assert "base-s0" in capsys.readouterr().out and (tmp_path / "rows.json").exists()
    with pytest.raises(SystemExit, match="no evaluations"):
        main(["--demo", str(tmp_path / "missing")])


def test_retrieval_benchmark_rows_side_by_side_with_http_and_bm25s(tmp_path, capsys):
    """The side-by-side rows, HTTP included (its answers are checked against the in-process ones
    inside the benchmark); the bm25s rows and their pairing with ours when bm25s is installed."""
    from benchmarks import bench_retrieval

    out = tmp_path / "rows.json"
    argv = ["--sizes", "2000", "--queries", "20", "--rank-bm25-queries", "5", "--no-progress", "--no-mmap",
            "--http-clients", "2", "--http-requests", "5", "--json", str(out)]  # fmt: skip
    assert bench_retrieval.main(argv) == 0
    rows = {r["backend"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["rank_bm25"]["same_topk"] and rows["rank_bm25"]["max_score_diff"] == 0
    assert rows["http keep-alive"]["p50_ms"] > 0 and rows["http batched (64/req)"]["qps"] > 0
    assert rows["http load 2x5"]["errors"] == 0 and rows["http load 2x5"]["queries"] == 10
    try:
        import bm25s  # noqa: F401
    except ImportError:
        assert "bm25s not installed" in capsys.readouterr().out
        return
    numba_row = rows["bm25s numba f32"]
    assert numba_row["paired_ours_p50_ms"] > 0 and numba_row["paired_ratio_median"] > 0
    assert "paired query by query with ours" in numba_row["note"]
