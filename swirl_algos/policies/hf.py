"""Hugging Face transformers policy: batched generation with the model's chat template.

Each state (a list of chat messages) is rendered with ``tokenizer.apply_chat_template(...,
add_generation_prompt=True)``, prompts are left-padded into batches and generated together with
``model.generate``. Generation stops early at the environment parser's stop strings (the closing
tags ``</math_exp>``, ``</search_query>``, ``</answer>``: transformers' ``stop_strings``
criterion) or at the end-of-sequence token, and every action is cut right after the first stop
string it contains, so the action ends with its first complete call or answer.

Sampling is reproducible per sample: with ``seeds`` (one per state, as :func:`swirl_algos.rollout.rollout`
passes them) each row draws its randomness from its own generator, so an action depends on its
state and seed, not on which other states share its batch (up to floating-point differences of
padded batches). Sampling is exact: temperature, top-k and top-p are applied with transformers'
logit warpers, then the token is drawn by the Gumbel-max trick (``argmax(logits + Gumbel noise)``,
the same distribution as ``torch.multinomial`` on the softmax).

Example:
    >>> from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
    >>> tok = build_tiny_tokenizer(["<answer> 4 </answer>"], vocab_size=300)
    >>> policy = HFPolicy(build_tiny_model(tok, hidden_size=16, num_layers=1), tok, max_new_tokens=8,
    ...                   stop_strings=["</answer>"])
    >>> actions = policy.act([[{"role": "user", "content": "2 + 2?"}]], seeds=[0])
    >>> actions == policy.act([[{"role": "user", "content": "2 + 2?"}]], seeds=[0])
    True
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swirl_algos.policies.base import Policy, State
from swirl_algos.prompt_settings import template_kwargs, template_renders_tools
from swirl_env.checks import int_at_least

logger = logging.getLogger(__name__)

__all__ = ["Generation", "HFPolicy", "cut_at_stop", "generate_actions", "sampling_warpers"]


def cut_at_stop(text: str, stop_strings: Sequence[str] | None) -> tuple[str, str | None]:
    """Cut ``text`` right after the stop string that ends first; returns ``(text, stop or None)``.

    Example:
        >>> cut_at_stop("a <math_exp> 1+1 </math_exp> more <answer>2</answer>", ["</answer>", "</math_exp>"])
        ('a <math_exp> 1+1 </math_exp>', '</math_exp>')
    """
    best: tuple[int, str] | None = None
    for s in stop_strings or ():
        if not s:
            continue
        i = text.find(s)
        if i >= 0 and (best is None or i + len(s) < best[0]):
            best = (i + len(s), s)
    if best is None:
        return text, None
    return text[: best[0]], best[1]


@dataclass
class Generation:
    """One generated action.

    Attributes:
        text: the action, cut after its first stop string.
        num_tokens: tokens generated for it (including the stop, excluding padding).
        prompt_tokens: tokens of its prompt.
        finish_reason: ``"stop"`` (a stop string), ``"eos"``, ``"length"`` (``max_new_tokens``)
            or ``"prompt_too_long"`` (nothing generated; ``text`` is empty).
    """

    text: str
    num_tokens: int
    prompt_tokens: int
    finish_reason: str


def sampling_warpers(temperature: float, top_k: int | None, top_p: float) -> Any:
    """The logits warpers of sampling at ``temperature`` / ``top_k`` / ``top_p``, in the order
    ``transformers`` applies them (temperature, top-k, top-p); settings that change nothing add
    no warper.

    Example:
        >>> [type(w).__name__ for w in sampling_warpers(0.7, 0, 0.9)]
        ['TemperatureLogitsWarper', 'TopPLogitsWarper']
    """
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    warpers = LogitsProcessorList()
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if top_k and top_k > 0:
        warpers.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p))
    return warpers


class _SeededSampler:
    """Logits processor: warpers, then per-row Gumbel noise (greedy decoding then samples exactly)."""

    def __init__(self, warpers: list[Any], seeds: Sequence[int], device: Any) -> None:
        import torch

        self.warpers = warpers
        # ``manual_seed`` returns its generator.
        self.generators = [torch.Generator(device=device).manual_seed(int(s) % (2**63)) for s in seeds]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        for w in self.warpers:
            scores = w(input_ids, scores)
        n, dev = scores.shape[-1], scores.device
        noise = torch.stack(
            [torch.rand(n, generator=g, device=dev, dtype=torch.float32) for g in self.generators]
        )
        gumbel = -torch.log(-torch.log(noise.clamp_(min=1e-20, max=1.0 - 1e-7)))
        return scores.float() + gumbel


def _render_prompts(
    tokenizer: Any, states: Sequence[State], chat_template_kwargs: Mapping[str, Any] | None
) -> list[str]:
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "the tokenizer has no chat template; multi-step states are conversations, so set "
            "tokenizer.chat_template (or use an instruction-tuned model's tokenizer)"
        )
    out = []
    for i, msgs in enumerate(states):
        if not msgs:
            raise ValueError(f"state {i} is empty; a state is a non-empty list of chat messages")
        out.append(
            tokenizer.apply_chat_template(
                [dict(m) for m in msgs],
                add_generation_prompt=True,
                tokenize=False,
                **dict(chat_template_kwargs or {}),
            )
        )
    return out


def _model_device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover
        import torch

        return torch.device("cpu")


def generate_actions(
    model: Any,
    tokenizer: Any,
    prompts_messages: Sequence[State],
    *,
    max_new_tokens: int = 256,
    do_sample: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    stop_strings: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    batch_size: int = 8,
    device: Any = None,
    chat_template_kwargs: Mapping[str, Any] | None = None,
    max_prompt_tokens: int | None = None,
    return_details: bool = False,
) -> list[str] | list[Generation]:
    """Generate one action per state with a causal LM and its chat template.

    Args:
        model: a ``transformers`` causal LM (a PEFT model works too).
        tokenizer: its tokenizer, with a chat template.
        prompts_messages: the states, each a list of chat messages.
        max_new_tokens: the longest action in tokens.
        do_sample: sample (``True``) or decode greedily.
        temperature / top_p / top_k: sampling settings (``top_k=0``: off).
        stop_strings: generation stops at the first of them; the action is cut right after it.
        seeds: one seed per state (reproducible sampling); default: drawn from Python's ``random``.
        batch_size: states generated together (prompts of similar length are batched together).
        device: where the inputs go (default: the model's device).
        chat_template_kwargs: extra arguments of ``apply_chat_template`` (e.g. ``enable_thinking``).
        max_prompt_tokens: longer prompts get an empty action and a warning (default: the model's
            ``max_position_embeddings`` minus ``max_new_tokens``).
        return_details: return :class:`Generation` objects (token counts, finish reasons).

    Returns:
        One action text (or :class:`Generation`) per state, in order.

    Example:
        >>> # actions = generate_actions(model, tokenizer, [state], stop_strings=["</answer>"], seeds=[0])
    """
    import torch

    n = len(prompts_messages)
    int_at_least("max_new_tokens", max_new_tokens, 1)
    int_at_least("batch_size", batch_size, 1)
    if do_sample and temperature <= 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature} (use do_sample=False)")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if seeds is not None and len(seeds) != n:
        raise ValueError(f"got {len(seeds)} seeds for {n} states")
    if n == 0:
        return []
    if seeds is None:
        seeds = [random.getrandbits(63) for _ in range(n)]
    stop_strings = [s for s in (stop_strings or []) if s]
    texts = _render_prompts(tokenizer, prompts_messages, chat_template_kwargs)
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    if max_prompt_tokens is None:
        max_pos = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        max_prompt_tokens = max_pos - max_new_tokens if isinstance(max_pos, int) else None
    device = torch.device(device) if device is not None else _model_device(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        raise ValueError("the tokenizer has neither a pad token nor an EOS token")
    eos_id = tokenizer.eos_token_id

    gen_config = copy.deepcopy(model.generation_config)
    gen_config.update(
        do_sample=False,  # sampling is done by _SeededSampler + argmax
        num_beams=1,
        # greedy ignores these; neutral values keep a model's own sampling defaults from being
        # merged back in (and warned about)
        temperature=1.0,
        top_p=1.0,
        top_k=50,
        max_new_tokens=max_new_tokens,
        pad_token_id=pad_id,
        stop_strings=stop_strings or None,
        use_cache=True,
    )
    if gen_config.eos_token_id is None and eos_id is not None:
        gen_config.eos_token_id = eos_id
    eos_ids = gen_config.eos_token_id
    eos_set = set(eos_ids if isinstance(eos_ids, list) else [eos_ids] if eos_ids is not None else [])

    results: list[Generation | None] = [None] * n
    order = []
    for i, ids in enumerate(encoded):
        if max_prompt_tokens is not None and len(ids) > max_prompt_tokens:
            logger.warning(
                "state %d has %d prompt tokens (> %d): empty action", i, len(ids), max_prompt_tokens
            )
            results[i] = Generation("", 0, len(ids), "prompt_too_long")
        else:
            order.append(i)
    order.sort(key=lambda i: -len(encoded[i]))  # similar lengths together: less padding

    was_training = getattr(model, "training", False)
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in idx)
            input_ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids = encoded[i]
                if ids:
                    input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                    attention[r, width - len(ids) :] = 1
            processors = []
            if do_sample:
                warpers = sampling_warpers(temperature, top_k, top_p)
                processors.append(_SeededSampler(warpers, [seeds[i] for i in idx], device))
            from transformers import LogitsProcessorList

            with torch.inference_mode():
                out = model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=attention.to(device),
                    generation_config=gen_config,
                    logits_processor=LogitsProcessorList(processors),
                    tokenizer=tokenizer if stop_strings else None,
                )
            new = out[:, width:].tolist()
            decoded = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
            for r, i in enumerate(idx):
                row = new[r]
                count = len(row)
                while count and row[count - 1] == pad_id:
                    count -= 1
                ended_eos = count < len(row) and pad_id in eos_set
                if ended_eos:
                    count += 1  # the EOS itself (pad == eos)
                elif count and row[count - 1] in eos_set:
                    ended_eos = True
                text, stop = cut_at_stop(decoded[r], stop_strings)
                reason = "stop" if stop else "eos" if ended_eos else "length"
                if reason == "length" and count < len(row):
                    reason = "eos"
                results[i] = Generation(text, count, len(encoded[i]), reason)
    finally:
        if was_training:
            model.train()
    final = [r for r in results if r is not None]
    if return_details:
        return final
    return [g.text for g in final]


class HFPolicy(Policy):
    """A transformers causal LM as a policy (batched, chat template, stop strings, seeded sampling).

    Args:
        model: a causal LM instance (``AutoModelForCausalLM``; a PEFT model works too).
        tokenizer: its tokenizer; it needs a chat template. A missing pad token is set to EOS.
        max_new_tokens: the longest action in tokens.
        do_sample / temperature / top_p / top_k: sampling settings (``do_sample=False``: greedy).
        batch_size: states per ``generate`` call.
        stop_strings: stop strings (normally set by the rollout from the env's parser via
            :meth:`set_stop_strings`).
        device: where inputs go (default: the model's device); the model is moved there when it
            is a single-device model elsewhere.
        seed: seeds the stream used when :meth:`act` gets no ``seeds``.
        chat_template_kwargs: extra arguments of ``apply_chat_template``.
        name: the model name stored in trajectories (default: the model's ``name_or_path``).

    Attributes:
        stats: running counts: ``calls``, ``actions``, ``new_tokens``, ``prompt_tokens``,
            ``generate_seconds``, ``finish/<reason>``.

    Example:
        >>> # policy = HFPolicy.from_pretrained("Qwen/Qwen2.5-0.5B-Instruct", temperature=0.7)
        >>> # trajs = rollout("SwiRL-GSM8K-v0", policy, n_tasks=100, samples_per_task=5)
    """

    name = "hf"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_new_tokens: int = 256,
        do_sample: bool = True,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        batch_size: int = 8,
        stop_strings: Sequence[str] | None = None,
        device: Any = None,
        seed: int | None = None,
        chat_template_kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        int_at_least("max_new_tokens", max_new_tokens, 1)
        int_at_least("batch_size", batch_size, 1)
        if do_sample and temperature <= 0:
            raise ValueError(
                f"temperature must be > 0 when sampling, got {temperature} (use do_sample=False)"
            )
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token is None:
                raise ValueError("the tokenizer has neither a pad token nor an EOS token")
            tokenizer.pad_token = tokenizer.eos_token
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template (set tokenizer.chat_template)")
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.do_sample = do_sample
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.batch_size = batch_size
        self.stop_strings = list(stop_strings or [])
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.tools: list[dict[str, Any]] | None = None
        self.model_name = name or str(getattr(getattr(model, "config", None), "name_or_path", "") or "")
        self._rng = random.Random(seed)
        self.seed = seed
        if device is not None:
            import torch

            device = torch.device(device)
            if _model_device(model) != device and not getattr(model, "hf_device_map", None):
                logger.info("moving the policy model to %s", device)
                model.to(device)
        self.device = device
        self.stats: dict[str, float] = {
            "calls": 0,
            "actions": 0,
            "new_tokens": 0,
            "prompt_tokens": 0,
            "generate_seconds": 0.0,
        }

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        device: Any = None,
        torch_dtype: Any = "auto",
        trust_remote_code: bool = False,
        model_kwargs: Mapping[str, Any] | None = None,
        tokenizer_name_or_path: str | None = None,
        **kwargs: Any,
    ) -> HFPolicy:
        """Load a model and its tokenizer (local directory or hub id) as a policy.

        ``device`` defaults to CUDA when available, else CPU; ``torch_dtype="auto"`` uses the
        checkpoint's dtype. Other keyword arguments go to :class:`HFPolicy`.

        Example:
            >>> # policy = HFPolicy.from_pretrained("runs/swirl/final", do_sample=False)
        """
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        tokenizer = AutoTokenizer.from_pretrained(
            tokenizer_name_or_path or name_or_path, trust_remote_code=trust_remote_code
        )
        mkw = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code, **dict(model_kwargs or {})}
        model = AutoModelForCausalLM.from_pretrained(name_or_path, **mkw)
        if not getattr(model, "hf_device_map", None):
            model.to(device)
        model.eval()
        kwargs.setdefault("name", name_or_path)
        return cls(model, tokenizer, device=device, **kwargs)

    # ------------------------------------------------------------------ Policy API
    def set_stop_strings(self, stop_strings: Sequence[str]) -> None:
        """Generation stops at the first of these (the env parser's ``stop_strings``)."""
        self.stop_strings = [s for s in stop_strings if s]

    def set_tools(self, tools: Sequence[Mapping[str, Any]] | None) -> None:
        """Every state is rendered with ``apply_chat_template(..., tools=tools)`` (native tool
        calling); a warning says when the chat template does not show them to the model."""
        self.tools = [dict(t) for t in tools] if tools else None
        if self.tools is not None and not template_renders_tools(self.tokenizer, self.chat_template_kwargs):
            logger.warning(
                "the chat template of %s ignores tools=: the model is not shown the tool schemas; use a "
                "template with tool calling (e.g. swirl_algos.chat_templates 'chatml-tools')",
                self.model_name or "the policy",
            )

    def act(self, states: Sequence[State], *, seeds: Sequence[int] | None = None) -> list[str]:
        """One action per state (see :func:`generate_actions`)."""
        if seeds is None:
            seeds = [self._rng.getrandbits(63) for _ in states]
        t0 = time.perf_counter()
        gens = generate_actions(
            self.model,
            self.tokenizer,
            states,
            max_new_tokens=self.max_new_tokens,
            do_sample=self.do_sample,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            stop_strings=self.stop_strings,
            seeds=seeds,
            batch_size=self.batch_size,
            device=self.device,
            chat_template_kwargs=template_kwargs(self.chat_template_kwargs, self.tools),
            return_details=True,
        )
        self.stats["generate_seconds"] += time.perf_counter() - t0
        self.stats["calls"] += 1
        self.stats["actions"] += len(gens)
        for g in gens:
            assert isinstance(g, Generation)
            self.stats["new_tokens"] += g.num_tokens
            self.stats["prompt_tokens"] += g.prompt_tokens
            key = f"finish/{g.finish_reason}"
            self.stats[key] = self.stats.get(key, 0) + 1
        return [g.text for g in gens]  # type: ignore[union-attr]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model_name,
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "temperature": self.temperature if self.do_sample else 0.0,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "stop_strings": list(self.stop_strings),
            **({"chat_template_kwargs": self.chat_template_kwargs} if self.chat_template_kwargs else {}),
        }
