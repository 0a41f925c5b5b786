"""The one tokenizer shared by every BM25 index and every query.

Rules (version :data:`TOKENIZER_VERSION`, recorded in saved indexes):

1. lowercase with :meth:`str.lower` (Unicode-aware: ``"Éclair"`` -> ``"éclair"``);
2. split into maximal runs of Unicode word characters, ``re.findall(r"\\w+", text)``: letters and
   digits of any script plus ``_``; punctuation, spaces and symbols separate tokens
   (``"U.S."`` -> ``u``, ``s``; ``"Spider-Man"`` -> ``spider``, ``man``; ``"3.14"`` -> ``3``, ``14``);
3. drop the 33 English stopwords of Lucene's default ``EnglishAnalyzer`` (:data:`STOPWORDS`), the set
   used by the Pyserini BM25 indexes that Search-R1 / FlashRAG baselines rely on. Stopwords carry
   almost no BM25 weight (their idf is floored) but cost time on every query;
4. no stemming, no accent folding.

The text indexed for a passage is ``title + " " + text`` (:attr:`Passage.indexed_text`).

Example:
    >>> tokenize("The Scorch Trials: who published it?")
    ['scorch', 'trials', 'who', 'published']
"""

from __future__ import annotations

import re

__all__ = ["STOPWORDS", "TOKENIZER_VERSION", "tokenize"]

#: Bumped whenever :func:`tokenize` changes; saved indexes built with another version are rejected.
TOKENIZER_VERSION = "swirl-word-lower-lucene33-v1"

#: Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``.
# fmt: off
STOPWORDS: frozenset[str] = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
    "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
    "to", "was", "will", "with",
])
# fmt: on

_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into BM25 tokens (see the module docstring for the exact rules).

    Example:
        >>> tokenize("Beyoncé's 2nd album")
        ['beyoncé', 's', '2nd', 'album']
    """
    stop = STOPWORDS
    return [t for t in _WORD.findall(text.lower()) if t not in stop]
