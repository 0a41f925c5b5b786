"""End to end on CPU: generate (scripted policies and a tiny random HF model) on a math env and a
search env -> judge with the rule judges -> filter (four modes, both levels) -> decompose -> export
-> TRL's SFTTrainer takes the dataset as is."""

from __future__ import annotations

import importlib.util
import json
import re

import gymnasium as gym
import pytest
import toys

from swirl_algos.decompose import decompose, outcome_score, to_hf_dataset
from swirl_algos.filtering import FILTER_MODES, filter_counts, filter_trajectories
from swirl_algos.jsonl import read_trajectories
from swirl_algos.judging import judge_file
from swirl_algos.policies.base import Policy
from swirl_algos.rollout import rollout
from swirl_algos.stats import mean_process_label, trajectory_stats
from swirl_env.rewards.judges.base import Judgement
from swirl_env.rewards.judges.rule import RuleOutcomeJudge, RuleProcessJudge

HAS_GSM8K = importlib.util.find_spec("swirl_env.envs.gsm8k") is not None
HAS_NUMERIC = importlib.util.find_spec("swirl_env.metrics.numeric") is not None
SEARCH_ENV = "SwiRL-HotPotQA-v0"
TOY_MATH_ENV = "SwiRLTest-PipelineAdd-v0"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy_math_env():
    return toys.register_add_env(TOY_MATH_ENV, max_tool_calls=3, n_tasks=10, step=3, dataset="gsm8k")


@pytest.fixture(scope="module")
def math_env(toy_math_env):
    """SwiRL-GSM8K-v0 when the package has it, else the toy addition env."""
    return "SwiRL-GSM8K-v0" if HAS_GSM8K else toy_math_env


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
                a, b = toys.question_sum(msgs).split(" + ")
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
    """The rule judge; on the math env without numeric matching, exact match against the key."""
    return RuleOutcomeJudge() if (name.startswith("search") or HAS_NUMERIC) else toys.KeyJudge()


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


def test_judge_file_does_not_trust_an_output_of_another_input_or_judge_set(generated, tmp_path, caplog):
    from swirl_algos.jsonl import JsonlWriter, write_jsonl

    _, files = generated
    src, dst = files["math"], tmp_path / "j.jsonl"
    judge_file(src, dst, RuleProcessJudge(), progress=False)
    labels = {t.id: t.process_labels for t in read_trajectories(dst)}
    # an outcome judge added later: the records without its judgement get it, their labels kept
    both = judge_file(src, dst, None, toys.KeyJudge(), progress=False)
    assert both["judged"] == both["input"] and all("judge" in t.outcome for t in read_trajectories(dst))
    assert {t.id: t.process_labels for t in read_trajectories(dst)} == labels
    # another process judge: kept, with a warning naming both
    with caplog.at_level("WARNING"):
        assert judge_file(src, dst, toys.RecordingJudge(), progress=False)["judged"] == 0
    assert "rule-process" in caplog.text and "recording" in caplog.text
    # the input regenerated under the same ids: refused
    changed = [t for t in read_trajectories(src)]
    changed[0].messages[0]["content"] += " (regenerated)"
    regenerated = tmp_path / "regenerated.jsonl"
    write_jsonl(regenerated, changed)
    with pytest.raises(ValueError, match="was the input regenerated"):
        judge_file(regenerated, dst, RuleProcessJudge(), progress=False)
    # a rewrite (retry_failed, a judge added) never runs beside another writer of the output
    with JsonlWriter(dst), pytest.raises(RuntimeError, match="another process"):
        judge_file(src, dst, RuleProcessJudge(), toys.KeyJudge(), retry_failed=True, progress=False)


# ------------------------------------------------------------------------------ unencodable text
def _run_cli(argv):
    from swirl_algos.cli import main

    return main(argv)


@pytest.fixture
def surrogate_policy():
    """The CLI's name of a policy that writes lone surrogates (see toys.SurrogatePolicy)."""
    return "toys:SurrogatePolicy"


def test_generate_stores_unencodable_text_safely_and_reruns_finish(
    tmp_path, toy_math_env, surrogate_policy, caplog
):
    out = tmp_path / "t.jsonl"
    gen = ["generate", "--env", toy_math_env, "--policy", surrogate_policy, "-o", str(out), "--no-progress"]
    assert _run_cli([*gen, "--n-tasks", "3", "--samples", "2"]) == 0
    raw = out.read_bytes()
    raw.decode("utf-8")  # the file is valid UTF-8
    trajs = read_trajectories(out)
    assert len(trajs) == 6 and "text_repairs" in caplog.text
    for t in trajs:
        assert t.text_repairs, t.id
        paths = {r["path"] for r in t.text_repairs}
        assert "/steps/0/action" in paths and "/messages/1/content" in paths
        originals = {r["path"]: json.loads(r["original"]) for r in t.text_repairs}
        assert originals["/steps/0/action"].startswith("half an emoji \ud83d, then")  # exactly
        assert originals["/steps/1/action"] == "<math_exp> 1 + \udc00 </math_exp>"
        assert originals["/final_answer"] == "\U0001f600 7"  # a split pair reads back joined
        assert t.steps[0].action.startswith("half an emoji \ufffd, then")
        assert "\U0001f600" in t.messages[-1]["content"]  # a split pair is joined, not lost
        assert t.steps[1].tool_ok is False and "\ufffd" in t.steps[1].observation
    # a rerun of the same command finishes (nothing to do), an extended one runs the rest
    assert _run_cli([*gen, "--n-tasks", "3", "--samples", "2"]) == 0
    assert out.read_bytes() == raw
    assert _run_cli([*gen, "--n-tasks", "4", "--samples", "2"]) == 0
    assert len(read_trajectories(out)) == 8
    # and the rest of the pipeline reads, judges, filters and exports it
    judged, steps = tmp_path / "j.jsonl", tmp_path / "steps.jsonl"
    assert _run_cli(["judge", str(out), str(judged), "--process-judge", "rule", "--no-progress"]) == 0
    assert _run_cli(["filter", str(judged), str(steps), "--mode", "none", "--level", "step"]) == 0
    assert _run_cli(["export", str(steps), str(tmp_path / "ds.jsonl")]) == 0
    assert all(t.text_repairs for t in read_trajectories(judged))


def test_writers_repair_any_record_and_keep_earlier_repairs(tmp_path):
    from swirl_algos.jsonl import JsonlWriter, read_jsonl, safe_record, write_jsonl

    bad = {"id": "a", "text": "x\ud83d", "nested": {"k\udfff": ["ok", "\udc80"]}}
    with JsonlWriter(tmp_path / "w.jsonl") as w:
        w.write(bad)
        w.write({"id": "b", "text": "fine"})
        assert w.repaired == 3 and w.written == 2
    rows = read_jsonl(tmp_path / "w.jsonl")
    assert rows[1] == {"id": "b", "text": "fine"}
    assert rows[0]["text"] == "x\ufffd" and rows[0]["nested"] == {"k\ufffd": ["ok", "\ufffd"]}
    assert [r["path"] for r in rows[0]["text_repairs"]] == ["/text", "/nested/k\ufffd", "/nested/k\ufffd/1"]
    assert json.loads(rows[0]["text_repairs"][1]["original_key"]) == "k\udfff"
    # a second repair of an already repaired record appends to its list
    rows[0]["more"] = "\ud800"
    assert write_jsonl(tmp_path / "a.jsonl", rows) == 2
    again = read_jsonl(tmp_path / "a.jsonl")[0]
    assert len(again["text_repairs"]) == 4 and again["text_repairs"][-1]["path"] == "/more"
    assert safe_record(rows[1]) is rows[1]


# ------------------------------------------------------------------------------ repeated ids
def _traj(i: int, n_steps: int, label: bool = True):
    from swirl_env.trajectory import Step, Trajectory

    msgs, steps = [{"role": "user", "content": f"Q{i}"}], []
    for k in range(n_steps):
        steps.append(Step(k, len(msgs), f"a{i}.{k}", "call", process={"label": label, "score": 1.0}))
        msgs += [{"role": "assistant", "content": f"a{i}.{k}"}, {"role": "user", "content": "r"}]
    return Trajectory(f"q{i}#0", "E", {"id": f"q{i}"}, msgs, steps, outcome={"score": 1.0})


@pytest.fixture
def with_repeats(tmp_path):
    """32 trajectories, 30 unique ids: 138 unique steps, 144 with the repeats."""
    from swirl_algos.jsonl import write_jsonl

    trajs = [_traj(i, 5 if i < 24 else 3) for i in range(30)]
    repeats = [_traj(5, 3, label=False), _traj(29, 3, label=False)]  # same ids, other content
    rows = trajs[:20] + repeats[:1] + trajs[20:] + repeats[1:]
    assert len(rows) == 32 and sum(t.num_steps for t in rows) == 144
    path = tmp_path / "judged.jsonl"
    write_jsonl(path, rows)
    return path


def test_filter_and_export_keep_the_first_of_each_repeated_id(with_repeats, tmp_path, caplog, capsys):
    from swirl_algos.jsonl import read_jsonl

    trajs = read_trajectories(with_repeats)
    for mode in FILTER_MODES:
        kept = filter_trajectories(trajs, mode)
        assert len(kept) == 30 and len({t.id for t in kept}) == 30, mode
        assert all(t.process_labels[0] is True for t in kept)  # the first occurrence won
        steps = filter_trajectories(trajs, mode, level="step")
        assert len(steps) == 138 and len({(r["trajectory_id"], r["step_index"]) for r in steps}) == 138
    assert "dropped 2 trajectories whose id repeats" in caplog.text
    assert filter_counts(trajs)["none"] == {"trajectories": 30, "steps": 138, "steps_step_level": 138}
    assert len(decompose(trajs)) == 138
    assert len(to_hf_dataset(trajs)) == 138
    step_records = decompose(trajs)
    assert len(to_hf_dataset(step_records + step_records[:6])) == 138  # repeated step records too
    # the command line
    out = tmp_path / "kept.jsonl"
    assert _run_cli(["filter", str(with_repeats), str(out), "--mode", "process"]) == 0
    printed = capsys.readouterr()
    assert "kept 30 of 30 trajectories" in printed.out and "2 trajectories repeat" in printed.err
    assert len(read_jsonl(out)) == 30
    assert _run_cli(["filter", str(with_repeats), str(out), "--mode", "none", "--level", "step"]) == 0
    assert "kept 138 of 138 step records" in capsys.readouterr().out and len(read_jsonl(out)) == 138
    for src in (with_repeats, out):
        assert _run_cli(["export", str(src), str(tmp_path / "ds.jsonl")]) == 0
        assert "exported 138 sft records" in capsys.readouterr().out
        assert len(read_jsonl(tmp_path / "ds.jsonl")) == 138


# ------------------------------------------------------------------------------ bad records
GOOD = toys.ONE_STEP_RECORD


def _bad(**changes):
    rec = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        target, *path = key.split("__")
        if path:
            container = rec[target]
            for p in path[:-1]:
                container = container[int(p)] if isinstance(container, list) else container[p]
            last = int(path[-1]) if isinstance(container, list) else path[-1]
            if value is KeyError:
                del container[last]
            else:
                container[last] = value
        elif value is KeyError:
            del rec[target]
        else:
            rec[target] = value
    return rec


BAD_TRAJECTORIES = [
    (_bad(schema_version="1"), "schema_version"),
    (_bad(schema_version=None), "schema_version"),
    (_bad(schema_version=2), "schema_version"),
    (_bad(schema_version=0), "schema_version"),
    (_bad(schema_version=True), "schema_version"),
    (_bad(task=KeyError), "task"),
    (_bad(task=["q"]), "task"),
    (_bad(id=KeyError), "id"),
    (_bad(id=7), "id"),
    (_bad(env_id=None), "env_id"),
    (_bad(messages="Q? <answer>1</answer>"), "messages"),
    (_bad(messages__1="hello"), "messages[1]"),
    (_bad(messages__0__content=KeyError), "messages[0].content"),
    (_bad(messages__0__content=3), "messages[0].content"),
    (_bad(messages__1__role=None), "messages[1].role"),
    (_bad(steps={"0": {}}), "steps"),
    (_bad(steps__0=[1, 2]), "steps[0]"),
    (_bad(steps__0__action=KeyError), "steps[0].action"),
    (_bad(steps__0__index="0"), "steps[0].index"),
    (_bad(steps__0__message_index=-1), "steps[0].message_index"),
    (_bad(steps__0__tool_ok="yes"), "steps[0].tool_ok"),
    (_bad(steps__0__process="GOOD"), "steps[0].process"),
    (_bad(steps__0__process={"label": "BAD"}), "steps[0].process.label"),
    (_bad(steps__0__process={"label": 1}), "steps[0].process.label"),
    (_bad(steps__0__process={"label": True, "score": float("nan")}), "steps[0].process.score"),
    (_bad(steps__0__index=1), "steps[0].index"),
    (_bad(steps__0__message_index=999), "steps[0].message_index"),
    (_bad(steps__0__message_index=0), "steps[0].message_index"),
    (_bad(outcome={"score": "high"}), "outcome.score"),
    (_bad(outcome={"score": float("inf")}), "outcome.score"),
    (_bad(outcome={"score": 1.0, "judge": {"label": "NO"}}), "outcome.judge.label"),
    (_bad(task={"id": "q", "answers": 35}), "task.answers"),
    (_bad(sample="0"), "sample"),
    (_bad(sample=True), "sample"),
    (_bad(seed=1.5), "seed"),
    (_bad(terminated="yes"), "terminated"),
    (_bad(final_answer=1), "final_answer"),
    (_bad(outcome=[1.0]), "outcome"),
    (_bad(policy=None), "policy"),
]


@pytest.mark.parametrize("record,field", BAD_TRAJECTORIES, ids=[f for _, f in BAD_TRAJECTORIES])
def test_bad_trajectory_records_name_file_line_and_field(tmp_path, record, field):
    from swirl_env.trajectory import RecordError

    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps(record) + "\n" + json.dumps(GOOD) + "\n")
    with pytest.raises(RecordError) as err:
        read_trajectories(path)
    assert err.value.field == field and err.value.line == 3
    assert str(err.value).startswith(f"{path}:3: field {field!r}: ")
    located = rf"t\.jsonl:3: field '{re.escape(field)}'"
    for argv in (
        ["filter", str(path), str(tmp_path / "o.jsonl"), "--mode", "none"],
        ["judge", str(path), str(tmp_path / "j.jsonl"), "--process-judge", "rule", "--no-progress"],
        ["stats", str(path)],
        ["export", str(path), str(tmp_path / "ds.jsonl")],
    ):
        with pytest.raises(SystemExit, match=located):
            _run_cli(argv)


STEP_PROMPT = [{"role": "user", "content": "Q"}]
STEP_COMPLETION = [{"role": "assistant", "content": "A"}]
GOOD_STEP = {"prompt": STEP_PROMPT, "completion": STEP_COMPLETION}
BAD_STEP_RECORDS = [
    ({"prompt": "Q", "completion": STEP_COMPLETION}, "prompt"),
    ({"prompt": [], "completion": STEP_COMPLETION}, "prompt"),
    ({"prompt": [{"role": "user"}], "completion": STEP_COMPLETION}, "prompt[0].content"),
    ({"prompt": STEP_PROMPT}, "completion"),
    ({"prompt": STEP_PROMPT, "completion": ["A"]}, "completion[0]"),
    ({**GOOD_STEP, "step_index": "0"}, "step_index"),
    ({**GOOD_STEP, "process_label": "GOOD"}, "process_label"),
    ({**GOOD_STEP, "outcome_score": "1"}, "outcome_score"),
    ({**GOOD_STEP, "task": 5}, "task"),
]


@pytest.mark.parametrize("record,field", BAD_STEP_RECORDS, ids=[f for _, f in BAD_STEP_RECORDS])
def test_bad_step_records_name_file_line_and_field_on_export(tmp_path, record, field):
    path = tmp_path / "steps.jsonl"
    path.write_text(json.dumps(GOOD_STEP) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(SystemExit, match=rf"steps\.jsonl:2: field '{re.escape(field)}'"):
        _run_cli(["export", str(path), str(tmp_path / "ds.jsonl")])


def test_generate_refuses_to_continue_a_file_with_a_bad_record(tmp_path, toy_math_env, surrogate_policy):
    out = tmp_path / "t.jsonl"
    gen = ["generate", "--env", toy_math_env, "--policy", surrogate_policy, "-o", str(out), "--no-progress"]
    assert _run_cli([*gen, "--n-tasks", "1"]) == 0
    rec = json.loads(out.read_text())
    rec["messages"] = "flattened"
    out.write_text(out.read_text() + json.dumps(rec) + "\n")
    with pytest.raises(SystemExit, match=r"t\.jsonl:2: field 'messages': expected a list"):
        _run_cli([*gen, "--n-tasks", "2"])


def test_records_of_no_known_kind_and_corrupt_lines_are_located(tmp_path):
    from swirl_algos.jsonl import iter_records

    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps({"hello": 1}) + "\n")
    with pytest.raises(ValueError, match=r"x\.jsonl:2: neither a trajectory"):
        list(iter_records(path))
    path.write_text(json.dumps(GOOD) + "\n" + "[" * 100_000 + "\n" + json.dumps(GOOD) + "\n")
    with pytest.raises(SystemExit, match=r"x\.jsonl:2: invalid JSON line"):
        _run_cli(["stats", str(path)])
    path.write_text(json.dumps({"prompt": [{"role": "user", "content": "Q"}]}) + "\n")
    with pytest.raises(ValueError, match=r"x\.jsonl:1: a step record, not a trajectory"):
        read_trajectories(path)
