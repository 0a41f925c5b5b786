"""End to end on CPU: generate (scripted policies and a tiny random HF model) on a math env and a
search env -> judge with the rule judges -> filter (four modes, both levels) -> decompose -> export
-> TRL's SFTTrainer takes the dataset as is."""

from __future__ import annotations

import importlib.util
import json

import gymnasium as gym
import pytest

from swirl_algos.decompose import decompose, outcome_score, to_hf_dataset
from swirl_algos.filtering import FILTER_MODES, filter_counts, filter_trajectories
from swirl_algos.jsonl import read_trajectories
from swirl_algos.judging import judge_file
from swirl_algos.policies.base import Policy
from swirl_algos.rollout import rollout
from swirl_algos.stats import mean_process_label, trajectory_stats
from swirl_env import Task, Tool, ToolEnv, ToolResult
from swirl_env.rewards.judges.base import Judgement, OutcomeJudge
from swirl_env.rewards.judges.rule import RuleOutcomeJudge, RuleProcessJudge

HAS_GSM8K = importlib.util.find_spec("swirl_env.envs.gsm8k") is not None
HAS_NUMERIC = importlib.util.find_spec("swirl_env.metrics.numeric") is not None
SEARCH_ENV = "SwiRL-HotPotQA-v0"
TOY_MATH_ENV = "SwiRLTest-PipelineAdd-v0"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models run far faster on one thread than on two contended ones (shared CPU)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class Add(Tool):
    name = "calculator"
    tag = "math_exp"
    description = "adds integers"

    def run(self, argument):
        try:
            return ToolResult(str(sum(int(x) for x in argument.split("+"))))
        except ValueError:
            return ToolResult.error(f"cannot add {argument!r}")


def make_add_env(**kw):
    tasks = [
        Task(f"add-{i}", f"What is {i} + {i + 3}?", (str(2 * i + 3),), "gsm8k", "test") for i in range(10)
    ]
    return ToolEnv(
        tasks,
        [Add()],
        metric=lambda p, g: {"em": float(p.strip() in g)},
        primary_metric="em",
        prompt="math-v1",
        **kw,
    )


@pytest.fixture(scope="module")
def toy_math_env():
    if TOY_MATH_ENV not in gym.registry:
        gym.register(id=TOY_MATH_ENV, entry_point=make_add_env, kwargs={"max_tool_calls": 3})
    return TOY_MATH_ENV


@pytest.fixture(scope="module")
def math_env(toy_math_env):
    """SwiRL-GSM8K-v0 when the package has it, else the toy addition env."""
    return "SwiRL-GSM8K-v0" if HAS_GSM8K else toy_math_env


class KeyOutcomeJudge(OutcomeJudge):
    """Exact match against the answer key (stands in for the rule judge until numeric matching ships)."""

    name = "key"

    def judge_outcomes(self, requests):
        return [
            Judgement(label=(r.prediction or "").strip() in r.task.answers, score=None, judge=self.name)
            for r in requests
        ]


class SloppyAdder(Policy):
    """Computes with the calculator, then answers; seeded slips: a wrong operand, a repeated call, a wrong answer."""

    name = "sloppy-adder"

    def act(self, states, *, seeds=None):
        out = []
        for msgs, seed in zip(states, seeds):
            last = msgs[-1]["content"]
            calls = [m["content"] for m in msgs if m["role"] == "assistant"]
            if len(msgs) > 1 and "->" in last:
                if len(calls) == 1 and seed % 3 == 0:
                    out.append(calls[0])  # a repeated call: wasted, the answer can still be right
                    continue
                value = int(last.split("->")[-1])
                out.append(f"<answer> {value + (seed % 5 == 0)} </answer>")
            else:
                a, b = msgs[0]["content"].rsplit("What is", 1)[-1].strip(" ?").split(" + ")
                if seed % 4 == 0:
                    b = str(int(b) + 1)  # an operand that is not in the question
                out.append(f"I add. <math_exp> {a} + {b} </math_exp>")
        return out


class AnswerKeyPolicy(Policy):
    """Knows the answer key of an env's tasks: sometimes checks it with the calculator first, then
    answers it; seeded slips give wrong answers. Works on any env with a calculator tool."""

    name = "answer-key"

    def __init__(self, env_id):
        env = gym.make(env_id).unwrapped
        self.tasks = list(env.tasks)
        self.call = lambda x: env.parser.format_call("calculator", x)

    def _task(self, prompt):
        matches = [t for t in self.tasks if t.question in prompt]
        return max(matches, key=lambda t: len(t.question))

    def act(self, states, *, seeds=None):
        out = []
        for msgs, seed in zip(states, seeds):
            gold = self._task(msgs[0]["content"]).answer
            if len(msgs) == 1 and seed % 2 == 0:
                out.append(f"Let me check. {self.call(f'{gold} * 1')}")
            elif seed % 3 == 0:
                out.append("<answer> 123456789 </answer>")
            else:
                out.append(f"<answer> {gold} </answer>")
        return out


class NoisyGoldSearch(Policy):
    """The gold-search oracle with seeded slips: an off-topic query, or a wrong answer."""

    name = "noisy-gold-search"

    def __init__(self, tasks):
        from swirl_algos.policies.gold_search import GoldSearchPolicy

        self.oracle = GoldSearchPolicy(tasks)

    def act(self, states, *, seeds=None):
        actions = self.oracle.act(states)
        out = []
        for a, seed in zip(actions, seeds):
            if "<search_query>" in a and seed % 4 == 0:
                a = "<search_query> recipes for banana bread </search_query>"
            elif "<answer>" in a and seed % 3 == 0:
                a = "<answer> no idea </answer>"
            out.append(a)
        return out


@pytest.fixture(scope="module")
def tiny_hf():
    from swirl_algos.policies.hf import HFPolicy
    from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

    tok = build_tiny_tokenizer(
        ["What is 1 + 2? <math_exp> 1 + 2 </math_exp> <answer> 3 </answer>"], vocab_size=300
    )
    model = build_tiny_model(tok, hidden_size=16, num_layers=1)
    return HFPolicy(model, tok, max_new_tokens=8, batch_size=4), model, tok


@pytest.fixture(scope="module")
def generated(tmp_path_factory, math_env, toy_math_env, tiny_hf):
    """Trajectory files of every policy on every env (the math env's outcome judge: see HAS_NUMERIC)."""
    d = tmp_path_factory.mktemp("pipeline")
    search_tasks = gym.make(SEARCH_ENV).unwrapped.tasks
    runs = {
        "math": (toy_math_env, SloppyAdder(), 8, 3),
        "answer-key": (math_env, AnswerKeyPolicy(math_env), 6, 2),
        "search": (SEARCH_ENV, NoisyGoldSearch(search_tasks), 6, 3),
        "math-hf": (math_env, tiny_hf[0], 3, 2),
        "search-hf": (SEARCH_ENV, tiny_hf[0], 2, 2),
    }
    files = {}
    for name, (env_id, policy, n_tasks, samples) in runs.items():
        path = d / f"{name}.jsonl"
        rollout(
            env_id, policy, n_tasks=n_tasks, samples_per_task=samples, num_envs=6, output=path, progress=False
        )
        files[name] = path
    return d, files


def outcome_judge_for(name):
    return RuleOutcomeJudge() if (name.startswith("search") or HAS_NUMERIC) else KeyOutcomeJudge()


def test_math_generation_uses_the_gsm8k_env_when_available(generated, math_env):
    _, files = generated
    for name in ("answer-key", "math-hf"):
        assert {t.env_id for t in read_trajectories(files[name])} == {math_env}


@pytest.fixture(scope="module")
def judged(generated):
    d, files = generated
    out = {}
    for name, path in files.items():
        before = path.read_bytes()
        dst = d / f"{name}.judged.jsonl"
        counts = judge_file(
            path, dst, RuleProcessJudge(), outcome_judge_for(name), chunk_size=5, progress=False
        )
        assert path.read_bytes() == before  # the input is never rewritten
        assert counts["judged"] == counts["input"] and counts["already_done"] == 0
        again = judge_file(path, dst, RuleProcessJudge(), outcome_judge_for(name), progress=False)
        assert again["judged"] == 0 and again["already_done"] == counts["input"]  # resumable
        out[name] = read_trajectories(dst)
    return out


def test_generated_files_are_complete_trajectories(generated):
    _, files = generated
    for name, path in files.items():
        trajs = read_trajectories(path)
        assert len({t.id for t in trajs}) == len(trajs) > 0
        for t in trajs:
            assert t.terminated or t.truncated
            for k, step in enumerate(t.steps):
                assert t.messages[step.message_index] == {"role": "assistant", "content": step.action}
                assert t.state_messages(k) == t.messages[: step.message_index]
        if "hf" in name:
            assert trajs[0].policy["name"] == "hf"


def test_judging_labels_every_step_and_every_outcome(judged):
    for trajs in judged.values():
        assert all(s.process is not None and s.process["judge"] for t in trajs for s in t.steps)
        assert all("judge" in t.outcome for t in trajs)
    # the scripted policies' slips give a mix of GOOD and BAD steps, right and wrong answers
    for name in ("math", "search"):
        labels = [lab for t in judged[name] for lab in t.process_labels]
        outcomes = [t.outcome["judge"]["label"] for t in judged[name]]
        assert True in labels and False in labels, name
        assert True in outcomes and False in outcomes, name
    # a random model's steps are judged BAD (no call, or a useless one); unanswered episodes are NO
    hf = judged["search-hf"]
    assert all(t.outcome["judge"]["label"] is False for t in hf if t.final_answer is None)


def test_four_filter_modes_follow_the_paper(judged):
    for name in ("math", "search"):
        trajs = judged[name]
        good = {t.id for t in trajs if all(lab is True for lab in t.process_labels)}
        right = {t.id for t in trajs if t.outcome["judge"]["label"] is True}
        expect = {
            "none": {t.id for t in trajs},
            "process": good,
            "outcome": right,
            "process+outcome": good & right,
        }
        for mode in FILTER_MODES:
            kept = filter_trajectories(trajs, mode)
            assert {t.id for t in kept} == expect[mode], (name, mode)
        assert expect["process"] != expect["outcome"]  # the filters keep different data
        # step level: every GOOD step of trajectories passing the outcome filter
        steps = filter_trajectories(trajs, "process", level="step")
        assert all(r["process_label"] is True for r in steps)
        assert len(steps) == sum(lab is True for t in trajs for lab in t.process_labels)
        assert len(steps) > sum(t.num_steps for t in filter_trajectories(trajs, "process"))
        both = filter_trajectories(trajs, "process+outcome", level="step")
        assert {r["trajectory_id"] for r in both} <= right
        counts = filter_counts(trajs)
        assert counts["process"]["trajectories"] == len(good) and counts["outcome"]["trajectories"] == len(
            right
        )


def test_process_filter_without_labels_is_a_clear_error(generated):
    _, files = generated
    with pytest.raises(ValueError, match="swirl judge"):
        filter_trajectories(read_trajectories(files["math"]), "process")
    with pytest.raises(ValueError, match="filter mode"):
        filter_trajectories([], "best")


def test_decomposition_keeps_the_exact_prefix_states(judged):
    trajs = judged["search"]
    records = decompose(trajs)
    assert len(records) == sum(t.num_steps for t in trajs)
    it = iter(records)
    for t in trajs:
        for k, step in enumerate(t.steps):
            r = next(it)
            assert r["prompt"] == t.messages[: step.message_index]
            assert r["completion"] == [{"role": "assistant", "content": step.action}]
            assert (r["trajectory_id"], r["step_index"], r["num_steps"]) == (t.id, k, t.num_steps)
            assert r["process_label"] is step.process["label"] and r["env_id"] == SEARCH_ENV
            assert r["outcome_score"] == float(t.outcome["judge"]["label"]) == outcome_score(t)
            assert json.loads(r["task"]) == t.task
            if k > 0:  # each state is a prefix of the next
                prev = t.messages[: t.steps[k - 1].message_index]
                assert r["prompt"][: len(prev)] == prev


def test_exported_dataset_trains_with_trl_sft_trainer_as_is(judged, tiny_hf, tmp_path):
    from trl import SFTConfig, SFTTrainer

    _, model, tok = tiny_hf
    kept = filter_trajectories(judged["math"] + judged["search"], "process")
    ds = to_hf_dataset(decompose(kept), kind="sft")
    assert ds.column_names[:2] == ["prompt", "completion"] and len(ds) == sum(t.num_steps for t in kept)
    ds.save_to_disk(str(tmp_path / "ds"))
    from datasets import load_from_disk

    ds = load_from_disk(str(tmp_path / "ds"))
    config = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        max_steps=1,
        per_device_train_batch_size=4,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        max_length=1024,
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=ds, processing_class=tok)
    row = trainer.train_dataset[0]
    # the loss is on the action only: the trained tokens are exactly the action (and its end token)
    trained = [t for t, lab in zip(row["input_ids"], row["labels"]) if lab != -100]
    assert 0 < len(trained) < len(row["input_ids"])
    assert tok.decode(trained, skip_special_tokens=True).strip() == ds[0]["completion"][0]["content"].strip()
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0
    prompts = to_hf_dataset(decompose(kept), kind="prompts")
    assert "completion" not in prompts.column_names
    assert len(prompts) == len({json.dumps(r["prompt"]) for r in decompose(kept)})


def test_statistics_use_the_papers_mean_process_label(judged):
    trajs = judged["search"]
    stats = trajectory_stats(trajs)
    per_traj = [sum(t.process_labels) / t.num_steps for t in trajs]
    assert stats["mean_process_label"] == pytest.approx(sum(per_traj) / len(per_traj))
    assert stats["mean_process_label"] == mean_process_label(trajs)
    assert stats["episodes"] == len(trajs) and stats["tasks"] == 6
    assert stats["steps"] == sum(t.num_steps for t in trajs)
    assert stats["tool_calls"]["search"] == sum(s.kind == "call" for t in trajs for s in t.steps)
    assert stats["judged_accuracy"] == pytest.approx(
        sum(t.outcome["judge"]["label"] for t in trajs) / len(trajs)
    )
    hf = trajectory_stats(judged["search-hf"])
    assert hf["parse_failure_rate"] > 0 and hf["parse_failures"] == sum(
        s.kind in ("none", "malformed") for t in judged["search-hf"] for s in t.steps
    )


def test_judge_file_retries_failed_judgements_and_refuses_foreign_outputs(generated, tmp_path):
    from swirl_env.rewards.judges.base import ProcessJudge

    class Flaky(ProcessJudge):
        name = "flaky"

        def __init__(self, fail):
            self.fail = fail

        def judge_steps(self, requests):
            return [
                Judgement.failure("server down", judge=self.name)
                if self.fail and k % 2
                else Judgement(label=True, score=1.0, judge=self.name)
                for k, _ in enumerate(requests)
            ]

    _, files = generated
    src, dst = files["math"], tmp_path / "j.jsonl"
    first = judge_file(src, dst, Flaky(fail=True), progress=False)
    assert first["process_failed"] > 0
    kept = judge_file(src, dst, Flaky(fail=False), progress=False)
    assert kept["judged"] == 0 and kept["process_failed"] == first["process_failed"]  # plain resume
    fixed = judge_file(src, dst, Flaky(fail=False), retry_failed=True, progress=False)
    assert fixed["process_failed"] == 0 and fixed["judged"] > 0
    trajs = read_trajectories(dst)
    assert len(trajs) == len({t.id for t in trajs}) == len(read_trajectories(src))
    assert all(lab is True for t in trajs for lab in t.process_labels)
    with pytest.raises(ValueError, match="not in"):
        judge_file(files["search"], dst, Flaky(fail=False), progress=False)
    with pytest.raises(ValueError, match="new file"):
        judge_file(src, src, Flaky(fail=False), progress=False)
