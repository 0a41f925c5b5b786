"""Judges: process (GOOD/BAD per step) and outcome (YES/NO per answer), three backends and a cache.

* :mod:`~swirl_env.rewards.judges.base`: the interface (:class:`ProcessJudge`, :class:`OutcomeJudge`,
  requests, :class:`Judgement`);
* :mod:`~swirl_env.rewards.judges.rule`: deterministic rules (no model), the process judge a
  dispatcher by domain over :mod:`~swirl_env.rewards.judges.rule_math` (calculator episodes) and
  :mod:`~swirl_env.rewards.judges.rule_search` (search episodes);
* :mod:`~swirl_env.rewards.judges.hf`: a local Hugging Face causal LM (generate or soft score);
* :mod:`~swirl_env.rewards.judges.openai`: an OpenAI-compatible chat-completions endpoint;
* :mod:`~swirl_env.rewards.judges.cache`: ``CachedJudge(judge, path)``, a SQLite cache;
* :mod:`~swirl_env.rewards.judges.registry`: judges by short name (``make_judge("rule", "process")``,
  ``register_judge``, ``judge_names``).

Backends are imported on first use, so ``import swirl_env.rewards.judges`` stays light.

Example:
    >>> from swirl_env.rewards.judges import RuleProcessJudge, ProcessJudge
    >>> isinstance(RuleProcessJudge(), ProcessJudge)
    True
"""

from __future__ import annotations

from swirl_env._lazy import lazy_exports
from swirl_env.rewards.judges.base import (
    Judgement,
    OutcomeJudge,
    OutcomeRequest,
    ProcessJudge,
    ProcessRequest,
    request_to_dict,
)

_LAZY_ALL, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rule": ["RuleOutcomeJudge", "RuleProcessJudge"],
        "rule_math": ["MathRuleProcessJudge"],
        "rule_search": ["SearchRuleProcessJudge"],
        "hf": ["HFOutcomeJudge", "HFProcessJudge"],
        "openai": ["JudgeRequestError", "OpenAIOutcomeJudge", "OpenAIProcessJudge"],
        "cache": ["CachedJudge", "JudgementCache", "cache_key"],
        "registry": ["judge_names", "make_judge", "register_judge"],
    },
    globals(),
)

__all__ = [
    "Judgement",
    "OutcomeJudge",
    "OutcomeRequest",
    "ProcessJudge",
    "ProcessRequest",
    "request_to_dict",
    *_LAZY_ALL,
]
