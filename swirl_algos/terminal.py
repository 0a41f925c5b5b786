"""Terminal output of long command-line jobs (the demo, evaluation, the benchmark suites).

Example:
    >>> from swirl_algos.terminal import make_console, quiet_libraries
    >>> console = make_console()
    >>> with quiet_libraries():
    ...     pass  # transformers warnings, weight-loading and dataset progress bars are off here
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["make_console", "quiet_libraries", "trainer_logs_to"]

#: width of tables written to a file or a pipe (a terminal uses its own width)
LOG_WIDTH = 160


def make_console(**kwargs: Any) -> Any:
    """A ``rich`` console; when output goes to a file or a pipe, tables are not wrapped at 80 columns."""
    from rich.console import Console

    console = Console(**kwargs)
    if not console.is_terminal and "width" not in kwargs:
        console = Console(width=LOG_WIDTH, **kwargs)
    return console


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence transformers/TRL warnings, their weight-loading bars and ``datasets`` bars.

    Our own progress bars and log lines are untouched; everything is restored on exit.
    """
    import datasets
    import transformers

    level = transformers.logging.get_verbosity()
    hf_bars = transformers.logging.is_progress_bar_enabled()
    ds_bars = datasets.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            for module in ("transformers", "trl", "peft", "accelerate", "torch"):
                warnings.filterwarnings("ignore", category=FutureWarning, module=module)
                warnings.filterwarnings("ignore", category=UserWarning, module=module)
            yield
    finally:
        transformers.logging.set_verbosity(level)
        if hf_bars:
            transformers.logging.enable_progress_bar()
        if ds_bars:
            datasets.enable_progress_bars()


@contextlib.contextmanager
def trainer_logs_to(path: str | Path) -> Iterator[None]:
    """Send what a trainer prints (its metric dict at every logging step) to ``path`` (appended).

    Progress bars go to stderr and stay on screen.

    Example:
        >>> import tempfile, os
        >>> log = os.path.join(tempfile.mkdtemp(), "train.log")
        >>> with trainer_logs_to(log):
        ...     print({"loss": 0.5})
        >>> open(log).read()
        "{'loss': 0.5}\\n"
    """
    with Path(path).open("a", encoding="utf-8") as f, contextlib.redirect_stdout(f):
        yield
