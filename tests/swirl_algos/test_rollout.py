"""Rollout: batched stepping, seeds, resumable output (including SIGKILL mid-run), HF policies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import gymnasium as gym
import pytest
import toys

from swirl_algos.jsonl import JsonlWriter, read_jsonl, read_trajectories, record_key, repair_tail
from swirl_algos.policies.base import Policy
from swirl_algos.rollout import episode_seed, plan_episodes, rollout
from swirl_env import Task

ENV_ID = "SwiRLTest-RolloutAdd-v0"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def helper():
    """The toy env (registered as ENV_ID) and policy: an importable module, which the SIGKILL test
    imports in a subprocess too."""
    toys.register_add_env(ENV_ID, max_tool_calls=2)
    return toys


class Recorder(Policy):
    """Answers correctly in one step; records batch sizes and seeds."""

    name = "recorder"

    def __init__(self):
        self.batches: list[int] = []
        self.seeds: list[int] = []

    def act(self, states, *, seeds=None):
        self.batches.append(len(states))
        self.seeds.extend(seeds)
        return [
            f"<answer> {2 * int(m[0]['content'].split('What is ')[1].split(' +')[0]) + 1} </answer>"
            for m in states
        ]


def test_plan_and_seeds():
    tasks = [Task(f"q{i}", "?", ("1",), "toy", "test") for i in range(4)]
    plan = plan_episodes(tasks, task_indices=[2, 0], samples_per_task=2, seed=5)
    assert [e.key for e in plan] == [("q2", 0), ("q2", 1), ("q0", 0), ("q0", 1)]
    assert len({e.seed for e in plan}) == 4 and plan[0].seed == episode_seed(5, 2, 0)
    assert episode_seed(0, 1, 0) != episode_seed(1, 0, 0)
    with pytest.raises(IndexError):
        plan_episodes(tasks, task_indices=[4])
    with pytest.raises(ValueError, match="not both"):
        plan_episodes(tasks, n_tasks=1, task_indices=[0])
    with pytest.raises(ValueError, match="share the id"):
        plan_episodes([tasks[0], tasks[0]], n_tasks=2)


def test_batched_rollout_runs_every_episode_with_full_batches(helper):
    policy = helper.SeededAdder()
    trajs = rollout(ENV_ID, policy, n_tasks=5, samples_per_task=3, num_envs=4, seed=1, progress=False)
    assert [t.id for t in trajs] == [f"add-{i}#{s}" for i in range(5) for s in range(3)]
    assert policy.stop_strings == ["</math_exp>", "</answer>", "</tool_call>"]
    # every episode: a call then an answer; one act call per round over all live episodes
    assert all(t.num_steps == 2 and t.terminated for t in trajs)
    assert max(policy.calls) == 4 and sum(policy.calls) == 2 * 15
    assert len(policy.calls) < 2 * 15 / 2  # batched, not one by one
    # the text after the first complete call was cut, and the record says so
    answer = trajs[0].steps[1]
    assert answer.action.endswith("</answer>") and answer.ignored_chars == len(" trailing")
    assert trajs[0].policy == {"name": "seeded-adder"}
    assert trajs[0].env_id == ENV_ID and trajs[0].env_kwargs == {"max_tool_calls": 2}
    # samples of a task have distinct seeds; accuracy reflects the seeded slips
    assert len({t.seed for t in trajs}) == 15
    scores = [t.outcome["score"] for t in trajs]
    assert 0 < sum(scores) < 15


def test_results_do_not_depend_on_the_number_of_envs(helper):
    a = rollout(
        ENV_ID, helper.SeededAdder(), n_tasks=4, samples_per_task=2, num_envs=1, seed=3, progress=False
    )
    b = rollout(
        ENV_ID, helper.SeededAdder(), n_tasks=4, samples_per_task=2, num_envs=8, seed=3, progress=False
    )
    assert [t.to_dict() for t in a] == [t.to_dict() for t in b]
    c = rollout(
        ENV_ID, helper.SeededAdder(), n_tasks=4, samples_per_task=2, num_envs=3, seed=4, progress=False
    )
    assert [t.seed for t in c] != [t.seed for t in a]


def test_output_is_resumable_and_never_duplicates(helper, tmp_path):
    out = tmp_path / "t.jsonl"
    first = Recorder()
    rollout(ENV_ID, first, n_tasks=3, samples_per_task=2, output=out, progress=False)
    lines = out.read_text().splitlines()
    assert len(lines) == 6
    # a killed writer leaves a half line; the next run drops it and continues
    with open(out, "a") as f:
        f.write(lines[0][: len(lines[0]) // 2])
    again = Recorder()
    trajs = rollout(ENV_ID, again, n_tasks=5, samples_per_task=2, output=out, progress=False)
    assert sum(again.batches) == 4  # only the 4 new episodes ran
    keys = [record_key(r) for r in read_jsonl(out)]
    assert len(keys) == len(set(keys)) == 10
    assert out.read_text().splitlines()[:6] == lines  # finished records untouched
    assert [t.id for t in trajs] == [f"add-{i}#{s}" for i in range(5) for s in range(2)]
    # a finished run re-run does nothing and returns the same records
    none = Recorder()
    again_trajs = rollout(ENV_ID, none, n_tasks=5, samples_per_task=2, output=out, progress=False)
    assert none.batches == [] and [t.to_dict() for t in again_trajs] == [t.to_dict() for t in trajs]


def test_output_of_another_env_is_refused(helper, tmp_path):
    out = tmp_path / "t.jsonl"
    rollout(ENV_ID, Recorder(), n_tasks=1, output=out, progress=False)
    other = "SwiRLTest-RolloutAdd-Other-v0"
    gym.register(id=other, entry_point=helper.make_add_env)
    try:
        with pytest.raises(ValueError, match="choose another output"):
            rollout(other, Recorder(), n_tasks=1, output=out, progress=False)
    finally:
        del gym.registry[other]


def test_bad_policy_and_arguments_are_clear_errors(helper):
    class Short(Policy):
        def act(self, states, *, seeds=None):
            return []

    with pytest.raises(RuntimeError, match="0 actions for 2 states"):
        rollout(ENV_ID, Short(), n_tasks=2, progress=False)
    with pytest.raises(ValueError, match="num_envs"):
        rollout(ENV_ID, Recorder(), num_envs=0, progress=False)
    with pytest.raises(ValueError, match="cannot make environment"):
        rollout("SwiRLTest-NoSuchEnv-v0", Recorder(), progress=False)


def test_progress_bar_shows_throughput(helper, capsys):
    rollout(ENV_ID, Recorder(), n_tasks=3, progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "episode" in err and "eps_per_s" in err


def test_jsonl_writer_locks_and_repairs(tmp_path):
    path = tmp_path / "x.jsonl"
    with JsonlWriter(path) as w:
        w.write({"id": "a"})
        with pytest.raises(RuntimeError, match="another process"):
            JsonlWriter(path).open()
    path.write_text(path.read_text() + '{"id": "b"}')  # complete JSON, newline missing: kept
    assert repair_tail(path) == 0 and path.read_text().endswith('{"id": "b"}\n')
    path.write_text(path.read_text() + '{"id": "c", "x"')
    assert repair_tail(path) > 0 and [r["id"] for r in read_jsonl(path)] == ["a", "b"]
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=":2: invalid JSON"):
        read_jsonl(path)


@pytest.mark.parametrize(
    "bad",
    ['{"id": ' + "[" * 200_000, '{"id": "x", "seed": ' + "1" * 5000 + "}", b'{"id": "\xff\xfe"}'],
    ids=["deep-nesting", "integer-beyond-the-digit-limit", "not-utf-8"],
)
def test_a_line_json_cannot_read_is_cut_at_the_tail_and_named_elsewhere(tmp_path, bad):
    """Nesting deeper than the parser's recursion limit and integers of more digits than Python
    converts are broken lines like any other: cut when half-written, path:line otherwise."""
    bad = bad if isinstance(bad, bytes) else bad.encode()
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"id": "a"}\n' + bad)  # a half-written last line
    assert [r["id"] for r in read_jsonl(path)] == ["a"]
    assert repair_tail(path) == len(bad) and path.read_bytes() == b'{"id": "a"}\n'
    with JsonlWriter(path) as w:  # a resumed writer appends after the cut
        w.write({"id": "b"})
    assert [r["id"] for r in read_jsonl(path)] == ["a", "b"]
    path.write_bytes(b'{"id": "a"}\n' + bad + b'\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"t\.jsonl:2: invalid JSON line"):
        read_jsonl(path)


@pytest.mark.parametrize(
    "content",
    [b"my important notes, no trailing newline", bytes(range(256)) * 12, b"[1, 2", b'"a string'],
    ids=["notes", "binary", "a-list", "a-string"],
)
def test_a_file_whose_last_line_is_not_a_record_is_never_cut(tmp_path, content):
    path = tmp_path / "notes.txt"
    for before in (b"", b'{"id": "a"}\n'):
        path.write_bytes(before + content)
        with pytest.raises(ValueError, match="neither a JSON record nor the start of one"):
            repair_tail(path)
        with pytest.raises(ValueError, match="neither a JSON record nor the start of one"):
            JsonlWriter(path).open()
        with pytest.raises(ValueError, match=r"notes\.txt:\d+: invalid JSON line"):
            read_jsonl(path)
        assert path.read_bytes() == before + content  # left as it was


KILL_SCRIPT = """
import sys
sys.path.insert(0, {helper_dir!r})
import toys
from swirl_algos.rollout import rollout
toys.register_add_env({env_id!r}, max_tool_calls=2)
rollout({env_id!r}, toys.SeededAdder(delay=0.02), n_tasks=12, samples_per_task=3, num_envs=2,
        seed=0, output={out!r}, progress=False)
print("DONE")
"""


def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(helper, tmp_path):
    out = tmp_path / "kill.jsonl"
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(KILL_SCRIPT.format(helper_dir=str(helper.TESTS_DIR), env_id=ENV_ID, out=str(out)))
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if out.exists() and len(out.read_bytes().splitlines()) >= 8:
            break
        if proc.poll() is not None:
            pytest.fail(f"the run ended early: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = out.read_bytes()
    n_before = len(read_jsonl(out))
    assert 8 <= n_before < 36
    # simulate the worst moment: a record half written when the process died
    with open(out, "ab") as f:
        f.write(before.splitlines()[0][:50])
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0 and b"DONE" in done.stdout, done.stderr.decode()[-2000:]
    after = out.read_bytes()
    assert after.startswith(before)  # nothing finished was lost or rewritten
    rows = read_jsonl(out)
    keys = [record_key(r) for r in rows]
    assert len(rows) == 36 and len(set(keys)) == 36
    assert {k for k in keys} == {(f"add-{i}", s) for i in range(12) for s in range(3)}
    # the resumed run produced exactly what an uninterrupted run produces
    clean = rollout(
        ENV_ID, helper.SeededAdder(), n_tasks=12, samples_per_task=3, num_envs=5, seed=0, progress=False
    )
    by_key = {record_key(t): t.to_dict() for t in read_trajectories(out)}
    assert all(by_key[record_key(t)] == t.to_dict() for t in clean)
    assert all(json.loads(line) for line in after.splitlines())


def test_rollout_with_a_tiny_hf_model(helper):
    from swirl_algos.policies.hf import HFPolicy
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

    tok = build_tiny_tokenizer(
        ["What is 1 + 2? <math_exp> 1 + 2 </math_exp> <answer> 3 </answer>"], vocab_size=300
    )
    model = build_tiny_model(tok, hidden_size=16, num_layers=1)
    policy = HFPolicy(model, tok, max_new_tokens=6, batch_size=4)
    trajs = rollout(ENV_ID, policy, n_tasks=3, samples_per_task=2, num_envs=4, seed=0, progress=False)
    assert len(trajs) == 6 and policy.stop_strings == ["</math_exp>", "</answer>", "</tool_call>"]
    assert all(1 <= t.num_steps <= 3 for t in trajs)
    for t in trajs:
        for k, step in enumerate(t.steps):
            assert t.messages[step.message_index]["content"] == step.action
            assert t.state_messages(k) == t.messages[: step.message_index]
    assert trajs[0].policy["name"] == "hf" and trajs[0].policy["max_new_tokens"] == 6
    again = rollout(
        ENV_ID,
        HFPolicy(model, tok, max_new_tokens=6, batch_size=2),
        n_tasks=3,
        samples_per_task=2,
        num_envs=3,
        seed=0,
        progress=False,
    )
    assert [t.messages for t in again] == [t.messages for t in trajs]  # seeded: batch-independent


def test_a_resume_refuses_episodes_of_another_policy_or_seed(helper, tmp_path, caplog):
    out = tmp_path / "t.jsonl"
    rollout(ENV_ID, toys.Adder(), n_tasks=3, seed=1, output=out, progress=False)
    before = out.read_bytes()

    class Slipping(toys.Adder):
        name = "slipping-adder"

    with pytest.raises(ValueError, match="another policy"):
        rollout(ENV_ID, Slipping(3), n_tasks=3, seed=1, output=out, progress=False)
    with pytest.raises(ValueError, match="another --seed"):
        rollout(ENV_ID, toys.Adder(), n_tasks=3, seed=2, output=out, progress=False)
    assert out.read_bytes() == before  # nothing written
    with caplog.at_level("INFO"):
        again = rollout(ENV_ID, toys.Adder(), n_tasks=4, seed=1, output=out, progress=False)
    assert "3 of 4 episodes already done" in caplog.text and len(again) == 4


def test_a_resume_takes_a_local_model_by_any_spelling_of_its_path(helper, tmp_path):
    model = tmp_path / "model"
    model.mkdir()

    class Local(toys.Adder):
        def __init__(self, path):
            super().__init__()
            self.path = path

        def describe(self):
            return {"name": "local", "model": self.path}

    out = tmp_path / "t.jsonl"
    rollout(ENV_ID, Local(str(model) + "/"), n_tasks=2, output=out, progress=False)
    assert len(rollout(ENV_ID, Local(str(model)), n_tasks=3, output=out, progress=False)) == 3


def test_a_whitespace_only_last_line_is_cut(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"id": "a"}\n  ')
    assert repair_tail(path) == 2 and path.read_bytes() == b'{"id": "a"}\n'
