"""One SWiRL optimiser step: the native shared-prefix engine against TRL's stock ``RLOOTrainer``.

Both trainers get the same states, the same model (weights and architecture), the same G, batch,
action length and reward function, and run the same number of optimiser steps. Per step the
script reports wall time and the tokens the model processed (every token position of every
forward pass, padding included: what the compute pays for), and their ratios:

* ``demo``: the demo's model size and settings (states of about 120 tokens like the demo's
  Stage-1 states, G = 8, 8 states per step, actions of up to 24 tokens);
* ``long``: states of about 1,000 tokens (a HotPotQA state with retrieved passages), G = 8.

The reward is a cheap deterministic function of the action text, so the judge costs nothing and
the comparison is the learner's own work. The model has random weights, so an action rarely ends
before the length cap in either engine (the mean action lengths are printed side by side).

Usage:
    python -m benchmarks.bench_swirl_step                 # both settings
    python -m benchmarks.bench_swirl_step --settings demo --steps 3 --json out.json

Example:
    >>> # rows = run_setting("demo", steps=2)
"""

from __future__ import annotations

import argparse
import itertools
import logging
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import fmt_ratio, machine_info, print_rows, ratio, write_json

logger = logging.getLogger(__name__)

#: (state tokens, action tokens, G, states per step, hidden size, layers) of each setting
SETTINGS: dict[str, dict[str, int]] = {
    "demo": {"state_words": 112, "action_tokens": 24, "G": 8, "states": 8, "hidden": 128, "layers": 4},
    "long": {"state_words": 990, "action_tokens": 32, "G": 8, "states": 4, "hidden": 128, "layers": 4},
}

_WORDS = (
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
)


def _states(n: int, words: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        text = " ".join(rng.choice(_WORDS) for _ in range(words))
        rows.append(
            {
                "prompt": [{"role": "user", "content": f"Question {i}: {text}"}],
                "task": "",
                "env_id": "",
                "trajectory_id": f"t{i}",
                "step_index": 0,
            }
        )
    return rows


def _reward(prompts: Any, completions: Any, **_: Any) -> list[float]:
    texts = [c[-1]["content"] if isinstance(c, list) else str(c) for c in completions]
    return [float(len(t) % 2) for t in texts]


class _Counter:
    """Counts the token positions every forward pass of the hooked modules processes."""

    def __init__(self) -> None:
        self.tokens = 0
        self.forwards = 0

    def __call__(self, module: Any, args: Any, kwargs: Any) -> None:
        ids = kwargs.get("input_ids")
        if ids is None and args:
            ids = args[0]
        if ids is not None:
            self.tokens += int(ids.numel())
            self.forwards += 1


def _hook(counter: _Counter, *models: Any) -> list[Any]:
    handles = []
    for m in models:
        if m is not None:
            base = m.get_base_model() if hasattr(m, "get_base_model") else m
            handles.append(base.register_forward_pre_hook(counter, with_kwargs=True))
    return handles


def _timer() -> Any:
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._t = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._t = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.times.append(time.perf_counter() - self._t)

    return StepTimer()


def _one(engine: str, s: dict[str, int], steps: int, tmp: str, seed: int) -> dict[str, Any]:
    import torch
    from datasets import Dataset

    from swirl_algos.learners.stepwise import encode_messages
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

    rows = _states(s["states"] * (steps + 1), s["state_words"], seed)
    tok = build_tiny_tokenizer([r["prompt"][0]["content"] for r in rows[:50]], vocab_size=700)
    model = build_tiny_model(tok, hidden_size=s["hidden"], num_layers=s["layers"], num_heads=4, seed=seed)
    batch = s["G"] * s["states"]
    common = {
        "output_dir": f"{tmp}/{engine}",
        "learning_rate": 1e-5,
        "max_steps": steps + 1,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "seed": seed,
        "disable_tqdm": True,
    }
    counter = _Counter()
    timer = _timer()
    torch.manual_seed(seed)
    if engine == "native":
        from swirl_algos.learners.config import SwirlConfig
        from swirl_algos.learners.swirl_trainer import SwirlTrainer

        cfg = SwirlConfig(
            output_dir=common["output_dir"],
            learning_rate=1e-5,
            max_steps=steps + 1,
            num_generations=s["G"],
            per_device_train_batch_size=batch,
            max_completion_length=s["action_tokens"],
            beta=0.05,
            dynamic_sampling="none",
            stop_at_call=False,
            save_steps=0,
            logging_steps=1,
            seed=seed,
            max_prompt_length=None,
            trainer_kwargs={"disable_tqdm": True},
        )

        def reward(prompts: Any, completions: Any, log_metric: Any = None, **kw: Any) -> list[float]:
            return _reward(prompts, completions)

        trainer = SwirlTrainer(model, cfg, Dataset.from_list(rows), reward, tok, callbacks=[timer])
        handles = _hook(counter, trainer.model, trainer.ref_model)
    else:
        from trl import RLOOConfig, RLOOTrainer

        args = RLOOConfig(
            **common,
            per_device_train_batch_size=batch,
            num_generations=s["G"],
            max_completion_length=s["action_tokens"],
            beta=0.05,
            temperature=1.0,
            dataloader_pin_memory=False,
            bf16=False,
        )
        model.save_pretrained(f"{tmp}/model")  # TRL builds its reference from the model's path
        tok.save_pretrained(f"{tmp}/model")
        trainer = RLOOTrainer(
            model=f"{tmp}/model",
            reward_funcs=[_reward],
            args=args,
            train_dataset=Dataset.from_list([{"prompt": r["prompt"]} for r in rows]),
            processing_class=tok,
            callbacks=[timer],
        )
        handles = _hook(counter, trainer.model, getattr(trainer, "ref_model", None))
    marks: list[int] = []

    from transformers import PrinterCallback, TrainerCallback

    class Tokens(TrainerCallback):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            marks.append(counter.tokens)

    trainer.add_callback(Tokens())
    trainer.remove_callback(PrinterCallback)  # no metric dicts on stdout: the table is the output
    trainer.train()
    for h in handles:
        h.remove()
    # the first step warms caches and allocators: report the later ones
    times = timer.times[1:]
    tokens = [b - a for a, b in itertools.pairwise(marks)]
    lengths = [
        h.get("completions/mean_length") for h in trainer.state.log_history if "completions/mean_length" in h
    ]
    state_tokens = sum(
        len(encode_messages(tok, r["prompt"], add_generation_prompt=True)) for r in rows
    ) / len(rows)
    return {
        "engine": engine,
        "seconds_per_step": sum(times) / len(times),
        "tokens_per_step": sum(tokens) / len(tokens),
        "mean_state_tokens": state_tokens,
        "mean_action_tokens": sum(lengths[1:]) / max(1, len(lengths) - 1) if lengths else float("nan"),
        "steps_timed": len(times),
    }


def run_setting(name: str, *, steps: int = 3, seed: int = 0) -> dict[str, Any]:
    """Time ``steps`` optimiser steps (after one warm-up step) of both engines on one setting."""
    s = SETTINGS[name]
    with tempfile.TemporaryDirectory() as tmp:
        ours = _one("native", s, steps, tmp, seed)
        trl = _one("trl", s, steps, tmp, seed)
    return {
        "setting": name,
        "G": s["G"],
        "states_per_step": s["states"],
        "state_tokens": ours["mean_state_tokens"],
        "action_tokens_ours": ours["mean_action_tokens"],
        "action_tokens_trl": trl["mean_action_tokens"],
        "seconds_ours": ours["seconds_per_step"],
        "seconds_trl": trl["seconds_per_step"],
        "tokens_ours": ours["tokens_per_step"],
        "tokens_trl": trl["tokens_per_step"],
        "x_time": ratio(trl["seconds_per_step"], ours["seconds_per_step"]),
        "x_tokens": ratio(trl["tokens_per_step"], ours["tokens_per_step"]),
    }


COLUMNS = [
    ("setting", "setting"),
    ("state_tokens", "state tokens"),
    ("action_tokens_ours", "action tokens (ours)"),
    ("action_tokens_trl", "action tokens (TRL)"),
    ("seconds_ours", "s/step ours"),
    ("seconds_trl", "s/step TRL RLOO"),
    ("x_time", "x faster"),
    ("tokens_ours", "tokens/step ours"),
    ("tokens_trl", "tokens/step TRL"),
    ("x_tokens", "x fewer tokens"),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_swirl_step", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--steps", type=int, default=3, help="timed optimiser steps (after one warm-up step)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    from swirl_algos.terminal import quiet_libraries

    with quiet_libraries():
        rows = [run_setting(n, steps=args.steps, seed=args.seed) for n in args.settings]
    m = machine_info()
    print(
        f"machine: {m['cpu']}, {m['cpu_count']} cores, torch {m.get('torch')} ({m.get('torch_threads')} threads)"
    )
    shown = [{**r, "x_time": fmt_ratio(r["x_time"]), "x_tokens": fmt_ratio(r["x_tokens"])} for r in rows]
    print_rows(
        shown,
        COLUMNS,
        title="one SWiRL step: shared-prefix native engine vs TRL RLOOTrainer (same states, model, G)",
    )
    if args.json:
        write_json(args.json, {"machine": m, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
