"""One policy over several OpenAI-compatible servers: each request goes to the least-loaded one.

:class:`MultiServerPolicy` holds one :class:`~swirl_algos.policies.openai.OpenAIPolicy` per base
URL (same served model and sampling settings) and sends every state to the server with the fewest
requests in flight (ties: round robin), so a fast server takes more of the work and a slow one
does not hold the batch back. A request that fails for good on its server raises, as with one
server (the rollout stops with every finished episode saved; re-running resumes).
``swirl generate --base-url URL1,URL2,...`` builds it.

Example:
    >>> p = MultiServerPolicy(["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"], "m")
    >>> [s["base_url"] for s in p.describe()["servers"]]
    ['http://127.0.0.1:8000/v1', 'http://127.0.0.1:8001/v1']
    >>> p.close()
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from swirl_algos.policies.base import Policy, State
from swirl_algos.policies.openai import OpenAIPolicy

__all__ = ["MultiServerPolicy"]


class MultiServerPolicy(Policy):
    """Least-loaded dispatch over several servers (see the module docstring).

    Args:
        base_urls: the servers' ``/v1`` URLs (at least one, no duplicates).
        model: the served model name (the same on every server).
        concurrency: requests in flight per server.
        **kwargs: the :class:`OpenAIPolicy` settings (``max_tokens``, ``temperature``, ...).

    Attributes:
        counts: requests sent to each server so far (by URL).
    """

    name = "openai-multi"

    def __init__(self, base_urls: Sequence[str], model: str, *, concurrency: int = 8, **kwargs: Any) -> None:
        urls = [u.strip() for u in base_urls if u and u.strip()]
        if not urls:
            raise ValueError("MultiServerPolicy needs at least one base URL")
        if len(set(urls)) != len(urls):
            raise ValueError(f"duplicate base URLs: {urls}")
        self.servers = [OpenAIPolicy(u, model, concurrency=concurrency, **kwargs) for u in urls]
        self.concurrency = concurrency
        self.counts = {u: 0 for u in urls}
        self._in_flight = [0] * len(urls)
        self._next = 0
        self._lock = threading.Lock()

    def set_stop_strings(self, stop_strings: Sequence[str]) -> None:
        for s in self.servers:
            s.set_stop_strings(stop_strings)

    def describe(self) -> dict[str, Any]:
        first = self.servers[0].describe()
        return {**first, "name": self.name, "servers": [s.describe() for s in self.servers]}

    def _acquire(self) -> int:
        with self._lock:
            n = len(self.servers)
            order = [(self._next + k) % n for k in range(n)]
            best = min(order, key=lambda i: self._in_flight[i])
            self._in_flight[best] += 1
            self._next = (best + 1) % n
            self.counts[self.servers[best].base_url] += 1
            return best

    def _one(self, state: State, seed: int | None) -> str:
        i = self._acquire()
        try:
            return self.servers[i].act([state], seeds=None if seed is None else [seed])[0]
        finally:
            with self._lock:
                self._in_flight[i] -= 1

    def act(self, states: Sequence[State], *, seeds: Sequence[int] | None = None) -> list[str]:
        """One action per state; up to ``concurrency`` requests in flight per server."""
        if seeds is not None and len(seeds) != len(states):
            raise ValueError(f"got {len(seeds)} seeds for {len(states)} states")
        if not states:
            return []
        jobs = [(s, None if seeds is None else int(seeds[i])) for i, s in enumerate(states)]
        workers = min(len(jobs), self.concurrency * len(self.servers))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda job: self._one(*job), jobs))

    def close(self) -> None:
        for s in self.servers:
            s.close()
