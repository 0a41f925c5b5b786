"""Rewards: judges (rule-based, local model, OpenAI-compatible endpoint, cached), judge prompts,
and Gymnasium wrappers for outcome and process rewards.

Example:
    >>> import gymnasium as gym, swirl_env
    >>> from swirl_env.rewards import OutcomeReward, ProcessReward, RuleOutcomeJudge, RuleProcessJudge
    >>> env = ProcessReward(OutcomeReward(gym.make("SwiRL-GSM8K-v0"), RuleOutcomeJudge()), RuleProcessJudge())
"""

from __future__ import annotations

from swirl_env._lazy import lazy_exports
from swirl_env.rewards.judges.base import (
    Judgement,
    OutcomeJudge,
    OutcomeRequest,
    ProcessJudge,
    ProcessRequest,
)
from swirl_env.rewards.prompts import JUDGE_PROMPTS, JudgePrompt, get_judge_prompt, parse_verdict

_LAZY_ALL, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "judges.rule": ["RuleOutcomeJudge", "RuleProcessJudge"],
        "judges.hf": ["HFOutcomeJudge", "HFProcessJudge"],
        "judges.openai": ["OpenAIOutcomeJudge", "OpenAIProcessJudge"],
        "judges.cache": ["CachedJudge"],
        "wrappers": ["OutcomeReward", "ProcessReward", "judge_trajectories", "judge_trajectory"],
    },
    globals(),
)

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
    *_LAZY_ALL,
]
