"""Tiny, offline models for tests, CPU demos and debugging.

Builds a real Hugging Face tokenizer (byte-level BPE trained on the spot, with a chat template)
and a real ``LlamaForCausalLM`` from a config with random weights, so every code path that takes
a hub model (generation, chat templates, TRL trainers, saving/loading) runs without a download.

Example:
    >>> tok = build_tiny_tokenizer(["What is 2 + 2? <math_exp> 2 + 2 </math_exp>"], vocab_size=300)
    >>> model = build_tiny_model(tok, hidden_size=32, num_layers=1)
    >>> ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    >>> ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    >>> model(input_ids=__import__("torch").tensor([ids])).logits.shape[-1] == len(tok)
    True
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]

#: A minimal chat template. ``{% generation %}`` marks assistant content for TRL's assistant-only loss.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

_BASE_TEXT = (
    "<math_exp> </math_exp> <search_query> </search_query> <answer> </answer> -> Error: "
    "0 1 2 3 4 5 6 7 8 9 + - * / ( ) = . , ? ! the a an of to is what how many question answer"
)


def build_tiny_tokenizer(texts: Iterable[str] = (), vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts`` (any Unicode text is encodable, no UNK).

    Args:
        texts: training text (e.g. prompts and actions of the target environment).
        vocab_size: target vocabulary size including the 256 byte symbols and special tokens.

    Returns:
        A ``PreTrainedTokenizerFast`` with pad/bos/eos tokens, left padding and a chat template.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_BASE_TEXT, *texts], trainer=trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|bos|>",
        eos_token="<|end|>",
        pad_token="<|pad|>",
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    tokenizer: PreTrainedTokenizerFast,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 2048,
    seed: int = 0,
) -> LlamaForCausalLM:
    """A randomly initialised Llama sized for CPU tests, matching ``tokenizer``'s vocabulary."""
    import torch

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    logger.info("built tiny Llama: %.2fM parameters", sum(p.numel() for p in model.parameters()) / 1e6)
    return model
