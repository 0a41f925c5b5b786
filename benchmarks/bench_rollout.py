"""Batched vs one-at-a-time rollout with a Hugging Face policy: episodes/s and tokens/s.

:func:`swirl_algos.rollout.rollout` steps ``N`` environment copies together and sends the states
of all live episodes to the policy in one ``act`` call, i.e. one batched ``generate``. This
script runs the SAME episodes (same tasks, samples and seeds) with ``N = 1`` (one episode at a
time) and with larger ``N``, on a registered environment with its real tools, and prints side by
side: wall time, episodes/s, generated tokens/s, the speed-up over ``N = 1``, and whether the
trajectories are identical to the ``N = 1`` ones (sampling is seeded per sample, so batching must
not change them).

The model is a tiny randomly initialised Llama (``swirl_algos.tiny``), so the numbers measure the
rollout machinery (batching, padding, stop strings, env stepping), not a model's quality: random
actions rarely form a call, so most episodes run to the step cap.

Run (CPU, about a minute):

    python -m benchmarks.bench_rollout
    python -m benchmarks.bench_rollout --ns 1 4 8 16 --n-tasks 8 --samples 2 --hidden-size 256 --layers 4
    python -m benchmarks.bench_rollout --device cuda --hidden-size 1024 --layers 12 --ns 1 8 32 128
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

import gymnasium as gym
import torch

import swirl_env  # noqa: F401  (registers the ids)
from swirl_algos.policies.hf import HFPolicy
from swirl_algos.rollout import rollout
from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

logger = logging.getLogger(__name__)


def build_policy(args: argparse.Namespace, env_id: str, env_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """A tiny tokenizer trained on the env's prompts, and a random model of the requested size."""
    env = gym.make(env_id, **env_kwargs)
    texts = []
    for i in range(min(len(env.unwrapped.tasks), 50)):
        _, info = env.reset(options={"task_index": i})
        texts.append(info["messages"][0]["content"])
    env.close()
    tok = build_tiny_tokenizer(texts, vocab_size=args.vocab_size)
    model = build_tiny_model(
        tok,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        num_heads=max(1, args.hidden_size // 64),
        max_position_embeddings=4096,
        seed=args.seed,
    )
    model.to(args.device).eval()
    return model, tok


def run_once(
    n: int, model: Any, tok: Any, args: argparse.Namespace, env_kwargs: dict[str, Any]
) -> dict[str, Any]:
    policy = HFPolicy(
        model,
        tok,
        max_new_tokens=args.max_new_tokens,
        temperature=1.0,
        batch_size=n,
        device=args.device,
    )
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    trajs = rollout(
        args.env,
        policy,
        env_kwargs=env_kwargs,
        n_tasks=args.n_tasks,
        samples_per_task=args.samples,
        num_envs=n,
        seed=args.seed,
        progress=False,
    )
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return {
        "num_envs": n,
        "episodes": len(trajs),
        "steps": sum(t.num_steps for t in trajs),
        "new_tokens": int(policy.stats["new_tokens"]),
        "generate_calls": int(policy.stats["calls"]),
        "seconds": seconds,
        "episodes_per_s": len(trajs) / seconds,
        "tokens_per_s": policy.stats["new_tokens"] / seconds,
        "generate_seconds": policy.stats["generate_seconds"],
        "trajectories": [t.messages for t in trajs],
    }


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    base = rows[0]
    print(
        f"\nrollout on {args.env}: {base['episodes']} episodes ({args.n_tasks} tasks x {args.samples} samples), "
        f"tiny Llama hidden={args.hidden_size} layers={args.layers} vocab={args.vocab_size}, "
        f"max_new_tokens={args.max_new_tokens}, device={args.device}, torch threads={torch.get_num_threads()}"
    )
    header = (
        f"{'N envs':>6} {'steps':>6} {'gen calls':>9} {'new tokens':>10} {'seconds':>8} "
        f"{'episodes/s':>10} {'tokens/s':>9} {'x eps/s':>8} {'x tok/s':>8} {'same trajs':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['num_envs']:>6} {r['steps']:>6} {r['generate_calls']:>9} {r['new_tokens']:>10} "
            f"{r['seconds']:>8.2f} {r['episodes_per_s']:>10.2f} {r['tokens_per_s']:>9.1f} "
            f"{r['episodes_per_s'] / base['episodes_per_s']:>8.2f} {r['tokens_per_s'] / base['tokens_per_s']:>8.2f} "
            f"{r['same_trajectories']:>4}/{r['episodes']:<5}"
        )
    print("x = ratio to N = 1 (one episode at a time); same trajs = trajectories identical to N = 1's\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="SwiRL-HotPotQA-v0", help="registered environment id")
    parser.add_argument("--env-kwargs", default="{}", help="JSON keyword arguments for gym.make")
    parser.add_argument("--ns", type=int, nargs="+", default=[1, 4, 8], help="environments stepped together")
    parser.add_argument("--n-tasks", type=int, default=8)
    parser.add_argument("--samples", type=int, default=2, help="episodes per task")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    env_kwargs = json.loads(args.env_kwargs)
    ns = sorted(set(args.ns))
    if ns[0] != 1:
        ns = [1, *ns]  # the baseline
    model, tok = build_policy(args, args.env, env_kwargs)
    # warm up (first-call costs: kernels, stop-string tables)
    HFPolicy(model, tok, max_new_tokens=4, device=args.device, stop_strings=["</answer>"]).act(
        [[{"role": "user", "content": "warm up"}]] * 2, seeds=[0, 1]
    )
    rows = []
    for n in ns:
        rows.append(run_once(n, model, tok, args, env_kwargs))
        logger.info("N=%d done in %.1fs", n, rows[-1]["seconds"])
    for r in rows:  # trajectories identical to the one-at-a-time run's
        r["same_trajectories"] = sum(a == b for a, b in zip(r["trajectories"], rows[0]["trajectories"]))
    print_table(rows, args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([{k: v for k, v in r.items() if k != "trajectories"} for r in rows], f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
