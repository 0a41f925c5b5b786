"""``swirl demo``: the whole SWiRL method, end to end, on a CPU, in minutes.

No pretrained language model can be assumed offline, so the demo builds one: a tiny Llama with a
byte-level BPE tokenizer trained on the spot (:mod:`swirl_algos.tiny`). It then runs every stage
of the paper on the default task, ``SwiRL-Arithmetic-v0`` (multi-step arithmetic word problems
solved with the SymPy calculator):

1. **tiny**: tokenizer and randomly initialised model.
2. **oracle**: an imperfect scripted solver
   (:class:`~swirl_algos.policies.arithmetic_oracle.ArithmeticOraclePolicy`: wrong operands and
   operators, distractor numbers, skipped steps, guesses...) plays ``oracle_tasks`` training
   questions through the environment.
3. **warmstart**: SFT of the tiny model on those imperfect trajectories (all of them, mistakes
   included) gives the *base* model: it has learnt the format and most of the skill, and makes
   mistakes of its own.
4. **generate** (Stage 1): the base model answers ``gen_tasks`` new training questions,
   ``gen_samples`` times each, with the real calculator.
5. **judge**: every step is judged GOOD/BAD by the gold-free rule judge
   (:class:`~swirl_env.envs.arithmetic.ArithmeticStepJudge`: the question and the conversation,
   never the gold; ``process_judge="gold"`` for the gold-aware one), every final answer YES/NO
   against the gold answer; then the paper's filters (``process``, ``outcome``...) and the
   step-wise decomposition into (state, action) records.
6. **train** (Stage 2), from the base model, for each seed: SWiRL (shared-prefix RLOO policy
   gradient on fresh actions sampled at the stored states and rewarded by the process judge; no
   tool runs) on the ``swirl_filters`` data (process-filtered by default; add ``"outcome"`` for the
   paper's filter contrast) and the SFT baseline on the ``sft_filters`` data.
7. **evaluate**: multi-step episodes with the real tools on held-out *test* questions (a split
   disjoint from training by construction), for the base model and every trained model and seed,
   sampled and greedy: accuracy, mean process label, steps per episode, with 95% confidence
   intervals (a two-level bootstrap over training seeds and test questions; differences are
   paired by question and seed).

Then it prints the table, writes ``results.json`` (every number, per seed), and saves
``accuracy.png`` and ``learning_curves.png`` in the output directory.

Every stage writes its output under the output directory with a fingerprint of the settings it
depends on (``stage.json``). A re-run reuses each finished stage whose fingerprint matches (an
interrupted rollout continues where it stopped) and redoes the others, so changing e.g. the SWiRL
learning rate only re-runs SWiRL training and its evaluations.

Example:
    >>> config = DemoConfig.quick_config(output_dir="/tmp/swirl-demo-quick")
    >>> config.seeds
    [0, 1]
    >>> # results = run_demo(config)   # about 1-2 minutes on 2 CPU cores
"""

from __future__ import annotations

from swirl_algos.demo.config import ENV_ID, METHOD_LABELS, PROCESS_JUDGES, DemoConfig
from swirl_algos.demo.main import add_arguments, config_from_args, run, run_demo
from swirl_algos.demo.results import collect_results, print_results
from swirl_algos.demo.stages import (
    build_base_model,
    env_kwargs,
    evaluate_model,
    model_dir,
    train_model,
    training_curve,
)
from swirl_algos.report import reward_thirds

__all__ = [
    "ENV_ID",
    "METHOD_LABELS",
    "PROCESS_JUDGES",
    "DemoConfig",
    "add_arguments",
    "build_base_model",
    "collect_results",
    "config_from_args",
    "env_kwargs",
    "evaluate_model",
    "model_dir",
    "print_results",
    "reward_thirds",
    "run",
    "run_demo",
    "train_model",
    "training_curve",
]
