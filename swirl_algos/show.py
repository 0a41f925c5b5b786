"""Pretty-print trajectories in the terminal (rich).

Each episode is shown as its conversation: the prompt, then every step with its parsed kind,
the call or answer, the tool result, and the process judgement (GOOD in green, BAD in red, with
the judge's rationale); then the final answer, the gold answers and the outcome (score and
judge).

Example:
    >>> from swirl_env.trajectory import Step, Trajectory
    >>> t = Trajectory("q#0", "E", {"id": "q", "question": "2+2?", "answers": ["4"]},
    ...     [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<answer>4</answer>"}],
    ...     [Step(0, 1, "<answer>4</answer>", "answer", argument="4",
    ...           process={"label": True, "rationale": "follows"})],
    ...     final_answer="4", outcome={"score": 1.0, "metric": "numeric"}, terminated=True)
    >>> "GOOD" in render_text(t)
    True
"""

from __future__ import annotations

import logging
from typing import Any

from swirl_env.trajectory import Trajectory

logger = logging.getLogger(__name__)

__all__ = ["render_text", "show_trajectory"]


def _label_text(process: dict[str, Any] | None) -> tuple[str, str]:
    if not process:
        return "not judged", "dim"
    label = process.get("label")
    if label is True:
        return "GOOD", "bold green"
    if label is False:
        return "BAD", "bold red"
    return f"judge failed: {process.get('error') or '?'}", "bold yellow"


def show_trajectory(
    traj: Trajectory, *, console: Any = None, max_chars: int | None = 4000, show_prompt: bool = True
) -> None:
    """Print one trajectory with rich panels.

    Args:
        traj: the episode.
        console: a ``rich.console.Console`` (default: a new one on stdout).
        max_chars: long messages are shortened to this many characters (``None``: never).
        show_prompt: show the first user message (the prompt) in full.
    """
    from rich.console import Console, Group
    from rich.panel import Panel
    from rich.rule import Rule
    from rich.text import Text

    console = console or Console()

    def clip(text: str) -> str:
        if max_chars is not None and len(text) > max_chars:
            return text[:max_chars] + f" ... [{len(text) - max_chars} more characters]"
        return text

    task = traj.task or {}
    head = Text.assemble(
        (f"{traj.id}", "bold"),
        f"  env {traj.env_id}  task {task.get('id', '?')}  sample {traj.sample}  seed {traj.seed}",
    )
    console.print(Rule(head))
    if show_prompt and traj.messages:
        console.print(
            Panel(Text(clip(traj.messages[0]["content"])), title="prompt (s1)", border_style="blue")
        )
    by_message = {s.message_index: s for s in traj.steps}
    for i, msg in enumerate(traj.messages[1:], 1):
        step = by_message.get(i)
        if step is None:
            if msg.get("role") == "user":
                continue  # tool results are shown with their step
            console.print(Panel(Text(clip(msg["content"])), title=msg.get("role", "?")))
            continue
        label, style = _label_text(step.process)
        what = step.kind
        if step.kind == "call":
            what = f"call {step.tool}({step.argument})"
        elif step.kind == "answer":
            what = f"answer {step.argument!r}"
        elif step.error:
            what = f"{step.kind}: {step.error}"
        parts: list[Any] = [Text(clip(step.action))]
        if step.observation is not None:
            parts.append(Text("result: " + clip(step.observation), style="cyan"))
        if step.process and step.process.get("rationale"):
            parts.append(Text("judge: " + clip(str(step.process["rationale"])), style="italic"))
        title = Text.assemble(f"step {step.index + 1}  ", (label, style))
        console.print(Panel(Group(*parts), title=title, subtitle=what, border_style=style.split()[-1]))
    outcome = traj.outcome or {}
    end = "answered" if traj.final_answer is not None else "no answer"
    if traj.truncated:
        end += " (step cap reached)"
    lines = [
        Text.assemble(("final answer: ", "bold"), str(traj.final_answer), f"   [{end}]"),
        Text.assemble(("gold: ", "bold"), ", ".join(str(a) for a in task.get("answers", [])) or "?"),
    ]
    if outcome.get("score") is not None:
        lines.append(Text(f"env {outcome.get('metric', 'score')}: {float(outcome['score']):g}"))
    judge = outcome.get("judge")
    if isinstance(judge, dict):
        lab = judge.get("label")
        verdict = "YES" if lab is True else "NO" if lab is False else f"failed ({judge.get('error')})"
        style = "green" if lab is True else "red" if lab is False else "yellow"
        lines.append(Text.assemble("outcome judge: ", (verdict, f"bold {style}")))
        if judge.get("rationale"):
            lines.append(Text(clip(str(judge["rationale"])), style="italic"))
    console.print(Panel(Group(*lines), title="outcome", border_style="magenta"))


def render_text(traj: Trajectory, *, width: int = 100, max_chars: int | None = 4000) -> str:
    """The :func:`show_trajectory` output as plain text (no colours).

    Example:
        >>> # print(render_text(trajs[0]))
    """
    import io

    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False)
    show_trajectory(traj, console=console, max_chars=max_chars)
    return buf.getvalue()
