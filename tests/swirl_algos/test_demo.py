"""``swirl demo``: the quick setting end to end (every stage runs), its outputs, and stage re-use."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest

from swirl_algos.demo import DemoConfig, add_arguments, config_from_args, print_results, run_demo

pytestmark = pytest.mark.timeout(600)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _console():
    from rich.console import Console

    buf = io.StringIO()
    return Console(file=buf, width=200, force_terminal=False), buf


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    console, buf = _console()
    config = DemoConfig.quick_config(output_dir=str(out), progress=False)
    results = run_demo(config, console=console)
    return config, results, buf.getvalue(), out


def test_outputs_exist_and_the_table_is_printed(demo):
    config, results, printed, out = demo
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["methods"] == results["methods"] == config.methods()
    assert config.methods() == ["base", "sft-none", "swirl-none", "swirl-process"]
    for name in ("accuracy.png", "learning_curves.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    for label in ("base (warm-started)", "SFT, unfiltered", "SWiRL, unfiltered", "SWiRL, process-filtered"):
        assert label in printed
    assert "SWiRL, unfiltered vs base" in printed and "SWiRL, unfiltered vs SFT, unfiltered" in printed
    for stage in ("tiny", "oracle", "warmstart", "generate", "train/swirl-none-s0", "eval/base-s1"):
        assert (out / stage / "stage.json").exists(), stage
    assert results["environment"]["torch"] and results["model"]["parameters"] > 1000
    # a filter that keeps nothing trains nothing: that run is the base model, and the results say so
    for skipped in results["skipped_training"]:
        assert skipped.startswith("train/") and (out / skipped / "skipped.json").exists()


def test_numbers_are_consistent_with_the_evaluation_files(demo):
    config, results, _, out = demo
    acc = results["summary"]["accuracy"]
    n_tasks = config.eval_tasks
    for method in results["methods"]:
        s = acc[method]
        assert s["n_tasks"] == n_tasks and s["n_seeds"] == len(config.seeds)
        assert 0.0 <= s["ci_low"] <= s["mean"] <= s["ci_high"] <= 1.0
        assert s["mean"] == pytest.approx(np.mean(list(s["per_seed"].values())))
        for seed in config.seeds:
            lines = (out / "eval" / f"{method}-s{seed}" / "judged.jsonl").read_text().splitlines()
            episodes = [json.loads(x) for x in lines]
            assert len(episodes) == n_tasks
            correct = np.mean([e["outcome"].get("score", 0.0) for e in episodes])
            assert s["per_seed"][str(seed)] == pytest.approx(correct)
            # the evaluation's own results agree
            own = results["runs"][method][str(seed)]["accuracy"]["mean"]
            assert own == pytest.approx(correct)
        if method != "base":
            d = s["diff_vs_base"]
            assert d["mean"] == pytest.approx(s["mean"] - acc["base"]["mean"])
            assert d["ci_low"] <= d["mean"] <= d["ci_high"]
    assert set(results["summary"]["greedy_accuracy"]) == set(results["methods"])
    assert 0.0 <= results["summary"]["mean_process_label"]["base"]["mean"] <= 1.0
    # the data stage recorded the filters the paper compares
    filters = results["data"]["filters"]
    assert set(filters) == {"none", "process", "outcome", "process+outcome"}
    assert filters["none"]["trajectories"] == config.gen_tasks * config.gen_samples
    assert filters["process"]["trajectories"] <= filters["none"]["trajectories"]
    # learning curves were recorded for every SWiRL run that trained
    runs = results["curves"]["swirl"]["swirl-none"]
    assert set(runs) == {str(s) for s in config.seeds} and all(runs.values())


def test_a_rerun_reuses_every_stage_and_gives_the_same_numbers(demo):
    config, results, _, _ = demo
    console, _ = _console()
    again = run_demo(config, console=console)
    assert again["timings"]["stages_run"] == {}
    assert again["summary"]["accuracy"] == results["summary"]["accuracy"]


def test_a_changed_setting_reruns_only_what_depends_on_it(demo):
    config, _, _, _ = demo
    console, _ = _console()
    changed = DemoConfig(**{**config.to_dict(), "swirl_lr": config.swirl_lr * 2, "seeds": [config.seeds[0]]})
    results = run_demo(changed, console=console)
    rerun = set(results["timings"]["stages_run"])
    assert rerun and all(s.startswith(("train/swirl-", "eval/swirl-")) for s in rerun), rerun
    assert {"tiny", "oracle", "warmstart", "generate"} <= set(results["timings"]["stages_reused"])
    printed = io.StringIO()
    from rich.console import Console

    print_results(results, Console(file=printed, width=200))
    assert "SWiRL" in printed.getvalue()


def test_command_line_arguments():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--quick", "--seeds", "3", "4", "-o", "x", "--set", "swirl_lr=0.001", "--no-progress"]
    )
    cfg = config_from_args(args)
    assert cfg.seeds == [3, 4] and cfg.output_dir == "x" and cfg.swirl_lr == 0.001 and not cfg.progress
    assert cfg.hidden_size == DemoConfig.quick_config().hidden_size
    full = config_from_args(parser.parse_args([]))
    assert full.output_dir == "runs/demo" and full.seeds == [0, 1]
    with pytest.raises(SystemExit, match="FIELD=VALUE"):
        config_from_args(parser.parse_args(["--set", "nope=1"]))
    with pytest.raises(SystemExit, match="filter"):
        config_from_args(parser.parse_args(["--set", 'swirl_filters=["best"]']))


def test_config_validation():
    with pytest.raises(ValueError, match="seeds"):
        DemoConfig(seeds=[1, 1])
    with pytest.raises(ValueError, match="num_generations"):
        DemoConfig(num_generations=3, swirl_batch_size=8)
    with pytest.raises(ValueError, match="temperature"):
        DemoConfig(temperature=0)
    assert Path(DemoConfig().output_dir) == Path("runs/demo")
