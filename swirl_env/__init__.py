"""Gymnasium environments with text actions for multi-step reasoning and tool use (SWiRL).

Example:
    >>> import gymnasium as gym
    >>> import swirl_env
    >>> env = gym.make("SwiRL-GSM8K-v0")
    >>> obs, info = env.reset(seed=0)
"""

from swirl_env.env import ToolEnv, render_state
from swirl_env.parsing import ActionParser, ParsedAction
from swirl_env.registration import ENV_SPECS, EnvSpec, env_spec, register_envs
from swirl_env.tasks.base import Task
from swirl_env.tools.base import Tool, ToolResult
from swirl_env.trajectory import SCHEMA_VERSION, Step, Trajectory

register_envs()

__all__ = [
    "ENV_SPECS",
    "SCHEMA_VERSION",
    "ActionParser",
    "EnvSpec",
    "ParsedAction",
    "Step",
    "Task",
    "Tool",
    "ToolEnv",
    "ToolResult",
    "Trajectory",
    "env_spec",
    "register_envs",
    "render_state",
]
__version__ = "0.1.0"
