"""Seeded synthetic corpora and questions with Wikipedia-like statistics, for tests and benchmarks.

Words follow a Zipf law, ``p(rank r) ~ 1 / (r + q)**s`` (``s=1.0``, ``q=0``: the most frequent word
takes 7% of the tokens and stopwords about 28%, as in English Wikipedia text). The most frequent ranks are real English function and common words (so
stopword removal behaves as on real text, and frequent non-stopwords such as ``he``, ``from``,
``which`` have long posting lists); the other ranks are unique pronounceable pseudo-words
(``"bavoki"``). Passage lengths follow a gamma law with a mean of 96 words (the HotPotQA passage
pool has a mean of 96 word tokens, median 86). A question mixes words of one target passage with
Zipf words and opens with a question word, about 16 words long (HotPotQA's mean).

Example:
    >>> ps = synthetic_corpus(100, seed=0)
    >>> len(ps), ps[0].id
    (100, 's0')
    >>> synthetic_corpus(100, seed=0) == ps
    True
    >>> len(synthetic_queries(ps, 5, seed=1))
    5
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np

from swirl_env.checks import int_at_least
from swirl_env.retrieval.corpus import Passage

logger = logging.getLogger(__name__)

__all__ = ["COMMON_WORDS", "iter_synthetic_corpus", "synthetic_corpus", "synthetic_queries"]

#: Frequent English words, roughly in frequency order; they take the top Zipf ranks.
# fmt: off
COMMON_WORDS: tuple[str, ...] = (
    "the", "of", "and", "in", "to", "a", "was", "is", "for", "on", "as", "with", "by", "he", "at", "from",
    "his", "an", "which", "that", "it", "are", "also", "were", "be", "this", "has", "her", "first", "or",
    "who", "had", "one", "after", "its", "she", "their", "new", "two", "been", "but", "not", "they", "all",
    "into", "there", "these", "such", "then", "will", "no", "if", "when", "where", "what", "how", "later",
    "during", "known", "most", "other", "born", "city", "film", "american", "united", "states", "years",
    "time", "world", "between", "team", "him", "only", "over", "school", "season", "series", "three",
    "used", "some", "may", "would", "more", "can", "than", "under", "while", "since", "until", "about",
    "released", "album", "national", "before", "through", "both", "many", "people", "year", "part",
    "located",
)
# fmt: on

_CONSONANTS = "bcdfghjklmnprstvwz"
_VOWELS = "aeiou"
_SYLLABLES = [c + v for c in _CONSONANTS for v in _VOWELS]  # 90
_QUESTION_WORDS = ("which", "what", "who", "when", "where", "how")


def _pseudo_word(i: int) -> str:
    """Unique word for ``i >= 0``: base-90 syllables, at least two."""
    i += len(_SYLLABLES)  # skip one-syllable words
    out = []
    while i:
        i, r = divmod(i, len(_SYLLABLES))
        out.append(_SYLLABLES[r])
    return "".join(reversed(out))


_COMMON = frozenset(COMMON_WORDS)


def _word(rank: int) -> str:
    if rank < len(COMMON_WORDS):
        return COMMON_WORDS[rank]
    w = _pseudo_word(rank - len(COMMON_WORDS))
    return w + "x" if w in _COMMON else w  # no syllable has an x: still unique


def _words(ranks: np.ndarray) -> dict[int, str]:
    return {int(r): _word(int(r)) for r in ranks}


def _cdf(vocab_size: int, s: float, q: float) -> np.ndarray:
    w = 1.0 / (np.arange(1, vocab_size + 1, dtype=np.float64) + q) ** s
    c = np.cumsum(w)
    return c / c[-1]


def _checked_cdf(n_passages: int, vocab_size: int, s: float, q: float) -> np.ndarray:
    """:func:`_cdf` after the checks shared by both corpus generators."""
    int_at_least("n_passages", n_passages, 1)
    if vocab_size <= len(COMMON_WORDS):
        raise ValueError(f"vocab_size must exceed {len(COMMON_WORDS)}")
    return _cdf(vocab_size, s, q)


def synthetic_corpus(
    n_passages: int,
    *,
    seed: int = 0,
    vocab_size: int = 1_000_000,
    mean_length: float = 96.0,
    zipf_s: float = 1.0,
    zipf_q: float = 0.0,
) -> list[Passage]:
    """``n_passages`` synthetic passages (ids ``"s0"``, ``"s1"``, ...), identical for the same arguments.

    Args:
        n_passages: how many passages.
        seed: random seed.
        vocab_size: number of word ranks (most of them occur only in large corpora, as on real text).
        mean_length: mean words per passage text (titles add 1 to 3 rare words).
        zipf_s, zipf_q: Zipf-Mandelbrot exponent and shift.

    Example:
        >>> synthetic_corpus(2, seed=3)[1].id
        's1'
    """
    cdf = _checked_cdf(n_passages, vocab_size, zipf_s, zipf_q)
    return _passages(np.random.default_rng(seed), n_passages, 0, cdf, vocab_size, mean_length)


def _passages(
    rng: np.random.Generator,
    n_passages: int,
    first: int,
    cdf: np.ndarray,
    vocab_size: int,
    mean_length: float,
) -> list[Passage]:
    """``n_passages`` passages with ids ``s{first}``, ``s{first + 1}``, ... drawn from ``rng``."""
    shape = 4.0
    lengths = np.maximum(5, (rng.gamma(shape, (mean_length - 5) / shape, n_passages) + 5).astype(np.int64))
    title_lengths = rng.integers(1, 4, n_passages)
    ranks = np.searchsorted(cdf, rng.random(int(lengths.sum())), side="right").astype(np.int64)
    ranks = np.minimum(ranks, vocab_size - 1)
    # titles: rarer words (ranks from 1,000 up), like named entities
    title_ranks = rng.integers(min(1000, vocab_size - 1), vocab_size, int(title_lengths.sum()))
    lookup = _words(np.unique(np.concatenate([ranks, title_ranks])))
    words = np.empty(vocab_size, dtype=object)
    for r, w in lookup.items():
        words[r] = w
    text_words = words[ranks]
    title_words = words[title_ranks]
    passages = []
    t = w = 0
    for i in range(n_passages):
        n, m = int(lengths[i]), int(title_lengths[i])
        title = " ".join(title_words[t : t + m]).title()
        text = " ".join(text_words[w : w + n])
        passages.append(Passage(f"s{first + i}", title, text[0].upper() + text[1:] + "."))
        t += m
        w += n
    return passages


def iter_synthetic_corpus(
    n_passages: int,
    *,
    seed: int = 0,
    chunk: int = 100_000,
    vocab_size: int = 1_000_000,
    mean_length: float = 96.0,
    zipf_s: float = 1.0,
    zipf_q: float = 0.0,
) -> Iterator[Passage]:
    """The passages of a synthetic corpus of any size, generated ``chunk`` at a time (bounded
    memory; chunk ``i`` draws from the seed ``(seed, i)``), with the statistics of
    :func:`synthetic_corpus` (not the same passages). Write one to a file with
    :func:`~swirl_env.retrieval.corpus.save_corpus`.

    Example:
        >>> ps = list(iter_synthetic_corpus(5, seed=0, chunk=2))
        >>> [p.id for p in ps], ps == list(iter_synthetic_corpus(5, seed=0, chunk=2))
        (['s0', 's1', 's2', 's3', 's4'], True)
    """
    int_at_least("chunk", chunk, 1)
    cdf = _checked_cdf(n_passages, vocab_size, zipf_s, zipf_q)
    for i, first in enumerate(range(0, n_passages, chunk)):
        rng = np.random.default_rng([seed, i])
        yield from _passages(rng, min(chunk, n_passages - first), first, cdf, vocab_size, mean_length)


def synthetic_queries(
    passages: Sequence[Passage],
    n_queries: int,
    *,
    seed: int = 0,
    mean_length: float = 16.0,
    from_passage: float = 0.5,
    vocab_size: int = 1_000_000,
    zipf_s: float = 1.0,
    zipf_q: float = 0.0,
) -> list[str]:
    """``n_queries`` questions: a question word, then about ``mean_length`` words of which a share
    ``from_passage`` comes from one random target passage and the rest from the Zipf law.

    Example:
        >>> synthetic_queries(synthetic_corpus(10), 1, seed=0)[0].endswith("?")
        True
    """
    if not passages:
        raise ValueError("no passages to draw questions from")
    rng = np.random.default_rng(seed)
    cdf = _cdf(vocab_size, zipf_s, zipf_q)
    out = []
    for _ in range(n_queries):
        target = passages[int(rng.integers(len(passages)))]
        doc_words = (target.title + " " + target.text.rstrip(".")).lower().split()
        length = max(3, int(rng.poisson(mean_length - 1)))
        n_doc = min(len(doc_words), round(length * from_passage))
        picked = [doc_words[int(j)] for j in rng.choice(len(doc_words), n_doc, replace=False)]
        ranks = np.minimum(np.searchsorted(cdf, rng.random(length - n_doc), side="right"), vocab_size - 1)
        picked += list(_words(np.unique(ranks)).get(int(r)) for r in ranks)
        rng.shuffle(picked)
        qw = _QUESTION_WORDS[int(rng.integers(len(_QUESTION_WORDS)))]
        out.append(f"{qw.capitalize()} {' '.join(picked)}?")
    return out
