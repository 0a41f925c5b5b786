"""The SQLite judgement cache: hits across runs, failures not stored, keys follow the judge's config
and prompt, crash safety (a committed chunk survives a crash in the next one), and processes."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3

import pytest

from swirl_env.rewards.judges.base import (
    Judgement,
    OutcomeJudge,
    OutcomeRequest,
    ProcessJudge,
    ProcessRequest,
)
from swirl_env.rewards.judges.cache import CachedJudge, JudgementCache, cache_key, judgement_from_row
from swirl_env.tasks.base import Task

TASK = Task("q", "2+2?", ("4",), "gsm8k", "test")


class Counting(ProcessJudge):
    """GOOD for answers, BAD otherwise, a failure for actions containing 'fail'; counts calls."""

    name = "counting"

    def __init__(self, strict: bool = False, crash_after: int | None = None) -> None:
        self.strict = strict
        self.calls: list[str] = []
        self.crash_after = crash_after

    def config(self):
        return {"strict": self.strict}

    def judge_steps(self, requests):
        out = []
        for r in requests:
            if self.crash_after is not None and len(self.calls) >= self.crash_after:
                raise KeyboardInterrupt("simulated crash")
            self.calls.append(r.action)
            if "fail" in r.action:
                out.append(Judgement.failure("could not judge", judge=self.name))
            else:
                out.append(
                    Judgement(label="answer" in r.action, score=0.5, rationale=r.action, judge=self.name)
                )
        return out


class Outcome(OutcomeJudge):
    name = "outcome"

    def judge_outcomes(self, requests):
        return [Judgement(label=r.prediction == "4", judge=self.name) for r in requests]


def R(action: str) -> ProcessRequest:
    return ProcessRequest(TASK, [{"role": "user", "content": "Question: 2+2?"}], action)


def test_second_run_pays_nothing_and_returns_equal_judgements(tmp_path):
    path = tmp_path / "c.sqlite"
    reqs = [R("<answer> 4 </answer>"), R("<math_exp> 2+2 </math_exp>"), R("<answer> 4 </answer>")]
    inner = Counting()
    first = CachedJudge(inner, path).judge_steps(reqs)
    assert len(inner.calls) == 2  # the duplicate inside the batch was judged once
    inner2 = Counting()
    cached = CachedJudge(inner2, path)
    again = cached.judge_steps(reqs)
    assert inner2.calls == [] and again == first and cached.stats["hits"] == 3
    assert [j.label for j in again] == [True, False, True] and again[0].rationale == "<answer> 4 </answer>"


def test_failures_are_not_cached(tmp_path):
    path = tmp_path / "c.sqlite"
    inner = Counting()
    (j,) = CachedJudge(inner, path).judge_steps([R("fail please")])
    assert j.label is None
    CachedJudge(inner, path).judge_steps([R("fail please")])
    assert inner.calls == ["fail please", "fail please"] and len(JudgementCache(path)) == 0


def test_config_change_misses(tmp_path):
    path = tmp_path / "c.sqlite"
    CachedJudge(Counting(strict=False), path).judge_steps([R("<answer> 4 </answer>")])
    strict = Counting(strict=True)
    CachedJudge(strict, path).judge_steps([R("<answer> 4 </answer>")])
    assert strict.calls == ["<answer> 4 </answer>"]
    assert cache_key("a", [1]) != cache_key("b", [1]) and cache_key("a", [1]) != cache_key("a", [2])


def test_crash_keeps_committed_chunks(tmp_path):
    path = tmp_path / "c.sqlite"
    reqs = [R(f"<answer> {i} </answer>") for i in range(10)]
    with pytest.raises(KeyboardInterrupt):
        CachedJudge(Counting(crash_after=4), path, chunk_size=2).judge_steps(reqs)
    assert len(JudgementCache(path)) == 4  # two committed chunks of two
    resumed = Counting()
    out = CachedJudge(resumed, path, chunk_size=2).judge_steps(reqs)
    assert len(resumed.calls) == 6 and all(j.label for j in out)


def test_kind_follows_the_wrapped_judge_and_spec_strings(tmp_path):
    p = CachedJudge(Counting(), tmp_path / "a.sqlite")
    o = CachedJudge(Outcome(), tmp_path / "b.sqlite")
    assert isinstance(p, ProcessJudge) and not isinstance(p, OutcomeJudge) and isinstance(p, CachedJudge)
    assert isinstance(o, OutcomeJudge) and not isinstance(o, ProcessJudge)
    assert [j.label for j in o.judge_outcomes([OutcomeRequest(TASK, "4"), OutcomeRequest(TASK, "5")])] == [
        True,
        False,
    ]
    assert p.name == "counting" and p.config_id == Counting().config_id
    spec = CachedJudge(
        "swirl_env.rewards.judges.rule:RuleOutcomeJudge",
        tmp_path / "c.sqlite",
        judge_kwargs={"qa_metric": "em"},
    )
    assert isinstance(spec, OutcomeJudge) and spec.judge.qa_metric == "em"
    with pytest.raises(TypeError):
        CachedJudge(object(), tmp_path / "d.sqlite")
    with pytest.raises(ValueError, match="spec"):
        CachedJudge("no_colon", tmp_path / "d.sqlite")
    with pytest.raises(ValueError, match="path"):
        CachedJudge(Counting())


def test_file_is_sqlite_in_wal_mode(tmp_path):
    path = tmp_path / "c.sqlite"
    CachedJudge(Counting(), path).judge_steps([R("<answer> 4 </answer>")])
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM judgements").fetchone()[0] == 1


def _worker(path: str, start: int) -> None:
    CachedJudge(Counting(), path, chunk_size=3).judge_steps(
        [R(f"<answer> {i} </answer>") for i in range(start, start + 20)]
    )


def test_two_processes_share_one_cache(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(path, s)) for s in (0, 10)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(JudgementCache(path)) == 30


DAMAGED_ROWS = [
    "[1, 2]",
    "null",
    "42",
    '"GOOD"',
    "{",
    "[" * 100_000,
    "{}",
    '{"score": 1.0}',
    '{"label": "GOOD"}',  # an unknown label
    '{"label": "true"}',
    '{"label": 1}',
    '{"label": null}',  # failures are never stored; one found here is damage
    '{"label": true, "score": "high"}',
    '{"label": true, "score": true}',
    '{"label": true, "rationale": 7}',
    '{"label": false, "judge": ["x"]}',
    '{"label": false, "error": {}}',
    '{"label": true, "raw": 3}',
]


@pytest.mark.parametrize("body", DAMAGED_ROWS, ids=lambda b: b[:24])
def test_a_damaged_row_is_a_miss_judged_again_and_overwritten(tmp_path, body):
    path = tmp_path / "c.sqlite"
    req = R("<answer> 4 </answer>")
    first = CachedJudge(Counting(), path)
    first.judge_steps([req])
    key = first.key(req)
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE judgements SET judgement = ? WHERE key = ?", (body, key))
    inner = Counting()
    cached = CachedJudge(inner, path)
    (j,) = cached.judge_steps([req])
    assert inner.calls == ["<answer> 4 </answer>"] and j.label is True  # judged again
    assert cached.stats["damaged"] == 1 and cached.stats["hits"] == 0
    stored = con.execute("SELECT judgement FROM judgements WHERE key = ?", (key,)).fetchone()[0]
    assert json.loads(stored)["label"] is True  # the fresh judgement replaced the damaged row
    again = Counting()
    CachedJudge(again, path).judge_steps([req])
    assert again.calls == []


def test_rows_of_other_sqlite_types_are_misses(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = JudgementCache(path)
    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO judgements VALUES (?, 'j', ?, 0)",
            [("int", 7), ("real", 1.5), ("blob", b"\xff\xfe"), ("ok-blob", b'{"label": false}')],
        )
    found = cache.get_many(["int", "real", "blob", "ok-blob", "absent"])
    assert list(found) == ["ok-blob"] and found["ok-blob"].label is False and cache.damaged == 3
    assert judgement_from_row('{"label": true, "extra": 1}').label is True  # unknown fields pass


def test_text_that_utf8_cannot_encode_is_cached_and_read_back_exactly(tmp_path):
    path = tmp_path / "c.sqlite"
    req = R("<answer> 4 \ud83d </answer>")  # a lone surrogate from a model's reply

    class Echo(Counting):
        def judge_steps(self, requests):
            self.calls += [r.action for r in requests]
            return [Judgement(label=True, rationale="saw " + r.action, judge="echo") for r in requests]

    (j,) = CachedJudge(Echo(), path).judge_steps([req])
    inner = Echo()
    (again,) = CachedJudge(inner, path).judge_steps([req])
    assert inner.calls == [] and again.rationale == "saw <answer> 4 \ud83d </answer>" == j.rationale
    assert cache_key("c", "\ud83d") != cache_key("c", "\ud83e")
