"""A scripted oracle for the search environments: search the gold titles, then give the gold answer.

:class:`GoldSearchPolicy` knows the tasks (their supporting titles and answers). At each state it
finds the task from the question in the first message, counts the actions taken so far, and
writes ``<search_query> TITLE </search_query>`` for the next supporting title (HotPotQA's
``supporting_facts`` titles; MuSiQue's supporting paragraphs in hop order), then
``<answer> GOLD </answer>``. Every episode it plays scores EM 1: a test oracle for the
environment loop, the metrics and the trajectory pipeline.

:func:`supporting_title_recall` measures how well the retriever finds those gold paragraphs
when queried with their titles (the fraction of supporting titles whose paragraph is in the
top-k results).

Command line (prints the recall table)::

    python -m swirl_algos.policies.gold_search --dataset hotpotqa --split dev --ks 1 5

Example:
    >>> from swirl_env.envs.qa.loaders import load_hotpotqa
    >>> policy = GoldSearchPolicy(load_hotpotqa(split="dev"))
    >>> state = [{"role": "user", "content": "...\\n\\nQuestion: " + policy.tasks[0].question}]
    >>> policy.act([state])
    ['<search_query> VIVA Media </search_query>']
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from tqdm.auto import tqdm

from swirl_algos.policies.base import State, TaskOracle
from swirl_env.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = ["GoldSearchPolicy", "main", "supporting_title_recall"]


class GoldSearchPolicy(TaskOracle):
    """Searches each supporting title once, in order, then answers the gold answer.

    Args:
        tasks: the tasks the policy may meet (an environment's ``env.unwrapped.tasks``, or a loader's).
        max_searches: answer after at most this many searches (the environments' cap is 5).
        answer_alias: index into ``task.answers`` of the answer to give (0: the gold answer).

    Raises (from :meth:`act`):
        KeyError: a state whose question is not one of ``tasks``.

    Example:
        >>> import gymnasium as gym, swirl_env
        >>> env = gym.make("SwiRL-HotPotQA-v0", n_tasks=3)
        >>> policy = GoldSearchPolicy(env.unwrapped.tasks)
        >>> obs, info = env.reset(options={"task_index": 1})
        >>> done = False
        >>> while not done:
        ...     obs, reward, term, trunc, info = env.step(policy.act([info["messages"]])[0])
        ...     done = term or trunc
        >>> reward
        1.0
    """

    name = "gold-search"

    def __init__(self, tasks: Sequence[Task], *, max_searches: int = 5, answer_alias: int = 0) -> None:
        if not tasks:
            raise ValueError("GoldSearchPolicy needs the tasks it will be asked about")
        if max_searches < 0:
            raise ValueError(f"max_searches must be >= 0, got {max_searches}")
        self.tasks = list(tasks)
        self.max_searches = max_searches
        self.answer_alias = answer_alias
        self.index_tasks()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "max_searches": self.max_searches, "answer_alias": self.answer_alias}

    def plan(self, task: Task) -> list[str]:
        """The full action sequence for a task: searches, then the answer."""
        titles = list(task.metadata.get("supporting_titles") or [])[: self.max_searches]
        answers = task.answers
        answer = answers[min(self.answer_alias, len(answers) - 1)]
        return [f"<search_query> {t} </search_query>" for t in titles] + [f"<answer> {answer} </answer>"]

    def act(self, states: Sequence[State], *, seeds: Sequence[int] | None = None) -> list[str]:
        out = []
        for state in states:
            plan = self.plan(self.task_of(state))
            done = sum(1 for m in state if m.get("role") == "assistant")
            out.append(plan[min(done, len(plan) - 1)])
        return out


def supporting_title_recall(
    dataset: str = "hotpotqa",
    split: str | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    ks: Sequence[int] = (1, 5),
    n_tasks: int | None = None,
    corpus: str | os.PathLike[str] | None = None,
    retriever: str = "sparse",
    retriever_url: str | None = None,
    retriever_options: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """How often a search for a supporting title returns that title's paragraph in the top k.

    Every supporting title of every question is sent as a query, as :class:`GoldSearchPolicy`
    does. A title counts as found at k when a hit among the first k has that exact title.
    ``passage_recall@k`` is stricter: the hit must be the very supporting paragraph (same id),
    which matters for MuSiQue, where one title can have several paragraphs.

    Returns:
        ``{"dataset", "split", "path", "questions", "titles", "corpus_passages",
        "recall@k", "passage_recall@k", "all_titles@k"}`` for each ``k``; ``all_titles@k`` is the
        fraction of questions whose supporting titles are all found.

    Example:
        >>> r = supporting_title_recall("hotpotqa", "dev", n_tasks=10, progress=False)
        >>> r["questions"], 0.0 <= r["recall@1"] <= r["recall@5"] <= 1.0
        (10, True)
    """
    from swirl_env.envs.qa import DEFAULT_SPLITS, build_retriever
    from swirl_env.envs.qa.loaders import load_qa_dataset

    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    split = split or DEFAULT_SPLITS.get(dataset, "dev")
    ds = load_qa_dataset(dataset, split, path)
    r = build_retriever(
        ds,
        corpus=corpus,
        retriever=retriever,
        retriever_url=retriever_url,
        retriever_options=retriever_options,
    )
    tasks = ds.tasks[:n_tasks] if n_tasks else ds.tasks
    found = dict.fromkeys(ks, 0)
    found_psg = dict.fromkeys(ks, 0)
    all_found = dict.fromkeys(ks, 0)
    n_titles = 0
    for task in tqdm(tasks, desc=f"gold-title search ({dataset})", unit="q", disable=not progress):
        titles = list(task.metadata.get("supporting_titles") or [])
        ids_by_title: dict[str, set[str]] = {}
        for par, pid in zip(
            task.metadata.get("supporting_paragraphs") or [],
            task.metadata.get("supporting_passage_ids") or [],
        ):
            ids_by_title.setdefault(par["title"], set()).add(pid)
        ok_all = dict.fromkeys(ks, True)
        for title in titles:
            n_titles += 1
            hits = r.search(title, k=ks[-1])
            for k in ks:
                top = hits[:k]
                hit = any(h.passage.title == title for h in top)
                found[k] += hit
                found_psg[k] += any(h.passage.id in ids_by_title.get(title, ()) for h in top)
                ok_all[k] &= hit
        for k in ks:
            all_found[k] += bool(titles) and ok_all[k]
    out: dict[str, Any] = {
        "dataset": dataset,
        "split": split,
        "path": str(ds.path),
        "questions": len(tasks),
        "titles": n_titles,
        "corpus_passages": len(r),
        "retriever": type(r).__name__,
    }
    for k in ks:
        out[f"recall@{k}"] = found[k] / n_titles if n_titles else 0.0
        out[f"passage_recall@{k}"] = found_psg[k] / n_titles if n_titles else 0.0
        out[f"all_titles@{k}"] = all_found[k] / len(tasks) if tasks else 0.0
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print :func:`supporting_title_recall` as JSON."""
    p = argparse.ArgumentParser(description="Supporting-title recall of gold-title searches")
    p.add_argument("--dataset", default="hotpotqa", choices=["hotpotqa", "musique", "beerqa", "cofca"])
    p.add_argument("--split", default=None)
    p.add_argument("--path", default=None, help="dataset file (default: the bundled sample)")
    p.add_argument("--corpus", default=None, help="corpus file to search instead of the split corpus")
    p.add_argument("--retriever", default="sparse", choices=["sparse", "rank_bm25", "http"])
    p.add_argument("--retriever-url", default=None)
    p.add_argument("--ks", type=int, nargs="+", default=[1, 5])
    p.add_argument("--n-tasks", type=int, default=None)
    a = p.parse_args(argv)
    res = supporting_title_recall(
        a.dataset,
        a.split,
        a.path,
        ks=a.ks,
        n_tasks=a.n_tasks,
        corpus=a.corpus,
        retriever=a.retriever,
        retriever_url=a.retriever_url,
    )
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
