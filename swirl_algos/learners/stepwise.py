"""Single-pass multi-step losses: all step losses of a trajectory from ONE forward pass.

A trajectory with K actions gives K sub-trajectories ``(s_i, a_i)``, and every state is a prefix of
the next one (``s_{i+1} = s_i + a_i + tool result``). Computing the loss of each sub-trajectory
separately re-encodes the shared prefix K times: ``sum_i |s_i + a_i|`` tokens, quadratic in K.
A causal language model gives the same per-token log-probabilities for the whole conversation in
one pass over ``|s_K + a_K|`` tokens, provided the tokenization of each sub-trajectory is a prefix
of the tokenization of the full conversation. This module

* tokenizes a conversation once per action prefix (cheap, no model call), finds each action's token
  span exactly as the per-step path would (``prompt + generation prompt`` vs ``prompt + action``,
  the convention TRL's trainers use) and CHECKS the prefix property token by token;
* groups the actions whose sub-trajectory is a token prefix of the full conversation into one
  sequence; an action whose tokens are not (templates that rewrite earlier turns, BPE merges across
  the boundary) gets its own sequence, so the result always equals the per-sub-trajectory one;
* pads sequences into a batch that records, for every target token, which step it belongs to;
* computes per-token / per-step log-probabilities and weighted NLL or policy-gradient losses.

Example:
    >>> from swirl_algos.tiny import build_tiny_tokenizer, build_tiny_model
    >>> tok = build_tiny_tokenizer(["<answer> 4 </answer> 2 + 2 -> 4"], vocab_size=300)
    >>> model = build_tiny_model(tok, hidden_size=32, num_layers=1)
    >>> msgs = [{"role": "user", "content": "2+2?"},
    ...         {"role": "assistant", "content": "<math_exp> 2+2 </math_exp>"},
    ...         {"role": "user", "content": "2+2 -> 4"},
    ...         {"role": "assistant", "content": "<answer> 4 </answer>"}]
    >>> seqs = encode_trajectory(tok, msgs)
    >>> len(seqs), [s.step_index for s in seqs[0].spans]
    (1, [0, 1])
    >>> batch = collate_sequences(seqs, pad_token_id=tok.pad_token_id)
    >>> step_logps, counts = step_logprobs(model, batch)
    >>> step_logps.shape
    torch.Size([2])
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

logger = logging.getLogger(__name__)

Message = Mapping[str, Any]


# ---------------------------------------------------------------------------------------------- encoding
def encode_messages(
    tokenizer: Any,
    messages: Sequence[Message],
    *,
    add_generation_prompt: bool = False,
    chat_template_kwargs: Mapping[str, Any] | None = None,
) -> list[int]:
    """Token ids of ``messages`` rendered with the tokenizer's chat template.

    Example:
        >>> from swirl_algos.tiny import build_tiny_tokenizer
        >>> tok = build_tiny_tokenizer([], vocab_size=300)
        >>> ids = encode_messages(tok, [{"role": "user", "content": "hi"}], add_generation_prompt=True)
        >>> tok.decode(ids).endswith("<|assistant|>\\n")
        True
    """
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "the tokenizer has no chat template; set tokenizer.chat_template (multi-step data is conversational)"
        )
    out = tokenizer.apply_chat_template(
        [dict(m) for m in messages],
        add_generation_prompt=add_generation_prompt,
        tokenize=True,
        **dict(chat_template_kwargs or {}),
    )
    if hasattr(out, "keys"):
        out = out["input_ids"]
    if out and isinstance(out[0], list):  # some tokenizers return a batch of one
        out = out[0]
    return [int(t) for t in out]


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(frozen=True)
class StepSpan:
    """Token span ``[start, end)`` of one action inside an encoded sequence.

    ``start`` is the first action token (where the tokenized state + generation prompt and the
    tokenized state + action diverge) and ``end`` is one past the last token of the rendered
    action turn (including the template's end-of-turn tokens, as in TRL's prompt-completion path).
    """

    step_index: int
    start: int
    end: int
    weight: float = 1.0

    @property
    def num_tokens(self) -> int:
        return self.end - self.start


@dataclass
class StepwiseSequence:
    """One token sequence and the action spans trained from it.

    Attributes:
        input_ids: the tokens (the full conversation up to the last action it carries).
        spans: the actions scored on this sequence.
        key: an identifier of the trajectory the sequence comes from (for grouping/diagnostics).
    """

    input_ids: list[int]
    spans: list[StepSpan] = field(default_factory=list)
    key: Hashable = None

    @property
    def num_action_tokens(self) -> int:
        return sum(s.num_tokens for s in self.spans)

    def labels(self, ignore_index: int = -100) -> list[int]:
        """``input_ids`` with every non-action token set to ``ignore_index`` (HF causal-LM labels)."""
        labels = [ignore_index] * len(self.input_ids)
        for s in self.spans:
            labels[s.start : s.end] = self.input_ids[s.start : s.end]
        return labels


def _action_indices(messages: Sequence[Message], action_indices: Sequence[int] | None) -> list[int]:
    if action_indices is None:
        action_indices = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    out = sorted(int(i) for i in action_indices)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate action indices: {list(action_indices)}")
    for i in out:
        if not 0 <= i < len(messages):
            raise IndexError(f"action index {i} out of range for {len(messages)} messages")
        if messages[i].get("role") != "assistant":
            raise ValueError(f"message {i} is a {messages[i].get('role')!r} turn, not an assistant action")
    return out


def encode_substeps(
    tokenizer: Any,
    messages: Sequence[Message],
    action_indices: Sequence[int] | None = None,
    *,
    weights: Sequence[float] | None = None,
    step_indices: Sequence[int] | None = None,
    key: Hashable = None,
    chat_template_kwargs: Mapping[str, Any] | None = None,
) -> list[StepwiseSequence]:
    """The per-sub-trajectory reference encoding: one sequence per action ``(s_i, a_i)``.

    Args:
        tokenizer: a tokenizer with a chat template.
        messages: the full conversation.
        action_indices: indices in ``messages`` of the actions to score (default: every assistant turn).
        weights: one loss weight per action (default 1.0).
        step_indices: the step number of each action (default 0, 1, 2... in order).
        key: trajectory identifier copied onto each sequence.
        chat_template_kwargs: extra arguments for ``apply_chat_template``.
    """
    idx = _action_indices(messages, action_indices)
    weights = [1.0] * len(idx) if weights is None else [float(w) for w in weights]
    steps = list(range(len(idx))) if step_indices is None else [int(s) for s in step_indices]
    if len(weights) != len(idx) or len(steps) != len(idx):
        raise ValueError("weights and step_indices need one entry per action")
    out = []
    for m, w, s in zip(idx, weights, steps):
        prompt = encode_messages(
            tokenizer, messages[:m], add_generation_prompt=True, chat_template_kwargs=chat_template_kwargs
        )
        full = encode_messages(tokenizer, messages[: m + 1], chat_template_kwargs=chat_template_kwargs)
        start = common_prefix_length(prompt, full)
        if start >= len(full):
            raise ValueError(f"action at message {m} renders to no tokens")
        out.append(StepwiseSequence(full, [StepSpan(s, start, len(full), w)], key))
    return out


def encode_trajectory(
    tokenizer: Any,
    messages: Sequence[Message],
    action_indices: Sequence[int] | None = None,
    *,
    weights: Sequence[float] | None = None,
    step_indices: Sequence[int] | None = None,
    key: Hashable = None,
    chat_template_kwargs: Mapping[str, Any] | None = None,
) -> list[StepwiseSequence]:
    """Encode a conversation for a single pass over all its actions.

    Every action whose sub-trajectory tokens are a prefix of a longer encoded sequence is scored on
    that sequence; normally the whole trajectory is ONE sequence. Arguments as in
    :func:`encode_substeps`, whose result this equals token for token (same spans, same context).

    Returns:
        The sequences (one when tokenization is prefix-consistent), longest first.
    """
    subs = encode_substeps(
        tokenizer,
        messages,
        action_indices,
        weights=weights,
        step_indices=step_indices,
        key=key,
        chat_template_kwargs=chat_template_kwargs,
    )
    sequences: list[StepwiseSequence] = []
    for sub in reversed(subs):  # the latest action has the longest context
        span = sub.spans[0]
        for seq in sequences:
            n = len(sub.input_ids)
            if n <= len(seq.input_ids) and seq.input_ids[:n] == sub.input_ids:
                seq.spans.insert(0, span)
                break
        else:
            if sequences:
                logger.debug(
                    "step %d of %r is not a token prefix of the later conversation; scored separately",
                    span.step_index,
                    key,
                )
            sequences.append(StepwiseSequence(list(sub.input_ids), [span], key))
    return sequences


def truncate_sequence(seq: StepwiseSequence, max_length: int | None) -> StepwiseSequence | None:
    """Keep the first ``max_length`` tokens; spans are cut or dropped like a per-step ``keep_start``
    truncation would. Returns ``None`` if no action token is left."""
    if max_length is None or len(seq.input_ids) <= max_length:
        return seq
    spans = [
        StepSpan(s.step_index, s.start, min(s.end, max_length), s.weight)
        for s in seq.spans
        if s.start < max_length
    ]
    if not spans:
        return None
    return StepwiseSequence(seq.input_ids[:max_length], spans, seq.key)


# ---------------------------------------------------------------------------------------------- batching
@dataclass
class StepwiseBatch:
    """Padded sequences plus the step of every target token.

    Attributes:
        input_ids / attention_mask: ``(B, T)`` right-padded.
        target_step: ``(B, T - 1)`` long; ``target_step[b, t]`` is the flat index (into ``steps``) of
            the action that token ``t + 1`` belongs to, ``-1`` for context and padding.
        steps: one ``(key, step_index)`` per scored action, in flat order.
        step_weights: ``(S,)`` loss weight of each action.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    target_step: torch.Tensor
    steps: list[tuple[Hashable, int]]
    step_weights: torch.Tensor

    def to(self, device: torch.device | str) -> StepwiseBatch:
        return StepwiseBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.target_step.to(device),
            self.steps,
            self.step_weights.to(device),
        )

    @property
    def num_tokens(self) -> int:
        """Real (non-pad) tokens the model processes."""
        return int(self.attention_mask.sum())

    @property
    def num_action_tokens(self) -> int:
        return int((self.target_step >= 0).sum())


def collate_sequences(
    sequences: Sequence[StepwiseSequence], *, pad_token_id: int, pad_to_multiple_of: int | None = None
) -> StepwiseBatch:
    """Right-pad sequences into a :class:`StepwiseBatch`."""
    if not sequences:
        raise ValueError("no sequences to collate")
    length = max(len(s.input_ids) for s in sequences)
    if pad_to_multiple_of:
        length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    b = len(sequences)
    input_ids = torch.full((b, length), int(pad_token_id), dtype=torch.long)
    attention_mask = torch.zeros((b, length), dtype=torch.long)
    target_step = torch.full((b, max(length - 1, 0)), -1, dtype=torch.long)
    steps: list[tuple[Hashable, int]] = []
    weights: list[float] = []
    for row, seq in enumerate(sequences):
        n = len(seq.input_ids)
        input_ids[row, :n] = torch.tensor(seq.input_ids, dtype=torch.long)
        attention_mask[row, :n] = 1
        for span in seq.spans:
            if span.start < 1:
                raise ValueError("an action cannot start at the first token (nothing to condition on)")
            target_step[row, span.start - 1 : span.end - 1] = len(steps)
            steps.append((seq.key, span.step_index))
            weights.append(span.weight)
    return StepwiseBatch(
        input_ids, attention_mask, target_step, steps, torch.tensor(weights, dtype=torch.float32)
    )


# ---------------------------------------------------------------------------------------------- log-probs
def token_logprobs(
    model: torch.nn.Module,
    batch: StepwiseBatch,
    *,
    temperature: float = 1.0,
    only_targets: bool = True,
) -> torch.Tensor:
    """Log-probability of every target token: ``(B, T - 1)``, zero where ``target_step < 0``.

    One forward pass for the whole batch; the softmax is taken only at action positions when
    ``only_targets`` (saves memory for large vocabularies).
    """
    out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False)
    logits = out.logits[:, :-1, :]
    targets = batch.input_ids[:, 1:]
    if temperature != 1.0:
        logits = logits / temperature
    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32  # half precision -> float32
    result = torch.zeros(targets.shape, dtype=dtype, device=logits.device)
    mask = batch.target_step >= 0 if only_targets else batch.attention_mask[:, 1:].bool()
    if mask.any():
        sel = logits[mask].to(dtype)
        lp = sel.gather(-1, targets[mask].unsqueeze(-1)).squeeze(-1) - torch.logsumexp(sel, dim=-1)
        result = result.masked_scatter(mask, lp)
    return result


def step_logprobs(
    model: torch.nn.Module, batch: StepwiseBatch, *, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probability of each action and its token count: ``(S,)``, ``(S,)``."""
    tok_lp = token_logprobs(model, batch, temperature=temperature)
    return reduce_by_step(tok_lp, batch)


def reduce_by_step(values: torch.Tensor, batch: StepwiseBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum per-token ``values`` ``(B, T - 1)`` over each action's tokens: ``(sums (S,), counts (S,))``."""
    mask = batch.target_step >= 0
    idx = batch.target_step[mask]
    n = len(batch.steps)
    sums = torch.zeros(n, dtype=values.dtype, device=values.device).index_add(0, idx, values[mask])
    counts = torch.zeros(n, dtype=torch.long, device=values.device).index_add(0, idx, torch.ones_like(idx))
    return sums, counts


def stepwise_nll(
    model: torch.nn.Module, batch: StepwiseBatch, *, reduction: str = "token_mean"
) -> torch.Tensor:
    """Weighted negative log-likelihood of the actions (the SFT loss on sub-trajectories).

    Args:
        reduction: ``"token_mean"``: ``sum_i w_i * NLL(a_i | s_i) / sum_i w_i |a_i|`` (what a
            per-step SFT batch averages to); ``"step_mean"``: mean over actions of the per-token
            mean NLL; ``"sum"``: ``sum_i w_i * NLL(a_i | s_i)``.
    """
    sums, counts = step_logprobs(model, batch)
    w = batch.step_weights.to(sums.device)
    if reduction == "token_mean":
        return -(w * sums).sum() / (w * counts).sum().clamp(min=1e-8)
    if reduction == "step_mean":
        return -(w * sums / counts.clamp(min=1)).sum() / w.sum().clamp(min=1e-8)
    if reduction == "sum":
        return -(w * sums).sum()
    raise ValueError(f"unknown reduction {reduction!r}; use 'token_mean', 'step_mean' or 'sum'")


def iter_batches(
    sequences: Sequence[StepwiseSequence], *, max_tokens: int, pad_token_id: int
) -> list[StepwiseBatch]:
    """Pack sequences (in the given order) into batches of at most ``max_tokens`` padded tokens."""
    batches, current, longest = [], [], 0
    for seq in sequences:
        n = len(seq.input_ids)
        if current and max(longest, n) * (len(current) + 1) > max_tokens:
            batches.append(collate_sequences(current, pad_token_id=pad_token_id))
            current, longest = [], 0
        current.append(seq)
        longest = max(longest, n)
    if current:
        batches.append(collate_sequences(current, pad_token_id=pad_token_id))
    return batches
