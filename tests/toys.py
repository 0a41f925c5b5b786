"""The toy environment of the tests: integer addition with a calculator tool, with its scripted
policies, an answer-key judge and a recording process judge.

Importable as ``toys`` in every test module and doctest run (pytest puts ``tests/`` on
``sys.path`` for ``tests/conftest.py``), from ``python tests/<file>.py``, and by the CLI as
``--policy toys:Adder``; a subprocess adds :data:`TESTS_DIR` to its ``sys.path``.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import gymnasium as gym

from swirl_env import Task, Tool, ToolEnv, ToolResult
from swirl_env.rewards.judges.base import Judgement, OutcomeJudge, ProcessJudge

TESTS_DIR = Path(__file__).resolve().parent
#: the test fixtures (small files in the official formats of the datasets)
FIXTURES = TESTS_DIR / "fixtures"
#: data the ids without bundled data need in tests (every other id runs with the registry's kwargs)
ENV_DATA_KWARGS = {
    "SwiRL-BeerQA-v0": {"path": str(FIXTURES / "beerqa_dev_v1.0_FIXTURE.json")},
    "SwiRL-CofCA-v0": {"path": str(FIXTURES / "cofca_FIXTURE.json")},
}


class Add(Tool):
    name = "calculator"
    tag = "math_exp"
    description = "adds integers"

    def run(self, argument):
        try:
            return ToolResult(str(sum(int(x) for x in argument.split("+"))))
        except ValueError:
            return ToolResult.error(f"cannot add {argument!r}")


#: the smallest valid trajectory record: one answer step
ONE_STEP_RECORD = {
    "id": "q#0",
    "env_id": "E",
    "task": {"id": "q"},
    "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "<answer>1</answer>"}],
    "steps": [{"index": 0, "message_index": 1, "action": "<answer>1</answer>", "kind": "answer"}],
    "schema_version": 1,
}


def make_add_env(n_tasks=12, *, step=1, dataset="add", prompt="math-v1", **kw):
    """Task ``add-i`` asks "What is i + (i + step)?"; the metric is exact match."""
    tasks = [
        Task(f"add-{i}", f"What is {i} + {i + step}?", (str(2 * i + step),), dataset, "test")
        for i in range(n_tasks)
    ]
    return ToolEnv(
        tasks,
        [Add()],
        metric=lambda p, g: {"em": float(p.strip() in g)},
        primary_metric="em",
        prompt=prompt,
        **kw,
    )


def register_add_env(env_id, *, max_tool_calls, **env_options):
    """Registers ``make_add_env(**env_options)`` as ``env_id`` (once); the spec's kwargs, which
    trajectories record, are only ``max_tool_calls``."""
    if env_id not in gym.registry:
        entry = functools.partial(make_add_env, **env_options) if env_options else make_add_env
        gym.register(id=env_id, entry_point=entry, kwargs={"max_tool_calls": max_tool_calls})
    return env_id


def question_sum(messages) -> str:
    """``"a + b"`` of the first message's "What is a + b?"."""
    return messages[0]["content"].rsplit("What is", 1)[-1].strip(" ?")


class Adder:
    """Adds with the calculator, then answers the result; answers the result + 1 when
    ``seed % slip_every == 0`` (never with ``slip_every=0``). ``preamble`` goes before the call,
    ``trailing`` after the answer."""

    name = "adder"

    def __init__(self, slip_every=0, *, preamble="", trailing=""):
        self.slip_every = slip_every
        self.preamble = preamble
        self.trailing = trailing

    def act(self, states, *, seeds=None):
        out = []
        for msgs, seed in zip(states, seeds if seeds is not None else [1] * len(states)):
            last = msgs[-1]["content"]
            if len(msgs) > 1 and "->" in last:
                slip = bool(self.slip_every) and seed % self.slip_every == 0
                out.append(f"<answer> {int(last.split('->')[-1]) + slip} </answer>{self.trailing}")
            else:
                out.append(f"{self.preamble}<math_exp> {question_sum(msgs)} </math_exp>")
        return out


class SeededAdder(Adder):
    """Calls the calculator, then answers; the seed decides whether it slips (answers the result + 1).
    Records the batch sizes, keeps the stop strings it is given, and can wait before each batch."""

    name = "seeded-adder"

    def __init__(self, delay=0.0):
        super().__init__(3, preamble="I add. ", trailing=" trailing")
        self.delay = delay
        self.calls = []
        self.stop_strings = None

    def set_stop_strings(self, stops):
        self.stop_strings = list(stops)

    def describe(self):
        return {"name": self.name}

    def act(self, states, *, seeds=None):
        self.calls.append(len(states))
        time.sleep(self.delay)
        return super().act(states, seeds=seeds)


class SurrogatePolicy:
    """Calls the calculator and answers, with lone surrogates (and a split pair) in every action."""

    name = "surrogates"

    def act(self, states, *, seeds=None):
        out = []
        for msgs in states:
            if len(msgs) == 1:
                out.append(f"half an emoji \ud83d, then <math_exp> {question_sum(msgs)} </math_exp>")
            elif "cannot add" not in msgs[-1]["content"] and len(msgs) == 3:
                out.append("<math_exp> 1 + \udc00 </math_exp>")  # the tool's error echoes it
            else:
                out.append("<answer> \ud83d\ude00 7 </answer>")
        return out


class KeyJudge(OutcomeJudge):
    """Exact match against the answer key."""

    name = "key"

    def judge_outcomes(self, requests):
        return [
            Judgement(label=(r.prediction or "").strip() in r.task.answers, judge=self.name) for r in requests
        ]


class RecordingJudge(ProcessJudge):
    """Always GOOD, with a fixed ``score``; keeps the requests it saw in ``requests``."""

    name = "recording"

    def __init__(self, score=0.25):
        self.score = score
        self.requests = []

    def judge_steps(self, requests):
        self.requests.extend(requests)
        return [Judgement(label=True, score=self.score, judge=self.name) for _ in requests]


def trl_sft_trainer(model, tokenizer, dataset, output_dir):
    """TRL's ``SFTTrainer`` on a prompt/completion dataset, set up as the tokenization tests need
    it (CPU float32, completion-only loss, no shuffling): its ``train_dataset`` is TRL's tokenization."""
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(output_dir),
        report_to=[],
        bf16=False,
        gradient_checkpointing=False,
        activation_checkpointing=False,
        shuffle_dataset=False,
        completion_only_loss=True,
    )
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)


def send_json(handler, payload, status=200):
    """Answer an ``http.server`` request with ``payload`` as JSON (the fake servers of the tests)."""
    import json

    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
