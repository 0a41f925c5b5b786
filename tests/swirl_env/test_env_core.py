"""Core environment loop, spaces and parser behaviour on a toy tool (no dataset needed)."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from swirl_env import Task, Tool, ToolEnv, ToolResult, render_state
from swirl_env.spaces import UnicodeText


class Reverse(Tool):
    name = "reverse"
    tag = "reverse"
    description = "reverses a string"

    def run(self, argument: str) -> ToolResult:
        if argument == "boom":
            raise RuntimeError("exploded")
        return ToolResult(argument[::-1])


TASKS = [Task(f"t{i}", f"Reverse 'ab{i}' — café", (f"{i}ba",), "toy", "test") for i in range(7)]


def make_env(**kw) -> ToolEnv:
    return ToolEnv(TASKS, [Reverse()], metric=lambda p, g: {"em": float(p in g)}, primary_metric="em", **kw)


def test_check_env_passes():
    check_env(make_env(), skip_render_check=True)


def test_seeded_reset_is_deterministic_and_options_select_task():
    env = make_env()
    a = [env.reset(seed=s)[1]["task"]["id"] for s in range(5)]
    b = [env.reset(seed=s)[1]["task"]["id"] for s in range(5)]
    assert a == b and len(set(a)) > 1
    assert env.reset(options={"task_index": 3})[1]["task"]["id"] == "t3"
    assert env.reset(options={"task_id": "t5"})[1]["task"]["id"] == "t5"
    with pytest.raises(KeyError):
        env.reset(options={"task_id": "nope"})


def test_episode_states_are_prefixes_and_record_matches():
    env = make_env(max_tool_calls=3)
    obs0, _ = env.reset(options={"task_index": 1})
    obs1, r, term, trunc, info = env.step("think <reverse> ab1 </reverse> trailing text")
    assert obs1.startswith(obs0) and (r, term, trunc) == (0.0, False, False)
    assert info["step"]["observation"] == "ab1 -> 1ba"
    assert info["step"]["ignored_chars"] == len(" trailing text")
    obs2, r, term, trunc, info = env.step("<answer>1ba</answer>")
    assert obs2.startswith(obs1) and (r, term, trunc) == (1.0, True, False)
    traj = env.trajectory()
    assert render_state(traj.state_messages(1)) == obs1
    assert traj.final_answer == "1ba" and traj.outcome["score"] == 1.0
    with pytest.raises(RuntimeError):
        env.step("<answer>x</answer>")


def test_bad_actions_are_observations_and_cap_truncates():
    env = make_env(max_tool_calls=2)
    env.reset(seed=0)
    _, _, term, trunc, info = env.step("no call here")
    assert not term and not trunc and info["step"]["kind"] == "none"
    assert info["step"]["observation"].startswith("Error:")
    _, _, _, _, info = env.step("<reverse>boom</reverse>")  # tool raising is contained
    assert info["step"]["tool_ok"] is False and "exploded" in info["step"]["observation"]
    _, r, term, trunc, info = env.step("<reverse>x</reverse>")
    assert (r, term, trunc) == (0.0, False, True)
    assert info["outcome"]["unanswered"] is True


def test_unicode_space():
    space = UnicodeText(max_length=50)
    assert space.contains("Beyoncé’s 中文 → ∞")
    assert not space.contains(123)
    assert space.contains(space.sample())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_envs(mode):
    gym.register("Toy-Reverse-v0", entry_point=make_env) if "Toy-Reverse-v0" not in gym.registry else None
    envs = gym.make_vec("Toy-Reverse-v0", num_envs=2, vectorization_mode=mode)
    try:
        obs, _info = envs.reset(seed=[0, 1])
        assert all("café" in o for o in obs)
        obs, _rew, term, _trunc, _info = envs.step(["<reverse>é€</reverse>", "<answer>no</answer>"])
        assert obs[0].endswith("é€ -> €é")
        assert list(term) == [False, True]
        obs, *_ = envs.step(["<reverse>x</reverse>", "<reverse>y</reverse>"])
        assert obs[0].endswith("x -> x")
    finally:
        envs.close()


# ---------------------------------------------------------------------- hostile input to the loop
import time  # noqa: E402

import numpy as np  # noqa: E402

from swirl_env.env import RESET_OPTIONS  # noqa: E402


@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        ({"task_index": 2.7}, TypeError, "'task_index' must be an integer"),
        ({"task_index": True}, TypeError, "'task_index' must be an integer"),
        ({"task_index": "3"}, TypeError, "'task_index' must be an integer"),
        ({"task_index": None}, TypeError, "'task_index' must be an integer"),
        ({"task_index": -1}, ValueError, "must be in [0, 7)"),
        ({"task_index": 7}, ValueError, "must be in [0, 7)"),
        ({"task_index": 10**30}, IndexError, "must be in [0, 7)"),
        ({"task_idx": 1}, ValueError, "unknown reset option(s) 'task_idx'; allowed: 'task_index', 'task_id'"),
        ({"task_index": 1, "seed": 3}, ValueError, "'seed'"),
        ({"task_id": 5}, TypeError, "'task_id' must be a str"),
        ({"task_id": "nope"}, ValueError, "unknown task_id 'nope'"),
        ({"task_id": "nope"}, KeyError, "unknown task_id"),
        ({"task_id": "t1", "task_index": 1}, ValueError, "not both"),
    ],
)
def test_bad_reset_options_are_clear_errors(options, error, fragment):
    env = make_env()
    with pytest.raises(error) as e:
        env.reset(options=options)
    assert fragment in str(e.value)


def test_reset_options_accept_integer_types_and_reject_non_mappings():
    env = make_env()
    assert env.reset(options={"task_index": np.int64(3)})[1]["task"]["id"] == "t3"
    assert env.reset(options={})[1]["task"]["id"] in {t.id for t in TASKS}
    with pytest.raises(TypeError, match="dict or None"):
        env.reset(options=[("task_index", 1)])  # type: ignore[arg-type]
    assert RESET_OPTIONS == ("task_index", "task_id")


@pytest.mark.parametrize("action", [b"<reverse>ab</reverse>", None, 12, ["<reverse>x</reverse>"], 3.5])
def test_non_str_action_is_a_type_error_and_changes_nothing(action):
    env = make_env()
    env.reset(seed=0)
    with pytest.raises(TypeError, match="an action must be a str"):
        env.step(action)
    assert env.steps == [] and len(env.messages) == 1  # nothing executed or recorded
    assert env.step("<reverse>ab</reverse>")[4]["step"]["observation"] == "ab -> ba"


def test_actions_are_cut_before_they_are_parsed():
    env = make_env(max_action_chars=100)
    env.reset(seed=0)
    action = "x" * 95 + "<reverse>late</reverse>"  # the call lies past the cut: never executed
    _, _, _, _, info = env.step(action)
    assert info["step"]["kind"] == "none" and "tool_result" not in info["step"]  # null fields are left out
    assert info["step"]["action"] == action[:100] and info["step"]["ignored_chars"] == len(action) - 100
    _, _, _, _, info = env.step("<reverse>ab</reverse>" + "y" * 500)
    assert info["step"]["observation"] == "ab -> ba" and info["step"]["ignored_chars"] == 500


@pytest.mark.parametrize(
    "action",
    [
        "<reverse>" * 100_000,
        '{"name"' * 100_000,
        '{"name": "reverse", "arguments": ' + "[" * 1000 + "]" * 1000 + "}",
        '{"name": "reverse", "arguments": {"x": ' + "9" * 4301 + "}}",
        '{"name": "reverse", "arguments": {"x": 1e999}}',
        "<answer>" * 50_000 + "1ba" + "</answer>" * 50_000,
    ],
    ids=["open tags", "json fragments", "deep json", "4301 digits", "1e999", "nested answers"],
)
def test_hostile_actions_give_observations_fast(action):
    env = make_env()
    env.reset(options={"task_index": 1})
    t = time.perf_counter()
    _, reward, terminated, _, info = env.step(action)
    assert time.perf_counter() - t < 2.0
    if terminated:  # the innermost answer of the nested ones
        assert info["final_answer"] == "1ba" and reward == 1.0
    else:
        assert info["step"]["observation"].startswith(("Error:", "9", "1e999")), info["step"]["observation"][
            :80
        ]
        assert len(info["step"]["action"]) <= env.max_action_chars


def test_a_result_that_would_pass_the_observation_limit_ends_the_episode_inside_the_space():
    prompt = len(make_env().reset(seed=0)[0])
    limit = prompt + 300 + 4 + 1000 + 700  # the state may grow by 700 characters past the prompt
    env = make_env(max_action_chars=300, max_observation_chars=limit)
    obs, _ = env.reset(seed=0)
    call = "<reverse>" + "x" * 200 + "</reverse>"
    obs, _, terminated, truncated, _ = env.step(call)  # 629 characters more: fits
    assert not (terminated or truncated) and env.observation_space.contains(obs)
    obs, reward, terminated, truncated, info = env.step(call)  # would pass it
    assert truncated and not terminated and reward == 0.0
    assert env.observation_space.contains(obs) and obs.endswith("the episode ends here.")
    assert info["step"]["error"] == "the observation limit was reached"
    assert env.trajectory().outcome["unanswered"] is True
    with pytest.raises(ValueError, match="max_observation_chars must exceed"):
        make_env(max_action_chars=300, max_observation_chars=1304)
    with pytest.raises(ValueError, match="characters, more than the"):
        make_env(max_action_chars=300, max_observation_chars=1305 + prompt // 2).reset(seed=0)


def test_demonstrations_may_be_any_iterable_of_dicts():
    demo = {"question": "Reverse 'xy'", "turns": ["<reverse>xy</reverse>", "xy -> yx", "<answer>yx</answer>"]}
    env = make_env(demonstrations=(d for d in [demo]))
    assert len(env.demonstrations) == 1 and "Reverse 'xy'" in env.reset(seed=0)[0]
