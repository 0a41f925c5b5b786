"""``SwiRL-HotPotQA-v0``, ``SwiRL-MuSiQue-v0``, ``SwiRL-BeerQA-v0``, ``SwiRL-CofCA-v0``: multi-hop QA with search.

The model answers a question in up to ``max_tool_calls`` search steps
(``<search_query> QUERY </search_query>``, shown back as ``QUERY -> RESULT``), then
``<answer> ANSWER </answer>``. The outcome reward is one of the QA metrics of
:func:`swirl_env.metrics.qa.qa_metrics` (exact match by default; all of them are in
``info["outcome"]["metrics"]``), scored by default exactly as the dataset's official evaluation
script scores it (:data:`~swirl_env.metrics.qa.OFFICIAL_STYLES`: HotPotQA's
``hotpot_evaluate_v1.py``, MuSiQue's ``metrics/answer.py``, BeerQA's ``eval_beerqa.py``, SQuAD
v1.1's ``evaluate-v1.1.py`` for CofCA).

Search runs over, by default, the corpus of the split: every paragraph of every question of the
dataset file, deduplicated by ``(title, text)`` (the paper searches "all articles of the data
split"); ``corpus=`` points to any other corpus file (e.g. a Wikipedia dump), ``retriever="http"``
to a remote ``/retrieve`` server. The dataset and the index are built once per process and
shared by every environment copy (:func:`~swirl_env.envs.qa.loaders.load_qa_dataset`,
:func:`~swirl_env.retrieval.get_retriever`); ``gym.make`` keyword arguments hold only paths and
settings.

Example:
    >>> import gymnasium as gym, swirl_env
    >>> env = gym.make("SwiRL-HotPotQA-v0")
    >>> obs, info = env.reset(options={"task_index": 0})
    >>> obs, r, term, trunc, info = env.step("<search_query> VIVA Media </search_query>")
    >>> info["step"]["observation"].startswith("VIVA Media -> VIVA Media: VIVA Media GmbH")
    True
    >>> env.step("<answer> Gesellschaft mit beschränkter Haftung </answer>")[1]
    1.0
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from swirl_env.checks import int_at_least
from swirl_env.env import ToolEnv
from swirl_env.envs.qa.common import DATASETS, QADataset
from swirl_env.envs.qa.loaders import load_qa_dataset
from swirl_env.metrics.qa import METRIC_NAMES, STYLES, official_style, qa_metrics
from swirl_env.prompts import PromptTemplate
from swirl_env.retrieval import BACKENDS, Retriever, get_retriever
from swirl_env.tools.search import SearchTool

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_SPLITS", "SearchQAEnv", "build_retriever"]

#: Split used when none is given.
DEFAULT_SPLITS = {"hotpotqa": "dev", "musique": "dev", "beerqa": "dev", "cofca": "test"}


def build_retriever(
    ds: QADataset,
    *,
    corpus: str | os.PathLike[str] | None = None,
    retriever: str = "sparse",
    retriever_url: str | None = None,
    index_dir: str | os.PathLike[str] | None = None,
    retriever_options: Mapping[str, Any] | None = None,
) -> Retriever:
    """The (process-shared) retriever of an environment: over ``corpus`` if given, else the split corpus.

    Example:
        >>> from swirl_env.envs.qa.loaders import load_qa_dataset
        >>> len(build_retriever(load_qa_dataset("hotpotqa", "dev")))
        1000
    """
    opts = dict(retriever_options or {})
    if retriever not in BACKENDS:
        raise ValueError(f"unknown retriever {retriever!r}; choose one of {BACKENDS}")
    if retriever == "http":
        url = retriever_url or (str(corpus) if corpus is not None else None)
        if not url or not url.startswith(("http://", "https://")):
            raise ValueError("retriever='http' needs retriever_url='http://host:port/retrieve'")
        return get_retriever(url, backend="http", **opts)
    if retriever_url is not None:
        raise ValueError(f"retriever_url is only used with retriever='http', not {retriever!r}")
    if corpus is not None:
        return get_retriever(corpus, backend=retriever, index_dir=index_dir, **opts)
    if index_dir is not None:
        raise ValueError(
            "index_dir is for a corpus file: pass corpus=PATH (the split corpus is indexed in memory)"
        )
    return get_retriever(ds.passages, backend=retriever, **opts)


class SearchQAEnv(ToolEnv):
    """Multi-hop question answering with a search tool.

    Args:
        dataset: ``"hotpotqa"``, ``"musique"``, ``"beerqa"`` or ``"cofca"``.
        split: ``"dev"`` (default; ``"test"`` for CofCA) or ``"train"``; picks the bundled sample or
            the official file in ``data_dir`` and labels the tasks.
        path: the dataset file in its official format (default: the bundled sample of the split;
            BeerQA and CofCA have none, see docs/datasets.md).
        data_dir: directory with the official files (default ``$SWIRL_DATA_DIR``).
        corpus: a corpus file (JSONL ``{"id", "title", "text"}`` or ``{"id", "contents"}``) to search
            instead of the split corpus.
        retriever: ``"sparse"`` (BM25, fast; default), ``"rank_bm25"`` (reference) or ``"http"``.
        retriever_url: the ``/retrieve`` endpoint for ``retriever="http"``.
        index_dir: with ``corpus``: load/save the sparse index there (built once, memory-mapped).
        retriever_options: backend parameters (``k1``, ``b``, ``epsilon``; ``timeout``, ``retries``...).
        top_k: passages shown per search (the paper: 1).
        max_passage_chars: each shown passage is cut to this length.
        max_query_chars: longer queries get an error observation.
        n_tasks: serve only the first ``n_tasks`` questions (the corpus stays the whole split's).
        levels: HotPotQA only: keep these levels (the paper trains on ``["medium", "hard"]``).
        loader_options: further options of the dataset reader (e.g. ``{"sources": ["beerqa"]}``).
        prompt: prompt version (``"search-v1"``) or a :class:`~swirl_env.prompts.PromptTemplate`.
        max_tool_calls: searches before the answer is due (the paper: 5).
        primary_metric: the outcome reward: ``"em"`` (default), ``"f1"``, ``"cover_em"``,
            ``"precision"`` or ``"recall"``. Every metric is reported in ``info["outcome"]["metrics"]``.
        f1_style: the scoring rules of :func:`~swirl_env.metrics.qa.qa_metrics` (F1, and how EM
            and F1 combine over aliases): ``None`` (default) follows the dataset's official script
            (``"hotpotqa"``, ``"musique"``, ``"beerqa"``; ``"squad"`` for CofCA); any of
            ``"hotpotqa"``, ``"musique"`` (``"squad2"``), ``"beerqa"``, ``"squad"`` overrides it.
        **kwargs: passed to :class:`~swirl_env.env.ToolEnv` (``syntaxes``, ``render_mode``...).

    Example:
        >>> env = SearchQAEnv(dataset="musique", n_tasks=5, top_k=2)
        >>> obs, info = env.reset(seed=0)
        >>> info["task"]["dataset"], len(env.tasks), env.f1_style
        ('musique', 5, 'musique')
    """

    def __init__(
        self,
        *,
        dataset: str = "hotpotqa",
        split: str | None = None,
        path: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        corpus: str | os.PathLike[str] | None = None,
        retriever: str = "sparse",
        retriever_url: str | None = None,
        index_dir: str | os.PathLike[str] | None = None,
        retriever_options: Mapping[str, Any] | None = None,
        top_k: int = 1,
        max_passage_chars: int | None = 1000,
        max_query_chars: int = 512,
        n_tasks: int | None = None,
        levels: Sequence[str] | None = None,
        loader_options: Mapping[str, Any] | None = None,
        prompt: PromptTemplate | str = "search-v1",
        max_tool_calls: int = 5,
        primary_metric: str = "em",
        f1_style: str | None = None,
        **kwargs: Any,
    ) -> None:
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
        if primary_metric not in METRIC_NAMES:
            raise ValueError(f"primary_metric must be one of {METRIC_NAMES}, got {primary_metric!r}")
        if f1_style is None:
            f1_style = official_style(dataset)
        elif f1_style not in STYLES:
            raise ValueError(f"f1_style must be None or one of {STYLES}, got {f1_style!r}")
        options = dict(loader_options or {})
        if levels is not None:
            if dataset != "hotpotqa":
                raise ValueError(f"levels= is a HotPotQA option, not {dataset!r}'s")
            options["levels"] = tuple(levels)
        split = split or DEFAULT_SPLITS[dataset]
        ds = load_qa_dataset(dataset, split, path, data_dir=data_dir, **options)
        tasks = ds.tasks
        if n_tasks is not None:
            int_at_least("n_tasks", n_tasks, 1)
            if n_tasks > len(tasks):
                logger.warning("n_tasks=%d but %s has %d questions: using all", n_tasks, ds.path, len(tasks))
            tasks = tasks[:n_tasks]
        if not tasks:
            raise ValueError(f"{ds.path}: no question left (skipped: {dict(ds.skipped)})")
        self.retriever = build_retriever(
            ds,
            corpus=corpus,
            retriever=retriever,
            retriever_url=retriever_url,
            index_dir=index_dir,
            retriever_options=retriever_options,
        )
        search = SearchTool(
            self.retriever, top_k=top_k, max_passage_chars=max_passage_chars, max_query_chars=max_query_chars
        )
        super().__init__(
            tasks,
            [search],
            metric=functools.partial(qa_metrics, style=f1_style),
            primary_metric=primary_metric,
            prompt=prompt,
            max_tool_calls=max_tool_calls,
            **kwargs,
        )
        self.dataset = ds
        self.dataset_name = dataset
        self.f1_style = f1_style
        self.split = split
        self.search_tool = search
        self.fixture = ds.fixture

    def __repr__(self) -> str:
        return (
            f"SearchQAEnv(dataset={self.dataset_name!r}, split={self.split!r}, tasks={len(self.tasks)}, "
            f"retriever={type(self.retriever).__name__}, top_k={self.search_tool.top_k})"
        )
