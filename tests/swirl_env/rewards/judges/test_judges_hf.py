"""The local Hugging Face judge end to end on a tiny Llama built here (no download).

A tiny model is first taught, in a few dozen optimiser steps, to answer "Verdict: GOOD" to the math
prompts of this file and "Verdict: BAD" to its search prompts, in both modes. Then the judge must
route every request of a mixed, unevenly long batch to the right verdict (batching with left
padding, sorting by length and restoring order, parsing), and the soft score must be a probability
that does not depend on the batch it was computed in.
"""

from __future__ import annotations

import pytest
import torch

from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
from swirl_env.rewards.judges.base import Judgement, OutcomeRequest, ProcessRequest
from swirl_env.rewards.judges.hf import HFOutcomeJudge, HFProcessJudge
from swirl_env.rewards.prompts import JUDGE_PROMPTS, get_judge_prompt
from swirl_env.tasks.base import Task

MATH = Task("m", "Tom has 3 bags of 4 apples. How many apples?", ("12",), "gsm8k", "test")
QA = Task("s", "Who directed Jaws?", ("Steven Spielberg",), "hotpotqa", "dev")


def _math_req(i: int) -> ProcessRequest:
    ctx = [{"role": "user", "content": "Question: " + MATH.question}]
    ctx += [{"role": "assistant", "content": f"<math_exp> {k} * 4 </math_exp>"} for k in range(i)][:1]
    ctx += [{"role": "user", "content": "3 * 4 -> 12"}] if i else []
    return ProcessRequest(MATH, ctx, f"<math_exp> 3 * {i + 4} </math_exp>")


def _search_req(i: int) -> ProcessRequest:
    ctx = [{"role": "user", "content": "Question: " + QA.question}]
    return ProcessRequest(QA, ctx, "<search_query> Jaws film director" + " please" * i + " </search_query>")


MATH_REQS = [_math_req(0), _math_req(1)]
SEARCH_REQS = [_search_req(0), _search_req(3), _search_req(7)]
BATCH = [MATH_REQS[0], SEARCH_REQS[1], MATH_REQS[1], SEARCH_REQS[0], SEARCH_REQS[2]]


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    texts = [p.template for p in JUDGE_PROMPTS.values()] + ["Verdict: GOOD", "Verdict: BAD", "YES NO"]
    tok = build_tiny_tokenizer(texts, vocab_size=1200)
    model = build_tiny_model(tok, hidden_size=32, num_layers=2)
    examples = []
    for mode in ("generate", "score"):
        judge = HFProcessJudge(model, tok, mode=mode, judge_id="tiny")
        for req, good in [(r, True) for r in MATH_REQS] + [(r, False) for r in SEARCH_REQS]:
            word = "GOOD" if good else "BAD"
            reply = (
                f"Looks {'fine' if good else 'unsupported'}. Verdict: {word}"
                if mode == "generate"
                else f" {word}"
            )
            examples.append((judge.prompt_text(req), reply + tok.eos_token))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2)
    model.train()
    for _ in range(60):
        loss = 0.0
        for prompt, reply in examples:
            p = tok(prompt, add_special_tokens=False)["input_ids"]
            r = tok(reply, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([p + r])
            labels = torch.tensor([[-100] * len(p) + r])
            loss = loss + model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model, tok


def test_generate_mode_batches_parses_and_keeps_order(trained):
    model, tok = trained
    judge = HFProcessJudge(model, tok, mode="generate", batch_size=2, max_new_tokens=16, judge_id="tiny")
    out = judge.judge_steps(BATCH)
    assert [j.label for j in out] == [True, False, True, False, False], [j.raw for j in out]
    assert all(j.error is None and j.judge == "hf:tiny" for j in out)
    assert "Verdict" in out[0].raw and out[0].score == 1.0 and out[1].score == 0.0
    single = HFProcessJudge(model, tok, mode="generate", batch_size=1, max_new_tokens=16, judge_id="tiny")
    assert [j.raw for j in single.judge_steps(BATCH)] == [j.raw for j in out]


def test_generate_mode_knows_a_reply_cut_at_max_new_tokens(trained):
    model, tok = trained
    prompts = [get_judge_prompt("process-math-v1")] * 2
    texts = [HFProcessJudge(model, tok, judge_id="tiny").prompt_text(r) for r in MATH_REQS]
    short = HFProcessJudge(model, tok, mode="generate", max_new_tokens=2, judge_id="tiny")
    full = HFProcessJudge(model, tok, mode="generate", max_new_tokens=16, judge_id="tiny")
    assert [r[3] for r in short._run_batch(texts, prompts)] == [True, True]
    assert [r[3] for r in full._run_batch(texts, prompts)] == [False, False]  # ended with EOS


def test_score_mode_is_a_batch_invariant_probability(trained):
    model, tok = trained
    requests = BATCH
    one = HFProcessJudge(model, tok, mode="score", batch_size=1, judge_id="tiny").judge_steps(requests)
    many = HFProcessJudge(model, tok, mode="score", batch_size=5, judge_id="tiny").judge_steps(requests)
    for a, b in zip(one, many):
        assert 0.0 <= a.score <= 1.0 and a.label == (a.score >= 0.5)
        assert a.score == pytest.approx(b.score, abs=1e-4)
    assert one[0].score > 0.9 and one[3].score < 0.1
    assert "probability mass" in one[0].rationale


def test_threshold_moves_the_label(trained):
    model, tok = trained
    req = [_math_req(0)]
    score = HFProcessJudge(model, tok, mode="score", judge_id="tiny").judge_steps(req)[0].score
    strict = HFProcessJudge(model, tok, mode="score", threshold=1.0, judge_id="tiny").judge_steps(req)[0]
    assert strict.score == pytest.approx(score) and strict.label is (score >= 1.0)


def test_untrained_model_fails_loudly_never_silently_good():
    torch.manual_seed(1)
    tok = build_tiny_tokenizer(["Verdict: GOOD BAD"], vocab_size=300)
    model = build_tiny_model(tok, hidden_size=32, num_layers=1)
    judge = HFProcessJudge(model, tok, mode="generate", max_new_tokens=6, batch_size=3, judge_id="random")
    out = judge.judge_steps([_math_req(0), _search_req(1), _math_req(1)])
    for j in out:
        assert j.label is None and "verdict" in j.error and j.raw is not None


def test_prompt_too_long_is_a_failed_judgement_not_a_cut(trained):
    model, tok = trained
    judge = HFProcessJudge(model, tok, mode="score", max_prompt_tokens=20, judge_id="tiny")
    (j,) = judge.judge_steps([_math_req(0)])
    assert j.label is None and "max_prompt_tokens" in j.error


def test_outcome_judge_scores_and_skips_missing_answers(trained):
    model, tok = trained
    judge = HFOutcomeJudge(model, tok, mode="score", judge_id="tiny")
    out = judge.judge_outcomes(
        [OutcomeRequest(MATH, "12"), OutcomeRequest(MATH, None), OutcomeRequest(QA, "x")]
    )
    assert 0.0 <= out[0].score <= 1.0 and out[0].label is not None
    assert out[1] == Judgement(label=False, score=0.0, rationale="no final answer", judge="hf:tiny")
    assert "YES" in judge.prompt_text(OutcomeRequest(MATH, "12"))


def test_plain_text_prompt_without_chat_template(trained):
    model, tok = trained
    judge = HFProcessJudge(model, tok, mode="score", use_chat_template=False, judge_id="tiny")
    text = judge.prompt_text(_math_req(0))
    assert text.endswith("Verdict:") and "<|user|>" not in text
    assert 0.0 <= judge.judge_steps([_math_req(0)])[0].score <= 1.0


def test_from_pretrained_loads_a_saved_model_by_path(trained, tmp_path):
    model, tok = trained
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    judge = HFProcessJudge.from_pretrained(str(tmp_path), mode="score", torch_dtype=None)
    ref = HFProcessJudge(model, tok, mode="score", judge_id="tiny").judge_steps([_math_req(0)])[0]
    got = judge.judge_steps([_math_req(0)])[0]
    assert got.score == pytest.approx(ref.score, abs=1e-5)
    assert str(tmp_path) in judge.config_id


def test_bad_arguments_are_clear_errors(trained):
    model, tok = trained
    with pytest.raises(ValueError, match="mode"):
        HFProcessJudge(model, tok, mode="sample")
    with pytest.raises(ValueError, match="same"):
        HFProcessJudge(model, tok, mode="score", verdict_words=(" GOOD", " GOODS"))
    with pytest.raises(ValueError, match="outcome prompt"):
        HFProcessJudge(model, tok, prompt="outcome-v1")
    with pytest.raises(TypeError):
        HFProcessJudge(model, tok, judge_id="t").judge_steps([OutcomeRequest(MATH, "1")])
