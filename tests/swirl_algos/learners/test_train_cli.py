"""``swirl train``'s command line is generated from the learner configs: one flag per field, the
field's own name, its help from the field's docstring, and the old flags kept for one release."""

from __future__ import annotations

import argparse
import dataclasses
import warnings

import pytest

from swirl_algos.config_args import field_help
from swirl_algos.learners import cli
from swirl_algos.learners.config import OutcomeRLConfig, SupervisedConfig, SwirlConfig
from swirl_algos.learners.registry import LEARNERS, Learner, get_learner, register_learner


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swirl train")
    cli.add_arguments(parser)
    return parser


def _config(argv: list[str]):
    args = _parser().parse_args(["--model", "m", "--output", "/tmp/out", *argv])
    return cli.build_config(args)


@pytest.mark.parametrize("cls", [SwirlConfig, SupervisedConfig, OutcomeRLConfig])
def test_every_config_field_is_a_flag_with_its_docstring_help(cls):
    parser = _parser()
    flags = {s for a in parser._actions for s in a.option_strings}
    helps = field_help(cls)
    for f in dataclasses.fields(cls):
        assert "--" + f.name.replace("_", "-") in flags or f.name == "output_dir", f.name
        assert helps.get(f.name), f"{cls.__name__}.{f.name} has no help in the class docstring"


def test_flags_set_the_field_of_the_same_name():
    argv = ["--algo", "swirl", "--per-device-train-batch-size", "16", "--num-generations", "8"]
    argv += ["--beta", "0.1", "--use-peft", "--report-to", "tensorboard"]
    argv += ["--tool-tags", '{"math_exp": "calculator"}', "--max-prompt-length", "none"]
    argv += ["--advantage", "group_norm", "--no-stop-at-call"]
    cfg = _config(argv)
    assert isinstance(cfg, SwirlConfig) and cfg.output_dir == "/tmp/out"
    assert (cfg.per_device_train_batch_size, cfg.num_generations, cfg.beta) == (16, 8, 0.1)
    assert cfg.use_peft is True and cfg.report_to == ["tensorboard"]
    assert cfg.tool_tags == {"math_exp": "calculator"} and cfg.max_prompt_length is None
    assert cfg.advantage == "group_norm" and cfg.stop_at_call is False
    # a flag not given keeps the dataclass default
    assert cfg.learning_rate == SwirlConfig().learning_rate


def test_precedence_config_file_then_set_then_flags(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"learning_rate": 0.1, "beta": 0.2, "seed": 3}')
    cfg = _config(
        ["--algo", "swirl", "--config", str(path), "--set", "beta=0.3", "--set", "seed=4", "--seed", "5"]
    )
    assert (cfg.learning_rate, cfg.beta, cfg.seed) == (0.1, 0.3, 5)


def test_bad_values_exit_with_a_clear_message(capsys):
    with pytest.raises(SystemExit):
        _config(["--algo", "swirl", "--advantage", "ppo"])  # not a choice
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="num_generations must be >= 2"):
        _config(["--algo", "swirl", "--num-generations", "1", "--per-device-train-batch-size", "4"])
    with pytest.raises(SystemExit, match="FIELD=VALUE"):
        _config(["--algo", "sft", "--set", "learning_rate"])
    with pytest.raises(SystemExit, match="unknown SupervisedConfig fields"):
        _config(["--algo", "sft", "--set", "no_such_field=1"])
    for flag, value in [
        ("--chat-template-kwargs", "[1]"),
        ("--trainer-kwargs", "{bad"),
        ("--env-kwargs", "x"),
    ]:
        with pytest.raises(SystemExit):
            _config(["--algo", "outcome-rl", flag, value])
        assert f"argument {flag}:" in capsys.readouterr().err  # refused at once, with the flag's name


def test_mixed_type_fields_parse_as_documented():
    assert _config(["--algo", "sft", "--resume-from-checkpoint"]).resume_from_checkpoint is True
    assert _config(["--algo", "sft", "--resume-from-checkpoint", "True"]).resume_from_checkpoint is True
    assert _config(
        ["--algo", "sft", "--resume-from-checkpoint", "runs/x/checkpoint-5"]
    ).resume_from_checkpoint == ("runs/x/checkpoint-5")
    assert _config(["--algo", "sft", "--lora-target-modules", "q_proj", "v_proj"]).lora_target_modules == [
        "q_proj",
        "v_proj",
    ]
    assert (
        _config(["--algo", "sft", "--lora-target-modules", "all-linear"]).lora_target_modules == "all-linear"
    )


def test_help_says_each_learners_default_and_a_clashing_plugin_field_is_a_clear_error(monkeypatch):
    import dataclasses

    monkeypatch.setenv("COLUMNS", "400")  # no line wrapping inside the help texts
    text = " ".join(_parser().format_help().split())
    assert "swirl, outcome-rl: 1e-06; sft, rft: 1e-05" in text  # --learning-rate
    assert "{rloo,group_norm}" in text  # choices are shown

    @dataclasses.dataclass
    class Clash(SupervisedConfig):
        """A learner whose field is the name of a command option.

        Attributes:
            model: clashes with --model.
        """

        model: str = "x"

    import sys
    import types

    module = types.ModuleType("clash_learner")
    module.Clash = Clash
    monkeypatch.setitem(sys.modules, "clash_learner", module)
    monkeypatch.setitem(
        LEARNERS, "clash", Learner("clash_learner:Clash", "swirl_algos.learners.sft:train_sft")
    )
    with pytest.raises(ValueError, match=r"Clash\.model: its flag --model is an option of swirl train"):
        _parser()


def test_a_field_of_another_learner_is_ignored_with_a_warning(caplog):
    cfg = _config(["--algo", "sft", "--num-generations", "8"])
    assert isinstance(cfg, SupervisedConfig)
    assert "does not apply to --algo sft" in caplog.text


@pytest.mark.parametrize(
    ("old", "value", "field", "expected"),
    [
        ("--batch-size", ["4"], "per_device_train_batch_size", 4),
        ("--grad-accum", ["2"], "gradient_accumulation_steps", 2),
        ("--epochs", ["3"], "num_train_epochs", 3.0),
        ("--lora", [], "use_peft", True),
        ("--filter", ["process"], "data_filter", "process"),
        ("--resume", [], "resume_from_checkpoint", True),
    ],
)
def test_old_flags_still_work_and_warn(old, value, field, expected):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = _config(["--algo", "sft", old, *value])
    assert getattr(cfg, field) == expected
    assert any(issubclass(w.category, FutureWarning) and old in str(w.message) for w in caught)
    assert _config(["--algo", "outcome-rl", "--env", "SwiRL-Arithmetic-v0"]).env_id == "SwiRL-Arithmetic-v0"


def test_a_registered_learner_gets_flags_and_runs_through_the_command(tmp_path, monkeypatch):
    """Adding a learner is a config class, a train function and one registry line."""
    calls = []

    @dataclasses.dataclass
    class EchoConfig(SupervisedConfig):
        """An echo learner.

        Attributes:
            echo_word: what the learner writes into its output directory.
        """

        echo_word: str = "hello"

    def train_echo(config, data, *, model, tokenizer=None):
        from swirl_algos.learners.common import TrainResult

        calls.append((config.echo_word, data, model))
        return TrainResult(output_dir=config.output_dir, model_dir=config.output_dir)

    import sys
    import types

    module = types.ModuleType("echo_learner")
    module.EchoConfig, module.train_echo = EchoConfig, train_echo
    monkeypatch.setitem(sys.modules, "echo_learner", module)
    monkeypatch.setitem(LEARNERS, "echo", Learner("echo_learner:EchoConfig", "echo_learner:train_echo"))
    assert get_learner("echo").config_class() is EchoConfig
    parser = _parser()
    args = parser.parse_args(
        [
            "--algo",
            "echo",
            "--model",
            "m",
            "--output",
            str(tmp_path),
            "--data",
            "d.jsonl",
            "--echo-word",
            "hi",
        ]
    )
    assert cli.run(args) == 0
    assert calls == [("hi", "d.jsonl", "m")]
    with pytest.raises(ValueError, match="already registered"):
        register_learner("echo", get_learner("echo"))


@pytest.mark.parametrize(
    ("name", "learner", "error", "match"),
    [
        ("", None, ValueError, "learner name"),
        ("-h", None, ValueError, "learner name"),
        ("bad\nname", None, ValueError, "learner name"),
        (5, None, ValueError, "learner name"),
        ("ok", "swirl_algos.learners.config:SupervisedConfig", TypeError, "must be a Learner"),
        ("ok", Learner("no_such_module:Cfg", "swirl_algos.learners.sft:train_sft"), ValueError, "cannot import"),
        ("ok", Learner("swirl_algos.learners.config", "swirl_algos.learners.sft:train_sft"), ValueError, "module:Name"),
        ("ok", Learner("swirl_algos.learners.sft:train_sft", "swirl_algos.learners.sft:train_sft"), TypeError, "dataclass"),
    ],
)  # fmt: skip
def test_register_learner_rejects_bad_entries_and_leaves_the_cli_working(name, learner, error, match):
    before = dict(LEARNERS)
    with pytest.raises(error, match=match):
        register_learner(name, learner or get_learner("sft"))
    assert before == LEARNERS
    cli.add_arguments(argparse.ArgumentParser())  # `swirl train` still builds its flags


def test_output_dir_comes_from_the_flag_and_a_missing_model_folder_is_an_error(caplog):
    with caplog.at_level("WARNING", logger="swirl_algos.learners.cli"):
        cfg = _config(["--algo", "sft", "--set", "output_dir=/elsewhere"])
    assert cfg.output_dir == "/tmp/out" and "replaced by --output-dir" in caplog.text
    args = _parser().parse_args(
        ["--algo", "sft", "--model", "/no/such/model", "--output", "/tmp/out", "--data", "d"]
    )
    with pytest.raises(SystemExit, match="no such directory"):
        cli.run(args)
