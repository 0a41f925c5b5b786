"""Shared-prefix sampling and scoring: encode each state once, branch its G actions from it.

SWiRL samples ``G`` actions at every stored state ``s`` and scores them with the policy (with
gradient) and the frozen reference. A state is usually far longer than an action (the whole
conversation so far against one tool call), so running ``G`` copies of ``s + a_j`` through the
model spends most of the compute on the same prefix ``G`` times. Here every pass runs the prefix
ONCE for a batch of states (left-padded), keeps its key/value cache, repeats the cache ``G`` times
along the batch and runs only the action tokens on top of it:

* :func:`sample_branches`: ``G`` sampled actions per state (temperature / top-k / top-p, per-row
  stop strings, end-of-sequence), token by token on the shared cache;
* :func:`branch_logprobs`: per-token log-probabilities of given actions (with or without grad),
  the first action token scored from the prefix's last logits, the others from one forward pass
  of the action tokens over the repeated cache.

The per-token log-probabilities equal those of the unshared computation (``s + a_j`` as one
sequence) up to float rounding (tested to 1e-5). Gradients flow into the prefix through the cache,
so the loss is exactly the per-sample loss, with the prefix activations stored once.

Example:
    >>> import torch
    >>> from swirl_algos.tiny import build_tiny_tokenizer, build_tiny_model
    >>> tok = build_tiny_tokenizer(["2 + 2 = 4"], vocab_size=300)
    >>> model = build_tiny_model(tok, hidden_size=32, num_layers=1)
    >>> prefixes = [tok.encode("2 + 2"), tok.encode("1 + 1 + 1")]
    >>> out = sample_branches(model, tok, prefixes, num_generations=3, max_new_tokens=4,
    ...                       generator=torch.Generator().manual_seed(0))
    >>> len(out.completions), len(out.completions[0]) <= 4
    (6, True)
    >>> logps, mask = branch_logprobs(model, prefixes, out.completions, num_generations=3,
    ...                               pad_token_id=tok.pad_token_id)
    >>> logps.shape[0]
    6
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from swirl_algos.policies.hf import sampling_warpers

__all__ = ["Branches", "branch_logprobs", "end_of_turn_ids", "prefix_forward", "sample_branches"]


@dataclass
class PrefixState:
    """The encoded prefixes of a batch of states.

    Attributes:
        cache: the key/value cache of the (left-padded) prefixes, batch ``S``.
        last_logits: logits at each prefix's last token, ``[S, V]`` (they score the first action token).
        mask: attention mask of the padded prefixes, ``[S, P]``.
        lengths: real length of each prefix, ``[S]``.
    """

    cache: Any
    last_logits: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor


def _left_pad(seqs: Sequence[Sequence[int]], pad: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long, device=device)
    mask = torch.zeros((len(seqs), width), dtype=torch.long, device=device)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, width - len(s) :] = torch.as_tensor(list(s), dtype=torch.long, device=device)
            mask[i, width - len(s) :] = 1
    return ids, mask


def _model_device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _cache_arg(model: Any, cache: Any) -> dict[str, Any]:
    """``{"cache": c}`` where the model's forward takes ``cache`` (newer transformers), else
    ``{"past_key_values": c}``."""
    inner = getattr(model, "module", model)  # DistributedDataParallel
    if hasattr(inner, "get_base_model"):  # peft
        inner = inner.get_base_model()
    return {_cache_name(type(inner)): cache}


@functools.lru_cache(maxsize=64)
def _cache_name(cls: type) -> str:
    try:
        params = inspect.signature(cls.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - exotic wrappers
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def prefix_forward(model: Any, prefixes: Sequence[Sequence[int]], pad_token_id: int) -> PrefixState:
    """Run the prefixes once (left-padded, one batch) and keep their cache and last logits.

    Runs with or without grad, as the caller's context says. Raises ``RuntimeError`` when the model
    returns no cache (for example with activation checkpointing active in training mode, which
    transformers runs without a cache).
    """
    if not prefixes or any(len(p) == 0 for p in prefixes):
        raise ValueError("every state needs at least one prompt token")
    from transformers import DynamicCache

    ids, mask = _left_pad(prefixes, pad_token_id, _model_device(model))
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,
        **_cache_arg(model, DynamicCache()),
    )
    cache = getattr(out, "past_key_values", None)
    if cache is None or cache.get_seq_length() != ids.shape[1]:
        raise RuntimeError(
            "the model returned no key/value cache for the states; shared-prefix scoring needs one "
            "(activation checkpointing disables it: set gradient_checkpointing=False or engine='trl')"
        )
    return PrefixState(cache, out.logits[:, -1, :], mask, mask.sum(-1))


def _expand(state: PrefixState, g: int) -> tuple[Any, torch.Tensor, torch.Tensor]:
    state.cache.batch_repeat_interleave(g)
    return state.cache, state.mask.repeat_interleave(g, dim=0), state.lengths.repeat_interleave(g)


# ---------------------------------------------------------------------------------------------- sampling
@dataclass
class Branches:
    """The sampled actions of a batch of states (row ``i * G + j`` is sample ``j`` of state ``i``).

    Attributes:
        completions: token ids of each action (stopped at the first stop string or end of sequence).
        stopped: the action ended with a stop string (a complete tool call or answer).
        ended: the model itself ended the turn (an end-of-sequence token, kept as the last id).
        truncated: neither: the action hit ``max_new_tokens``.
        tokens_processed: tokens the model ran over (prefix tokens once, plus every sampled token).
    """

    completions: list[list[int]]
    stopped: list[bool]
    ended: list[bool]
    truncated: list[bool]
    tokens_processed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@torch.no_grad()
def sample_branches(
    model: Any,
    tokenizer: Any,
    prefixes: Sequence[Sequence[int]],
    *,
    num_generations: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    greedy_branches: int = 0,
    top_p: float = 1.0,
    stop_strings: Sequence[Sequence[str]] | Sequence[str] | None = None,
    eos_token_ids: Sequence[int] | None = None,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
) -> Branches:
    """Sample ``num_generations`` actions per state from ONE encoding of each state.

    Args:
        model: a causal LM (``transformers``), any device.
        tokenizer: its tokenizer (decodes for the stop strings; pad and EOS ids).
        prefixes: the token ids of each state (chat template with the generation prompt applied).
        num_generations: actions per state (G).
        max_new_tokens: the longest action.
        temperature / top_k / top_p: sampling settings (``temperature=0`` is greedy).
        greedy_branches: the first this many of each state's G actions are decoded greedily
            (argmax) instead of sampled; the random draws of the others are unchanged.
        stop_strings: strings that end an action (kept in it), one list for all states or one list
            per state (states of different environments stop at their own closing tags).
        eos_token_ids: tokens that end the turn (default: the tokenizer's EOS); kept as the last id.
        generator: a ``torch.Generator`` for reproducible sampling, or one per state (a state's
            samples then do not depend on the other states of the batch).

    Returns:
        :class:`Branches`, rows ordered state by state.
    """
    g = int(num_generations)
    n_states = len(prefixes)
    if stop_strings and isinstance(stop_strings[0], str):
        per_state = [list(stop_strings)] * n_states  # type: ignore[list-item]
    else:
        per_state = [list(s) for s in (stop_strings or [[]] * n_states)]  # type: ignore[union-attr]
    if len(per_state) != n_states:
        raise ValueError(f"{len(per_state)} stop-string lists for {n_states} states")
    per_state_gens = None if generator is None or isinstance(generator, torch.Generator) else list(generator)
    if not 0 <= greedy_branches <= g:
        raise ValueError(f"greedy_branches must be in [0, {g}], got {greedy_branches}")
    if per_state_gens is not None and len(per_state_gens) != n_states:
        raise ValueError(f"{len(per_state_gens)} generators for {n_states} states")
    eos = set(eos_token_ids if eos_token_ids is not None else [tokenizer.eos_token_id])
    eos.discard(None)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    was_training = model.training
    model.eval()
    try:
        state = prefix_forward(model, prefixes, pad)
        cache, mask, lengths = _expand(state, g)
        logits = state.last_logits.repeat_interleave(g, dim=0).float()
        rows = n_states * g
        stops = [per_state[i // g] for i in range(rows)]
        window = [max((len(s) for s in st), default=0) + 8 for st in stops]
        warp = sampling_warpers(temperature, top_k, top_p) if temperature > 0 else None
        greedy_rows = None
        if greedy_branches and warp is not None:
            greedy_rows = torch.tensor([i * g + j for i in range(n_states) for j in range(greedy_branches)])
        out: list[list[int]] = [[] for _ in range(rows)]
        done = [False] * rows
        stopped = [False] * rows
        ended = [False] * rows
        device = logits.device
        for t in range(max_new_tokens):
            if warp is None:
                nxt = logits.argmax(-1)
            else:
                scores = warp(None, logits)
                probs = torch.softmax(scores, dim=-1)
                if per_state_gens is None:
                    nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # type: ignore[arg-type]
                else:
                    nxt = torch.cat(
                        [
                            torch.multinomial(probs[i * g : (i + 1) * g], 1, generator=gen).squeeze(-1)
                            for i, gen in enumerate(per_state_gens)
                        ]
                    )
            if greedy_rows is not None:
                nxt[greedy_rows] = logits[greedy_rows].argmax(-1)
            ids = nxt.tolist()
            for r in range(rows):
                if done[r]:
                    continue
                out[r].append(ids[r])
                if ids[r] in eos:
                    done[r] = ended[r] = True
                elif stops[r]:
                    tail = tokenizer.decode(out[r][-window[r] :], skip_special_tokens=True)
                    if any(s in tail for s in stops[r]):
                        done[r] = stopped[r] = True
            if all(done) or t == max_new_tokens - 1:
                break
            feed = torch.tensor([ids[r] if not done[r] else pad for r in range(rows)], device=device)
            mask = torch.cat([mask, torch.ones((rows, 1), dtype=mask.dtype, device=device)], dim=1)
            step = model(
                input_ids=feed[:, None],
                attention_mask=mask,
                position_ids=(lengths + t)[:, None],
                use_cache=True,
                **_cache_arg(model, cache),
            )
            cache = step.past_key_values
            logits = step.logits[:, -1, :].float()
        processed = int(sum(len(p) for p in prefixes) + sum(len(o) for o in out))
    finally:
        model.train(was_training)
    truncated = [not (s or e) for s, e in zip(stopped, ended)]
    return Branches(out, stopped, ended, truncated, processed)


# ---------------------------------------------------------------------------------------------- scoring
def branch_logprobs(
    model: Any,
    prefixes: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    *,
    num_generations: int,
    pad_token_id: int,
    temperature: float = 1.0,
    prefix_model: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities of ``completions`` (``G`` per state) with each state encoded once.

    Differentiable when called with grad enabled (the prefix receives the gradient of every
    branch through the repeated cache).

    Args:
        model: the causal LM.
        prefixes: ``S`` states as token ids.
        completions: ``S * G`` actions, state by state (row ``i * G + j`` continues state ``i``).
        num_generations: G.
        pad_token_id: padding id (right padding of the actions, left padding of the states).
        temperature: logits are divided by it before the softmax (the sampling distribution).
        prefix_model: the module that encodes the states (default ``model``). Under
            ``DistributedDataParallel`` pass the unwrapped module here and the wrapped one as
            ``model``, so the wrapper sees exactly one forward per backward.

    Returns:
        ``(logps, mask)``, both ``[S * G, C]`` (``C`` = the longest action); ``mask`` is 1 on real
        action tokens. Padded positions hold 0.
    """
    g = int(num_generations)
    if len(completions) != len(prefixes) * g:
        raise ValueError(f"{len(completions)} completions for {len(prefixes)} states x G={g}")
    if any(len(c) == 0 for c in completions):
        raise ValueError("every completion needs at least one token")
    device = _model_device(model)
    width = max(len(c) for c in completions)
    # with one-token actions there is no second pass: the prefix pass goes through ``model``
    state = prefix_forward(
        model if width == 1 or prefix_model is None else prefix_model, prefixes, pad_token_id
    )
    rows = len(completions)
    comp = torch.full((rows, width), pad_token_id, dtype=torch.long, device=device)
    cmask = torch.zeros((rows, width), dtype=torch.long, device=device)
    for r, c in enumerate(completions):
        comp[r, : len(c)] = torch.as_tensor(list(c), dtype=torch.long, device=device)
        cmask[r, : len(c)] = 1
    first = state.last_logits.repeat_interleave(g, dim=0)[:, None, :]
    if width > 1:
        cache, pmask, lengths = _expand(state, g)
        out = model(
            input_ids=comp[:, :-1],
            attention_mask=torch.cat([pmask, cmask[:, :-1]], dim=1),
            position_ids=lengths[:, None] + torch.arange(width - 1, device=device)[None, :],
            use_cache=True,
            **_cache_arg(model, cache),
        )
        logits = torch.cat([first, out.logits], dim=1)
    else:
        logits = first
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    logps = torch.log_softmax(logits, dim=-1).gather(-1, comp[..., None]).squeeze(-1)
    return logps * cmask, cmask


def end_of_turn_ids(tokenizer: Any, chat_template_kwargs: dict[str, Any] | None = None) -> list[int]:
    """The tokens the chat template puts after an assistant message's content (its end of turn).

    A sampled action that stops at the end of a tool call is completed with these tokens, so the
    trained action is the rendered assistant turn, exactly as the SFT baseline's labels.

    Example:
        >>> from swirl_algos.tiny import build_tiny_tokenizer
        >>> tok = build_tiny_tokenizer([], vocab_size=300)
        >>> tok.decode(end_of_turn_ids(tok))
        '<|end|>\\n'
    """
    sentinel = "\u2063swirl-action\u2063"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": sentinel}],
        tokenize=False,
        **dict(chat_template_kwargs or {}),
    )
    if not isinstance(text, str) or sentinel not in text:
        return [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    suffix = text.split(sentinel, 1)[1]
    ids = tokenizer.encode(suffix, add_special_tokens=False) if suffix else []
    if not ids and tokenizer.eos_token_id is not None:
        ids = [tokenizer.eos_token_id]
    return [int(i) for i in ids]
