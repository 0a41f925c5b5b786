"""Judge prompts (versions, rendering, no gold answer in process prompts) and verdict parsing."""

from __future__ import annotations

import pytest

from swirl_env.rewards.judges.base import Judgement, OutcomeRequest, ProcessRequest, request_to_dict
from swirl_env.rewards.prompts import (
    JUDGE_PROMPTS,
    JudgePrompt,
    format_conversation,
    get_judge_prompt,
    parse_verdict,
    question_of,
    select_process_prompt,
)
from swirl_env.tasks.base import Task

MATH = Task("m", "Tom has 3 bags of 4 apples. How many?", ("12",), "gsm8k", "test")
QA = Task("s", "Who directed Jaws?", ("Steven Spielberg",), "hotpotqa", "dev")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The query is useful.\nVerdict: GOOD", True),
        ("Verdict: **BAD**", False),
        ("**Verdict:** good", True),
        ("Final verdict - `BAD`", False),
        ("It looks good at first, but the answer is not supported. BAD", False),
        ("Not bad. The step is GOOD.", True),
        ("good ... bad ... good", True),  # any case, last one wins
        ("Verdict: GOOD\nOn reflection:\nVerdict: BAD", False),
        ("GOODS and BADGE are not verdicts", None),
        ("", None),
        (None, None),
        ("I cannot decide.", None),
    ],
)
def test_parse_process_verdicts(text, expected):
    assert parse_verdict(text, "GOOD", "BAD") is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("There is no doubt both name the same man. Verdict: YES", True),
        ("Yes, they look alike, but the years differ.\nVerdict: NO", False),
        ("The answer is correct. YES. There is no difference in meaning.", True),  # capitals beat 'no'
        ("no", False),
        ("**Answer:** Yes", True),
        ("NOTE: unsure", None),
    ],
)
def test_parse_outcome_verdicts(text, expected):
    assert parse_verdict(text, "YES", "NO") is expected


def test_versions_are_registered_and_unknown_ones_are_clear_errors():
    assert {"process-search-v1", "process-math-v1", "outcome-v1"} <= set(JUDGE_PROMPTS)
    with pytest.raises(KeyError, match="known"):
        get_judge_prompt("process-v0")
    p = JUDGE_PROMPTS["outcome-v1"]
    assert get_judge_prompt(p) is p and (p.positive, p.negative) == ("YES", "NO")


def test_process_prompt_shows_question_conversation_last_message_not_gold():
    ctx = [
        {"role": "user", "content": "Long instructions...\n\nQuestion: " + QA.question},
        {"role": "assistant", "content": "<search_query> Jaws </search_query>"},
        {"role": "user", "content": "Jaws -> Jaws is a 1975 film directed by Steven Spielberg."},
    ]
    req = ProcessRequest(QA, ctx, "<answer> Steven Spielberg </answer>")
    prompt = select_process_prompt(req)
    assert prompt.version == "process-search-v1"
    (msg,) = prompt.render(req)
    body = msg["content"]
    assert "Question: Who directed Jaws?" in body and "Long instructions" not in body
    assert "Assistant: <search_query> Jaws </search_query>" in body
    assert "Result: Jaws -> Jaws is a 1975 film" in body
    assert body.rstrip().endswith('"Verdict: GOOD" or "Verdict: BAD".')
    assert "Last message of the assistant (judge this one):\n<answer> Steven Spielberg </answer>" in body
    # the gold answer of the task is never shown to a process judge (beyond what results contain)
    req2 = ProcessRequest(
        Task("x", "Who?", ("SECRET GOLD",), "hotpotqa", "dev"), ctx[:1], "<answer> a </answer>"
    )
    assert "SECRET GOLD" not in prompt.render(req2)[0]["content"]


def test_prompt_selection_and_overrides():
    ctx = [{"role": "user", "content": "Question: 1+1?"}]
    no_task_math = ProcessRequest(None, ctx, "<math_exp> 1 + 1 </math_exp>")
    no_task_search = ProcessRequest(None, ctx, "<search_query> one </search_query>")
    assert select_process_prompt(no_task_math).version == "process-math-v1"
    assert select_process_prompt(no_task_search).version == "process-search-v1"
    assert (
        select_process_prompt(ProcessRequest(MATH, ctx, "<answer> 12 </answer>")).version == "process-math-v1"
    )
    forced = select_process_prompt(no_task_math, "process-search-v1")
    assert forced.version == "process-search-v1"
    custom = JudgePrompt(
        "my-math-v1", "process", "{question}|{conversation}|{action}|{ending}", "GOOD", "BAD"
    )
    assert select_process_prompt(no_task_math, {"math": custom}) is custom
    with pytest.raises(ValueError, match="domains"):
        select_process_prompt(no_task_math, {"physics": custom})


def test_score_mode_ending_and_question_fallbacks():
    p = JUDGE_PROMPTS["process-math-v1"]
    req = ProcessRequest(
        None, [{"role": "user", "content": "Do it.\nQuestion: What is 2+2?"}], "<answer>4</answer>"
    )
    body = p.render(req, "score")[0]["content"]
    assert "Reply with your verdict only" in body and "First explain" not in body
    assert question_of(None, req.context) == "What is 2+2?"
    assert question_of(None, []) == "(unknown)"
    assert format_conversation(req.context) == "(no earlier steps)"
    with pytest.raises(ValueError):
        p.ending("sample")


def test_outcome_prompt_lists_all_gold_answers():
    task = Task("q", "How much?", ("10", "ten dollars"), "gsm8k", "test")
    body = JUDGE_PROMPTS["outcome-v1"].render(OutcomeRequest(task, "$10.00"))[0]["content"]
    assert "Answer key: 10 OR ten dollars" in body and "Predicted answer: $10.00" in body
    assert "10, 10.00, $10" in body


def test_judgement_records_and_request_serialisation():
    j = Judgement.failure("timeout", judge="j", raw="...")
    assert not j.ok and j.to_record() == {
        "label": None,
        "score": None,
        "rationale": "",
        "judge": "j",
        "error": "timeout",
    }
    assert Judgement.from_dict(j.to_dict()) == j
    r = ProcessRequest(
        MATH, [{"role": "user", "content": "Q"}], "a", step={"kind": "answer", "process": {"x": 1}}
    )
    d = request_to_dict(r)
    assert "process" not in d["step"] and d["task"]["id"] == "m" and not r.executed
    assert ProcessRequest(None, [], "a", step={"tool_result": "4"}).executed
    with pytest.raises(TypeError):
        request_to_dict("nope")  # type: ignore[arg-type]
