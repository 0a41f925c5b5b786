"""Stages of a long job: re-use by fingerprint, and the model folder a training stage names."""

from __future__ import annotations

from pathlib import Path

import pytest

from swirl_algos.stages import MODEL_DIR_FILE, Stages, read_model_dir, write_model_dir


def test_a_stage_runs_again_only_when_its_inputs_change(tmp_path: Path) -> None:
    calls: list[int] = []
    stages = Stages(tmp_path)
    for x in (1, 1, 2):
        stages.run("s", {"x": x}, lambda out, x=x: calls.append(x))
    assert calls == [1, 2]
    assert stages.reused == ["s"]


def test_the_model_folder_is_found_from_any_working_directory(tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "runs" / "demo"
    stage = run / "train" / "swirl-s0"
    (stage / "merged").mkdir(parents=True)
    (run / "warmstart").mkdir(parents=True)
    write_model_dir(stage, stage / "merged")
    skipped = run / "train" / "sft-s0"
    skipped.mkdir()
    write_model_dir(skipped, run / "warmstart")  # a run that kept nothing names the base model
    assert (skipped / MODEL_DIR_FILE).read_text() == "./../../warmstart"
    moved = tmp_path / "elsewhere"
    (tmp_path / "runs").rename(moved)
    monkeypatch.chdir("/")
    assert (
        read_model_dir(moved / "demo" / "train" / "swirl-s0")
        == (moved / "demo/train/swirl-s0/merged").resolve()
    )
    assert read_model_dir(moved / "demo" / "train" / "sft-s0") == (moved / "demo" / "warmstart").resolve()


def test_a_path_written_relative_to_the_old_working_directory_is_still_found(
    tmp_path: Path, monkeypatch
) -> None:
    stage = tmp_path / "runs" / "demo" / "warmstart"
    stage.mkdir(parents=True)
    (stage / MODEL_DIR_FILE).write_text("runs/demo/warmstart")  # as an earlier release wrote it
    monkeypatch.chdir("/")
    assert read_model_dir(stage) == stage.resolve()


@pytest.mark.parametrize("model", [None, ""])
def test_no_model_kept_reads_back_as_none(tmp_path: Path, model: str | None) -> None:
    write_model_dir(tmp_path, model)
    assert read_model_dir(tmp_path) is None
