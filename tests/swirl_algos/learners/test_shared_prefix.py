"""Shared-prefix sampling and scoring (swirl_algos.learners.shared_prefix) and the native SWiRL engine."""

from __future__ import annotations

import pytest
import torch

from swirl_algos.learners.shared_prefix import branch_logprobs, end_of_turn_ids, sample_branches
from swirl_algos.learners.swirl_trainer import group_advantages
from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer

TEXTS = ["Ann has 7 apples. <math_exp> 7 + 5 </math_exp> 7 + 5 -> 12 <answer> 12 </answer>"] * 3


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer(TEXTS, vocab_size=300)


def _states(tok):
    # states of different lengths: left padding is exercised
    return [
        tok.encode("Ann has 7 apples. She buys 5 more."),
        tok.encode("7"),
        tok.encode("Ann has 7 apples. <math_exp> 7 + 5 </math_exp> 7 + 5 -> 12 and then some more words"),
    ]


def _unshared(model, prefix, completion, temperature):
    ids = torch.tensor([list(prefix) + list(completion)])
    logits = model(input_ids=ids).logits[0, len(prefix) - 1 : -1].float() / temperature
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(completion)[:, None]).squeeze(-1)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_branch_logprobs_equal_the_unshared_computation(tok, temperature):
    model = build_tiny_model(tok, hidden_size=32, num_layers=2, seed=1).eval()
    states, g = _states(tok), 3
    gen = torch.Generator().manual_seed(0)
    comps = [
        torch.randint(3, 300, (int(n),), generator=gen).tolist()
        for n in torch.randint(1, 9, (9,), generator=gen)
    ]
    logps, mask = branch_logprobs(
        model, states, comps, num_generations=g, pad_token_id=tok.pad_token_id, temperature=temperature
    )
    assert logps.shape == mask.shape == (9, max(len(c) for c in comps))
    for r, c in enumerate(comps):
        ref = _unshared(model, states[r // g], c, temperature)
        assert mask[r].sum() == len(c)
        torch.testing.assert_close(logps[r, : len(c)], ref, atol=1e-5, rtol=0)
        assert torch.all(logps[r, len(c) :] == 0)


def test_branch_gradients_equal_the_unshared_gradients(tok):
    model = build_tiny_model(tok, hidden_size=32, num_layers=2, seed=2)
    states, g = _states(tok)[:2], 2
    comps = [[10, 11, 12], [13], [14, 15], [16, 17, 18, 19]]
    weights = torch.tensor([1.0, -0.5, 2.0, 0.25])
    logps, mask = branch_logprobs(model, states, comps, num_generations=g, pad_token_id=tok.pad_token_id)
    (weights * (logps * mask).sum(-1)).sum().backward()
    shared = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    sum(
        w * _unshared(model, states[r // g], c, 1.0).sum() for r, (w, c) in enumerate(zip(weights, comps))
    ).backward()
    for a, p in zip(shared, model.parameters()):
        torch.testing.assert_close(a, p.grad, atol=1e-5, rtol=1e-4)


def test_sampling_stops_per_state_and_counts_tokens(tok):
    model = build_tiny_model(tok, hidden_size=32, num_layers=1, seed=3)
    states = _states(tok)

    def sample():  # a stop string the random model emits often for the first state, none for the others
        return sample_branches(
            model,
            tok,
            states,
            num_generations=4,
            max_new_tokens=12,
            stop_strings=[["e"], [], []],
            generator=torch.Generator().manual_seed(0),
        )

    out = sample()
    assert len(out.completions) == 12
    for r, ids in enumerate(out.completions):
        text = tok.decode(ids, skip_special_tokens=True)
        if out.stopped[r]:
            assert r < 4 and "e" in text and "e" not in tok.decode(ids[:-1], skip_special_tokens=True)
        assert out.stopped[r] + out.ended[r] + out.truncated[r] == 1
        if out.truncated[r]:
            assert len(ids) == 12
    assert any(out.stopped[:4])
    assert out.tokens_processed == sum(map(len, states)) + sum(map(len, out.completions))
    # same generator seed, same samples; the greedy setting is deterministic
    assert sample().completions == out.completions
    greedy = sample_branches(model, tok, states, num_generations=2, max_new_tokens=5, temperature=0)
    assert greedy.completions[0] == greedy.completions[1]


def test_greedy_branches_are_the_argmax_decode_and_leave_the_samples_alone(tok):
    model = build_tiny_model(tok, hidden_size=32, num_layers=1, seed=3)
    states = _states(tok)

    def sample(greedy_branches):
        return sample_branches(
            model, tok, states, num_generations=4, max_new_tokens=8, temperature=1.5,
            generator=[torch.Generator().manual_seed(i) for i in range(len(states))],
            greedy_branches=greedy_branches,
        ).completions  # fmt: skip

    plain, mixed = sample(0), sample(1)
    greedy = sample_branches(model, tok, states, num_generations=1, max_new_tokens=8, temperature=0)
    for i in range(len(states)):
        assert mixed[4 * i] == greedy.completions[i]  # branch 0 of each state: the greedy action
        # every row draws at every step, so the sampled branches get the same draws as without
        assert mixed[4 * i + 1 : 4 * i + 4] == plain[4 * i + 1 : 4 * i + 4]
    assert len({tuple(c) for c in plain}) > len(states)  # the samples do differ at T=1.5
    with pytest.raises(ValueError, match="greedy_branches"):
        sample(5)


def test_sampled_actions_follow_the_model_distribution(tok):
    """The first sampled token's frequencies match the unshared next-token distribution."""
    model = build_tiny_model(tok, hidden_size=16, num_layers=1, seed=4).eval()
    state = tok.encode("Ann has 7 apples.")
    out = sample_branches(
        model,
        tok,
        [state],
        num_generations=4000,
        max_new_tokens=1,
        temperature=2.0,
        generator=torch.Generator().manual_seed(1),
    )
    first = torch.tensor([c[0] for c in out.completions])
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=torch.tensor([state])).logits[0, -1] / 2.0, -1)
    top = probs.argsort(descending=True)[:5]
    for t in top:
        freq = (first == t).float().mean()
        assert (
            abs(float(freq) - float(probs[t])) < 4 * float((probs[t] * (1 - probs[t]) / 4000) ** 0.5) + 1e-3
        )


def test_end_of_turn_is_the_chat_templates_suffix(tok):
    ids = end_of_turn_ids(tok)
    assert tok.decode(ids) == "<|end|>\n" and ids[0] == tok.eos_token_id


def test_group_advantages_leave_one_out_and_failures():
    r = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, float("nan"), 0.0, 1.0]])
    adv = group_advantages(r, "rloo")
    torch.testing.assert_close(adv[0], torch.tensor([1.0, -1 / 3, -1 / 3, -1 / 3]))
    assert torch.all(adv[1] == 0)
    torch.testing.assert_close(adv[2], torch.tensor([0.5, 0.0, -1.0, 0.5]))  # NaN out of the baseline
    norm = group_advantages(r[:1], "group_norm")
    assert norm[0, 0] > 0 and torch.allclose(norm.sum(), torch.tensor(0.0), atol=1e-5)
    with pytest.raises(ValueError):
        group_advantages(r, "ppo")
    # positive-sample reinforcement: the negative advantages scaled, the positive ones and the
    # failures untouched
    half = group_advantages(r, "rloo", negative_scale=0.5)
    torch.testing.assert_close(half[0], torch.tensor([1.0, -1 / 6, -1 / 6, -1 / 6]))
    torch.testing.assert_close(half[2], torch.tensor([0.5, 0.0, -0.5, 0.5]))
    assert torch.all(group_advantages(r, "rloo", negative_scale=0.0) >= 0)
    torch.testing.assert_close(
        group_advantages(r, "rloo", negative_scale=3.0)[0], torch.tensor([1.0, -1.0, -1.0, -1.0])
    )
