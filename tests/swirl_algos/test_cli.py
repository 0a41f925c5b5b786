"""The ``swirl`` command, in process: help texts, and generate -> judge -> stats -> filter -> export -> show."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import toys

from swirl_algos.cli import COMMANDS, main
from swirl_algos.jsonl import read_jsonl, read_trajectories

ENV_ID = "SwiRLTest-CliAdd-v0"
RECORD = toys.ONE_STEP_RECORD

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def helper_module():
    """The toy env, registered as ENV_ID; its policies and judge load as ``toys:NAME``."""
    toys.register_add_env(ENV_ID, max_tool_calls=3, n_tasks=6, step=3, dataset="gsm8k")
    return toys


def test_top_level_help_lists_every_command_with_examples(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name}" in out
    assert "swirl generate --env" in out and "swirl filter" in out
    assert main([]) == 2
    assert main(["gen"]) == 2 and "did you mean generate" in capsys.readouterr().err
    assert main(["--version"]) == 0


@pytest.mark.parametrize(
    "name", ["generate", "judge", "filter", "export", "show", "stats", "train", "evaluate"]
)
def test_every_command_has_help_with_examples(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: swirl {name}") and "examples:" in out


@pytest.mark.parametrize("name", ["demo", "bench"])
def test_optional_commands_load_lazily_or_say_why_not(name, capsys):
    module = COMMANDS[name].module
    try:
        present = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        present = False
    if present:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
    else:
        with pytest.raises(SystemExit, match="not available"):
            main([name])


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "swirl_algos.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage: swirl" in out.stdout


def test_pipeline_commands_end_to_end(helper_module, tmp_path, capsys):
    traj = tmp_path / "traj.jsonl"
    gen = [
        "generate",
        "--env",
        ENV_ID,
        "--policy",
        "toys:Adder",
        "--policy-kwargs",
        '{"slip_every": 3}',
    ]
    assert main([*gen, "--n-tasks", "4", "--samples", "3", "-o", str(traj), "--no-progress"]) == 0
    assert len(read_jsonl(traj)) == 12
    # the same command with more tasks continues the file
    assert main([*gen, "--task-indices", "0-5", "--samples", "3", "-o", str(traj), "--no-progress"]) == 0
    trajs = read_trajectories(traj)
    assert len(trajs) == 18 and len({t.id for t in trajs}) == 18
    assert "episodes" in capsys.readouterr().out

    judged = tmp_path / "judged.jsonl"
    outcome = "rule" if importlib.util.find_spec("swirl_env.metrics.numeric") else "toys:KeyJudge"
    args = [
        "judge",
        str(traj),
        str(judged),
        "--process-judge",
        "rule",
        "--outcome-judge",
        outcome,
        "--no-progress",
    ]
    assert main(args) == 0
    judged_trajs = read_trajectories(judged)
    assert len(judged_trajs) == 18 and all("judge" in t.outcome for t in judged_trajs)
    with pytest.raises(SystemExit, match="new file"):
        main(["judge", str(traj), str(traj), "--process-judge", "rule"])
    with pytest.raises(SystemExit, match="process-judge"):
        main(["judge", str(traj), str(tmp_path / "x.jsonl")])
    capsys.readouterr()

    assert main(["stats", str(judged), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    right = sum(t.outcome["judge"]["label"] for t in judged_trajs)
    assert stats["episodes"] == 18 and stats["judged_accuracy"] == pytest.approx(right / 18)
    assert 0 < stats["mean_process_label"] < 1

    assert main(["filter", str(judged), "--dry-run"]) == 0
    assert "process+outcome" in capsys.readouterr().out
    kept = tmp_path / "kept.jsonl"
    assert main(["filter", str(judged), str(kept), "--mode", "outcome"]) == 0
    assert len(read_jsonl(kept)) == right
    steps = tmp_path / "steps.jsonl"
    assert main(["filter", str(judged), str(steps), "--mode", "process", "--level", "step"]) == 0
    assert all(r["process_label"] is True for r in read_jsonl(steps))
    with pytest.raises(SystemExit, match="differ"):
        main(["filter", str(judged), str(judged)])

    assert main(["export", str(kept), str(tmp_path / "ds")]) == 0
    from datasets import load_from_disk

    ds = load_from_disk(str(tmp_path / "ds"))
    assert len(ds) == sum(t.num_steps for t in read_trajectories(kept))
    assert ds[0]["completion"][0]["role"] == "assistant"
    assert main(["export", str(steps), str(tmp_path / "steps_ds.jsonl"), "--kind", "prompts"]) == 0
    exported = read_jsonl(tmp_path / "steps_ds.jsonl")
    assert exported and "completion" not in exported[0]
    # the learners read the exported step records as they are
    from swirl_algos.learners.common import load_records

    assert len(load_records(str(tmp_path / "steps_ds.jsonl"))) == len(exported)
    capsys.readouterr()

    assert main(["show", str(judged), "--index", "0"]) == 0
    out = capsys.readouterr().out
    assert trajs[0].id in out and "step 1" in out and "outcome" in out
    assert main(["show", str(judged), "--wrong", "-n", "2"]) == 0
    with pytest.raises(SystemExit, match="no trajectory with id"):
        main(["show", str(judged), "--id", "nope#0"])
    with pytest.raises(SystemExit, match="not found"):
        main(["stats", str(tmp_path / "missing.jsonl")])


def test_generate_with_a_saved_tiny_model(helper_module, tmp_path):
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

    tok = build_tiny_tokenizer(
        ["What is 1 + 2? <math_exp> 1 + 2 </math_exp> <answer> 3 </answer>"], vocab_size=300
    )
    build_tiny_model(tok, hidden_size=16, num_layers=1).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    out = tmp_path / "hf.jsonl"
    args = ["generate", "--env", ENV_ID, "--model", str(tmp_path / "m"), "--n-tasks", "2", "--samples", "2"]
    assert main([*args, "--max-new-tokens", "6", "--device", "cpu", "-o", str(out), "--no-progress"]) == 0
    trajs = read_trajectories(out)
    assert len(trajs) == 4 and trajs[0].policy["model"] == str(tmp_path / "m")
    with pytest.raises(SystemExit, match="JSON"):
        main(
            [
                "generate",
                "--env",
                ENV_ID,
                "--policy",
                "toys:Adder",
                "--env-kwargs",
                "{bad",
                "-o",
                str(out),
            ]
        )
    with pytest.raises(SystemExit, match="served-model"):
        main(["generate", "--env", ENV_ID, "--base-url", "http://127.0.0.1:9/v1", "-o", str(out)])
    # --policy names a policy class: an arbitrary callable is refused before it is called
    marker = tmp_path / "ran"
    for spec in ("os:system", "builtins:dict", "subprocess:run"):
        kwargs = json.dumps({"command": f"touch {marker}"})
        with pytest.raises(SystemExit, match=r"policy: .*not a"):
            main(["generate", "--env", ENV_ID, "--policy", spec, "--policy-kwargs", kwargs, "-o", str(out)])
    assert not marker.exists()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["export", "{tmp}/t.jsonl", "{tmp}/t.jsonl/o.jsonl"], "FileExistsError"),
        (["filter", "{tmp}/t.jsonl", "{tmp}/t.jsonl/o.jsonl", "--mode", "none"], "FileExistsError"),
    ],
)
def test_user_errors_are_one_line_without_a_traceback(tmp_path, capsys, argv, fragment):
    (tmp_path / "t.jsonl").write_text(json.dumps(RECORD) + "\n")
    code = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 1 and fragment in err and "Traceback" not in err
    assert err.startswith(f"swirl {argv[0]}: error: ") and err.count("\n") == 1


def test_an_interrupted_command_says_how_to_resume(monkeypatch, capsys):
    import swirl_algos.pipeline_cli as pipeline_cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline_cli, "run_show", interrupted)
    assert main(["show", "x.jsonl"]) == 130
    assert "interrupted; run the same command again to resume" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["stats", "show", "filter", "export", "judge"])
def test_a_directory_given_as_the_input_file_is_named(tmp_path, name):
    extra = {"filter": ["o.jsonl"], "export": ["o.jsonl"], "judge": ["o.jsonl", "--process-judge", "rule"]}
    with pytest.raises(SystemExit, match="is a directory, not a file"):
        main(
            [
                name,
                str(tmp_path),
                *[str(tmp_path / a) if a.endswith(".jsonl") else a for a in extra.get(name, [])],
            ]
        )


def test_export_writes_its_output_whole_or_not_at_all(tmp_path, monkeypatch):
    import datasets

    src, out = tmp_path / "t.jsonl", tmp_path / "steps.jsonl"
    src.write_text(json.dumps(RECORD) + "\n")
    with pytest.raises(SystemExit, match="must differ from the input"):
        main(["export", str(src), str(src)])
    out.write_text("the previous export\n")

    def crash(self, path, **kw):
        with open(path, "w") as f:
            f.write('{"prompt": "half')
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets.Dataset, "to_json", crash)
    assert main(["export", str(src), str(out)]) == 130
    assert out.read_text() == "the previous export\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "steps.jsonl",
        "t.jsonl",
    ]
    monkeypatch.undo()
    assert main(["export", str(src), str(out)]) == 0 and len(read_jsonl(out)) == 1
    assert (
        main(["export", str(src), str(tmp_path / "ds")]) == 0
        and main(["export", str(src), str(tmp_path / "ds")]) == 0
    )
    assert len(datasets.load_from_disk(str(tmp_path / "ds"))) == 1


def test_the_judge_cache_and_the_trained_model_are_never_an_output(tmp_path):
    src = tmp_path / "t.jsonl"
    src.write_text("")
    cases = [
        (src, "the cache needs a file of its own"),
        (tmp_path / "j.jsonl", "the cache needs a file of its own"),
    ]
    for cache, fragment in [*cases, (tmp_path, "a directory, not a file")]:
        argv = [
            "judge",
            str(src),
            str(tmp_path / "j.jsonl"),
            "--process-judge",
            "rule",
            "--judge-cache",
            str(cache),
        ]
        with pytest.raises(SystemExit, match=fragment):
            main(argv)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(SystemExit, match="is the model being trained"):
        main(
            ["train", "--algo", "sft", "--model", str(model), "--data", str(src), "--output-dir", str(model)]
        )


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "x.jsonl", "--max-chars", "-5"],
        ["filter", "x.jsonl", "--dry-run", "--outcome-threshold", "nan"],
        ["generate", "--env", ENV_ID, "--policy", "toys:Adder", "--task-indices", "5-2", "-o", "o.jsonl"],
        [
            "generate",
            "--env",
            ENV_ID,
            "--policy",
            "toys:Adder",
            "--task-indices",
            "0-99999999999",
            "-o",
            "o.jsonl",
        ],
        ["train", "--algo", "sft", "--model", "m", "--data", "d.jsonl", "--set", "report_to=[bad"],
    ],
)
def test_bad_flag_values_are_refused_before_anything_runs(helper_module, argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code not in (0, None)
    assert "Traceback" not in capsys.readouterr().err
