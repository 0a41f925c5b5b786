"""Single-pass multi-step losses equal the per-sub-trajectory computation (log-probs, NLL, gradients)."""

from __future__ import annotations

import pytest
import torch
import toys

from swirl_algos.learners.sft import build_sft_dataset, group_conversations
from swirl_algos.learners.stepwise import (
    StepwiseSequence,
    collate_sequences,
    encode_substeps,
    encode_trajectory,
    iter_batches,
    step_logprobs,
    stepwise_nll,
    truncate_sequence,
)
from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

TEXTS = ["<math_exp> 12 * 7 </math_exp> 12 * 7 -> 84 <answer> 84 </answer> What is the total? café ünïcode"]


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer(TEXTS, vocab_size=320)


@pytest.fixture(scope="module")
def model(tok):
    """Float64 so that equality is checked far below the 1e-5 bar, not at float32 rounding level."""
    return build_tiny_model(tok, hidden_size=48, num_layers=2, num_heads=4, seed=1).double().eval()


def conversation(k: int, seed: int = 0) -> list[dict[str, str]]:
    """A K-action episode: K-1 calculator calls with results, then an answer."""
    msgs = [{"role": "user", "content": f"Question {seed}: what is 12 * {k} + café? Use the calculator."}]
    for i in range(k - 1):
        msgs.append(
            {"role": "assistant", "content": f"Step {i}: I compute. <math_exp> 12 * {i + seed} </math_exp>"}
        )
        msgs.append({"role": "user", "content": f"12 * {i + seed} -> {12 * (i + seed)}"})
    msgs.append({"role": "assistant", "content": f"So the answer is <answer> {12 * k} </answer>"})
    return msgs


def naive_step_logprobs(model, tok, msgs, **kw) -> torch.Tensor:
    """Reference: every sub-trajectory (s_i, a_i) encoded and run on its own."""
    out = []
    for seq in encode_substeps(tok, msgs, **kw):
        lp, _ = step_logprobs(model, collate_sequences([seq], pad_token_id=tok.pad_token_id))
        out.append(lp[0])
    return torch.stack(out)


@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_single_pass_equals_per_subtrajectory_logprobs(model, tok, k):
    msgs = conversation(k)
    seqs = encode_trajectory(tok, msgs)
    assert len(seqs) == 1, "the tiny chat template is prefix-consistent: one sequence per trajectory"
    assert [s.step_index for s in seqs[0].spans] == list(range(k))
    subs = encode_substeps(tok, msgs)
    # the single sequence is exactly the last sub-trajectory, spans identical to the per-step ones
    assert seqs[0].input_ids == subs[-1].input_ids
    assert [(s.start, s.end) for s in seqs[0].spans] == [(s.spans[0].start, s.spans[0].end) for s in subs]
    with torch.no_grad():
        single, counts = step_logprobs(model, collate_sequences(seqs, pad_token_id=tok.pad_token_id))
        naive = naive_step_logprobs(model, tok, msgs)
    assert torch.allclose(single, naive, atol=1e-9, rtol=0), (single - naive).abs().max()
    assert counts.tolist() == [s.spans[0].num_tokens for s in subs]
    assert bool((single < 0).all())


def test_batched_padded_trajectories_equal_naive(model, tok):
    """Several trajectories of different lengths in one padded batch, plus weights and step subsets."""
    convs = [conversation(k, seed=k) for k in (2, 5, 3)]
    seqs, ref = [], []
    for n, msgs in enumerate(convs):
        assistant = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
        keep = assistant[::2] if len(assistant) > 2 else assistant  # step-level filtering: some steps dropped
        steps = [assistant.index(i) for i in keep]
        seqs += encode_trajectory(tok, msgs, keep, step_indices=steps, key=n)
        with torch.no_grad():
            ref.append(naive_step_logprobs(model, tok, msgs, action_indices=keep, step_indices=steps))
    batch = collate_sequences(seqs, pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        single, _ = step_logprobs(model, batch)
    assert torch.allclose(single, torch.cat(ref), atol=1e-9, rtol=0)
    assert batch.steps[:2] == [(0, 0), (0, 1)]
    assert batch.num_tokens == sum(len(s.input_ids) for s in seqs)


def test_float32_per_token_logprobs_match(tok):
    """In float32 (the training dtype) every per-token log-prob agrees within 1e-5."""
    from swirl_algos.learners.stepwise import token_logprobs

    model = build_tiny_model(tok, hidden_size=48, num_layers=2, seed=1).eval()
    msgs = conversation(5)
    single = collate_sequences(encode_trajectory(tok, msgs), pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        lp = token_logprobs(model, single)[0]
        for k, sub in enumerate(encode_substeps(tok, msgs)):
            s = sub.spans[0]
            ref = token_logprobs(model, collate_sequences([sub], pad_token_id=tok.pad_token_id))[0]
            assert torch.allclose(lp[s.start - 1 : s.end - 1], ref[s.start - 1 : s.end - 1], atol=1e-5), k


def test_nll_and_gradients_match_per_step_sft(tok):
    """The SFT loss (token mean over all kept action tokens) and its gradient are the same."""
    model = build_tiny_model(tok, hidden_size=32, num_layers=2, seed=3).double()
    msgs = conversation(4, seed=2)
    weights = [1.0, 0.5, 2.0, 1.0]

    single = collate_sequences(encode_trajectory(tok, msgs, weights=weights), pad_token_id=tok.pad_token_id)
    model.zero_grad()
    loss_single = stepwise_nll(model, single)
    loss_single.backward()
    g_single = [p.grad.clone() for p in model.parameters()]

    per_step = collate_sequences(encode_substeps(tok, msgs, weights=weights), pad_token_id=tok.pad_token_id)
    model.zero_grad()
    loss_naive = stepwise_nll(model, per_step)
    loss_naive.backward()
    g_naive = [p.grad.clone() for p in model.parameters()]

    assert abs(loss_single.item() - loss_naive.item()) < 1e-10
    assert all(torch.allclose(a, b, atol=1e-8) for a, b in zip(g_single, g_naive))
    assert single.num_tokens < per_step.num_tokens
    for reduction in ("step_mean", "sum"):
        with torch.no_grad():
            a, b = (
                stepwise_nll(model, single, reduction=reduction),
                stepwise_nll(model, per_step, reduction=reduction),
            )
        assert abs(a.item() - b.item()) < 1e-8 * max(1.0, abs(b.item()))
    with pytest.raises(ValueError, match="unknown reduction"):
        stepwise_nll(model, single, reduction="mean")


def test_prefix_inconsistent_template_is_split_and_still_exact(tok, model):
    """A template that rewrites earlier assistant turns (as reasoning templates do) breaks the prefix
    property; those actions get their own sequences and the result still equals the naive one."""
    import copy

    tok2 = copy.deepcopy(tok)
    tok2.chat_template = (
        "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' }}"
        "{% if message['role'] == 'assistant' and not loop.last %}{{ '[earlier step]<|end|>' }}"
        "{% else %}{{ message['content'] + '<|end|>' }}{% endif %}{{ '\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    )
    msgs = conversation(3)
    seqs = encode_trajectory(tok2, msgs)
    assert len(seqs) == 3  # no action's tokens survive into the later conversation
    with torch.no_grad():
        single, _ = step_logprobs(model, collate_sequences(seqs, pad_token_id=tok.pad_token_id))
        naive = naive_step_logprobs(model, tok2, msgs)
    order = [s.spans[0].step_index for s in seqs]
    assert torch.allclose(single, naive[order], atol=1e-9)


def test_encoding_validates_input(tok):
    msgs = conversation(2)
    with pytest.raises(ValueError, match="not an assistant action"):
        encode_trajectory(tok, msgs, [0])
    with pytest.raises(IndexError):
        encode_trajectory(tok, msgs, [9])
    with pytest.raises(ValueError, match="duplicate"):
        encode_trajectory(tok, msgs, [1, 1])
    with pytest.raises(ValueError, match="one entry per action"):
        encode_trajectory(tok, msgs, weights=[1.0])
    with pytest.raises(ValueError, match="no sequences"):
        collate_sequences([], pad_token_id=0)


def test_truncation_cuts_spans_like_keep_start(tok):
    seq = encode_trajectory(tok, conversation(3))[0]
    first, second = seq.spans[0], seq.spans[1]
    cut = truncate_sequence(seq, second.start + 2)
    assert [s.step_index for s in cut.spans] == [0, 1]
    assert cut.spans[0] == first and cut.spans[1].end == second.start + 2
    assert truncate_sequence(seq, first.start) is None
    assert truncate_sequence(seq, None) is seq
    labels = cut.labels()
    assert labels[first.start : first.end] == cut.input_ids[first.start : first.end]
    assert labels[: first.start] == [-100] * first.start


def test_iter_batches_respects_token_budget(tok):
    seqs = [s for k in (1, 2, 3, 4) for s in encode_trajectory(tok, conversation(k, seed=k))]
    batches = iter_batches(seqs, max_tokens=400, pad_token_id=tok.pad_token_id)
    assert sum(b.input_ids.shape[0] for b in batches) == len(seqs)
    assert all(b.input_ids.numel() <= 400 or b.input_ids.shape[0] == 1 for b in batches)


def _records(msgs: list[dict], tid: str, keep: list[int] | None = None) -> list[dict]:
    recs = []
    assistant = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    for k, i in enumerate(assistant):
        if keep is not None and k not in keep:
            continue
        recs.append(
            {
                "prompt": msgs[:i],
                "completion": [msgs[i]],
                "trajectory_id": tid,
                "step_index": k,
                "num_steps": len(assistant),
            }
        )
    return recs


def test_sft_single_pass_dataset_matches_per_step_records(tok):
    """Step records are regrouped into conversations; dropped steps are context, not labels."""
    msgs = conversation(4, seed=7)
    recs = _records(msgs, "a", keep=[0, 2]) + _records(conversation(2, seed=1), "b")
    groups = {tid: (m, idx) for tid, m, idx, _ in group_conversations(recs)}
    assert groups["a"][1] == [1, 5] and len(groups["a"][0]) == 6  # up to the last kept action
    stats = {}
    from collections import Counter

    stats = Counter()
    ds = build_sft_dataset(recs, tok, mode="single_pass", stats=stats)
    assert len(ds) == 2 and stats["steps"] == 4 and stats["split_sequences"] == 0
    row = ds[0]
    expected = StepwiseSequence(
        encode_substeps(tok, msgs[:6], [1, 5])[-1].input_ids,
        encode_trajectory(tok, msgs[:6], [1, 5])[0].spans,
    ).labels()
    assert row["labels"] == expected
    # a record that contradicts its trajectory is kept apart, not merged
    bad = dict(recs[1], prompt=[{"role": "user", "content": "something else"}])
    groups = group_conversations([recs[0], bad])
    assert len(groups) == 2
    per_step = build_sft_dataset(recs, tok, mode="per_step")
    assert per_step.column_names == ["prompt", "completion"] and len(per_step) == 4


def test_trl_per_step_tokenization_equals_encode_substeps(tok, tmp_path):
    """TRL's SFTTrainer tokenizes a prompt/completion record exactly as encode_substeps does, so the
    single-pass path trains on the same tokens and labels as TRL's per-step path."""
    msgs = conversation(3, seed=4)
    recs = _records(msgs, "t")
    model = build_tiny_model(tok, hidden_size=16, num_layers=1)
    trainer = toys.trl_sft_trainer(model, tok, build_sft_dataset(recs, tok, mode="per_step"), tmp_path)
    trl_rows = trainer.train_dataset
    ours = encode_substeps(tok, msgs)
    assert len(trl_rows) == len(ours)
    for row, seq in zip(trl_rows, ours):
        assert row["input_ids"] == seq.input_ids
        assert row["labels"] == seq.labels()
