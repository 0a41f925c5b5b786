"""Helpers shared by the benchmark suites: machine description, ratios, tables, JSON output.

Example:
    >>> fmt_ratio(ratio(6.0, 2.0))
    '3.00x'
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "fmt_ratio",
    "machine_info",
    "print_rows",
    "ratio",
    "run_captured",
    "write_json",
]


def machine_info() -> dict[str, Any]:
    """CPU, core count, torch threads, accelerator and library versions (goes into every report).

    Example:
        >>> "cpu_count" in machine_info()
        True
    """
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    for name in ("transformers", "trl", "gymnasium"):
        with contextlib.suppress(ImportError):
            info[name] = __import__(name).__version__
    return info


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def ratio(a: float, b: float) -> float:
    """``a / b`` (``nan`` when ``b`` is 0 or either is missing).

    Example:
        >>> ratio(6.0, 2.0), math.isnan(ratio(1.0, 0.0))
        (3.0, True)
    """
    try:
        return float(a) / float(b) if b else math.nan
    except (TypeError, ValueError):
        return math.nan


def fmt_ratio(x: float) -> str:
    """``"3.20x"`` (or ``"-"`` for a missing value)."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.2f}x"


def print_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    title: str = "",
    console: Any = None,
) -> None:
    """Print ``rows`` as a rich table; ``columns`` = ``[(key, header), ...]``; floats get 3 significant digits."""
    from rich.table import Table

    from swirl_algos.terminal import make_console

    if console is None:
        console = make_console()
    table = Table(title=title or None)
    for _, header in columns:
        table.add_column(header, justify="left" if header == columns[0][1] else "right")
    for row in rows:
        cells = []
        for key, _ in columns:
            v = row.get(key, "")
            if isinstance(v, float):
                v = "-" if math.isnan(v) else f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
            cells.append(str(v))
        table.add_row(*cells)
    console.print(table)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON (parent folders created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj, indent=2, default=str), encoding="utf-8")
    logger.info("wrote %s", p)


def run_captured(
    main: Callable[[list[str]], int], argv: Sequence[str], *, echo: bool = False
) -> tuple[int, str]:
    """Run a benchmark's ``main(argv)``, capturing what it prints; returns ``(status, output)``."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(list(argv))
    text = buf.getvalue()
    if echo:
        print(text, end="")
    return int(code or 0), text
