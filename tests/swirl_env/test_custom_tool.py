"""A new tool plugged in by subclassing, with no edit anywhere else in the package.

The same example is shown in docs/environments.md ("Adding a tool").
"""

from __future__ import annotations

import re

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import swirl_env  # noqa: F401  (registers the SwiRL ids)
from swirl_algos.rollout import rollout
from swirl_env import Task, Tool, ToolEnv, ToolResult
from swirl_env.envs.gsm8k import GSM8KEnv
from swirl_env.tools.calculator import Calculator


# ---------------------------------------------------------------------------------- the tool
class UnitConverter(Tool):
    """Converts lengths and masses: ``<convert> 5 km to m </convert>`` -> ``5 km to m -> 5000 m``."""

    name = "unit_converter"
    tag = "convert"
    description = "converts a quantity between units of length or mass"
    FACTORS = {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0, "g": 1.0, "kg": 1000.0}  # noqa: RUF012
    KIND = {"mm": "length", "cm": "length", "m": "length", "km": "length", "g": "mass", "kg": "mass"}  # noqa: RUF012

    def run(self, argument: str) -> ToolResult:
        m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*([a-z]+)\s+(?:to|in)\s+([a-z]+)\s*", argument.lower())
        if m is None:
            return ToolResult.error("write 'NUMBER UNIT to UNIT', e.g. '5 km to m'")
        value, src, dst = float(m.group(1)), m.group(2), m.group(3)
        for unit in (src, dst):
            if unit not in self.FACTORS:
                return ToolResult.error(f"unknown unit {unit!r} (known: {', '.join(self.FACTORS)})")
        if self.KIND[src] != self.KIND[dst]:
            return ToolResult.error(f"cannot convert {self.KIND[src]} to {self.KIND[dst]}")
        out = value * self.FACTORS[src] / self.FACTORS[dst]
        return ToolResult(f"{out:g} {dst}", value={"value": out, "unit": dst})


# ---------------------------------------------------------------------------------- two ways to use it
class GSM8KWithUnits(GSM8KEnv):
    """GSM8K with the calculator AND the unit converter."""

    def make_tools(self, calculator: Tool) -> list[Tool]:
        return [calculator, UnitConverter()]


def exact_match(prediction: str, golds) -> dict[str, float]:
    return {"em": float(prediction.strip().lower() in [g.lower() for g in golds])}


class UnitsEnv(ToolEnv):
    """A brand-new environment: its own tasks, tools and metric."""

    def __init__(self, **kwargs):
        tasks = [
            Task("u0", "How many metres is 2.5 km?", ("2500 m",), "units", "test"),
            Task("u1", "How many grams is 3 kg?", ("3000 g",), "units", "test"),
        ]
        super().__init__(
            tasks, [UnitConverter(), Calculator()], metric=exact_match, primary_metric="em", **kwargs
        )


@pytest.fixture(scope="module", autouse=True)
def registered():
    ids = {"SwiRLTest-GSM8KUnits-v0": GSM8KWithUnits, "SwiRLTest-Units-v0": UnitsEnv}
    for env_id, cls in ids.items():
        gym.register(env_id, entry_point=cls, kwargs={"max_tool_calls": 3})
    yield
    for env_id in ids:
        gym.registry.pop(env_id, None)


def test_the_tool_alone():
    conv = UnitConverter()
    assert conv("5 km to m").text == "5000 m"
    assert conv("250 g in kg").value == {"value": 0.25, "unit": "kg"}
    assert conv("5 km to kg").text == "Error: cannot convert length to mass"
    assert conv("five km").ok is False


def test_added_to_gsm8k_through_gym_make():
    env = gym.make("SwiRLTest-GSM8KUnits-v0", n_tasks=4)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(options={"task_index": 0})
    assert "<convert> INPUT </convert>" in obs and "<math_exp> EXPRESSION </math_exp>" in obs  # prompt
    assert "up to 3 sequential calls" in obs  # registered kwargs reach the env
    _, _, _, _, info = env.step("<convert> 1.5 km to m </convert>")
    assert (
        info["step"]["observation"] == "1.5 km to m -> 1500 m" and info["parsed"]["tool"] == "unit_converter"
    )
    _, _, _, _, info = env.step('{"name": "unit_converter", "arguments": {"query": "2 kg to g"}}')
    assert info["step"]["observation"] == "2 kg to g -> 2000 g"  # the JSON call syntax too
    _, _, _, _, info = env.step("<math_exp> 16 - 3 - 4 </math_exp>")
    assert info["tool_result"] == "9.0"  # the calculator is still there
    _, reward, term, _, info = env.step("<answer> 18 </answer>")
    assert (reward, term) == (1.0, True)
    assert [s.tool for s in env.unwrapped.trajectory().steps] == ["unit_converter"] * 2 + ["calculator", None]


def test_a_new_env_through_gym_make_and_rollout():
    env = gym.make("SwiRLTest-Units-v0")
    check_env(env.unwrapped, skip_render_check=True)

    class Converts:
        name = "converts"

        def act(self, states, *, seeds=None):
            out = []
            for state in states:
                if len(state) == 1:
                    q = state[0]["content"]
                    out.append(
                        "<convert> 2.5 km to m </convert>" if "km" in q else "<convert> 3 kg to g </convert>"
                    )
                else:
                    out.append(f"<answer> {state[-1]['content'].split(' -> ')[1]} </answer>")
            return out

    trajs = rollout("SwiRLTest-Units-v0", Converts(), num_envs=2, progress=False)
    assert [(t.task["id"], t.final_answer, t.outcome["score"]) for t in trajs] == [
        ("u0", "2500 m", 1.0),
        ("u1", "3000 g", 1.0),
    ]
    envs = gym.make_vec("SwiRLTest-Units-v0", num_envs=2, vectorization_mode="sync")
    try:
        envs.reset(seed=0)
        obs, *_ = envs.step(["<convert> 1 m to cm </convert>", "<convert> 1 m to kg </convert>"])
        assert obs[0].endswith("1 m to cm -> 100 cm") and obs[1].endswith(
            "Error: cannot convert length to mass"
        )
    finally:
        envs.close()
