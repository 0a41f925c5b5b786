"""``swirl demo``: the quick setting end to end (every stage runs), its outputs, and stage re-use."""

from __future__ import annotations

import argparse
import dataclasses
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
    settings = config.to_dict()
    settings["swirl"]["learning_rate"] *= 2
    changed = DemoConfig(**{**settings, "seeds": [config.seeds[0]]})
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
        ["--quick", "--seeds", "3", "4", "-o", "x", "--set", "swirl.learning-rate=0.001", "--no-progress"]
    )
    cfg = config_from_args(args)
    assert (
        cfg.seeds == [3, 4]
        and cfg.output_dir == "x"
        and cfg.swirl.learning_rate == 0.001
        and not cfg.progress
    )
    quick = DemoConfig.quick_config()
    assert cfg.hidden_size == quick.hidden_size and cfg.swirl.max_steps == quick.swirl.max_steps
    full = config_from_args(parser.parse_args([]))
    assert full.output_dir == "runs/demo" and full.seeds == [0, 1]
    with pytest.raises(SystemExit, match=r"no field 'nope'; its fields are .*swirl\.FIELD"):
        config_from_args(parser.parse_args(["--set", "nope=1"]))
    with pytest.raises(SystemExit, match="FIELD=VALUE"):
        config_from_args(parser.parse_args(["--set", "nope"]))
    with pytest.raises(SystemExit, match="filter"):
        config_from_args(parser.parse_args(["--set", 'swirl_filters=["best"]']))
    with pytest.raises(SystemExit, match="no field 'learning_rat'"):
        config_from_args(parser.parse_args(["--set", "swirl.learning_rat=1"]))
    with pytest.raises(SystemExit, match=r"no field 'seeds\.x'"):
        config_from_args(parser.parse_args(["--set", "seeds.x=1"]))
    steps = config_from_args(parser.parse_args(["--quick", "--swirl-steps", "7", "--warmstart-steps", "9"]))
    assert (steps.swirl.max_steps, steps.warmstart.max_steps) == (7, 9)
    assert steps.swirl.num_generations == DemoConfig.quick_config().swirl.num_generations


def test_learner_configs_are_nested_whole_and_fingerprinted_whole():
    from swirl_algos.learners.config import SupervisedConfig, SwirlConfig

    cfg = DemoConfig(swirl={"beta": 0.3})
    assert isinstance(cfg.swirl, SwirlConfig) and isinstance(cfg.sft, SupervisedConfig)
    assert cfg.swirl.beta == 0.3 and cfg.swirl.learning_rate == DemoConfig().swirl.learning_rate
    assert DemoConfig(**cfg.to_dict()) == cfg  # the config round-trips through its dict (config.json)
    # any learner field is in its stage's fingerprint, the fields the demo sets per run are not
    base, other = (
        DemoConfig().stage_settings("swirl"),
        DemoConfig(swirl={"max_grad_norm": 0.5}).stage_settings("swirl"),
    )
    assert base != other and DemoConfig().stage_settings("sft") == DemoConfig(
        swirl={"beta": 1}
    ).stage_settings("sft")
    assert not {"output_dir", "seed", "max_completion_length"} & set(base["swirl"])
    with pytest.raises(ValueError, match="for every run"):
        DemoConfig(swirl={"seed": 3})
    with pytest.raises(ValueError, match="unknown SupervisedConfig fields"):
        DemoConfig(sft={"beta": 1.0})
    # quick overrides of a nested config merge with quick's own
    quick = DemoConfig.quick_config(swirl={"beta": 0.5})
    assert quick.swirl.beta == 0.5 and quick.swirl.max_steps == 3


def test_the_earlier_flat_names_still_work_with_a_warning():
    with pytest.warns(FutureWarning, match="swirl.learning_rate"):
        cfg = DemoConfig.from_assignments({"swirl_lr": 3e-4, "sft_epochs": 3.0})
    assert cfg.swirl.learning_rate == 3e-4 and cfg.sft.num_train_epochs == 3.0
    with pytest.warns(FutureWarning, match="DemoConfig.swirl.num_generations"):
        assert cfg.num_generations == cfg.swirl.num_generations
    with pytest.raises(AttributeError):
        _ = cfg.no_such_setting
    # in the constructor, in dataclasses.replace and in quick_config too; setting one is an error
    with pytest.warns(FutureWarning):
        built = DemoConfig(swirl_lr=3e-4, swirl={"beta": 0.2})
    assert (built.swirl.learning_rate, built.swirl.beta) == (3e-4, 0.2)
    with pytest.warns(FutureWarning):
        assert dataclasses.replace(built, swirl_steps=7).swirl.max_steps == 7
    with pytest.warns(FutureWarning):
        assert DemoConfig.quick_config(swirl_lr=2e-3).swirl.learning_rate == 2e-3
    with pytest.raises(AttributeError, match=r"swirl\.learning_rate"):
        built.swirl_lr = 1.0


def test_warm_up_and_logging_steps_follow_a_changed_step_count():
    cfg = DemoConfig.from_assignments({"swirl.max_steps": 20, "warmstart.max_steps": 100})
    assert (cfg.swirl.warmup_steps, cfg.swirl.logging_steps) == (2, 5)
    assert (cfg.warmstart.warmup_steps, cfg.warmstart.logging_steps) == (10, 12)
    short = DemoConfig(swirl={"max_steps": 3})
    assert (short.swirl.warmup_steps, short.swirl.logging_steps) == (0, 1)
    kept = DemoConfig(swirl={"max_steps": 3, "logging_steps": 3})  # a field set by the user stays
    assert kept.swirl.logging_steps == 3 and kept.swirl.warmup_steps == 0


def test_config_validation():
    with pytest.raises(ValueError, match="seeds"):
        DemoConfig(seeds=[1, 1])
    with pytest.raises(ValueError, match="num_generations"):
        DemoConfig(swirl={"num_generations": 3, "per_device_train_batch_size": 8})
    with pytest.raises(ValueError, match="max_steps"):
        DemoConfig(warmstart={"max_steps": 0})
    with pytest.raises(ValueError, match="temperature"):
        DemoConfig(temperature=0)
    # a nested learner field's own check, named by its dotted name
    with pytest.raises(ValueError, match=r"^swirl\.temperature must be > 0"):
        DemoConfig(swirl={"temperature": 0})
    with pytest.raises(TypeError, match=r"^sft\.num_train_epochs must be a number"):
        DemoConfig.from_assignments({"sft.num_train_epochs": "two"})
    # the demo's own fields: types from the annotations, ranges from DemoConfig.BOUNDS
    for values, error, match in [
        ({"eval_tasks": 1e400}, TypeError, "eval_tasks must be an integer"),
        ({"eval_tasks": 2.5}, TypeError, "eval_tasks must be an integer"),
        ({"env_kwargs": 5}, TypeError, "env_kwargs must be a mapping"),
        ({"threads": "x"}, TypeError, "threads must be an integer or None"),
        ({"hidden_size": 0}, ValueError, "hidden_size must be >= 1"),
        ({"hidden_size": 100}, ValueError, "must be an even integer"),
        ({"seeds": 5}, TypeError, "seeds must be a list"),
        ({"seeds": [1.7, 1.2]}, TypeError, "seeds must be a list of integers"),
        ({"temperature": float("nan")}, ValueError, "temperature must be a finite number"),
        ({"progress": "maybe"}, TypeError, "progress must be True or False"),
        ({"oracle_error_rate": 1.5}, ValueError, "oracle_error_rate must be in"),
    ]:
        with pytest.raises(error, match=match):
            DemoConfig.from_assignments(values)
    assert Path(DemoConfig().output_dir) == Path("runs/demo")
