"""Judges backed by a local Hugging Face causal language model (transformers).

Two modes:

* ``"generate"`` (the paper's judge): the model reads the judge prompt, explains, and ends with a
  verdict; the last verdict wins (:func:`~swirl_env.rewards.prompts.parse_verdict`). A reply with
  no verdict is a failed judgement (``label=None`` and ``error``), never a silent GOOD, and so is
  one that used all of ``max_new_tokens`` without an end token (cut before it ended). Greedy
  decoding by default, so a judgement is reproducible.
* ``"score"``: no explanation. The assistant turn is pre-filled with ``"Verdict:"`` and the
  judge reads the next-token distribution: ``score = P(GOOD) / (P(GOOD) + P(BAD))`` over the
  first tokens of ``" GOOD"`` and ``" BAD"`` (``" YES"``/``" NO"`` for outcomes), and
  ``label = score >= threshold``. One forward pass per batch; a soft reward for SWiRL
  (``reward="score"`` in the learner). The rationale records the mass the two words got, which
  shows whether the model follows the format at all.

Prompts are rendered with the tokenizer's chat template when it has one (else as plain text),
batched with left padding, longest first. A prompt longer than ``max_prompt_tokens`` is not cut:
its judgement fails with a clear error. A batch that runs out of GPU memory is split in halves.

Models come as objects (``HFProcessJudge(model, tokenizer)``) or by name or path
(``HFProcessJudge.from_pretrained("Qwen/Qwen2.5-7B-Instruct", torch_dtype="bfloat16")``); the
latter loads from the local cache or the hub, as ``transformers`` does.

Example:
    >>> from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
    >>> tok = build_tiny_tokenizer(["Verdict: GOOD BAD"], vocab_size=300)
    >>> judge = HFProcessJudge(build_tiny_model(tok, hidden_size=32, num_layers=1), tok, mode="score")
    >>> from swirl_env.rewards.judges.base import ProcessRequest
    >>> j = judge.judge_steps([ProcessRequest(None, [{"role": "user", "content": "Question: 1+1?"}],
    ...                                       "<math_exp> 1 + 1 </math_exp>")])[0]
    >>> 0.0 <= j.score <= 1.0 and j.label in (True, False)
    True
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from swirl_env.checks import fraction, int_at_least, one_of
from swirl_env.rewards.judges.base import (
    Judgement,
    OutcomeJudge,
    OutcomeRequest,
    ProcessJudge,
    ProcessRequest,
)
from swirl_env.rewards.judges.common import PromptedJudgeMixin, Request
from swirl_env.rewards.prompts import JudgePrompt
from swirl_env.trajectory import Message

logger = logging.getLogger(__name__)

__all__ = ["HFJudgeBase", "HFOutcomeJudge", "HFProcessJudge"]


def _is_oom(e: BaseException) -> bool:
    return "out of memory" in str(e).lower() or type(e).__name__ == "OutOfMemoryError"


class HFJudgeBase(PromptedJudgeMixin):
    """Shared machinery of :class:`HFProcessJudge` and :class:`HFOutcomeJudge`.

    Args:
        model: a ``transformers`` causal LM (``AutoModelForCausalLM``), already on its device.
        tokenizer: its tokenizer; a missing pad token falls back to the EOS token.
        prompt: ``"auto"``, a prompt version (``"process-math-v1"``), a
            :class:`~swirl_env.rewards.prompts.JudgePrompt`, or for process judges a mapping
            ``{"math": ..., "search": ...}``.
        mode: ``"generate"`` (explain, then verdict) or ``"score"`` (soft verdict probability).
        batch_size: prompts per forward pass / ``generate`` call.
        max_new_tokens: generation budget in ``"generate"`` mode.
        max_prompt_tokens: longer prompts fail (default: the model's context minus
            ``max_new_tokens``, when the config says it).
        threshold: ``label = score >= threshold`` in ``"score"`` mode.
        verdict_words: override the scored words, e.g. ``(" GOOD", " BAD")``; default: a space
            then the prompt's positive/negative word.
        use_chat_template: ``None`` = when the tokenizer has one.
        chat_template_kwargs: extra arguments of ``apply_chat_template`` (e.g.
            ``{"enable_thinking": False}``); part of the exact prompt text, so of the cache key.
        generation_kwargs: extra ``generate`` arguments (default greedy decoding).
        judge_id: a name for the model in ``config_id`` (cache keys) when the model object has no
            ``name_or_path`` (e.g. built in memory).
        progress: show a progress bar over batches.
    """

    name = "hf-judge"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        kind: str,
        prompt: str | JudgePrompt | Mapping[str, Any] = "auto",
        mode: str = "generate",
        batch_size: int = 8,
        max_new_tokens: int = 512,
        max_prompt_tokens: int | None = None,
        threshold: float = 0.5,
        verdict_words: tuple[str, str] | None = None,
        use_chat_template: bool | None = None,
        generation_kwargs: Mapping[str, Any] | None = None,
        judge_id: str | None = None,
        progress: bool = False,
        chat_template_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        one_of("mode", mode, ("generate", "score"))
        int_at_least("batch_size", batch_size, 1)
        int_at_least("max_new_tokens", max_new_tokens, 1)
        fraction("threshold", threshold)
        self._init_prompts(kind=kind, prompt=prompt)
        self.model = model
        self.tokenizer = tokenizer
        self.mode = mode
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.threshold = threshold
        self.verdict_words = verdict_words
        self.generation_kwargs = {"do_sample": False, **dict(generation_kwargs or {})}
        self.progress = progress
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token_id is None:
                raise ValueError("the tokenizer has neither a pad nor an EOS token; set tokenizer.pad_token")
            logger.info("tokenizer has no pad token; padding with the EOS token")
            tokenizer.pad_token = tokenizer.eos_token
        self.use_chat_template = (
            bool(getattr(tokenizer, "chat_template", None))
            if use_chat_template is None
            else use_chat_template
        )
        if self.use_chat_template and not getattr(tokenizer, "chat_template", None):
            raise ValueError("use_chat_template=True but the tokenizer has no chat template")
        context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        if max_prompt_tokens is None and context:
            max_prompt_tokens = int(context) - (max_new_tokens if mode == "generate" else 1)
        self.max_prompt_tokens = max_prompt_tokens
        self.model_name = judge_id or getattr(getattr(model, "config", None), "_name_or_path", "") or ""
        if not self.model_name:
            logger.warning(
                "the judge model has no name_or_path: cached judgements are keyed by the class name only; "
                "pass judge_id=... to tell models apart"
            )
        self.name = f"hf:{self.model_name or type(model).__name__}"
        self._verdict_ids: dict[str, tuple[list[int], list[int]]] = {}
        if mode == "score":  # fail at construction when the verdict words cannot be told apart
            for p in self._all_prompts():
                self._ids_for(p)

    # ------------------------------------------------------------------ construction by name
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        device: str | None = None,
        torch_dtype: Any = "auto",
        revision: str | None = None,
        trust_remote_code: bool = False,
        model_kwargs: Mapping[str, Any] | None = None,
        **judge_kwargs: Any,
    ) -> Any:
        """Load a model and tokenizer with ``AutoModelForCausalLM`` / ``AutoTokenizer``.

        Example:
            >>> # judge = HFProcessJudge.from_pretrained("Qwen/Qwen2.5-7B-Instruct", device="cuda",
            >>> #                                        torch_dtype="bfloat16", mode="score")
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(
            name_or_path, revision=revision, trust_remote_code=trust_remote_code
        )
        kw = {"revision": revision, "trust_remote_code": trust_remote_code, **dict(model_kwargs or {})}
        if torch_dtype is not None:
            kw["dtype"] = torch_dtype
        model = AutoModelForCausalLM.from_pretrained(name_or_path, **kw)
        if device is not None:
            model = model.to(device)
        model.eval()
        judge_kwargs.setdefault("judge_id", f"{name_or_path}@{revision}" if revision else name_or_path)
        return cls(model, tokenizer, **judge_kwargs)

    # ------------------------------------------------------------------ config / cache hooks
    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "model": self.model_name,
            "prompt": self.prompt_versions(),
            "mode": self.mode,
            "chat_template": self.use_chat_template,
        }
        if self.chat_template_kwargs:
            cfg["chat_template_kwargs"] = self.chat_template_kwargs
        if self.mode == "generate":
            cfg["max_new_tokens"] = self.max_new_tokens
            cfg["generation"] = self.generation_kwargs
        else:
            cfg["threshold"] = self.threshold
            cfg["verdict_words"] = self.verdict_words
        return cfg

    def cache_payload(self, request: Request) -> Any:  # type: ignore[override]
        return self.prompt_text(request)

    # ------------------------------------------------------------------ rendering
    def prompt_text(self, request: Request) -> str:
        """The exact model input for ``request`` (chat template applied, score prefix added)."""
        messages = self.render(request, self.mode)
        prefix = self.prompt_for(request).score_prefix if self.mode == "score" else ""
        return self._to_text(messages) + prefix

    def _to_text(self, messages: Sequence[Message]) -> str:
        if self.use_chat_template:
            return self.tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=True, **self.chat_template_kwargs
            )
        return "\n\n".join(m["content"] for m in messages) + "\n\n"

    def _all_prompts(self) -> list[JudgePrompt]:
        from swirl_env.rewards.prompts import JUDGE_PROMPTS, get_judge_prompt

        spec = self._prompt_spec
        if isinstance(spec, JudgePrompt):
            return [spec]
        if isinstance(spec, Mapping):
            return [get_judge_prompt(v) for v in spec.values()] + [JUDGE_PROMPTS["process-search-v1"]]
        if spec == "auto":
            return [p for p in JUDGE_PROMPTS.values() if p.kind == self.kind]
        return [get_judge_prompt(spec)]

    def _ids_for(self, prompt: JudgePrompt) -> tuple[list[int], list[int]]:
        key = prompt.positive + "|" + prompt.negative
        if key not in self._verdict_ids:
            pos_word, neg_word = self.verdict_words or (" " + prompt.positive, " " + prompt.negative)
            pos, neg = self._first_token(pos_word), self._first_token(neg_word)
            if pos == neg:
                raise ValueError(
                    f"the first tokens of {pos_word!r} and {neg_word!r} are the same ({pos}); "
                    "pass verdict_words=... that start with different tokens"
                )
            self._verdict_ids[key] = ([pos], [neg])
        return self._verdict_ids[key]

    def _first_token(self, word: str) -> int:
        ids = self.tokenizer.encode(word, add_special_tokens=False)
        for i in ids:  # skip a lone-space token (some sentencepiece vocabularies)
            if self.tokenizer.decode([i]).strip():
                return int(i)
        raise ValueError(f"cannot tokenize verdict word {word!r}")

    # ------------------------------------------------------------------ batched model calls
    @contextlib.contextmanager
    def _left_padding(self) -> Iterator[None]:
        old = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            yield
        finally:
            self.tokenizer.padding_side = old

    def _encode(self, texts: list[str]) -> Any:
        with self._left_padding():
            enc = self.tokenizer(
                texts, return_tensors="pt", padding=True, add_special_tokens=not self.use_chat_template
            )
        device = getattr(self.model, "device", None)
        return enc.to(device) if device is not None else enc

    def _end_ids(self) -> set[int]:
        """The token ids that end a generation (the tokenizer's and the generation config's EOS)."""
        ids: set[int] = set()
        gen = getattr(self.model, "generation_config", None)
        given = self.generation_kwargs.get("eos_token_id")
        for v in (self.tokenizer.eos_token_id, getattr(gen, "eos_token_id", None), given):
            ids.update([v] if isinstance(v, int) else list(v or []))
        return ids

    def _run_batch(
        self, texts: list[str], prompts: list[JudgePrompt]
    ) -> list[tuple[str, float, float, bool]]:
        """(reply, score, mass, cut at max_new_tokens) per text; raises on model errors."""
        import torch

        enc = self._encode(texts)
        with torch.inference_mode():
            if self.mode == "generate":
                pad = self.tokenizer.pad_token_id
                out = self.model.generate(
                    input_ids=enc["input_ids"],
                    attention_mask=enc["attention_mask"],
                    max_new_tokens=self.max_new_tokens,
                    pad_token_id=pad,
                    **self.generation_kwargs,
                )
                new = out[:, enc["input_ids"].shape[1] :]
                replies = self.tokenizer.batch_decode(new, skip_special_tokens=True)
                ends = torch.tensor(sorted(self._end_ids()), dtype=new.dtype, device=new.device)
                # cut: the whole budget used without an end token (a failed judgement); a row that
                # ends in padding stopped early (a stop string) and was padded to the batch
                cut = [
                    new.shape[1] >= self.max_new_tokens
                    and not bool(torch.isin(row, ends).any())
                    and (pad is None or int(row[-1]) != pad)
                    for row in new
                ]
                return [(r, math.nan, math.nan, c) for r, c in zip(replies, cut)]
            mask = enc["attention_mask"]
            # left padding: positions count real tokens only, so a prompt scores the same in any batch
            position_ids = (mask.long().cumsum(-1) - 1).clamp(min=0)
            logits = self.model(
                input_ids=enc["input_ids"], attention_mask=mask, position_ids=position_ids
            ).logits
            logp = torch.log_softmax(logits[:, -1, :].float(), dim=-1)
            results = []
            for row, prompt in zip(logp, prompts):
                pos_ids, neg_ids = self._ids_for(prompt)
                lp = torch.logsumexp(row[pos_ids], dim=0)
                ln = torch.logsumexp(row[neg_ids], dim=0)
                score = float(torch.sigmoid(lp - ln))
                mass = float(torch.exp(torch.logaddexp(lp, ln)))
                results.append(("", score, mass, False))
            return results

    def _run(
        self, texts: list[str], prompts: list[JudgePrompt]
    ) -> list[tuple[str, float, float, bool] | BaseException]:
        try:
            return list(self._run_batch(texts, prompts))
        except Exception as e:
            if _is_oom(e) and len(texts) > 1:
                logger.warning("out of memory on a batch of %d; splitting it", len(texts))
                with contextlib.suppress(Exception):
                    import torch

                    torch.cuda.empty_cache()
                half = len(texts) // 2
                return self._run(texts[:half], prompts[:half]) + self._run(texts[half:], prompts[half:])
            logger.error("judge model failed on a batch of %d: %s: %s", len(texts), type(e).__name__, e)
            return [e] * len(texts)

    def _judge(self, requests: Sequence[Request]) -> list[Judgement]:
        out: list[Judgement | None] = [None] * len(requests)
        todo: list[tuple[int, str, JudgePrompt, int]] = []
        for i, req in enumerate(requests):
            self.check_request(req, self.kind)
            short = self.short_circuit(req, self.name)
            if short is not None:
                out[i] = short
                continue
            prompt = self.prompt_for(req)
            text = self.prompt_text(req)
            n_tokens = len(self.tokenizer(text, add_special_tokens=not self.use_chat_template)["input_ids"])
            if self.max_prompt_tokens is not None and n_tokens > self.max_prompt_tokens:
                out[i] = Judgement.failure(
                    f"prompt has {n_tokens} tokens, more than max_prompt_tokens={self.max_prompt_tokens}",
                    judge=self.name,
                )
                continue
            todo.append((i, text, prompt, n_tokens))
        todo.sort(key=lambda x: -x[3])  # longest first: less padding, early OOM
        batches = [todo[k : k + self.batch_size] for k in range(0, len(todo), self.batch_size)]
        iterator: Any = batches
        if self.progress and len(batches) > 1:
            from tqdm.auto import tqdm

            iterator = tqdm(batches, desc=f"{self.kind} judge", unit="batch")
        for batch in iterator:
            results = self._run([t for _, t, _, _ in batch], [p for _, _, p, _ in batch])
            for (i, _, prompt, _), res in zip(batch, results):
                if isinstance(res, BaseException):
                    out[i] = Judgement.failure(f"{type(res).__name__}: {res}", judge=self.name)
                elif self.mode == "generate":
                    out[i] = self.judgement_from_reply(requests[i], res[0], name=self.name, cut=res[3])
                else:
                    _, score, mass, _ = res
                    if not math.isfinite(score):
                        out[i] = Judgement.failure("non-finite verdict probability", judge=self.name)
                        continue
                    out[i] = Judgement(
                        label=score >= self.threshold,
                        score=score,
                        rationale=(
                            f"P({prompt.positive} | {prompt.positive} or {prompt.negative}) = {score:.4f}; "
                            f"the two verdict tokens got {mass:.4f} of the probability mass"
                        ),
                        judge=self.name,
                    )
        return [j for j in out if j is not None]


class HFProcessJudge(HFJudgeBase, ProcessJudge):
    """Process judge (GOOD/BAD per step) on a local Hugging Face model.

    See :class:`HFJudgeBase` for the arguments; ``prompt="auto"`` picks the math or the search
    prompt per request.

    Example:
        >>> # judge = HFProcessJudge.from_pretrained("google/gemma-2-27b-it", device="cuda")
        >>> # labels = [j.label for j in judge.judge_steps(requests)]
    """

    def __init__(self, model: Any, tokenizer: Any, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, kind="process", **kwargs)

    def judge_steps(self, requests: Sequence[ProcessRequest]) -> list[Judgement]:
        return self._judge(requests)


class HFOutcomeJudge(HFJudgeBase, OutcomeJudge):
    """Outcome judge (YES/NO against the answer key) on a local Hugging Face model.

    Example:
        >>> # judge = HFOutcomeJudge.from_pretrained("Qwen/Qwen2.5-7B-Instruct", mode="score")
    """

    def __init__(self, model: Any, tokenizer: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prompt", "outcome-v1")
        super().__init__(model, tokenizer, kind="outcome", **kwargs)

    def judge_outcomes(self, requests: Sequence[OutcomeRequest]) -> list[Judgement]:
        return self._judge(requests)
