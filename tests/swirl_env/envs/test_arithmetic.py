"""The default learnable task: generated arithmetic problems, SwiRL-Arithmetic-v0, its gold-aware
process judge and the imperfect scripted oracle."""

from __future__ import annotations

import pickle
import random
from collections import Counter

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import swirl_env  # noqa: F401  (registers the ids)
from swirl_algos.policies.arithmetic_oracle import (
    DEFAULT_ERROR_RATES,
    ERROR_TYPES,
    ArithmeticOraclePolicy,
)
from swirl_env.envs.arithmetic.tasks import (
    SPLIT_BUCKETS,
    ArithmeticConfig,
    ArithmeticTasks,
    apply_operation,
    generate_task,
    question_bucket,
    solve_question,
    task_texts,
)
from swirl_env.rewards.judges.base import ProcessRequest
from swirl_env.tasks.base import Task

ENV_ID = "SwiRL-Arithmetic-v0"


# ---------------------------------------------------------------------------------------------- tasks
def test_tasks_are_deterministic_and_streams_differ():
    a = generate_task(7, seed=3, split="train")
    assert generate_task(7, seed=3, split="train") == a
    assert a.id == "arithmetic-train-s3-7" and a.dataset == "arithmetic" and a.split == "train"
    others = {generate_task(7, seed=4).question, generate_task(8, seed=3).question, a.question}
    assert len(others) == 3


def test_splits_are_disjoint_by_construction():
    qs = {split: {generate_task(i, split=split).question for i in range(400)} for split in SPLIT_BUCKETS}
    assert not qs["train"] & qs["test"] and not qs["train"] & qs["dev"] and not qs["dev"] & qs["test"]
    for split, questions in qs.items():
        assert all(question_bucket(q) in SPLIT_BUCKETS[split] for q in questions)
    # another seed's test stream is still disjoint from this train stream
    assert not {generate_task(i, seed=9, split="test").question for i in range(400)} & qs["train"]


@pytest.mark.parametrize(
    "config",
    [
        ArithmeticConfig(),
        ArithmeticConfig(min_ops=1, max_ops=1, max_distractors=0),
        ArithmeticConfig(min_ops=4, max_ops=6, min_distractors=2, max_distractors=3),
        ArithmeticConfig(operations=("+", "-"), start_range=(5, 9), max_value=30),
        ArithmeticConfig(operations=("*", "/"), factor_range=(2, 5), max_value=200),
    ],
)
def test_gold_solution_is_consistent_with_the_knobs(config):
    for i in range(150):
        t = generate_task(i, seed=1, config=config)
        meta = t.metadata
        steps = meta["solution_steps"]
        assert config.min_ops <= len(steps) == meta["num_operations"] <= config.max_ops
        assert config.min_distractors <= len(meta["distractors"]) <= config.max_distractors
        value = meta["start"]
        assert config.start_range[0] <= value <= config.start_range[1]
        for s in steps:
            assert s["operation"] in config.operations
            assert s["expression"] == f"{value} {s['operation']} {s['operand']}"
            value = apply_operation(value, s["operation"], s["operand"])
            assert s["value"] == value and 1 <= value <= config.max_value
            assert s["sentence"] in t.question
        assert t.answers == (str(value),)
        assert len({s["expression"] for s in steps}) == len(steps)  # no calculator call is needed twice
        assert meta["annotations"] == [f"{s['expression'].replace(' ', '')}={s['value']}" for s in steps]
        used = {meta["start"], *(s["operand"] for s in steps), *(s["value"] for s in steps)}
        assert not used & set(meta["distractors"])
        for d in meta["distractors"]:
            assert str(d) in t.question


def test_solve_question_reads_back_every_generated_task():
    cfg = ArithmeticConfig(min_ops=1, max_ops=5, max_distractors=2)
    for i in range(300):
        t = generate_task(i, seed=2, split="dev", config=cfg)
        sol = solve_question(t.question)
        assert [s.to_dict() for s in sol.steps] == t.metadata["solution_steps"]
        assert sorted(sol.distractors) == sorted(t.metadata["distractors"])
        assert str(sol.answer) == t.answer and sol.values[0] == t.metadata["start"]
    with pytest.raises(ValueError, match="not an arithmetic question"):
        solve_question("What is the capital of France?")
    with pytest.raises(ValueError, match="no operation"):
        solve_question("Ann has 7 apples. Tom has 4 pens. How many apples does Ann have now?")


def test_pronouns_always_refer_to_the_subject():
    pronoun = dict(
        Ann="she",
        Bob="he",
        Cal="he",
        Dee="she",
        Eve="she",
        Max="he",
        Liz="she",
        Sam="he",
        Mia="she",
        Tom="he",
    )
    n_checked = 0
    for i in range(400):
        t = generate_task(i, config=ArithmeticConfig(max_distractors=2))
        subject = t.question.split()[0]
        for sentence in t.question.split(". ")[1:]:
            words = sentence.split()
            if len(words) > 2 and words[1] == "has" and words[0] in pronoun:  # "{Other} has N things"
                assert pronoun[words[0]] != pronoun[subject], t.question
                n_checked += 1
    assert n_checked > 20


def test_config_validation():
    with pytest.raises(ValueError, match="min_ops"):
        ArithmeticConfig(min_ops=3, max_ops=2)
    with pytest.raises(ValueError, match="operations"):
        ArithmeticConfig(operations=("^",))
    with pytest.raises(ValueError, match="low <= high"):
        ArithmeticConfig(start_range=(9, 2))
    with pytest.raises(ValueError, match="max_value"):
        ArithmeticConfig(start_range=(1, 50), max_value=20)
    with pytest.raises(ValueError, match="factors"):
        ArithmeticConfig(factor_range=(1, 3))
    with pytest.raises(ValueError, match="split"):
        generate_task(0, split="validation")
    with pytest.raises(ValueError, match=">= 0"):
        generate_task(-1)


def test_task_sequence_is_lazy_indexable_and_picklable():
    tasks = ArithmeticTasks(1_000_000_000, seed=5, split="test", offset=10)
    assert len(tasks) == 1_000_000_000
    assert tasks[0] == generate_task(10, seed=5, split="test")
    assert tasks[-1].id == f"arithmetic-test-s5-{10 + 1_000_000_000 - 1}"
    assert [t.id for t in tasks[2:5]] == [f"arithmetic-test-s5-{i}" for i in (12, 13, 14)]
    with pytest.raises(IndexError):
        tasks[1_000_000_000]
    copy = pickle.loads(pickle.dumps(tasks))
    assert copy[3] == tasks[3]
    with pytest.raises(ValueError):
        ArithmeticTasks(0)
    texts = task_texts(ArithmeticTasks(3))
    assert len(texts) == 3 and all("<math_exp>" in x and "<answer>" in x for x in texts)


# ---------------------------------------------------------------------------------------------- env
def _gold_actions(task_dict):
    steps = task_dict["metadata"]["solution_steps"]
    return [f"<math_exp> {s['expression']} </math_exp>" for s in steps] + [
        f"<answer> {task_dict['answers'][0]} </answer>"
    ]


def test_check_env_and_registration():
    env = gym.make(ENV_ID, n_tasks=50, max_ops=2, max_distractors=0)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs.startswith("Solve the problem step by step") and "<math_exp>" in obs
    assert len(info["task"]["metadata"]["solution_steps"]) == 2
    env.close()


def test_gold_solution_scores_one_and_observations_follow_the_paper():
    env = gym.make(ENV_ID, n_tasks=20, split="test")
    for i in range(20):
        _, info = env.reset(options={"task_index": i})
        task = info["task"]
        for action in _gold_actions(task)[:-1]:
            _, reward, term, trunc, info = env.step(action)
            expr = action.split(">")[1].split("<")[0].strip()
            value = next(s["value"] for s in task["metadata"]["solution_steps"] if s["expression"] == expr)
            assert info["step"]["observation"] == f"{expr} -> {value}"
            assert (reward, term, trunc) == (0.0, False, False)
        _, reward, term, trunc, info = env.step(_gold_actions(task)[-1])
        assert (reward, term, trunc) == (1.0, True, False)
        assert info["outcome"]["score"] == 1.0
    env.close()


def test_wrong_answer_step_cap_and_bad_input():
    env = gym.make(ENV_ID, n_tasks=5, max_tool_calls=2)
    _, info = env.reset(options={"task_index": 0})
    wrong = int(info["task"]["answers"][0]) + 1
    assert env.step(f"<answer> {wrong} </answer>")[1:4] == (0.0, True, False)
    env.reset(options={"task_index": 1})
    _, _, _, _, info = env.step("<math_exp> 2 +* </math_exp>")
    assert info["step"]["tool_ok"] is False and "->" in info["step"]["observation"]
    _, _, _, _, info = env.step("I think the answer is big")
    assert info["step"]["kind"] == "none" and info["step"]["observation"].startswith("Error")
    _, reward, term, trunc, info = env.step("<math_exp> 1 + 1 </math_exp>")
    assert (reward, term, trunc) == (0.0, False, True) and info["outcome"]["unanswered"]
    env.close()


def test_seeded_reset_task_ids_and_offsets():
    env = gym.make(ENV_ID, n_tasks=100, seed=4, split="dev", offset=50)
    ids = [env.reset(seed=s)[1]["task"]["id"] for s in range(6)]
    assert ids == [env.reset(seed=s)[1]["task"]["id"] for s in range(6)] and len(set(ids)) > 1
    _, info = env.reset(options={"task_id": "arithmetic-dev-s4-60"})
    assert info["task"] == generate_task(60, seed=4, split="dev").to_dict()
    _, info = env.reset(options={"task_index": 10})
    assert info["task"]["id"] == "arithmetic-dev-s4-60"
    for bad in ("arithmetic-dev-s4-10", "arithmetic-dev-s4-150", "arithmetic-train-s4-60", "x"):
        with pytest.raises(KeyError):
            env.reset(options={"task_id": bad})
    # info is a copy: editing it does not change the environment's task
    _, info = env.reset(options={"task_index": 0})
    info["task"]["metadata"]["solution_steps"].clear()
    assert env.reset(options={"task_index": 0})[1]["task"]["metadata"]["solution_steps"]
    env.close()


def test_prompt_versions():
    env = gym.make(ENV_ID, n_tasks=3, prompt="math-v1")
    obs, _ = env.reset(seed=0)
    assert "Use the calculator for every arithmetic operation" in obs
    with pytest.raises(KeyError, match="unknown prompt"):
        gym.make(ENV_ID, prompt="nope-v9")


# ---------------------------------------------------------------------------------------------- judge
def _judge():
    from swirl_env.envs.arithmetic import ArithmeticProcessJudge

    return ArithmeticProcessJudge()


def _state(task: Task, turns=()):
    msgs = [{"role": "user", "content": "Question: " + task.question}]
    for expr, value in turns:
        msgs += [
            {"role": "assistant", "content": f"<math_exp> {expr} </math_exp>"},
            {"role": "user", "content": f"{expr} -> {value}"},
        ]
    return msgs


def _rule(judge, task, turns, action):
    j = judge.judge_step(ProcessRequest(task, _state(task, turns), action))
    return j.label, j.rationale.split("]")[0].lstrip("[")


def test_judge_checks_every_step_against_the_gold_solution():
    task = Task(
        "t",
        "Ann has 7 apples. She buys 5 more. Tom has 4 pens. She gives 3 to Bob. "
        "Then she has 2 times as many. How many apples does Ann have now?",
        ("18",),
        "arithmetic",
        "test",
        {
            "start": 7,
            "solution_steps": [
                {"expression": "7 + 5", "value": 12, "operation": "+", "operand": 5},
                {"expression": "12 - 3", "value": 9, "operation": "-", "operand": 3},
                {"expression": "9 * 2", "value": 18, "operation": "*", "operand": 2},
            ],
        },
    )
    judge = _judge()
    done1 = [("7 + 5", 12)]
    assert _rule(judge, task, [], "<math_exp> 7 + 5 </math_exp>") == (True, "math.step")
    assert _rule(judge, task, [], "<math_exp> 7 + 4 </math_exp>") == (False, "math.wrong_value")  # distractor
    assert _rule(judge, task, [], "<math_exp> 7 - 5 </math_exp>") == (False, "math.wrong_value")  # operator
    assert _rule(judge, task, [], "<math_exp> 7 + 6 </math_exp>") == (False, "math.operands")  # made up
    assert _rule(judge, task, [], "<math_exp> 7 + 5 - 3 </math_exp>") == (True, "math.step")  # combined
    assert _rule(judge, task, [], "<math_exp> 4 * 3 </math_exp>") == (
        False,
        "math.wrong_operands",
    )  # 12 by chance
    assert _rule(judge, task, [], "<math_exp> 5 + 7 </math_exp>") == (True, "math.step")  # commuted
    assert _rule(judge, task, done1, "<math_exp> 12 - 3 </math_exp>") == (True, "math.step")
    assert _rule(judge, task, done1, "<math_exp> 7 + 5 </math_exp>") == (False, "math.repeat")
    assert _rule(judge, task, done1, "<math_exp> 12 * 2 </math_exp>") == (False, "math.wrong_value")  # skip
    assert _rule(judge, task, done1, "<math_exp> 21 - 3 </math_exp>") == (False, "math.operands")  # mis-copy
    assert _rule(judge, task, done1, "<answer> 12 </answer>") == (False, "math.incomplete")
    assert _rule(judge, task, done1, "<answer> 18 </answer>") == (False, "math.unsupported_answer")  # guess
    assert _rule(judge, task, done1, "no call at all") == (False, "no_call")
    # continuing correctly from a wrong result is still BAD; recovering from the last right value is GOOD
    off = [("7 + 5", 12), ("12 + 3", 15)]
    assert _rule(judge, task, off, "<math_exp> 15 * 2 </math_exp>") == (False, "math.wrong_value")
    assert _rule(judge, task, off, "<math_exp> 12 - 3 </math_exp>") == (True, "math.step")
    full = [("7 + 5", 12), ("12 - 3", 9), ("9 * 2", 18)]
    assert _rule(judge, task, full, "<answer> 18 </answer>") == (True, "math.answer")
    assert _rule(judge, task, full, "<answer> 19 </answer>") == (False, "math.answer")
    assert _rule(judge, task, full, "<math_exp> 18 * 2 </math_exp>") == (False, "math.extra")


@pytest.mark.parametrize("with_gold", [True, False])
def test_step_judge_judges_reasonableness_without_the_gold(with_gold):
    """The gold-free judge reads only the question and the conversation: the same labels with the
    gold answer and solution removed from the task."""
    from swirl_env.envs.arithmetic import ArithmeticStepJudge

    question = (
        "Ann has 7 apples. She buys 5 more. Tom has 4 pens. She gives 3 to Bob. "
        "Then she has 2 times as many. How many apples does Ann have now?"
    )
    meta = {"solution_steps": [{"expression": "7 + 5", "value": 12, "operation": "+", "operand": 5}]}
    task = Task(
        "t", question, ("18",) if with_gold else ("?",), "arithmetic", "test", meta if with_gold else {}
    )
    judge = ArithmeticStepJudge()
    done1 = [("7 + 5", 12)]
    assert _rule(judge, task, [], "<math_exp> 7 + 5 </math_exp>") == (True, "math.step")
    assert _rule(judge, task, [], "<math_exp> 5 + 7 </math_exp>") == (True, "math.step")  # commuted
    assert _rule(judge, task, [], "<math_exp> (7 + 5) - 3 </math_exp>") == (True, "math.step")  # combined
    assert _rule(judge, task, [], "<math_exp> 7 + 4 </math_exp>") == (False, "math.operands")  # distractor
    assert _rule(judge, task, [], "<math_exp> 7 - 5 </math_exp>") == (False, "math.operands")  # operator
    assert _rule(judge, task, [], "<math_exp> 3 - 7 </math_exp>") == (
        False,
        "math.operands",
    )  # not commutative
    assert _rule(judge, task, [], "<math_exp> 12 </math_exp>") == (False, "math.form")
    assert _rule(judge, task, [], "<answer> 18 </answer>") == (False, "math.answer")  # a guess
    assert _rule(judge, task, done1, "<math_exp> 12 - 3 </math_exp>") == (True, "math.step")
    # the order of the stated operations and which known value is continued are not checked
    assert _rule(judge, task, done1, "<math_exp> 12 * 2 </math_exp>") == (True, "math.step")
    assert _rule(judge, task, done1, "<math_exp> 7 - 3 </math_exp>") == (True, "math.step")
    assert _rule(judge, task, done1, "<math_exp> 21 - 3 </math_exp>") == (False, "math.operands")  # mis-copy
    assert _rule(judge, task, done1, "<math_exp> 7 + 5 </math_exp>") == (False, "math.repeat")
    assert _rule(judge, task, done1, "<answer> 12 </answer>") == (False, "math.incomplete")
    assert _rule(judge, task, done1, "no call at all") == (False, "no_call")
    full = [("7 + 5", 12), ("12 - 3", 9), ("9 * 2", 18)]
    assert _rule(judge, task, full, "<answer> 18 </answer>") == (True, "math.answer")
    assert _rule(judge, task, full, "<answer> 9 </answer>") == (False, "math.answer")  # not the latest
    # a reasonable trajectory with a wrong final answer: operations in the wrong order
    swapped = [("7 * 2", 14), ("14 + 5", 19), ("19 - 3", 16)]
    assert _rule(judge, task, swapped, "<answer> 16 </answer>") == (True, "math.answer")
    assert _rule(judge, task, swapped[:1], "<math_exp> 14 + 5 </math_exp>") == (True, "math.step")


def test_step_judge_process_filter_keeps_some_wrong_trajectories():
    """Over imperfect oracle trajectories, the gold-free process filter keeps trajectories with
    wrong final answers (the gold-aware judge never does)."""
    from swirl_algos.rollout import rollout
    from swirl_env.envs.arithmetic import ArithmeticProcessJudge, ArithmeticStepJudge
    from swirl_env.rewards.judges.rule import RuleOutcomeJudge
    from swirl_env.rewards.wrappers import judge_trajectory

    policy = ArithmeticOraclePolicy(0.3, seed=0)
    trajs = rollout(
        "SwiRL-Arithmetic-v0", policy, env_kwargs={"n_tasks": 300}, n_tasks=300, num_envs=32, progress=False
    )
    kept = Counter()
    for name, judge in (("step", ArithmeticStepJudge()), ("gold", ArithmeticProcessJudge())):
        for t in trajs:
            j = judge_trajectory(t, judge, RuleOutcomeJudge())
            if all(bool(v) for v in j.process_labels):
                kept[(name, bool(j.outcome["score"]))] += 1
    assert kept[("step", False)] > 0 and kept[("gold", False)] == 0
    assert kept[("step", True)] > 50


def test_judge_falls_back_to_the_generic_rules_without_gold_steps():
    task = Task("g", "Tom has 3 bags of 4 apples. How many apples?", ("12",), "gsm8k", "test")
    judge = _judge()
    ctx = [{"role": "user", "content": "Question: " + task.question}]
    labels = judge.judge_steps(
        [
            ProcessRequest(task, ctx, "<math_exp> 3 * 4 </math_exp>"),
            ProcessRequest(task, ctx, "<answer> 12 </answer>"),
        ]
    )
    assert [j.label for j in labels] == [True, False]
    assert labels[1].rationale.startswith("[math.early_answer]")
    with pytest.raises(TypeError):
        judge.judge_steps(["not a request"])


# ---------------------------------------------------------------------------------------------- oracle
def _run_oracle(policy, n, *, env_kwargs=None, seed=0):
    from swirl_env.rewards.wrappers import judge_trajectories

    env = gym.make(ENV_ID, n_tasks=n, **(env_kwargs or {}))
    trajs = []
    for i in range(n):
        env.reset(seed=seed + i, options={"task_index": i})
        done = False
        while not done:
            action = policy.act([env.unwrapped.messages], seeds=[seed * 1000 + i])[0]
            _, _, term, trunc, _ = env.step(action)
            done = term or trunc
        trajs.append(env.unwrapped.trajectory())
    env.close()
    return judge_trajectories(trajs, _judge(), None)


def test_perfect_oracle_solves_everything_with_good_steps():
    trajs = _run_oracle(ArithmeticOraclePolicy(error_rates=0.0), 60, env_kwargs={"max_distractors": 2})
    assert all(t.outcome["score"] == 1.0 for t in trajs)
    assert all(s.process["label"] for t in trajs for s in t.steps)


def test_imperfect_oracle_mixes_step_quality_and_outcomes():
    trajs = _run_oracle(ArithmeticOraclePolicy(seed=1), 300)
    right = [t.outcome["score"] == 1.0 for t in trajs]
    all_good = [all(s.process["label"] for s in t.steps) for t in trajs]
    calc_good = [all(s.process["label"] for s in t.steps if s.kind == "call") for t in trajs]
    assert 0.4 < sum(right) / len(trajs) < 0.9
    combos = Counter(zip(right, all_good))
    # process and outcome come apart: BAD steps with a right answer, and GOOD calculations with a wrong answer
    assert combos[(True, True)] > 30 and combos[(True, False)] > 10 and combos[(False, False)] > 10
    assert sum(c and not r for c, r in zip(calc_good, right)) > 3
    rules = Counter(s.process["rationale"].split("]")[0][1:] for t in trajs for s in t.steps)
    for rule in (
        "math.step",
        "math.answer",
        "math.wrong_value",
        "math.unsupported_answer",
        "math.incomplete",
    ):
        assert rules[rule] > 0, rules


def test_oracle_is_seeded():
    task = generate_task(3)
    state = [{"role": "user", "content": "Question: " + task.question}]
    noisy = {k: 0.5 / len(ERROR_TYPES) for k in ERROR_TYPES}
    a = ArithmeticOraclePolicy(noisy, seed=0).act([state] * 30, seeds=list(range(30)))
    assert a == ArithmeticOraclePolicy(noisy, seed=0).act([state] * 30, seeds=list(range(30)))
    assert a != ArithmeticOraclePolicy(noisy, seed=1).act([state] * 30, seeds=list(range(30)))
    assert len(set(a)) > 1
    # batch independence: an action depends on its own seed and state only
    assert ArithmeticOraclePolicy(noisy, seed=0).act([state], seeds=[7]) == [a[7]]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("wrong_operand", {"math.wrong_value", "math.operands", "math.wrong_operands"}),
        ("wrong_operator", {"math.wrong_value", "math.wrong_operands"}),
        ("distractor", {"math.wrong_value", "math.wrong_operands"}),
        ("skip_step", {"math.wrong_value", "math.wrong_operands", "math.incomplete"}),
        ("answer_early", {"math.incomplete", "math.answer"}),
        ("guess_answer", {"math.unsupported_answer", "math.answer", "math.incomplete"}),
        ("copy_wrong", {"math.wrong_value", "math.operands", "math.wrong_operands"}),
    ],
)
def test_each_error_type_makes_a_bad_step(error, expected):
    judge = _judge()
    policy = ArithmeticOraclePolicy({error: 1.0}, seed=0)
    rng = random.Random(0)
    seen = set()
    for i in range(40):
        task = generate_task(i, config=ArithmeticConfig(min_ops=3, max_ops=3, min_distractors=1))
        steps = task.metadata["solution_steps"]
        k = rng.randrange(len(steps))  # an on-track state after k correct steps
        turns = [(s["expression"], s["value"]) for s in steps[:k]]
        action = policy.act([_state(task, turns)], seeds=[i])[0]
        label, rule = _rule(judge, task, turns, action)
        assert label is False, (error, task.question, turns, action)
        seen.add(rule)
    assert seen <= expected and seen, seen


def test_oracle_rates_validation_and_describe():
    with pytest.raises(ValueError, match="unknown error types"):
        ArithmeticOraclePolicy({"typo": 0.1})
    with pytest.raises(ValueError, match="sum to"):
        ArithmeticOraclePolicy(dict.fromkeys(ERROR_TYPES, 0.2))
    with pytest.raises(ValueError, match="recover_rate"):
        ArithmeticOraclePolicy(recover_rate=2.0)
    p = ArithmeticOraclePolicy(0.14)
    assert sum(p.error_rates.values()) == pytest.approx(0.14)
    assert p.error_rates["copy_wrong"] / p.error_rates["skip_step"] == pytest.approx(
        DEFAULT_ERROR_RATES["copy_wrong"] / DEFAULT_ERROR_RATES["skip_step"]
    )
    assert p.describe()["name"] == "arithmetic-oracle"
    with pytest.raises(ValueError, match="empty state"):
        p.act([[]])


def test_misreading_is_systematic_at_transfer_sentences_only():
    from swirl_env.rewards.judges import make_judge

    step_judge = make_judge("arithmetic-step", "process")
    policy = ArithmeticOraclePolicy(0.0, misreading_rate=0.7, seed=0)
    at_transfer, elsewhere = [], []
    for i in range(80):
        task = generate_task(i, config=ArithmeticConfig(min_ops=3, max_ops=3))
        steps = task.metadata["solution_steps"]
        sentences = solve_question(task.question).steps
        for k, step in enumerate(steps):
            turns = [(s["expression"], s["value"]) for s in steps[:k]]
            actions = policy.act([_state(task, turns)] * 20, seeds=list(range(20)))
            wrong = [a for a in actions if a != f"<math_exp> {step['expression']} </math_exp>"]
            transfer = " more from " in sentences[k].sentence or " to " in sentences[k].sentence
            (at_transfer if transfer else elsewhere).append(len(wrong) / len(actions))
            stated = {(s.operation, str(s.operand)) for s in sentences}
            for a in set(wrong):  # the other operator on the stated number
                left, op, right = a.split()[1:4]
                assert (left, right) == (step["expression"].split()[0], step["expression"].split()[2])
                assert {op, step["operation"]} == {"+", "-"}
                # BAD for the gold-free judge, unless the question also states that operation
                # (it does not check the order of the operations)
                if (op, right) not in stated:
                    judged = step_judge.judge_step(ProcessRequest(task, _state(task, turns), a))
                    assert judged.label is False, (task.question, a)
    assert at_transfer and elsewhere
    assert sum(at_transfer) / len(at_transfer) == pytest.approx(0.7, abs=0.06)
    assert max(elsewhere) == 0.0
    # rate 0 draws nothing: the same actions as a policy without the option
    noisy = ArithmeticOraclePolicy(seed=3).act([_state(generate_task(5))] * 30, seeds=list(range(30)))
    same = ArithmeticOraclePolicy(seed=3, misreading_rate=0.0)
    assert same.act([_state(generate_task(5))] * 30, seeds=list(range(30))) == noisy
    with pytest.raises(ValueError, match="misreading_rate"):
        ArithmeticOraclePolicy(misreading_rate=1.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_tasks": 2.5},
        {"n_tasks": True},
        {"n_tasks": "3"},
        {"n_tasks": 10**30},
        {"seed": "x"},
        {"offset": -1},
    ],
)
def test_task_stream_arguments_are_checked(kwargs):
    (name,) = kwargs
    with pytest.raises(ValueError, match=name):
        gym.make("SwiRL-Arithmetic-v0", **kwargs)
