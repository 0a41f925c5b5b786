"""Single-pass vs per-sub-trajectory multi-step loss: tokens processed and wall time.

A K-step trajectory gives K sub-trajectories (s_i, a_i); every state is a prefix of the next. The
per-sub-trajectory path (one sequence per step, as a prompt/completion SFT dataset) encodes
``sum_i |s_i + a_i|`` tokens; the single-pass path encodes the whole conversation once
(``|s_K + a_K|`` tokens) and scores every action from that one forward pass. Both give the same
loss (tests/swirl_algos/learners/test_stepwise.py). This script measures, for K = 2, 5, 10 side by side:

* tokens: real (non-pad) tokens through the model per epoch of the data, and padded tokens;
* time: wall time of forward + backward of the SFT loss over all the data (median of repeats),
  with the same micro-batch token budget for both paths;
* the loss of both paths (they agree; printed as a check);
* end to end (``--sft``, on by default): one epoch of ``train_sft`` (TRL ``SFTTrainer``) with
  ``sft_mode="per_step"`` vs ``"single_pass"`` on the same step records, same batch size.

Run (CPU default, a few minutes on a laptop; ``--device cuda --hidden-size 1024 --layers 12`` for a GPU):

    python -m benchmarks.bench_stepwise
    python -m benchmarks.bench_stepwise --ks 2 5 10 --n-traj 16 --hidden-size 256 --layers 4 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from typing import Any

import torch

from swirl_algos.learners.stepwise import (
    StepwiseSequence,
    encode_substeps,
    encode_trajectory,
    iter_batches,
    stepwise_nll,
)
from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

WORDS = [
    "the",
    "total",
    "number",
    "of",
    "apples",
    "cost",
    "each",
    "friend",
    "bought",
    "sold",
    "price",
    "dollars",
    "hours",
    "minutes",
    "per",
    "week",
    "remaining",
    "half",
    "twice",
    "more",
    "than",
    "less",
    "how",
    "many",
    "much",
]


def make_conversation(k: int, rng: random.Random) -> list[dict[str, str]]:
    """A GSM8K-like episode with K actions: K-1 calculator calls with results, then the answer."""
    question = " ".join(rng.choice(WORDS) for _ in range(40)) + "?"
    prompt = (
        "You are answering a question step by step. If a calculator would help, write a math expression "
        "in the form <math_exp> EXPRESSION </math_exp>. You may make up to 10 sequential calls, one per "
        "step. Results come back as: QUERY -> RESULT. When you know enough, write <answer> ANSWER </answer>."
        f"\n\nQuestion: {question}"
    )
    msgs = [{"role": "user", "content": prompt}]
    for _i in range(k - 1):
        a, b = rng.randint(2, 999), rng.randint(2, 99)
        thought = " ".join(rng.choice(WORDS) for _ in range(12))
        msgs.append({"role": "assistant", "content": f"First, {thought}. <math_exp> {a} * {b} </math_exp>"})
        msgs.append({"role": "user", "content": f"{a} * {b} -> {a * b}"})
    msgs.append(
        {
            "role": "assistant",
            "content": f"So the {rng.choice(WORDS)} is <answer> {rng.randint(1, 9999)} </answer>",
        }
    )
    return msgs


def _run(model: Any, batches: list, device: str, repeats: int) -> tuple[float, float]:
    """Median wall time of forward+backward over all batches, and the token-weighted mean loss."""
    times, loss_value = [], 0.0
    for r in range(repeats + 1):  # first round is warm-up
        model.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        total, count = 0.0, 0
        for b in batches:
            b = b.to(device)
            n = b.num_action_tokens
            loss = stepwise_nll(model, b) * n
            loss.backward()
            total += float(loss.detach())
            count += n
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if r:
            times.append(time.perf_counter() - t0)
        loss_value = total / count
    return statistics.median(times), loss_value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 5, 10], help="steps per trajectory")
    parser.add_argument("--n-traj", type=int, default=8, help="trajectories per K")
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument(
        "--batch-tokens", type=int, default=8192, help="padded tokens per micro-batch (both paths)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sft",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time one SFTTrainer epoch per mode",
    )
    parser.add_argument("--sft-batch-size", type=int, default=4, help="sequences per SFT micro-batch")
    parser.add_argument("--json", default=None, help="also write the loss rows to this JSON file")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    convs = {k: [make_conversation(k, rng) for _ in range(args.n_traj)] for k in args.ks}
    corpus = [m["content"] for cs in convs.values() for c in cs[:2] for m in c]
    tok = build_tiny_tokenizer(corpus, vocab_size=args.vocab_size)
    model = build_tiny_model(
        tok, hidden_size=args.hidden_size, num_layers=args.layers, num_heads=max(1, args.hidden_size // 64)
    )
    model.to(device=args.device, dtype=getattr(torch, args.dtype)).train()
    nparams = sum(p.numel() for p in model.parameters()) / 1e6
    print(
        f"model: Llama {args.layers} layers x {args.hidden_size} ({nparams:.1f}M params), vocab {len(tok)}, "
        f"{args.device} {args.dtype}; {args.n_traj} trajectories per K; micro-batch <= {args.batch_tokens} padded tokens"
    )
    header = (
        f"{'K':>3} | {'tokens per-step':>15} {'tokens single':>13} {'ratio':>6} | "
        f"{'padded per-step':>15} {'padded single':>13} | {'time per-step':>13} {'time single':>11} {'speed-up':>8} | "
        f"{'loss per-step':>13} {'loss single':>11}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for k in args.ks:
        per_step: list[StepwiseSequence] = [s for c in convs[k] for s in encode_substeps(tok, c)]
        single: list[StepwiseSequence] = [s for c in convs[k] for s in encode_trajectory(tok, c)]
        assert len(single) == args.n_traj, "tokenization is prefix-consistent: one sequence per trajectory"
        # same order for both (by length) and the same token budget per micro-batch
        b_step = iter_batches(
            sorted(per_step, key=lambda s: len(s.input_ids)),
            max_tokens=args.batch_tokens,
            pad_token_id=tok.pad_token_id,
        )
        b_single = iter_batches(
            sorted(single, key=lambda s: len(s.input_ids)),
            max_tokens=args.batch_tokens,
            pad_token_id=tok.pad_token_id,
        )
        tok_step = sum(b.num_tokens for b in b_step)
        tok_single = sum(b.num_tokens for b in b_single)
        pad_step = sum(b.input_ids.numel() for b in b_step)
        pad_single = sum(b.input_ids.numel() for b in b_single)
        t_step, l_step = _run(model, b_step, args.device, args.repeats)
        t_single, l_single = _run(model, b_single, args.device, args.repeats)
        print(
            f"{k:>3} | {tok_step:>15,} {tok_single:>13,} {tok_step / tok_single:>5.2f}x | "
            f"{pad_step:>15,} {pad_single:>13,} | {t_step:>12.3f}s {t_single:>10.3f}s {t_step / t_single:>7.2f}x | "
            f"{l_step:>13.5f} {l_single:>11.5f}"
        )
        sys.stdout.flush()
        rows.append(
            {
                "K": k,
                "tokens_per_step": tok_step,
                "tokens_single_pass": tok_single,
                "x_tokens": tok_step / tok_single,
                "seconds_per_step": t_step,
                "seconds_single_pass": t_single,
                "x_time": t_step / t_single,
                "loss_per_step": l_step,
                "loss_single_pass": l_single,
                "same_loss": abs(l_step - l_single) < 1e-4,
            }
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "device": args.device, "dtype": args.dtype}, f, indent=2)
    if args.sft:
        _bench_sft(args, tok, model, convs)
    return 0


def _records(conv: list[dict[str, str]], tid: str) -> list[dict[str, Any]]:
    idx = [i for i, m in enumerate(conv) if m["role"] == "assistant"]
    return [
        {
            "prompt": conv[:i],
            "completion": [conv[i]],
            "trajectory_id": tid,
            "step_index": k,
            "num_steps": len(idx),
        }
        for k, i in enumerate(idx)
    ]


def _bench_sft(args: argparse.Namespace, tok: Any, model: Any, convs: dict[int, list]) -> None:
    """One epoch of train_sft per mode (TRL SFTTrainer), same records and batch size."""
    import contextlib
    import copy
    import io
    import logging
    import tempfile

    import transformers

    from swirl_algos.learners.config import SupervisedConfig
    from swirl_algos.learners.sft import train_sft

    transformers.logging.set_verbosity_error()
    logging.getLogger("swirl_algos").setLevel(logging.WARNING)
    print(
        f"\nend to end: one epoch of train_sft (TRL SFTTrainer), batch size {args.sft_batch_size}, same records"
    )
    header = f"{'K':>3} | {'examples per-step':>17} {'examples single':>15} | {'epoch per-step':>14} {'epoch single':>12} {'speed-up':>8}"
    print(header)
    print("-" * len(header))
    for k, cs in convs.items():
        records = [r for n, c in enumerate(cs) for r in _records(c, f"t{n}")]
        times, examples = {}, {}
        for mode in ("per_step", "single_pass"):
            with tempfile.TemporaryDirectory() as out:
                cfg = SupervisedConfig(
                    output_dir=out,
                    sft_mode=mode,
                    num_train_epochs=1,
                    per_device_train_batch_size=args.sft_batch_size,
                    learning_rate=1e-4,
                    save_steps=0,
                    logging_steps=1000,
                    max_length=None,
                    bf16=args.dtype == "bfloat16",
                    seed=args.seed,
                )
                quiet = io.StringIO()
                with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                    t0 = time.perf_counter()
                    res = train_sft(cfg, records, model=copy.deepcopy(model).float(), tokenizer=tok)
                    times[mode] = time.perf_counter() - t0
                examples[mode] = res.stats["examples"]
        print(
            f"{k:>3} | {examples['per_step']:>17} {examples['single_pass']:>15} | {times['per_step']:>13.2f}s "
            f"{times['single_pass']:>11.2f}s {times['per_step'] / times['single_pass']:>7.2f}x"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
