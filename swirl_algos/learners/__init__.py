"""Learners: SWiRL step-wise RL (Stage 2) and the baselines (SFT, RFT, trajectory-level outcome RL).

Example:
    >>> from swirl_algos.learners import SwirlConfig, train_swirl
    >>> SwirlConfig().advantage
    'rloo'
"""

from __future__ import annotations

import importlib
from typing import Any

from swirl_algos.learners.config import OutcomeRLConfig, SupervisedConfig, SwirlConfig, TrainingConfig

_LAZY = {
    "train_swirl": "swirl_algos.learners.swirl",
    "build_swirl_trainer": "swirl_algos.learners.swirl",
    "ProcessJudgeReward": "swirl_algos.learners.swirl",
    "prepare_state_dataset": "swirl_algos.learners.swirl",
    "train_sft": "swirl_algos.learners.sft",
    "train_rft": "swirl_algos.learners.sft",
    "train_outcome_rl": "swirl_algos.learners.outcome_rl",
    "TrainResult": "swirl_algos.learners.common",
    "load_trained_model": "swirl_algos.learners.common",
    "load_records": "swirl_algos.learners.common",
    "filter_records": "swirl_algos.learners.common",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OutcomeRLConfig", "SupervisedConfig", "SwirlConfig", "TrainingConfig", *_LAZY]
