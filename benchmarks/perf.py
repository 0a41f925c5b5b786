"""Speed of the package's moving parts, each measured side by side with its reference in one run.

One command runs every component and prints one summary table of ratios:

* **env**: the cost of one ``ToolEnv.step`` (parse the action, run the tool, record the step,
  copy the state into ``info``) against a bare Gymnasium step: ``CartPole-v1`` and a minimal
  text environment that only appends the action to its observation. ``ToolEnv`` is measured
  with a no-op tool (the framework alone), with the SymPy calculator on ``SwiRL-Arithmetic-v0``,
  and through ``gym.make`` (with Gymnasium's checker and order-enforcing wrappers);
* **retrieval**: BM25 queries per second of the sparse backend vs ``rank_bm25`` (the reference),
  with identical top-k (``benchmarks/bench_retrieval.py``);
* **stepwise**: tokens and time of the single-pass multi-step loss vs one sequence per
  sub-trajectory, for K = 2, 5, 10 steps (``benchmarks/bench_stepwise.py``);
* **rollout**: episodes per second of the batched rollout (N environments, one ``generate`` per
  round) vs one episode at a time, with the trajectories checked identical
  (``benchmarks/bench_rollout.py``);
* **swirl_step**: time and tokens of one SWiRL optimiser step, the shared-prefix native engine vs
  TRL's stock ``RLOOTrainer`` on the same states, model and G (``benchmarks/bench_swirl_step.py``).

Run:

    python -m benchmarks perf                      # all components, CPU defaults (a few minutes)
    python -m benchmarks perf --quick              # small sizes (about a minute)
    python -m benchmarks perf --only env rollout --json runs/bench/perf.json
    python -m benchmarks perf --device cuda        # model-based parts on a GPU

Each component can also be run alone with its own options (``python -m benchmarks.bench_retrieval
--help`` ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import (
    fmt_ratio,
    machine_info,
    print_rows,
    ratio,
    run_captured,
    write_json,
)
from swirl_algos.terminal import quiet_libraries

logger = logging.getLogger(__name__)

__all__ = ["COMPONENTS", "bench_env", "print_report", "run_perf", "summary_rows"]

COMPONENTS = ("env", "retrieval", "stepwise", "rollout", "swirl_step")


# ---------------------------------------------------------------------------------------------- env step
def _text_env_class() -> type:
    import gymnasium as gym

    from swirl_env.spaces import UnicodeText

    class AppendEnv(gym.Env):
        """The least a text environment does: append the action to the observation."""

        def __init__(self) -> None:
            self.observation_space = UnicodeText(max_length=1_048_576)
            self.action_space = UnicodeText(max_length=16_384)
            self.text = ""

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
            super().reset(seed=seed)
            self.text = "Question: what is 2 + 2?"
            return self.text, {}

        def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
            self.text = self.text + "\n\n" + action
            return self.text, 0.0, False, False, {}

    return AppendEnv


def _noop_tool_env() -> Any:
    from swirl_env import Task, Tool, ToolEnv, ToolResult

    class Echo(Tool):
        name = "echo"
        tag = "echo"
        description = "returns its argument"

        def run(self, argument: str) -> ToolResult:
            return ToolResult(argument)

    tasks = [Task(f"t{i}", f"Echo the number {i}.", (str(i),), "toy", "test") for i in range(16)]
    return ToolEnv(
        tasks,
        [Echo()],
        metric=lambda p, g: {"em": float(p.strip() in g)},
        primary_metric="em",
        max_tool_calls=10,
    )


def _time_steps(
    env: Any, actions: Callable[[dict], list[str]], episodes: int, *, gym_api: bool = True
) -> dict:
    """Seconds per step over ``episodes`` episodes; ``actions(info)`` gives an episode's actions."""
    steps = 0
    t_step = 0.0
    for ep in range(episodes):
        _, info = env.reset(seed=ep)
        for a in actions(info):
            t0 = time.perf_counter()
            out = env.step(a)
            t_step += time.perf_counter() - t0
            steps += 1
            if gym_api and (out[2] or out[3]):
                break
    return {"steps": steps, "seconds": t_step, "us_per_step": 1e6 * t_step / max(steps, 1)}


def bench_env(episodes: int = 200) -> dict[str, Any]:
    """Microseconds per ``step`` of a bare Gymnasium env and of ``ToolEnv`` variants (5-step episodes)."""
    import gymnasium as gym

    import swirl_env  # noqa: F401  (registers the ids)

    rows = []
    cart = gym.make("CartPole-v1").unwrapped
    rows.append(
        {"env": "CartPole-v1 (unwrapped)", **_time_steps(cart, lambda info: [0, 1, 0, 1, 0], episodes)}
    )
    text = _text_env_class()()
    call = "<echo> 42 </echo>"
    rows.append(
        {
            "env": "minimal text env (append only)",
            **_time_steps(text, lambda info: [call] * 4 + ["<answer> 42 </answer>"], episodes),
        }
    )
    noop = _noop_tool_env()
    rows.append(
        {
            "env": "ToolEnv, no-op tool",
            **_time_steps(noop, lambda info: [call] * 4 + ["<answer> 42 </answer>"], episodes),
        }
    )
    arith = gym.make("SwiRL-Arithmetic-v0", n_tasks=episodes, min_ops=4, max_ops=4).unwrapped

    def gold(info: dict) -> list[str]:
        steps = info["task"]["metadata"]["solution_steps"]
        return [f"<math_exp> {s['expression']} </math_exp>" for s in steps] + [
            f"<answer> {info['task']['answers'][0]} </answer>"
        ]

    rows.append({"env": "SwiRL-Arithmetic-v0, SymPy calculator", **_time_steps(arith, gold, episodes)})
    wrapped = gym.make("SwiRL-Arithmetic-v0", n_tasks=episodes, min_ops=4, max_ops=4)
    rows.append(
        {"env": "SwiRL-Arithmetic-v0 via gym.make (wrappers)", **_time_steps(wrapped, gold, episodes)}
    )
    base = rows[0]["us_per_step"]
    text_us = rows[1]["us_per_step"]
    for r in rows:
        r["x_cartpole"] = ratio(r["us_per_step"], base)
        r["x_text_env"] = ratio(r["us_per_step"], text_us)
    calc = rows[3]["us_per_step"] - rows[2]["us_per_step"]
    return {
        "rows": rows,
        "episodes": episodes,
        "steps_per_episode": 5,
        "calculator_us_per_call_estimate": calc,
    }


# ---------------------------------------------------------------------------------------------- components
def bench_retrieval(quick: bool) -> dict[str, Any]:
    from benchmarks import bench_retrieval

    sizes = ["10000"] if quick else ["10000", "100000"]
    queries = ["--queries", "100", "--rank-bm25-queries", "10"] if quick else ["--queries", "200"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        code, text = run_captured(
            bench_retrieval.main,
            # the bm25s and HTTP rows are bench_retrieval's own; perf keeps its summary ratio
            ["--sizes", *sizes, *queries, "--no-progress", "--no-bm25s", "--no-http", "--json", str(out)],
        )
        data = json.loads(out.read_text(encoding="utf-8"))
    rows = data["rows"]
    summary = []
    for n in sorted({r["n"] for r in rows}):
        sparse = next((r for r in rows if r["n"] == n and r["backend"] == "sparse"), None)
        ref = next((r for r in rows if r["n"] == n and r["backend"] == "rank_bm25"), None)
        if sparse is None or ref is None:
            continue
        summary.append(
            {
                "passages": n,
                "sparse_qps": sparse["qps"],
                "rank_bm25_qps": ref["qps"],
                "x_qps": ratio(sparse["qps"], ref["qps"]),
                "x_build": ratio(ref["build_s"], sparse["build_s"]),
                "rank_bm25_measured": bool(ref.get("measured", True)),
                "same_topk": ref.get("same_topk"),
            }
        )
    return {"status": code, "rows": summary, "raw": rows, "output": text}


def bench_stepwise(quick: bool, device: str) -> dict[str, Any]:
    from benchmarks import bench_stepwise as bs

    argv = ["--no-sft", "--device", device]
    if quick:
        argv += ["--n-traj", "4", "--hidden-size", "128", "--layers", "2", "--repeats", "2"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.json"
        code, text = run_captured(bs.main, [*argv, "--json", str(out)])
        rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    return {"status": code, "rows": rows, "output": text}


def bench_swirl_step(quick: bool) -> dict[str, Any]:
    from benchmarks import bench_swirl_step as bw

    argv = ["--steps", "1", "--settings", "demo"] if quick else ["--steps", "2"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "w.json"
        code, text = run_captured(bw.main, [*argv, "--json", str(out)])
        rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    return {"status": code, "rows": rows, "output": text}


def bench_rollout(quick: bool, device: str) -> dict[str, Any]:
    from benchmarks import bench_rollout as br

    argv = ["--device", device, "--ns", "1", "8"]
    argv += ["--n-tasks", "4", "--samples", "2"] if quick else ["--n-tasks", "8", "--samples", "2"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        code, text = run_captured(br.main, [*argv, "--json", str(out)])
        rows = json.loads(out.read_text(encoding="utf-8"))
    base = rows[0]
    summary = [
        {
            "num_envs": r["num_envs"],
            "episodes_per_s": r["episodes_per_s"],
            "tokens_per_s": r["tokens_per_s"],
            "x_episodes_per_s": ratio(r["episodes_per_s"], base["episodes_per_s"]),
            "same_trajectories": f"{r['same_trajectories']}/{r['episodes']}",
        }
        for r in rows
    ]
    return {"status": code, "rows": summary, "output": text}


# ---------------------------------------------------------------------------------------------- report
def summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per headline ratio (what the table prints)."""
    out = []
    env = results.get("env")
    if env:
        rows = {r["env"]: r for r in env["rows"]}
        for name in (
            "ToolEnv, no-op tool",
            "SwiRL-Arithmetic-v0, SymPy calculator",
            "SwiRL-Arithmetic-v0 via gym.make (wrappers)",
        ):
            r = rows[name]
            out.append(
                {
                    "component": "env step",
                    "measure": f"{name}: us/step",
                    "ours": r["us_per_step"],
                    "reference": rows["CartPole-v1 (unwrapped)"]["us_per_step"],
                    "reference_name": "CartPole-v1 step",
                    "ratio": fmt_ratio(r["x_cartpole"]) + " slower",
                }
            )
    for r in (results.get("retrieval") or {}).get("rows", []):
        out.append(
            {
                "component": "retrieval",
                "measure": f"BM25 QPS, {r['passages']:,} passages",
                "ours": r["sparse_qps"],
                "reference": r["rank_bm25_qps"],
                "reference_name": "rank_bm25" + ("" if r["rank_bm25_measured"] else " (extrapolated)"),
                "ratio": fmt_ratio(r["x_qps"]) + " faster",
            }
        )
    for r in (results.get("stepwise") or {}).get("rows", []):
        out.append(
            {
                "component": "learner loss",
                "measure": f"fwd+bwd seconds, K={r['K']} steps",
                "ours": r["seconds_single_pass"],
                "reference": r["seconds_per_step"],
                "reference_name": "per sub-trajectory",
                "ratio": f"{fmt_ratio(r['x_time'])} faster ({fmt_ratio(r['x_tokens'])} fewer tokens)",
            }
        )
    for r in (results.get("swirl_step") or {}).get("rows", []):
        out.append(
            {
                "component": "SWiRL step",
                "measure": f"s/step, {r['setting']} ({r['state_tokens']:.0f}-token states, G={r['G']})",
                "ours": r["seconds_ours"],
                "reference": r["seconds_trl"],
                "reference_name": "TRL RLOOTrainer",
                "ratio": f"{fmt_ratio(r['x_time'])} faster ({fmt_ratio(r['x_tokens'])} fewer tokens)",
            }
        )
    for r in (results.get("rollout") or {}).get("rows", [])[1:]:
        out.append(
            {
                "component": "rollout",
                "measure": f"episodes/s, {r['num_envs']} envs batched",
                "ours": r["episodes_per_s"],
                "reference": results["rollout"]["rows"][0]["episodes_per_s"],
                "reference_name": "1 env at a time",
                "ratio": fmt_ratio(r["x_episodes_per_s"]) + " faster",
            }
        )
    return out


def print_report(results: dict[str, Any], console: Any = None) -> None:
    """The summary table plus the env-step detail."""
    env = results.get("env")
    if env:
        print_rows(
            env["rows"],
            [
                ("env", "environment"),
                ("us_per_step", "us/step"),
                ("x_cartpole", "x CartPole"),
                ("x_text_env", "x text env"),
            ],
            title=f"env step cost ({env['episodes']} episodes of 5 steps)",
            console=console,
        )
    print_rows(
        summary_rows(results),
        [
            ("component", "component"),
            ("measure", "measure"),
            ("ours", "ours"),
            ("reference", "reference"),
            ("reference_name", "reference is"),
            ("ratio", "ratio"),
        ],
        title="perf: ratios measured side by side in this run",
        console=console,
    )


def run_perf(
    components: Sequence[str] = COMPONENTS, *, quick: bool = False, device: str = "cpu"
) -> dict[str, Any]:
    """Run the chosen components and return their results (``{"machine", "env", "retrieval", ...}``).

    Example:
        >>> # results = run_perf(["env"], quick=True); print_report(results)
    """
    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown components {unknown}; choose from {list(COMPONENTS)}")
    results: dict[str, Any] = {"machine": machine_info(), "quick": quick, "device": device}
    with quiet_libraries():
        for name in components:
            t0 = time.perf_counter()
            logger.info("perf: %s", name)
            if name == "env":
                results["env"] = bench_env(50 if quick else 300)
            elif name == "retrieval":
                results["retrieval"] = bench_retrieval(quick)
            elif name == "stepwise":
                results["stepwise"] = bench_stepwise(quick, device)
            elif name == "rollout":
                results["rollout"] = bench_rollout(quick, device)
            elif name == "swirl_step":
                results["swirl_step"] = bench_swirl_step(quick)
            results.setdefault("seconds", {})[name] = time.perf_counter() - t0
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``python -m benchmarks perf``."""
    parser.add_argument(
        "--only", nargs="+", choices=COMPONENTS, default=list(COMPONENTS), help="components to run"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument(
        "--device", default=None, help="device of the model-based parts (default: cuda if available)"
    )
    parser.add_argument("--json", default=None, help="also write every number to this JSON file")


def run(args: argparse.Namespace) -> int:
    """``python -m benchmarks perf``."""
    device = args.device
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    results = run_perf(args.only, quick=args.quick, device=device)
    m = results["machine"]
    print(
        f"machine: {m['cpu']}, {m['cpu_count']} cores, torch {m.get('torch')} ({m.get('torch_threads')} threads)"
    )
    print_report(results)
    if args.json:
        write_json(args.json, results)
    failed = [k for k in COMPONENTS if isinstance(results.get(k), dict) and results[k].get("status")]
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks perf", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
