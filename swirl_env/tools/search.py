"""The search tool: ``<search_query> QUERY </search_query>`` -> the top-k passages of a retriever.

The environment shows the result as ``QUERY -> RESULT``. RESULT is the ``top_k`` best passages
(the paper shows one), each rendered as ``Title: text`` and cut to ``max_passage_chars``
characters (at a word boundary when one is near, with ``...`` appended); several passages are
separated by a newline. A query that matches nothing returns ``No results found.`` (a valid
call); an empty or over-long query, or a failing remote retriever, returns an error result
(``ok=False``, ``"Error: ..."``) so the episode goes on.

``ToolResult.value`` holds the structured hits,
``{"hits": [{"id", "title", "text", "score"}, ...]}``, with the full (uncut) passage text.

Example:
    >>> from swirl_env.retrieval import Passage, get_retriever
    >>> r = get_retriever([Passage("1", "Paris", "Paris is the capital of France."),
    ...                    Passage("2", "Rome", "Rome is the capital of Italy."),
    ...                    Passage("3", "Oslo", "Oslo is the capital of Norway.")])
    >>> tool = SearchTool(r)
    >>> tool("capital of Italy").text
    'Rome: Rome is the capital of Italy.'
    >>> tool("capital of Italy").value["hits"][0]["id"]
    '2'
"""

from __future__ import annotations

import logging
from typing import Any

from swirl_env.checks import int_at_least
from swirl_env.retrieval.base import Hit, Retriever
from swirl_env.retrieval.remote import RetrievalHTTPError
from swirl_env.tools.base import Tool, ToolResult

logger = logging.getLogger(__name__)

__all__ = ["NO_RESULTS", "SearchTool", "format_passage"]

#: RESULT of a search that matches no passage.
NO_RESULTS = "No results found."

_ELLIPSIS = "..."


def format_passage(title: str, text: str, max_chars: int | None) -> str:
    """``"Title: text"`` (just ``text`` when the title is empty), cut to ``max_chars`` characters.

    The cut falls on the last space of the allowed span when it is in its last fifth, so words
    are not split; ``...`` is appended (and counted) when anything was cut. Newlines in the
    passage become spaces so that one passage is one line.

    Example:
        >>> format_passage("Ed Wood", "Edward Davis Wood Jr. was an American filmmaker.", 30)
        'Ed Wood: Edward Davis Wood...'
    """
    body = " ".join(f"{title}: {text}".split()) if title else " ".join(text.split())
    if max_chars is None or len(body) <= max_chars:
        return body
    room = max(max_chars - len(_ELLIPSIS), 0)
    cut = body[:room]
    space = cut.rfind(" ")
    if space >= room * 0.8:
        cut = cut[:space]
    return cut.rstrip() + _ELLIPSIS


class SearchTool(Tool):
    """Top-k passage search over a :class:`~swirl_env.retrieval.Retriever`.

    Args:
        retriever: any retriever (BM25 sparse / rank_bm25, or the HTTP client). Share one per
            process (:func:`swirl_env.retrieval.get_retriever`): the tool keeps only a reference.
        top_k: passages shown per query (the paper: 1).
        max_passage_chars: each rendered ``Title: text`` is cut to this many characters
            (``None``: no cut).
        max_query_chars: longer queries get an error result instead of a search.

    Example:
        >>> from swirl_env.retrieval import Passage, get_retriever
        >>> r = get_retriever([Passage("a", "Oslo", "Oslo is the capital of Norway.")])
        >>> SearchTool(r, top_k=3)("").text
        'Error: empty search query'
    """

    name = "search"
    tag = "search_query"
    description = "searches a passage corpus and returns the best-matching passage(s) as 'Title: text'"
    parameter = "query"
    parameter_description = "a few keywords, e.g. Ed Wood nationality"

    def __init__(
        self,
        retriever: Retriever,
        *,
        top_k: int = 1,
        max_passage_chars: int | None = 1000,
        max_query_chars: int = 512,
    ) -> None:
        if not isinstance(retriever, Retriever):
            raise TypeError(
                f"retriever must be a swirl_env.retrieval.Retriever, got {type(retriever).__name__}"
            )
        int_at_least("top_k", top_k, 1)
        if max_passage_chars is not None and max_passage_chars < 20:
            raise ValueError(f"max_passage_chars must be >= 20 (or None), got {max_passage_chars}")
        int_at_least("max_query_chars", max_query_chars, 1)
        self.retriever = retriever
        self.top_k = top_k
        self.max_passage_chars = max_passage_chars
        self.max_query_chars = max_query_chars

    def __repr__(self) -> str:
        return (
            f"SearchTool(retriever={type(self.retriever).__name__}({len(self.retriever)} passages), "
            f"top_k={self.top_k}, max_passage_chars={self.max_passage_chars})"
        )

    def render(self, hits: list[Hit]) -> str:
        """The RESULT text of a list of hits."""
        if not hits:
            return NO_RESULTS
        return "\n".join(
            format_passage(h.passage.title, h.passage.text, self.max_passage_chars) for h in hits
        )

    def run(self, argument: str) -> ToolResult:
        query = " ".join(str(argument).split())
        if not query:
            return ToolResult.error("empty search query")
        if len(query) > self.max_query_chars:
            return ToolResult.error(
                f"search query too long ({len(query)} characters; the limit is {self.max_query_chars})"
            )
        try:
            hits = self.retriever.search(query, k=self.top_k)
        except RetrievalHTTPError as e:
            logger.warning("search failed for %r: %s", query, e)
            return ToolResult.error(f"the search service failed ({e})")
        value: dict[str, Any] = {
            "hits": [
                {
                    "id": h.passage.id,
                    "title": h.passage.title,
                    "text": h.passage.text,
                    "score": float(h.score),
                }
                for h in hits
            ]
        }
        return ToolResult(text=self.render(hits), value=value, metadata={"query": query})
