"""Rewards: judges (rule-based, local model, OpenAI-compatible endpoint, cached), judge prompts,
and Gymnasium wrappers for outcome and process rewards.

Example:
    >>> import gymnasium as gym, swirl_env
    >>> from swirl_env.rewards import OutcomeReward, ProcessReward, RuleOutcomeJudge, RuleProcessJudge
    >>> env = ProcessReward(OutcomeReward(gym.make("SwiRL-GSM8K-v0"), RuleOutcomeJudge()), RuleProcessJudge())
"""

from __future__ import annotations

import importlib
from typing import Any

from swirl_env.rewards.judges.base import (
    Judgement,
    OutcomeJudge,
    OutcomeRequest,
    ProcessJudge,
    ProcessRequest,
)
from swirl_env.rewards.prompts import JUDGE_PROMPTS, JudgePrompt, get_judge_prompt, parse_verdict

_LAZY = {
    "RuleProcessJudge": "swirl_env.rewards.judges.rule",
    "RuleOutcomeJudge": "swirl_env.rewards.judges.rule",
    "HFProcessJudge": "swirl_env.rewards.judges.hf",
    "HFOutcomeJudge": "swirl_env.rewards.judges.hf",
    "OpenAIProcessJudge": "swirl_env.rewards.judges.openai",
    "OpenAIOutcomeJudge": "swirl_env.rewards.judges.openai",
    "CachedJudge": "swirl_env.rewards.judges.cache",
    "OutcomeReward": "swirl_env.rewards.wrappers",
    "ProcessReward": "swirl_env.rewards.wrappers",
    "judge_trajectory": "swirl_env.rewards.wrappers",
    "judge_trajectories": "swirl_env.rewards.wrappers",
}

__all__ = [
    "JUDGE_PROMPTS",
    "JudgePrompt",
    "Judgement",
    "OutcomeJudge",
    "OutcomeRequest",
    "ProcessJudge",
    "ProcessRequest",
    "get_judge_prompt",
    "parse_verdict",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
