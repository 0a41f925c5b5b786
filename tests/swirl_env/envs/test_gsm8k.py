"""GSM8K: loader and extraction (bundled splits, malformed files), SwiRL-GSM8K-v0, gold replay."""

from __future__ import annotations

import collections
import gzip
import json
import os
import random
import re
from fractions import Fraction

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import swirl_env  # noqa: F401  (registers the ids)
from swirl_algos.policies.scripted import GoldReplayPolicy, _value_form, replay_report, wrong_operand
from swirl_algos.policies.scripted import main as scripted_main
from swirl_algos.rollout import rollout
from swirl_env.envs.gsm8k import GSM8KEnv
from swirl_env.envs.gsm8k.tasks import (
    DATA_DIR,
    Annotation,
    clear_gsm8k_cache,
    extract_gold_answer,
    load_gsm8k,
    parse_annotations,
    read_gsm8k,
)
from swirl_env.tools.calculator import Calculator

ENV_ID = "SwiRL-GSM8K-v0"
REC = {
    "question": "Ann has 48 apples and gives half away. How many are left?",
    "answer": "48/2 = <<48/2=24>>24 apples are given away.\n48-24=<<48-24=24>>24 are left.\n#### 24",
}


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- loader
def test_bundled_splits_are_the_full_official_files():
    test, train = load_gsm8k("test"), load_gsm8k("train")
    assert (len(test), len(train)) == (1319, 7473)
    assert (DATA_DIR / "LICENSE").read_text().startswith("MIT License")
    t = test[0]
    assert (t.id, t.split, t.dataset, t.answers) == ("gsm8k-test-0", "test", "gsm8k", ("18",))
    assert t.question.startswith("Janet\u2019s ducks lay 16 eggs per day.")
    assert t.metadata["annotations"] == ["16-3-4=9", "9*2=18"]
    assert t.metadata["solution"].endswith("#### 18")
    assert train[-1].id == "gsm8k-train-7472"
    assert len({x.id for x in test}) == 1319 and len({x.question for x in test}) == 1319
    # every gold answer is a plain number, commas removed
    for task in (*test, *train):
        assert "," not in task.answer and Fraction(task.answer) == Fraction(task.answer.replace(",", ""))
    assert sum(len(x.metadata["annotations"]) for x in test) == 4282
    assert sum(len(x.metadata["annotations"]) for x in train) == 23716
    assert sum(not x.metadata["annotations"] for x in test) == 18  # solved without a calculation


def test_load_is_cached_per_path_and_sees_file_changes(tmp_path):
    assert load_gsm8k("test") is load_gsm8k() is load_gsm8k("test", DATA_DIR / "test.jsonl")
    f = write_lines(tmp_path / "mine.jsonl", [json.dumps(REC)])
    first = load_gsm8k(path=f)
    assert load_gsm8k(path=str(f)) is first
    assert (first[0].id, first[0].split) == ("gsm8k-mine-0", "mine")  # label from the file name
    write_lines(f, [json.dumps(REC), json.dumps(REC | {"question": "Other?"})])
    os.utime(f, ns=(1, 1))  # a different mtime even on coarse clocks
    assert len(load_gsm8k(path=f)) == 2
    clear_gsm8k_cache()
    assert load_gsm8k(path=f, split="dev")[1].id == "gsm8k-dev-1"


def test_extraction():
    assert extract_gold_answer("so 1,000 + 234 = 1,234\n#### 1,234") == "1234"
    assert extract_gold_answer("x #### 3 #### -5 ") == "-5"  # the last mark wins
    for bad, msg in [("no mark", "no '#### N'"), ("#### ", "empty"), ("#### twelve", "not a number")]:
        with pytest.raises(ValueError, match=msg):
            extract_gold_answer(bad)
    anns = parse_annotations(REC["answer"])
    assert [(a.expression, a.value, a.text) for a in anns] == [
        ("48/2", "24", "48/2=24"),
        ("48-24", "24", "48-24=24"),
    ]
    assert Annotation.parse("3/4=3/4").number == Fraction(3, 4)
    assert Annotation.parse("2*.25=0.50").number == Fraction(1, 2)
    assert Annotation.parse("x=y").number is None
    with pytest.raises(ValueError, match="not of the form"):
        parse_annotations("a <<48/2>> b")
    with pytest.raises(ValueError, match="not closed"):
        parse_annotations("a <<48/2=24 b")
    assert [a.text for a in parse_annotations("<<1+1>> <<2+2=4>>", strict=False)] == ["2+2=4"]


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([json.dumps(REC), "{not json"], r"bad\.jsonl:2: invalid JSON \(.*, column 2\)"),
        ([json.dumps(REC), "", json.dumps([1, 2])], r"bad\.jsonl:3: expected a JSON object"),
        ([json.dumps({"question": "q"})], r"bad\.jsonl:1: missing key 'answer'"),
        ([json.dumps({"question": 3, "answer": "#### 1"})], r":1: 'question' should be a string"),
        ([json.dumps({"question": " ", "answer": "#### 1"})], r":1: empty question"),
        ([json.dumps(REC), json.dumps({"question": "q", "answer": "It is 4."})], r":2: .*no '#### N'"),
        ([json.dumps({"question": "q", "answer": "<<2+2=4 so\n#### 4"})], r":1: .*not closed"),
        ([json.dumps({"question": "q", "answer": "<<2+2>>4\n#### 4"})], r":1: .*<<2\+2>>"),
        (["", "  "], r"no GSM8K record"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, lines, error):
    f = write_lines(tmp_path / "bad.jsonl", lines)
    with pytest.raises(ValueError, match=error):
        read_gsm8k(f)
    with pytest.raises(ValueError, match=error):
        GSM8KEnv(path=f)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="bundled splits: test, train"):
        load_gsm8k(path=tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError):
        read_gsm8k(tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match="unknown GSM8K split 'dev'"):
        load_gsm8k("dev")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"question": "caf\xe9", "answer": "#### 1"}\n')
    with pytest.raises(ValueError, match="not UTF-8"):
        read_gsm8k(tmp_path / "latin1.jsonl")


def test_a_json_list_reads_like_json_lines(tmp_path):
    (tmp_path / "mine.json").write_text(json.dumps([REC, REC]), encoding="utf-8")
    tasks = read_gsm8k(tmp_path / "mine.json")
    assert [t.question for t in tasks] == [REC["question"].strip()] * 2
    (tmp_path / "bad.json").write_text(json.dumps({"data": [REC]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.json: a \.json GSM8K file must hold a list"):
        read_gsm8k(tmp_path / "bad.json")
    (tmp_path / "items.json").write_text(json.dumps([REC, [1]]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"items\.json item 1: expected a JSON object"):
        read_gsm8k(tmp_path / "items.json")


def test_gzip_and_lenient_annotations(tmp_path):
    f = tmp_path / "test.jsonl.gz"
    with gzip.open(f, "wt", encoding="utf-8") as g:
        g.write(
            json.dumps(REC) + "\n\n" + json.dumps({"question": "q?", "answer": "<<1+1>>2\n#### 2"}) + "\n"
        )
    with pytest.raises(ValueError, match=r":3: "):
        read_gsm8k(f)
    tasks = read_gsm8k(f, strict=False)
    assert [t.id for t in tasks] == ["gsm8k-test-0", "gsm8k-test-1"]  # label from "test.jsonl.gz"
    assert tasks[1].metadata["annotations"] == []


# ---------------------------------------------------------------------------------------------- env
def test_check_env_and_registration():
    env = gym.make(ENV_ID)
    check_env(env.unwrapped, skip_render_check=True)
    assert gym.make(f"swirl_env:{ENV_ID}").unwrapped.max_tool_calls == 10
    base = env.unwrapped
    assert isinstance(base, GSM8KEnv) and len(base.tasks) == 1319 and base.split == "test"
    assert base.prompt.version == "math-v1"


def test_episode_answers_tool_results_and_reward_forms():
    env = gym.make(ENV_ID, n_tasks=5)
    obs, info = env.reset(options={"task_id": "gsm8k-test-0"})
    assert obs.endswith("Question: " + info["task"]["question"]) and info["messages"][0]["content"] == obs
    assert "<math_exp> EXPRESSION </math_exp>" in obs and "up to 10 sequential calls" in obs
    obs2, r, term, trunc, info = env.step("First the eggs left. <math_exp> 16 - 3 - 4 </math_exp> then")
    assert (r, term, trunc) == (0.0, False, False) and obs2.startswith(obs)
    assert info["step"]["observation"] == "16 - 3 - 4 -> 9.0"
    assert info["step"]["tool_value"] == {"exact": "9", "numeric": 9.0, "text": "9.0"}
    _, _, _, _, info = env.step("<math_exp> __import__('os').system('echo hi') </math_exp>")
    assert info["step"]["observation"].startswith("__import__('os').system('echo hi') -> Error:")
    assert info["step"]["tool_ok"] is False
    obs, r, term, trunc, info = env.step("<answer> $18.00 </answer>")
    assert (r, term, trunc) == (1.0, True, False)
    assert info["outcome"]["numbers"] == {"prediction": 18.0, "gold": 18.0}
    for answer, reward in [
        ("18", 1.0),
        ("18 dollars", 1.0),
        ("18.0", 1.0),
        ("$18", 1.0),
        ("17", 0.0),
        ("", 0.0),
    ]:
        env.reset(options={"task_index": 0})
        assert env.step(f"<answer> {answer} </answer>")[1] == reward, answer
    # an answer written with thousands separators
    env2 = GSM8KEnv()
    big = next(t for t in env2.tasks if len(t.answer) >= 4)
    env2.reset(options={"task_id": big.id})
    assert env2.step(f"<answer> {int(big.answer):,} </answer>")[1] == 1.0


def test_step_cap_truncates_and_kwargs():
    env = gym.make(
        ENV_ID, split="train", n_tasks=3, max_tool_calls=2, calculator_options={"display": "exact"}
    )
    base = env.unwrapped
    assert len(base.tasks) == 3 and base.tasks[0].id == "gsm8k-train-0"
    env.reset(seed=1)
    assert env.step("<math_exp> 48 / 2 </math_exp>")[4]["tool_result"] == "24"
    assert env.step("no call here")[4]["step"]["observation"].startswith("Error:")
    _, r, term, trunc, info = env.step("<math_exp> 1 + 1 </math_exp>")
    assert (r, term, trunc) == (0.0, False, True) and info["outcome"]["unanswered"]
    with pytest.raises(ValueError, match="n_tasks"):
        GSM8KEnv(n_tasks=0)
    with pytest.raises(ValueError, match="not both"):
        GSM8KEnv(calculator=Calculator(), calculator_options={"display": "exact"})
    assert GSM8KEnv(n_tasks=10**6).tasks is load_gsm8k("test")  # more than the file: all of it


def test_seeded_reset_is_deterministic_and_info_does_not_alias_shared_tasks():
    env = GSM8KEnv()
    ids = [env.reset(seed=s)[1]["task"]["id"] for s in range(6)]
    assert ids == [env.reset(seed=s)[1]["task"]["id"] for s in range(6)] and len(set(ids)) > 1
    _, info = env.reset(options={"task_index": 0})
    info["task"]["metadata"]["annotations"].append("1+1=3")
    assert load_gsm8k("test")[0].metadata["annotations"] == ["16-3-4=9", "9*2=18"]


@pytest.mark.parametrize("mode", ["sync", "async", "async-spawn"])
def test_vector_envs(mode):
    # "async-spawn": fresh worker processes that import the package and read the data themselves
    vector_kwargs = {"context": "spawn"} if mode == "async-spawn" else {}
    envs = gym.make_vec(
        ENV_ID, num_envs=2, vectorization_mode=mode.split("-")[0], vector_kwargs=vector_kwargs, n_tasks=8
    )
    try:
        obs, _ = envs.reset(seed=[0, 1])
        assert all(o.startswith("You are answering") for o in obs)
        obs, rew, term, trunc, _ = envs.step(["<math_exp> 2 * 21 </math_exp>", "<answer> 0 </answer>"])
        assert obs[0].endswith("2 * 21 -> 42.0")
        assert list(term) == [False, True] and list(trunc) == [False, False] and rew[0] == 0.0
    finally:
        envs.close()


# ---------------------------------------------------------------------------------------------- gold replay
def test_gold_replay_over_the_whole_test_split():
    tasks = load_gsm8k("test")
    trajs = rollout(ENV_ID, GoldReplayPolicy(tasks), num_envs=16, progress=False)
    assert len(trajs) == 1319
    assert sum(t.outcome["score"] for t in trajs) == 1319  # every episode scores the gold answer
    assert all(t.terminated and not t.truncated for t in trajs)
    by_id = {t.id: t for t in tasks}
    n_calls = mismatches = errors = not_a_float = 0
    forms: collections.Counter[str] = collections.Counter()
    for traj in trajs:
        task = by_id[traj.task["id"]]
        anns = [Annotation.parse(a) for a in task.metadata["annotations"]]
        calls = [s for s in traj.steps if s.kind == "call"]
        assert [s.argument for s in calls] == [a.expression for a in anns]
        assert traj.steps[-1].kind == "answer" and traj.final_answer == task.answer
        for step, ann in zip(calls, anns):
            n_calls += 1
            forms[_value_form(ann.value)] += 1  # the replay report's forms
            not_a_float += not re.fullmatch(r"-?(\d+\.?\d*|\.\d+)", ann.value)
            if not step.tool_ok:
                errors += 1
            elif Fraction(step.tool_value["exact"]) != ann.number:  # exact rational comparison
                mismatches += 1
    assert n_calls == 4282
    assert errors == 0 and mismatches == 0  # every annotation evaluates to its annotated value
    # the same values are written in several ways (measured; see docs/environments.md)
    assert forms == {"integer": 4078, "trailing zeros": 140, "decimal": 48, "leading dot": 15, "fraction": 1}
    assert not_a_float == 1  # "3/4=3/4": a float() reading of the value would call it a mismatch


def test_gold_replay_mistakes_are_seeded_and_wrong():
    tasks = load_gsm8k("test")[:120]
    kw = {"env_kwargs": {"n_tasks": 120}, "samples_per_task": 1, "num_envs": 8, "progress": False}
    policy = GoldReplayPolicy(tasks, error_rate=0.3, answer_error_rate=0.2, seed=7)
    runs = [rollout(ENV_ID, policy, **kw) for _ in range(2)]
    assert [t.messages for t in runs[0]] == [t.messages for t in runs[1]]  # deterministic
    other = rollout(ENV_ID, GoldReplayPolicy(tasks, error_rate=0.3, answer_error_rate=0.2, seed=8), **kw)
    assert [t.messages for t in other] != [t.messages for t in runs[0]]
    calc = Calculator()
    wrong = total = 0
    for traj in runs[0]:
        anns = [Annotation.parse(a) for a in traj.task["metadata"]["annotations"]]
        calls = [s for s in traj.steps if s.kind == "call"]
        assert len(calls) == len(anns)  # one step per annotation, right or wrong
        for step, ann in zip(calls, anns):
            total += 1
            if step.argument != ann.expression:
                wrong += 1
                assert Fraction(step.tool_value["exact"]) != Fraction(calc(ann.expression).value["exact"])
    assert 0.2 < wrong / total < 0.4
    wrong_answers = sum(t.outcome["score"] == 0.0 for t in runs[0])
    assert 0.1 < wrong_answers / len(runs[0]) < 0.3
    assert GoldReplayPolicy(tasks).describe()["error_rate"] == 0.0


def test_gold_replay_policy_edges():
    tasks = load_gsm8k("test")
    policy = GoldReplayPolicy(tasks, max_calls=1)
    state = [{"role": "user", "content": "Question: " + tasks[0].question}]
    assert policy.act([state]) == ["<math_exp> 16-3-4 </math_exp>"]
    state += [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]
    assert policy.act([state]) == ["<answer> 18 </answer>"]
    assert policy.act([[{"role": "user", "content": f"Solve this: {tasks[3].question} Thanks"}]])[
        0
    ].startswith("<math_exp>")
    with pytest.raises(KeyError, match="not one of the policy's 1319 tasks"):
        policy.act([[{"role": "user", "content": "Question: what?"}]])
    with pytest.raises(ValueError, match="error_rate"):
        GoldReplayPolicy(tasks, error_rate=1.5)
    with pytest.raises(ValueError, match="seeds"):
        policy.act([state], seeds=[1, 2])
    assert wrong_operand("0*5", random.Random(0)) not in (None, "0*5")
    assert wrong_operand("pi", random.Random(0)) is None


def test_gold_replay_from_the_command_line(tmp_path, capsys):
    from swirl_algos.cli import main
    from swirl_algos.jsonl import read_trajectories

    out = tmp_path / "train.jsonl"
    argv = ["generate", "--env", ENV_ID, "--env-kwargs", '{"split": "train"}', "--n-tasks", "20"]
    argv += ["--policy", "swirl_algos.policies.scripted:GoldReplayPolicy", "--samples", "2"]
    argv += ["--policy-kwargs", '{"error_rate": 0.2}', "--output", str(out), "--no-progress"]
    assert main(argv) == 0
    trajs = read_trajectories(out)
    assert len(trajs) == 40 and {t.task["split"] for t in trajs} == {"train"}
    assert trajs[0].policy["name"] == "gold-replay" and trajs[0].policy["error_rate"] == 0.2
    assert all(t.outcome["score"] == 1.0 for t in trajs)  # wrong steps, gold answers
    with pytest.raises(ValueError, match="not both"):
        GoldReplayPolicy(load_gsm8k("test"), path=DATA_DIR / "test.jsonl")
    assert GoldReplayPolicy(path=DATA_DIR / "test.jsonl").tasks == list(load_gsm8k("test"))


def test_replay_report_command_and_a_wrong_annotation(tmp_path, capsys):
    report = replay_report("test", progress=False)
    assert (report["episodes"], report["correct"], report["calculator_calls"]) == (1319, 1319, 4282)
    assert (
        report["calculator_errors"],
        report["annotation_mismatches"],
        report["tasks_without_annotations"],
    ) == (
        0,
        0,
        18,
    )
    bad = {"question": "What is 2 + 2, times 3?", "answer": "2+2=<<2+2=5>>5\n5*3=<<5*3=15>>15\n#### 15"}
    f = write_lines(tmp_path / "doctored.jsonl", [json.dumps(REC), json.dumps(bad)])
    report = replay_report(path=f, progress=False, num_envs=2)
    assert report["annotation_mismatches"] == 1 and report["correct"] == 2
    assert report["mismatch_examples"] == [
        {"task": "gsm8k-doctored-1", "annotation": "2+2=5", "result": "4.0"}
    ]
    assert scripted_main(["--path", str(f), "--no-progress"]) == 0
    assert "mismatch gsm8k-doctored-1: <<2+2=5>> -> 4.0" in capsys.readouterr().out
