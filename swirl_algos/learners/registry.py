"""The learners ``swirl train`` knows, by name: each one a config class and a train function.

A learner is a config/trainer pair (``SwirlConfig`` in ``config.py`` + ``swirl.py``, like TRL's
``grpo_config.py`` + ``grpo_trainer.py``) and one line here. ``swirl train --algo NAME`` builds
``NAME``'s config from the command line (its flags are generated from the config's fields) and
calls the train function with what the learner declares it takes:
``train(config, [data], [process_judge], model=..., tokenizer=...)``.

Example:
    >>> sorted(LEARNERS)
    ['outcome-rl', 'rft', 'sft', 'swirl']
    >>> get_learner("swirl").config_class().__name__
    'SwirlConfig'
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["LEARNERS", "Learner", "get_learner", "register_learner"]


@dataclass(frozen=True)
class Learner:
    """One learner: where its config and train function live (imported on use), and its inputs.

    Attributes:
        config: ``"module:ConfigClass"``, a dataclass (usually a ``TrainingConfig`` subclass).
        train: ``"module:function"`` with the signature ``train(config, [data], [process_judge],
            *, model, tokenizer=None) -> TrainResult``.
        takes_data: the train function takes training records (``--data``) after the config.
        takes_process_judge: the train function takes a process judge (``--process-judge``) next.
        description: one line for ``swirl train --help``.
    """

    config: str
    train: str
    takes_data: bool = True
    takes_process_judge: bool = False
    description: str = ""

    def config_class(self) -> type:
        return _load(self.config)

    def train_function(self) -> Any:
        return _load(self.train)


def _load(spec: str) -> Any:
    from swirl_env._lazy import import_object

    return import_object(spec)  # a clear ValueError naming the spec when it does not import


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

#: name -> learner; ``swirl train --algo NAME``
LEARNERS: dict[str, Learner] = {
    "swirl": Learner(
        "swirl_algos.learners.config:SwirlConfig",
        "swirl_algos.learners.swirl:train_swirl",
        takes_process_judge=True,
        description="SWiRL step-wise RL: sampled actions at stored states, rewarded by a process judge",
    ),
    "sft": Learner(
        "swirl_algos.learners.config:SupervisedConfig",
        "swirl_algos.learners.sft:train_sft",
        description="SFT on the (filtered) sub-trajectories",
    ),
    "rft": Learner(
        "swirl_algos.learners.config:SupervisedConfig",
        "swirl_algos.learners.sft:train_rft",
        description="rejection fine-tuning: SFT on outcome-filtered data",
    ),
    "outcome-rl": Learner(
        "swirl_algos.learners.config:OutcomeRLConfig",
        "swirl_algos.learners.outcome_rl:train_outcome_rl",
        takes_data=False,
        description="trajectory-level outcome-reward RL in the environment",
    ),
}


def register_learner(name: str, learner: Learner, *, overwrite: bool = False) -> None:
    """Add a learner under ``name`` (``swirl train --algo name``).

    Example:
        >>> register_learner("my-sft", Learner("swirl_algos.learners.config:SupervisedConfig",
        ...                                    "swirl_algos.learners.sft:train_sft"))
        >>> get_learner("my-sft").takes_data
        True
        >>> del LEARNERS["my-sft"]
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"a learner name is letters, digits, '-' and '_' (not starting with '-'), got {name!r}"
        )
    if not isinstance(learner, Learner):
        raise TypeError(f"learner must be a Learner, got {learner!r}")
    if name in LEARNERS and not overwrite:
        raise ValueError(f"a learner named {name!r} is already registered")
    # imported now, so a typo fails here and not every later `swirl train`
    config_cls = learner.config_class()
    if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
        raise TypeError(f"{learner.config} is not a dataclass config")
    if not callable(learner.train_function()):
        raise TypeError(f"{learner.train} is not a function")
    LEARNERS[name] = learner


def get_learner(name: str) -> Learner:
    """The learner registered as ``name``; a clear error lists the known names."""
    try:
        return LEARNERS[name]
    except KeyError:
        raise ValueError(f"unknown learner {name!r}; known: {', '.join(sorted(LEARNERS))}") from None
