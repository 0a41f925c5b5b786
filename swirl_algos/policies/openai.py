"""A policy behind an OpenAI-compatible chat-completions server (vLLM, SGLang, TGI, OpenAI...).

Each state is one ``POST {base_url}/chat/completions`` with the state's messages, the sampling
settings, the env parser's stop strings (``stop``) and, by default, the per-sample ``seed``
(vLLM honours it exactly, OpenAI on a best-effort basis). Requests run concurrently on a thread
pool (``concurrency`` at a time) over one ``httpx.Client``.

Servers drop the matched stop string from the reply (OpenAI always; vLLM unless
``include_stop_str_in_output``). The policy puts it back, so an action ends with its closing tag
exactly like a local model's: from vLLM's ``stop_reason`` when the server reports it, otherwise
by closing the last opened call tag when the reply stopped on a stop sequence
(``finish_reason == "stop"``). The action is then cut after its first stop string.

Failures: timeouts, transport errors, HTTP 408/409/425/429 and 5xx, and malformed replies are
retried with exponential backoff and jitter (``Retry-After`` honoured up to ``backoff_max``);
other 4xx errors (wrong model name, bad key, prompt too long) are not (the shared
:class:`~swirl_env.chat_client.ChatCompletionsClient` does the requests). ``timeout`` bounds each
whole attempt, and a reply is capped at ``max_reply_bytes`` (a drip-feeding server, a huge or
compressed-bomb reply, or JSON nested too deeply is a failed attempt, never a hang or a crash). A
state that still fails raises :class:`PolicyRequestError`: a rollout stops there with every
finished episode saved (``swirl generate`` exits with that message), and re-running it resumes.

Example:
    >>> policy = OpenAIPolicy("http://localhost:8000/v1", "Qwen/Qwen2.5-7B-Instruct", concurrency=64)
    >>> policy.url
    'http://localhost:8000/v1/chat/completions'
    >>> # trajs = rollout("SwiRL-HotPotQA-v0", policy, n_tasks=1000, samples_per_task=5, num_envs=256)
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from swirl_algos.policies.base import Policy, State
from swirl_algos.policies.hf import cut_at_stop
from swirl_env.chat_client import ChatRequestError
from swirl_env.chat_endpoint import EndpointOptions, OpenAIEndpoint
from swirl_env.checks import int_at_least

if TYPE_CHECKING:
    from typing_extensions import Unpack

logger = logging.getLogger(__name__)

__all__ = ["OpenAIPolicy", "PolicyRequestError", "restore_stop"]


class PolicyRequestError(ChatRequestError):
    """A generation request that failed for good (after its retries, or not retryable).

    A :class:`~swirl_env.chat_client.ChatRequestError`: ``attempts``, ``status`` and ``raw``
    (the last reply's text) say what happened.
    """


def restore_stop(
    text: str, stop_strings: Sequence[str], finish_reason: str | None, stop_reason: Any = None
) -> str:
    """Put back the stop string a server dropped from ``text``.

    ``stop_reason`` (vLLM) names the matched stop string when known. Otherwise, when the reply
    stopped on a stop sequence, the closing tag of the last opened, unclosed call tag is appended.

    Example:
        >>> restore_stop("I compute <math_exp> 2 + 2 ", ["</math_exp>", "</answer>"], "stop")
        'I compute <math_exp> 2 + 2 </math_exp>'
        >>> restore_stop("<answer> 4", ["</math_exp>", "</answer>"], "stop", "</answer>")
        '<answer> 4</answer>'
        >>> restore_stop("no call", ["</answer>"], "length")
        'no call'
    """
    if cut_at_stop(text, stop_strings)[1] is not None:
        return text  # the server kept it (include_stop_str_in_output)
    if isinstance(stop_reason, str) and stop_reason in stop_strings:
        return text + stop_reason
    if finish_reason != "stop":
        return text
    best: tuple[int, str] | None = None
    for stop in stop_strings:
        m = re.fullmatch(r"</\s*([A-Za-z_][A-Za-z0-9_\-]*)\s*>", stop)
        if not m:
            continue
        tag = m.group(1)
        opens = [o.end() for o in re.finditer(rf"<\s*{re.escape(tag)}\s*>", text, re.IGNORECASE)]
        if opens and (best is None or opens[-1] > best[0]):
            best = (opens[-1], stop)
    return text + best[1] if best is not None else text


_WRAPPED_CALL = re.compile(r"<\s*tool_call\s*>(.*?)<\s*/\s*tool_call\s*>", re.DOTALL | re.IGNORECASE)


def _wire_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A state's messages as sent. Tag-style turns go as role and content. An assistant turn whose
    result follows as a ``role: "tool"`` message goes as the OpenAI API has it: its text before the
    call as ``content`` and the call as a ``tool_calls`` entry, which the tool message answers by
    ``tool_call_id`` (the server's chat template renders the call again in the model's format)."""
    out = []
    for i, m in enumerate(messages):
        msg: dict[str, Any] = {"role": m["role"], "content": m["content"]}
        if m["role"] == "tool":
            msg["tool_call_id"] = f"call_{i}"
            if m.get("name"):
                msg["name"] = str(m["name"])
        elif m["role"] == "assistant" and i + 1 < len(messages) and messages[i + 1]["role"] == "tool":
            call = _structured_call(str(m["content"]), f"call_{i + 1}")
            if call is not None:
                msg["content"], msg["tool_calls"] = call
        out.append(msg)
    return out


def _structured_call(text: str, call_id: str) -> tuple[str, list[dict[str, Any]]] | None:
    """``(text before the call, [tool_calls entry])`` of an action with a ``<tool_call>`` JSON call."""
    m = _WRAPPED_CALL.search(text)
    if m is None:
        return None
    try:
        obj = json.loads(m.group(1))
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    arguments = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    entry = {"id": call_id, "type": "function", "function": {"name": obj["name"], "arguments": arguments}}
    return text[: m.start()].rstrip(), [entry]


#: characters of an unreadable tool call kept in the action text
_MAX_RAW_CALL = 4096


def tool_calls_text(tool_calls: Any) -> str:
    """The first of a reply's parsed ``tool_calls`` as the text a tool-calling model writes,
    ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (``""`` when there is none). When
    no entry has a function with a string name, the first entry is kept as it came (as JSON, at
    most 4,096 characters), so the env reports the malformed call instead of losing it.

    Example:
        >>> tool_calls_text([{"type": "function", "function": {"name": "calculator",
        ...                   "arguments": "{\\"expression\\": \\"48/2\\"}"}}])
        '<tool_call>\\n{"name": "calculator", "arguments": {"expression": "48/2"}}\\n</tool_call>'
    """
    if not isinstance(tool_calls, list) or not tool_calls:
        return ""
    for call in tool_calls:
        fn = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            continue
        args = fn.get("arguments")
        if isinstance(args, str):  # kept as the string the server sent when it is no JSON
            with contextlib.suppress(ValueError, RecursionError):
                args = json.loads(args)
        text = json.dumps({"name": fn["name"], "arguments": args}, ensure_ascii=False)
        return f"<tool_call>\n{text}\n</tool_call>"
    # no call the policy can read: keep what the server sent (bounded), so the env names the problem
    try:
        raw = json.dumps(tool_calls[0], ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        raw = repr(tool_calls[0])
    return f"<tool_call>\n{raw[:_MAX_RAW_CALL]}\n</tool_call>"


class OpenAIPolicy(OpenAIEndpoint, Policy):
    """Generates actions with an OpenAI-compatible chat-completions endpoint.

    Args:
        base_url / model / api_key / concurrency / timeout / max_retries: see
            :class:`~swirl_env.chat_endpoint.OpenAIEndpoint` (``timeout`` bounds one
            attempt; ``concurrency`` is per server).
        max_tokens / temperature / top_p: sampling settings of every request.
        stop_strings: the ``stop`` sequences (normally set by the rollout from the env's parser).
        send_seed: send each state's seed as the request's ``seed``.
        chat_template_kwargs: sent as the request's ``chat_template_kwargs`` (vLLM, SGLang and
            ``transformers serve`` pass it to ``apply_chat_template``), e.g. ``{"enable_thinking": False}``.
        **options: the other request options of
            :class:`~swirl_env.chat_endpoint.OpenAIEndpoint`
            (:class:`~swirl_env.chat_endpoint.EndpointOptions`): ``total_timeout`` (the
            deadline of one state's request over all its attempts and backoff waits),
            ``max_reply_bytes``, ``backoff_base`` / ``backoff_max``, ``extra_body`` (e.g.
            ``{"top_k": 20}`` for vLLM), ``headers``, ``api_key_env`` and ``client``.

    Attributes:
        stats: ``requests``, ``retries``, ``failures``, ``prompt_tokens``, ``completion_tokens``.

    Example:
        >>> OpenAIPolicy("http://127.0.0.1:8000/v1", "m", temperature=0.7).describe()["temperature"]
        0.7
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 60,
        max_retries: int = 5,
        *,
        max_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop_strings: Sequence[str] | None = None,
        send_seed: bool = True,
        chat_template_kwargs: Mapping[str, Any] | None = None,
        **options: Unpack[EndpointOptions],
    ) -> None:
        int_at_least("max_tokens", max_tokens, 1)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        super().__init__(
            base_url,
            model,
            api_key,
            concurrency,
            timeout,
            max_retries,
            request_name="generation request",
            **options,
        )
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.stop_strings = list(stop_strings or [])
        self.send_seed = send_seed
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.tools: list[dict[str, Any]] | None = None
        self.stats.update(prompt_tokens=0, completion_tokens=0)

    # ------------------------------------------------------------------ Policy API
    def set_stop_strings(self, stop_strings: Sequence[str]) -> None:
        """Requests stop at the first of these (the env parser's ``stop_strings``)."""
        self.stop_strings = [s for s in stop_strings if s]
        if len(self.stop_strings) > 4:
            logger.warning(
                "%d stop strings; OpenAI's API takes at most 4 (vLLM takes any number)",
                len(self.stop_strings),
            )

    def set_tools(self, tools: Sequence[Mapping[str, Any]] | None) -> None:
        """Send the env's tool schemas as every request's ``tools`` (native tool calling).

        The server renders them with the model's chat template. Assistant turns go back as the
        text the model wrote and tool results as ``role: "tool"`` messages; a reply whose call the
        server parsed into ``tool_calls`` becomes the same ``<tool_call>{...}</tool_call>`` text
        (:func:`tool_calls_text`), so the env and the training data see one format either way.
        """
        self.tools = [dict(t) for t in tools] if tools else None

    @property
    def counts(self) -> dict[str, int]:
        """Requests sent to each server so far (by API root)."""
        return dict(self._chat.counts)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "base_url": self.base_url,
            **({"servers": self._chat.base_urls} if len(self._chat.base_urls) > 1 else {}),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop_strings": list(self.stop_strings),
            **({"extra_body": self.extra_body} if self.extra_body else {}),
            **({"chat_template_kwargs": self.chat_template_kwargs} if self.chat_template_kwargs else {}),
        }

    def act(self, states: Sequence[State], *, seeds: Sequence[int] | None = None) -> list[str]:
        """One action per state, ``concurrency`` requests at a time.

        Raises:
            PolicyRequestError: a request failed for good.
        """
        if seeds is not None and len(seeds) != len(states):
            raise ValueError(f"got {len(seeds)} seeds for {len(states)} states")
        if not states:
            return []
        jobs = [(list(s), None if seeds is None else int(seeds[i])) for i, s in enumerate(states)]
        return self._map(lambda job: self._one(*job), jobs)

    def __enter__(self) -> OpenAIPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests
    def _body(self, messages: list[Any], seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": _wire_messages(messages),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": 1,
        }
        if self.stop_strings:
            body["stop"] = list(self.stop_strings)
        if self.send_seed and seed is not None:
            body["seed"] = int(seed) % (2**31)
        if self.chat_template_kwargs:
            body["chat_template_kwargs"] = dict(self.chat_template_kwargs)
        if self.tools:
            body["tools"] = [dict(t) for t in self.tools]
        body.update(self.extra_body)
        return body

    def _one(self, messages: list[Any], seed: int | None) -> str:
        try:
            reply = self._chat.complete(self._body(messages, seed))
        except ChatRequestError as e:
            self._count(e.attempts, failed=True)
            raise PolicyRequestError(str(e), attempts=e.attempts, status=e.status, raw=e.raw) from e
        self._count(
            reply.attempts,
            prompt_tokens=reply.tokens("prompt_tokens"),
            completion_tokens=reply.tokens("completion_tokens"),
        )
        choice = reply.choice
        message = choice.get("message")
        calls = tool_calls_text(message.get("tool_calls") if isinstance(message, Mapping) else None)
        if calls:  # the server parsed the model's call out of the text: write it back as text
            return (reply.content.rstrip() + "\n" + calls).lstrip()
        content = restore_stop(
            reply.content, self.stop_strings, choice.get("finish_reason"), choice.get("stop_reason")
        )
        return cut_at_stop(content, self.stop_strings)[0]
