"""Registers every SwiRL environment id with Gymnasium (config only, nothing loaded here).

``import swirl_env`` runs :func:`register_envs`; ``gym.make("swirl_env:SwiRL-GSM8K-v0")`` imports
the package and so works without the import.
"""

from __future__ import annotations

import gymnasium as gym

#: id -> (entry point, default kwargs)
ENV_SPECS: dict[str, tuple[str, dict]] = {
    "SwiRL-GSM8K-v0": ("swirl_env.envs.gsm8k:GSM8KEnv", {}),
    "SwiRL-HotPotQA-v0": ("swirl_env.envs.qa:SearchQAEnv", {"dataset": "hotpotqa"}),
    "SwiRL-MuSiQue-v0": ("swirl_env.envs.qa:SearchQAEnv", {"dataset": "musique"}),
    "SwiRL-BeerQA-v0": ("swirl_env.envs.qa:SearchQAEnv", {"dataset": "beerqa"}),
    "SwiRL-CofCA-v0": ("swirl_env.envs.qa:SearchQAEnv", {"dataset": "cofca"}),
    "SwiRL-Arithmetic-v0": ("swirl_env.envs.arithmetic:ArithmeticEnv", {}),
}


def register_envs() -> None:
    """Register all ids (idempotent)."""
    for env_id, (entry_point, kwargs) in ENV_SPECS.items():
        if env_id in gym.registry:
            continue
        gym.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs), disable_env_checker=False)
