"""One test over every registered SwiRL id: Gymnasium's checker and a short, partly hostile episode."""

from __future__ import annotations

import gymnasium as gym
import pytest
import toys
from gymnasium.utils.env_checker import check_env

from swirl_env import ENV_SPECS

DATA_KWARGS = toys.ENV_DATA_KWARGS


@pytest.mark.parametrize("env_id", sorted(ENV_SPECS))
def test_every_registered_env_passes_check_env_and_survives_a_short_hostile_episode(env_id):
    env = gym.make(env_id, **DATA_KWARGS.get(env_id, {}))
    assert env.spec is not None and env.spec.id == env_id
    assert env.spec.entry_point == ENV_SPECS[env_id][0]
    check_env(env.unwrapped, skip_render_check=True)

    obs, info = env.reset(seed=0)
    assert isinstance(obs, str) and info["task"]["question"] in obs
    assert env.observation_space.contains(obs)

    # no call, a malformed call, text with a NUL and a lone surrogate: informative observations,
    # the episode goes on and nothing raises
    for action in ("I am not sure.", "<answer> unterminated", "\x00 \ud800 <<<>>>"):
        obs2, reward, terminated, _truncated, _info = env.step(action)
        assert isinstance(obs2, str) and len(obs2) > len(obs)
        assert not terminated and float(reward) == 0.0
        assert env.observation_space.contains(obs2)
        obs = obs2

    _obs, reward, terminated, truncated, info3 = env.step("<answer> 42 </answer>")
    assert terminated and not truncated
    assert 0.0 <= float(reward) <= 1.0
    assert info3["final_answer"] == "42"
    env.close()


def test_the_registry_is_the_single_list_of_ids():
    import swirl_env  # noqa: F401

    ours = {k for k in gym.registry if k.startswith("SwiRL-")}
    assert ours == set(ENV_SPECS)


@pytest.mark.parametrize("env_id", sorted(ENV_SPECS))
def test_a_bad_first_reset_leaves_the_env_usable(env_id):
    env = gym.make(env_id, **DATA_KWARGS.get(env_id, {}))
    for bad in ({"seed": -1}, {"options": {"bogus": 1}}):
        with pytest.raises((gym.error.Error, TypeError, ValueError, KeyError)):
            env.reset(**bad)
    obs, _ = env.reset(seed=0)
    obs2, _reward, terminated, _truncated, _info = env.step("I am not sure.")
    assert isinstance(obs2, str) and len(obs2) > len(obs) and not terminated
    env.close()


@pytest.mark.parametrize("env_id", sorted(ENV_SPECS))
@pytest.mark.parametrize(
    "kwargs",
    [{"max_tool_calls": 2.5}, {"max_tool_calls": True}, {"max_tool_calls": None}, {"max_tool_calls": "5"},
     {"max_action_chars": 0}, {"max_observation_chars": -1}, {"max_observation_chars": 200},
     {"syntaxes": ()}, {"syntaxes": "tags"}, {"syntaxes": ("json",)}, {"prompt": 5},
     {"demonstrations": "x"}, {"demonstrations": [3]}],
)  # fmt: skip
def test_bad_env_arguments_are_errors_at_make(env_id, kwargs):
    (name,) = kwargs
    with pytest.raises((TypeError, ValueError), match=name):
        gym.make(env_id, **{**DATA_KWARGS.get(env_id, {}), **kwargs})


@pytest.mark.parametrize("env_id", sorted(ENV_SPECS))
def test_vector_envs_batch_steps_of_different_kinds(env_id):
    """Sub-envs whose steps differ (a call beside no call, a failed call, an answer) give infos of
    one type per key: null fields are left out, and Gymnasium's ``_key`` masks say where."""
    mode = "async" if env_id == "SwiRL-GSM8K-v0" else "sync"
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode, **DATA_KWARGS.get(env_id, {}))
    single = gym.make(env_id, **DATA_KWARGS.get(env_id, {})).unwrapped
    tool = next(iter(single.tools))
    call = single.format_call(tool, "1 + 1" if tool == "calculator" else "film director")
    bad = single.format_call(tool, "1/0") if tool == "calculator" else "<answer> unterminated"
    try:
        envs.reset(seed=[0, 1])
        for pair in (
            ["no call", call],
            [call, "no call"],
            [bad, call],
            [call, bad],
            ["<answer> 4 </answer>", call],
        ):
            _obs, _rew, term, _trunc, info = envs.step(pair)
            assert list(info["step"]["_kind"]) == [True, True]
            called = [a == call or (tool == "calculator" and a == bad) for a in pair]
            assert list(info["step"]["_tool_ok"]) == called, pair
            assert list(info["step"]["tool_ok"][called]) == [a == call for a, c in zip(pair, called) if c]
            if term.any():  # the answering env starts a new episode on its next step
                envs.reset(seed=[2, 3])
    finally:
        envs.close()


def test_a_failed_reset_leaves_the_running_episode_as_it_was():
    env = gym.make("SwiRL-GSM8K-v0")
    env.reset(seed=3)
    env.step("<math_exp>1+1</math_exp>")
    with pytest.raises(ValueError, match="task_index"):
        env.reset(seed=99, options={"task_index": 10**9})
    traj = env.unwrapped.trajectory()
    assert traj.seed == 3 and traj.num_steps == 1
    assert not env.step("<math_exp>2+2</math_exp>")[2]  # the episode goes on


@pytest.mark.parametrize(
    ("env_id", "kwargs", "fragment"),
    [
        ("SwiRL-GSM8K-v0", {"calculator_options": "x"}, "calculator_options must be a dict"),
        ("SwiRL-GSM8K-v0", {"calculator": "x"}, "tools must be Tool instances"),
        ("SwiRL-Arithmetic-v0", {"start_range": 5}, "start_range must be a pair"),
        ("SwiRL-Arithmetic-v0", {"operand_range": (1, 2, 3)}, "operand_range must be a pair"),
    ],
)
def test_bad_tool_and_task_arguments_are_errors_at_make(env_id, kwargs, fragment):
    with pytest.raises((TypeError, ValueError), match=fragment):
        gym.make(env_id, **kwargs)
