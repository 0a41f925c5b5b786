"""The three recipes of docs/architecture.md, followed to the letter: add an environment, a judge,
a learner. Each one writes only the files its recipe names (here into a temporary package, since
a test must not write into the installed one) and adds only its registry line; then the stock
commands and functions take the new plug-in by name."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from swirl_env.registration import ENV_SPECS, EnvSpec, env_spec, register_envs
from swirl_env.rewards.judges.registry import judge_names, make_judge, register_judge, unregister_judge

ENV_ID = "SwiRL-WordLength-v0"

# ---- recipe 1: an environment is one folder: env.py, tasks.py, judge.py, __init__.py
FILES = {
    "tasks.py": '''
        """Tasks of SwiRL-WordLength-v0: how many letters has a word?"""
        from swirl_env.tasks.base import Task

        WORDS = ("swirl", "gymnasium", "step", "reward", "policy", "judge")


        def load_tasks(split: str = "test") -> list[Task]:
            return [
                Task(f"len-{split}-{i}", f"How many letters has the word {w!r}?", (str(len(w)),),
                     "wordlength", split, domain="math")
                for i, w in enumerate(WORDS)
            ]
    ''',
    "env.py": '''
        """SwiRL-WordLength-v0: count a word's letters with a ``<count>`` tool, then answer.

        Action: text; ``<count> WORD </count>`` calls the counter, ``<answer> N </answer>`` ends.
        Observation: the whole conversation so far.
        Reward: 1.0 for the right number at the answer, else 0.0.
        Episode end: the answer (terminated) or ``max_tool_calls`` calls (truncated).
        Arguments: ``split``, ``max_tool_calls`` (and :class:`~swirl_env.env.ToolEnv`'s).
        Version history: v0: first version.
        """
        from swirl_env.env import ToolEnv
        from swirl_env.tools.base import Tool, ToolResult

        from wordlength.tasks import load_tasks


        class Counter(Tool):
            name, tag, description = "counter", "count", "counts the letters of a word"

            def run(self, argument):
                word = argument.strip().strip("'\\"")
                if not word.isalpha():
                    return ToolResult.error(f"not a word: {argument[:40]!r}")
                return ToolResult(str(len(word)), value=len(word))


        class WordLengthEnv(ToolEnv):
            def __init__(self, split="test", max_tool_calls=5, **kwargs):
                super().__init__(
                    load_tasks(split), [Counter()],
                    metric=lambda p, golds: {"em": float(p.strip() in golds)}, primary_metric="em",
                    max_tool_calls=max_tool_calls, **kwargs,
                )
    ''',
    "judge.py": '''
        """The rule process judge of SwiRL-WordLength-v0: a step is GOOD when it counts a word of
        the question, or answers what the counter said."""
        from swirl_env.rewards.judges.base import Judgement, ProcessJudge


        class WordLengthJudge(ProcessJudge):
            name = "wordlength-rule"

            def judge_steps(self, requests):
                out = []
                for r in requests:
                    said = [m["content"] for m in r.context if m["role"] == "user"]
                    kind, arg = r.step.get("kind"), (r.step.get("argument") or "").strip().strip("'\\"")
                    good = (kind == "call" and arg in said[0]) or (
                        kind == "answer" and any(f"-> {arg}" in s for s in said[1:])
                    )
                    out.append(Judgement(label=good, score=float(good), judge=self.name))
                return out
    ''',
    "__init__.py": """
        from wordlength.env import WordLengthEnv
        from wordlength.judge import WordLengthJudge
    """,
}


class WordCounter:
    """A scripted policy: count the quoted word, then answer the counter's result."""

    def act(self, states, *, seeds=None):
        out = []
        for msgs in states:
            last = msgs[-1]["content"]
            if len(msgs) > 1 and " -> " in last:  # the counter has answered
                out.append(f"<answer> {last.rsplit(' -> ', 1)[1].strip()} </answer>")
            else:  # the word is the last quoted one of the question
                out.append(f"<count> {msgs[0]['content'].rsplit(chr(39), 2)[1]} </count>")
        return out


@pytest.fixture
def wordlength(tmp_path, monkeypatch):
    pkg = tmp_path / "wordlength"
    pkg.mkdir()
    for name, text in FILES.items():
        (pkg / name).write_text(textwrap.dedent(text).lstrip())
    monkeypatch.syspath_prepend(str(tmp_path))
    # the recipe's registry lines (in the package: one line in ENV_SPECS and one register_judge)
    monkeypatch.setitem(
        ENV_SPECS, ENV_ID, EnvSpec("wordlength:WordLengthEnv", {}, domain="math", process_judge="wordlength")
    )
    register_judge("wordlength", process="wordlength.judge:WordLengthJudge")
    register_envs()
    yield ENV_ID
    unregister_judge("wordlength")
    gym.registry.pop(ENV_ID, None)
    for mod in [m for m in sys.modules if m == "wordlength" or m.startswith("wordlength.")]:
        del sys.modules[mod]


def test_recipe_add_an_environment_and_its_judge(wordlength, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "swirl_env"))  # also when this file runs alone
    from test_registered_envs import (
        test_every_registered_env_passes_check_env_and_survives_a_short_hostile_episode,
    )

    from swirl_algos.evaluation import evaluate
    from swirl_algos.rollout import rollout

    # the one test over every registered id runs on it unchanged
    test_every_registered_env_passes_check_env_and_survives_a_short_hostile_episode(wordlength)
    env = gym.make(wordlength)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()

    # its default judges come from its spec, by name
    spec = env_spec(wordlength)
    process = make_judge(spec.process_judge, "process")
    outcome = make_judge(spec.outcome_judge, "outcome")
    assert "wordlength" in judge_names("process") and type(process).__name__ == "WordLengthJudge"

    trajs = rollout(wordlength, WordCounter(), n_tasks=6, num_envs=3, progress=False)
    assert [t.outcome["score"] for t in trajs] == [1.0] * 6
    results = evaluate(
        wordlength, WordCounter(), n_tasks=6, process_judge=process, outcome_judge=outcome,
        output_dir=tmp_path / "eval", progress=False,
    )  # fmt: skip
    assert results["metrics"]["accuracy"]["mean"] == 1.0
    assert results["metrics"]["mean_process_label"]["mean"] == 1.0


def test_recipe_the_commands_take_the_new_environment_by_name(wordlength, tmp_path):
    from swirl_algos.cli import main

    out = tmp_path / "t.jsonl"
    policy = f"{__name__}:WordCounter"
    assert main(["generate", "--env", wordlength, "--policy", policy, "-o", str(out), "--no-progress"]) == 0
    judged = tmp_path / "j.jsonl"
    argv = [
        "judge",
        str(out),
        str(judged),
        "--process-judge",
        "wordlength",
        "--outcome-judge",
        "rule",
    ]
    assert main([*argv, "--no-progress"]) == 0
    rows = [json.loads(line) for line in judged.read_text().splitlines()]
    assert len(rows) == 6 and all(s["process"]["label"] for r in rows for s in r["steps"])


# ---- recipe 2: a judge is one file plus one register_judge line
def test_recipe_add_a_judge(tmp_path, monkeypatch):
    (tmp_path / "length_judge.py").write_text(
        textwrap.dedent('''
            """A judge that calls an action GOOD when it is short."""
            from swirl_env.rewards.judges.base import Judgement, ProcessJudge


            class ShortActionJudge(ProcessJudge):
                name = "short-action"

                def __init__(self, max_chars: int = 40):
                    self.max_chars = max_chars

                def judge_steps(self, requests):
                    return [Judgement(label=len(r.action) <= self.max_chars, judge=self.name) for r in requests]
        ''').lstrip()
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    register_judge("short-action", process="length_judge:ShortActionJudge")
    try:
        from swirl_algos.evaluation import load_judge
        from swirl_algos.learners.swirl import ProcessJudgeReward

        judge = load_judge("short-action", "process", {"max_chars": 30})
        reward = ProcessJudgeReward(judge, tool_tags={"math_exp": "calculator"})
        prompts = [[{"role": "user", "content": "What is 2 + 3?"}]] * 2
        assert reward(prompts, ["<math_exp> 2 + 3 </math_exp>", "<answer> " + "5" * 40 + " </answer>"]) == [
            1.0,
            0.0,
        ]
        with pytest.raises(ValueError, match="short-action"):
            make_judge("short-action", "outcome")  # registered for one kind only: a clear error
    finally:
        unregister_judge("short-action")


# ---- recipe 3: a learner is a config class, a train function and one registry line
def test_recipe_add_a_learner(tmp_path, monkeypatch):
    (tmp_path / "echo_learner.py").write_text(
        textwrap.dedent('''
            """A learner that trains nothing: it copies the model path into its output directory."""
            from dataclasses import dataclass
            from pathlib import Path

            from swirl_algos.learners.common import TrainResult
            from swirl_algos.learners.config import TrainingConfig


            @dataclass
            class EchoConfig(TrainingConfig):
                """The echo learner.

                Attributes:
                    greeting: the text written next to the model path.
                """

                greeting: str = "hello"


            def train_echo(config, data, *, model, tokenizer=None):
                Path(config.output_dir, "echo.txt").write_text(f"{config.greeting} {model} {data}")
                return TrainResult(output_dir=config.output_dir, model_dir=str(model))
        ''').lstrip()
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from swirl_algos.cli import main
    from swirl_algos.learners.registry import LEARNERS, Learner

    monkeypatch.setitem(LEARNERS, "echo", Learner("echo_learner:EchoConfig", "echo_learner:train_echo"))
    out = tmp_path / "run"
    argv = ["train", "--algo", "echo", "--data", "d.jsonl", "--model", "m", "--output", str(out)]
    assert main([*argv, "--greeting", "hi", "--learning-rate", "0.1"]) == 0
    assert (out / "echo.txt").read_text() == "hi m d.jsonl"
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["algo"] == "echo" and summary["model_dir"] == "m"
    assert Path(out / "swirl_prompt.json").exists()
