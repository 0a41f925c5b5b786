"""Named stages of a long job that run once: finished stages are re-used on the next run.

Each stage writes its output under ``root/NAME`` and, when it finishes, ``stage.json`` with a
fingerprint of the inputs it depends on. Running the same stage again with the same inputs
skips it; changed inputs, or an unfinished earlier attempt, redo it from an empty folder (a
``resumable`` stage instead keeps the partial output of an interrupted run with the same inputs
and continues it itself). ``swirl demo`` and ``python -m benchmarks paper`` are built on it.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> stages = Stages(Path(tempfile.mkdtemp()))
    >>> _ = stages.run("square", {"x": 3}, lambda out: (out / "y.txt").write_text("9"))
    >>> _ = stages.run("square", {"x": 3}, lambda out: 1 / 0)   # same inputs: not run again
    >>> stages.reused
    ['square']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["MODEL_DIR_FILE", "STAGE_FILE", "Stages", "fingerprint", "read_model_dir", "write_model_dir"]

STAGE_FILE = "stage.json"
#: where a training stage names the model it produced
MODEL_DIR_FILE = "model_dir.txt"


def fingerprint(obj: Any) -> str:
    """A short, stable hash of a JSON-able object (key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Stages:
    """Runs named stages once under ``root``; ``timings`` (run now) and ``reused`` record what happened.

    Args:
        root: the folder of every stage's output.
        console: a ``rich`` console; each stage that runs prints a rule with its title, each
            re-used one a dim line. ``None``: log lines only.
    """

    def __init__(self, root: Path, console: Any = None) -> None:
        self.root = Path(root)
        self.console = console
        self.timings: dict[str, float] = {}
        self.reused: list[str] = []

    def done(self, name: str, fingerprint: str) -> bool:
        """Whether stage ``name`` finished with inputs of this fingerprint."""
        marker = self.root / name / STAGE_FILE
        if not marker.exists():
            return False
        try:
            return json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") == fingerprint
        except (OSError, ValueError, RecursionError, AttributeError):  # unreadable or not a JSON object
            return False

    def run(
        self,
        name: str,
        inputs: Mapping[str, Any],
        fn: Callable[[Path], Any],
        *,
        resumable: bool = False,
        title: str = "",
    ) -> str:
        """Run ``fn(stage_dir)`` unless already done with the same ``inputs``; returns the fingerprint.

        ``resumable`` stages keep a partial output of an interrupted run with the same inputs
        (their own code continues it); other partial or outdated outputs are removed first.
        """
        fp = fingerprint(inputs)
        path = self.root / name
        if self.done(name, fp):
            self.reused.append(name)
            if self.console is not None:
                self.console.print(f"[dim]reusing {name} ({path})[/dim]")
            return fp
        marker = path / STAGE_FILE
        partial = path / "stage.partial.json"
        keep = False
        if resumable and partial.exists():
            with contextlib.suppress(OSError, ValueError, RecursionError, AttributeError):
                keep = json.loads(partial.read_text(encoding="utf-8")).get("fingerprint") == fp
        if path.exists() and not keep:
            if marker.exists():
                logger.info("settings changed for %s: recomputing it", name)
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({"fingerprint": fp, "inputs": inputs}, default=str), encoding="utf-8")
        if self.console is not None:
            self.console.rule(f"[bold]{title or name}")
        else:
            logger.info("stage %s", title or name)
        t0 = time.perf_counter()
        fn(path)
        seconds = time.perf_counter() - t0
        self.timings[name] = seconds
        marker.write_text(
            json.dumps({"fingerprint": fp, "seconds": seconds, "inputs": inputs}, indent=2, default=str),
            encoding="utf-8",
        )
        partial.unlink(missing_ok=True)
        return fp


def write_model_dir(stage: Path, model: str | Path | None) -> None:
    """Record in ``stage`` the model folder it produced (``None``: none, the base model stands in).

    A folder is written relative to ``stage`` (as ``./...``), so that the run folder can be moved
    or read from another directory; anything else (a hub id) is written as given.

    Example:
        >>> import tempfile
        >>> stage = Path(tempfile.mkdtemp())
        >>> (stage / "merged").mkdir()
        >>> write_model_dir(stage, stage / "merged")
        >>> (stage / MODEL_DIR_FILE).read_text(), read_model_dir(stage) == (stage / "merged").resolve()
        ('./merged', True)
        >>> write_model_dir(stage, "HuggingFaceTB/SmolLM2-135M-Instruct")
        >>> str(read_model_dir(stage))
        'HuggingFaceTB/SmolLM2-135M-Instruct'
    """
    if model is None or str(model) == "":
        text = ""
    elif Path(model).exists():
        text = "./" + Path(os.path.relpath(os.path.abspath(model), os.path.abspath(stage))).as_posix()
    else:
        text = str(model)
    (stage / MODEL_DIR_FILE).write_text(text, encoding="utf-8")


def read_model_dir(stage: Path) -> Path | None:
    """The model folder recorded by :func:`write_model_dir` (``None`` when none was kept). A path
    that an earlier release wrote relative to its working directory is found from the folders
    above ``stage`` (that directory was one of them when the run wrote under it)."""
    text = (stage / MODEL_DIR_FILE).read_text(encoding="utf-8").strip()
    if not text:
        return None
    if text.startswith("./"):
        return (stage / text).resolve()
    path = Path(text)
    if path.is_absolute() or path.exists():
        return path
    here = stage.resolve()
    for root in (here, *here.parents):
        if (root / path).exists():
            return (root / path).resolve()
    return path
