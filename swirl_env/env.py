"""The multi-step tool environment every SwiRL env derives from.

Observation: the state ``s_i`` of the paper as one string, the whole conversation so far with its
turns joined by a blank line (so every state is a string prefix of the next). The same state as
chat messages is in ``info["messages"]`` (and :attr:`ToolEnv.messages`) for policies that use a
chat template.

Action: the model's text for one step. It is parsed by the one :class:`~swirl_env.parsing.ActionParser`;
the first complete call wins and text after it is dropped. A tool call is run and its result comes
back as a user turn ``ARGUMENT -> RESULT``; an answer ends the episode (``terminated=True``) with
the outcome reward; an action with no call or a malformed call gets an informative user turn and
counts as a step.

Tool style: ``tool_style="tags"`` (the paper's, the default) asks for calls in each tool's tags.
``tool_style="native"`` is the function calling of modern chat templates: the tools are JSON schemas
(:meth:`~swirl_env.tools.base.Tool.schema`, in ``info["tools"]`` and :attr:`ToolEnv.tool_schemas`)
that a policy passes to ``apply_chat_template(..., tools=...)``; the model calls one as
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` and the result comes back as a
``{"role": "tool", "name": TOOL, "content": RESULT}`` message. The assistant turn keeps the text
the model wrote, so every state is still the exact prefix of the next and training sees the tokens
that were sampled. After ``max_tool_calls`` non-answer steps, the next action must be an answer,
otherwise the episode ends with ``truncated=True`` and reward 0 (an unanswered episode is wrong).

Example:
    >>> import gymnasium as gym, swirl_env
    >>> env = gym.make("SwiRL-GSM8K-v0")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step("<math_exp> 48 / 2 </math_exp>")
    >>> info["step"]["observation"]
    '48 / 2 -> 24.0'
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym

from swirl_env.checks import int_at_least
from swirl_env.parsing import ActionParser
from swirl_env.prompts import PromptTemplate, get_prompt
from swirl_env.spaces import UnicodeText
from swirl_env.tasks.base import Task
from swirl_env.tools.base import Tool, ToolResult
from swirl_env.trajectory import Message, Step, Trajectory

#: ``metric(prediction, gold_answers) -> {"name": value, ...}``
Metric = Callable[[str, Sequence[str]], Mapping[str, float]]

TURN_SEPARATOR = "\n\n"
#: the longest error observation (the rest of a longer one is cut)
MAX_NOTICE_CHARS = 1000


def vector_info(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` without its null fields, at every depth of its records (``"task"`` is left whole):
    Gymnasium's vector envs batch each key into one array typed by the first env that has it, so a
    key that is ``None`` in one env and a dict or number in another breaks the batch; a left-out
    key is marked absent in the ``_key`` mask instead.

    Example:
        >>> vector_info({"step": {"kind": "none", "tool_ok": None}, "tool_result": None})
        {'step': {'kind': 'none'}}
    """
    return {k: v if k == "task" else _without_nulls(v) for k, v in info.items() if v is not None}


def _without_nulls(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {k: _without_nulls(v) for k, v in value.items() if v is not None}


def render_state(messages: Sequence[Message]) -> str:
    """The string observation of a list of chat messages (turns joined by a blank line)."""
    return TURN_SEPARATOR.join(m["content"] for m in messages)


class ToolEnv(gym.Env[str, str]):
    """Multi-step, text-action environment with tools.

    Subclass it (or instantiate it directly) with tasks, tools, a prompt and a metric.

    Args:
        tasks: the questions; ``reset(seed=...)`` picks one deterministically from the seed,
            ``reset(options={"task_index": i})`` or ``{"task_id": "..."}`` picks a given one
            (any other key, a wrong type or an unknown task is a ``TypeError``/``ValueError``
            naming the key).
        tools: tool instances; their tags become callable by the model.
        metric: scores a final answer against the gold answers, returns named values.
        primary_metric: the key of ``metric``'s result used as the outcome reward.
        prompt: a :class:`PromptTemplate` or a version name from :data:`swirl_env.prompts.PROMPTS`.
        max_tool_calls: non-answer steps allowed before the answer is due (paper: 10 math, 5 QA).
        syntaxes: accepted call syntaxes (``"tags"``, ``"json"``).
        tool_style: ``"tags"`` (the paper's prompt and user-turn results) or ``"native"`` (tools
            declared as JSON schemas to the chat template, results as ``role: "tool"`` messages).
        max_action_chars: longer actions are cut (and the cut is recorded).
        max_observation_chars: size of the observation space.
        render_mode: ``"ansi"`` (``render()`` returns the transcript) or ``"human"`` (prints it).
        demonstrations: solved examples shown in the first message before the question (few-shot
            prompting), each ``{"question": str, "turns": [str, ...]}``; built from the scripted
            oracles by :func:`swirl_algos.few_shot.oracle_demonstrations` (``--few-shot N``).

    Example:
        >>> from swirl_env.tasks.base import Task
        >>> from swirl_env.tools.base import Tool, ToolResult
        >>> class Reverse(Tool):
        ...     name, tag = "reverse", "reverse"
        ...     def run(self, argument): return ToolResult(argument[::-1])
        >>> env = ToolEnv([Task("t", "Reverse 'abc'", ("cba",), "toy", "test")], [Reverse()],
        ...               metric=lambda p, golds: {"em": float(p in golds)}, primary_metric="em")
        >>> _ = env.reset(seed=0)
        >>> env.step("<reverse>abc</reverse>")[4]["step"]["observation"]
        'abc -> cba'
        >>> env.step("<answer>cba</answer>")[1:4]
        (1.0, True, False)
    """

    metadata = {"render_modes": ["ansi", "human"]}  # noqa: RUF012

    def __init__(
        self,
        tasks: Sequence[Task],
        tools: Sequence[Tool],
        *,
        metric: Metric,
        primary_metric: str,
        prompt: PromptTemplate | str = "generic-v1",
        max_tool_calls: int = 5,
        syntaxes: tuple[str, ...] = ("tags", "json"),
        tool_style: str = "tags",
        max_action_chars: int = 16_384,
        max_observation_chars: int = 1_048_576,
        render_mode: str | None = None,
        demonstrations: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        if not tasks:
            raise ValueError("an environment needs at least one task")
        for name, value, low in (("max_tool_calls", max_tool_calls, 0), ("max_action_chars", max_action_chars, 1),
                                 ("max_observation_chars", max_observation_chars, 1)):  # fmt: skip
            int_at_least(name, value, low)
        if isinstance(syntaxes, str) or not syntaxes:
            raise ValueError(f"syntaxes must be a non-empty tuple of syntax names, got {syntaxes!r}")
        if not isinstance(prompt, (str, PromptTemplate)):
            raise TypeError(f"prompt must be a prompt version name or a PromptTemplate, got {prompt!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        if tool_style not in TOOL_STYLES:
            raise ValueError(f"tool_style must be one of {TOOL_STYLES}, got {tool_style!r}")
        if tool_style == "native" and "json" not in syntaxes:
            raise ValueError("tool_style='native' needs the 'json' syntax (native calls are JSON)")
        if "tags" not in syntaxes:  # the prompt of either style asks for <answer> ... </answer>
            raise ValueError(
                f"syntaxes must include 'tags' (the final answer is an <answer> tag), got {syntaxes!r}"
            )
        reserve = max_action_chars + 2 * len(TURN_SEPARATOR) + MAX_NOTICE_CHARS
        if max_observation_chars <= reserve:
            raise ValueError(
                f"max_observation_chars must exceed max_action_chars + {reserve - max_action_chars} "
                f"(room for one more action and a notice), got {max_observation_chars} with "
                f"max_action_chars={max_action_chars}: raise the first or lower the second"
            )
        for t in tools:
            if not isinstance(t, Tool):
                raise TypeError(f"tools must be Tool instances, got {type(t).__name__} {t!r:.60}")
        if demonstrations is not None:
            if not isinstance(demonstrations, str | Mapping):
                demonstrations = list(demonstrations)  # a generator is read once, here
            if not isinstance(demonstrations, list) or not all(
                isinstance(d, Mapping) for d in demonstrations
            ):
                raise TypeError(
                    f"demonstrations must be a list of dicts (solved examples), got {demonstrations!r:.60}"
                )
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate tool names: {names}")
        self.tasks: Sequence[Task] = tasks
        self._task_index = {t.id: i for i, t in enumerate(tasks)}
        self.tools: dict[str, Tool] = {t.name: t for t in tools}
        self.parser = ActionParser({t.tag: t.name for t in tools}, syntaxes=syntaxes)
        self.metric = metric
        self.primary_metric = primary_metric
        self.prompt = get_prompt(prompt) if isinstance(prompt, str) else prompt
        self.tool_style = tool_style
        #: the tools as JSON schemas for ``apply_chat_template(tools=...)``; ``None`` in the tag style
        self.tool_schemas: list[dict[str, Any]] | None = (
            [t.schema() for t in tools] if tool_style == "native" else None
        )
        self.max_tool_calls = max_tool_calls
        self.max_action_chars = max_action_chars
        self.render_mode = render_mode
        self.demonstrations = [dict(d) for d in demonstrations or ()]
        if self.demonstrations:
            from swirl_env.prompts import render_demonstrations

            render_demonstrations(self.demonstrations)  # a malformed one fails here, not at reset
        # the examples as the prompt shows them, in this env's tool style (once, not at every reset)
        self._prompt_demonstrations = [self._restyle_demonstration(d) for d in self.demonstrations] or None
        self.observation_space = UnicodeText(max_length=max_observation_chars)
        #: the longest state after which the episode goes on (the rest is kept for one action and
        #: a notice, so every observation stays in the observation space)
        self.max_state_chars = max_observation_chars - reserve
        self.action_space = UnicodeText(max_length=max_action_chars)
        self.task: Task | None = None
        self.messages: list[Message] = []
        self.steps: list[Step] = []
        self.tool_calls = 0
        self.final_answer: str | None = None
        self.outcome: dict[str, Any] = {}
        self._done = True
        self._last_seed: int | None = None
        self._terminated = False
        self._truncated = False

    # ------------------------------------------------------------------ hooks for subclasses
    def build_prompt(self, task: Task) -> str:
        """The first user message (state ``s_1``). Override to change how a task is shown."""
        tags = [t.tag for t in self.tools.values()]
        return self.prompt.render(
            task.question,
            self.max_tool_calls,
            tags,
            self._prompt_demonstrations,
            tool_style=self.tool_style,
            tool_names=list(self.tools),
        )

    def format_call(self, tool: str, argument: str) -> str:
        """A call of ``tool`` (its name or tag) in this env's tool style.

        Example:
            >>> import gymnasium as gym, swirl_env
            >>> gym.make("SwiRL-GSM8K-v0", tool_style="native").unwrapped.format_call("calculator", "48/2")
            '<tool_call>\\n{"name": "calculator", "arguments": {"expression": "48/2"}}\\n</tool_call>'
        """
        tag = self.parser.tag_for(tool)  # a name or a tag, any case (KeyError names the known ones)
        if self.tool_style == "tags" or tag == "answer":  # the answer is in <answer> tags in both styles
            return self.parser.format_call(tag, argument)
        name = self.parser.tool_tags[tag]
        args = {self.tools[name].parameter: argument}
        return (
            f"<tool_call>\n{json.dumps({'name': name, 'arguments': args}, ensure_ascii=False)}\n</tool_call>"
        )

    def run_tool(self, tool: Tool, argument: str) -> ToolResult:
        """Run one call. Override to add context (e.g. the current task) to tool calls."""
        return tool(argument)

    def score_answer(self, answer: str, task: Task) -> dict[str, Any]:
        """Outcome of a final answer: ``{"score", "metric", "metrics"}``."""
        values = {k: float(v) for k, v in self.metric(answer, task.answers).items()}
        return {"score": values[self.primary_metric], "metric": self.primary_metric, "metrics": values}

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"reset options must be a dict or None, got {type(options).__name__}")
        before = (self._np_random, self._np_random_seed, self._last_seed)
        try:  # a reset that fails (bad seed or options, a prompt too long) leaves the episode as it was
            super().reset(seed=seed)
            self._last_seed = seed
            task = self.tasks[self._select_task(options or {})]
            prompt = self.build_prompt(task)
            if len(prompt) > self.max_state_chars:
                raise ValueError(
                    f"the prompt of task {task.id!r} has {len(prompt):,} characters, more than the "
                    f"{self.max_state_chars:,} that max_observation_chars={self.observation_space.max_length:,} "
                    "leaves for a state"
                )
        except BaseException:
            self._np_random, self._np_random_seed, self._last_seed = before
            raise
        self.task = task
        self.messages = [{"role": "user", "content": prompt}]
        self.steps = []
        self.tool_calls = 0
        self.final_answer = None
        self.outcome = {}
        self._done = False
        self._terminated = self._truncated = False
        obs = render_state(self.messages)
        info = {
            "task": copy.deepcopy(self.task.to_dict()),
            "messages": copy.deepcopy(self.messages),
            "step_index": 0,
        }
        if self.tool_schemas is not None:
            info["tools"] = copy.deepcopy(self.tool_schemas)
        if self.render_mode == "human":
            self.render()
        return obs, vector_info(info)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._done or self.task is None:
            raise RuntimeError("episode is over (or was never started): call reset() first")
        if not isinstance(action, str):  # outside the action space (Gymnasium: a caller error)
            raise TypeError(
                f"an action must be a str (the model's text for one step), got {type(action).__name__}: "
                f"{action!r:.80}"
            )
        # cut first: nothing after max_action_chars is scanned, parsed or executed
        text = action[: self.max_action_chars]
        parsed = self.parser.parse(text)
        step = Step.from_parsed(parsed, text, index=len(self.steps), message_index=len(self.messages))
        step.ignored_chars = len(action) - len(step.action)  # the cut at max_action_chars counts too
        kept = step.action
        self.messages.append({"role": "assistant", "content": kept})
        reward, terminated, truncated = 0.0, False, False

        if parsed.kind == "answer":
            self.final_answer = parsed.argument
            self.outcome = self.score_answer(parsed.argument or "", self.task)
            reward, terminated = float(self.outcome["score"]), True
        elif self.tool_calls >= self.max_tool_calls:
            truncated = True
            step.error = step.error or "step cap reached without an answer"
            self.outcome = self._unanswered_outcome()
        else:
            self.tool_calls += 1
            turn: Message
            if parsed.kind == "call":
                result = self.run_tool(self.tools[parsed.tool], parsed.argument or "")  # type: ignore[index]
                step.tool_result, step.tool_ok, step.tool_value = result.text, result.ok, result.value
                if self.tool_style == "native":
                    step.observation = result.text
                    turn = {"role": "tool", "name": parsed.tool, "content": result.text}
                else:
                    step.observation = f"{parsed.argument} -> {result.text}"
                    turn = {"role": "user", "content": step.observation}
            else:
                error = parsed.error
                if parsed.kind == "none" and self.tool_style == "native":  # name the format asked for
                    error = (
                        "no tool call or answer found; call one of the tools ("
                        + ", ".join(f"`{n}`" for n in self.tools)
                        + ") or write the final answer as <answer> ... </answer>"
                    )
                step.observation = f"Error: {error}"[:MAX_NOTICE_CHARS]
                turn = {"role": "user", "content": step.observation}
            # the state's length after this turn, from the turns' lengths (no string is rendered)
            state = sum(len(m["content"]) for m in self.messages) + len(TURN_SEPARATOR) * len(self.messages)
            if (
                state + len(step.observation) > self.max_state_chars
            ):  # the result would not fit the observation space
                truncated = True
                step.error = "the observation limit was reached"
                step.observation = (
                    f"Error: this result ({len(step.observation):,} characters) would pass the observation "
                    f"limit (max_observation_chars={self.observation_space.max_length:,}); the episode ends here."
                )
                turn = {**turn, "content": step.observation}
                self.outcome = self._unanswered_outcome()
            self.messages.append(turn)

        self.steps.append(step)
        self._done = terminated or truncated
        self._terminated, self._truncated = terminated, truncated
        info: dict[str, Any] = {
            "task": copy.deepcopy(self.task.to_dict()),
            "messages": copy.deepcopy(self.messages),
            "step_index": len(self.steps),
            "step": step.to_dict(),
            "parsed": parsed.to_dict(),
            "tool_result": step.tool_result,
        }
        if self._done:
            info["outcome"] = dict(self.outcome)
            info["final_answer"] = self.final_answer
        if self.render_mode == "human":
            self.render()
        return render_state(self.messages), reward, terminated, truncated, vector_info(info)

    def render(self) -> str | None:
        text = render_state(self.messages)
        if self.render_mode == "human":
            print(text)
            return None
        return text

    # ------------------------------------------------------------------ records
    def trajectory(
        self, *, id: str | None = None, sample: int = 0, policy: Mapping[str, Any] | None = None
    ) -> Trajectory:
        """The episode so far as a :class:`~swirl_env.trajectory.Trajectory` record."""
        if self.task is None:
            raise RuntimeError("no episode: call reset() first")
        spec = getattr(self, "spec", None)
        return Trajectory(
            id=id or f"{self.task.id}#{sample}",
            env_id=spec.id if spec is not None else type(self).__name__,
            task=self.task.to_dict(),
            messages=copy.deepcopy(self.messages),
            steps=[Step.from_dict(s.to_dict()) for s in self.steps],
            final_answer=self.final_answer,
            outcome=dict(self.outcome),
            terminated=self._terminated,
            truncated=self._truncated,
            env_kwargs=dict(spec.kwargs) if spec is not None else {},
            tools=copy.deepcopy(self.tool_schemas),
            policy=dict(policy or {}),
            seed=self._last_seed,
            sample=sample,
        )

    # ------------------------------------------------------------------ internals
    def _restyle_demonstration(self, demo: Mapping[str, Any]) -> dict[str, Any]:
        """A few-shot example with its calls written in this env's tool style."""
        if self.tool_style == "tags":
            return dict(demo)
        turns = []
        for turn in demo.get("turns", ()):
            parsed = self.parser.parse(str(turn))
            if parsed.kind == "call" and parsed.syntax == "tags" and parsed.span is not None:
                a, b = parsed.span
                turn = (
                    str(turn)[:a] + self.format_call(parsed.tool or "", parsed.argument or "") + str(turn)[b:]
                )
            turns.append(turn)
        return {**demo, "turns": turns}

    def _unanswered_outcome(self) -> dict[str, Any]:
        zero = self.score_answer("", self.task) if self.task is not None else {"metrics": {}}
        metrics = {k: 0.0 for k in zero.get("metrics", {})}
        return {"score": 0.0, "metric": self.primary_metric, "metrics": metrics, "unanswered": True}

    def _select_task(self, options: Mapping[str, Any]) -> int:
        unknown = sorted(map(repr, set(options) - set(RESET_OPTIONS)))
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {', '.join(unknown)}; allowed: {', '.join(map(repr, RESET_OPTIONS))}"
            )
        if "task_id" in options and "task_index" in options:
            raise ValueError("give reset option 'task_id' or 'task_index', not both")
        if "task_id" in options:
            task_id = options["task_id"]
            if not isinstance(task_id, str):
                raise TypeError(
                    f"reset option 'task_id' must be a str (a task id), got {type(task_id).__name__}"
                )
            try:
                return self._task_index[task_id]
            except KeyError:
                raise UnknownTaskError(f"unknown task_id {task_id!r} (see env.unwrapped.tasks)") from None
        if "task_index" in options:
            i = options["task_index"]
            if isinstance(i, bool) or not hasattr(i, "__index__"):
                raise TypeError(
                    f"reset option 'task_index' must be an integer in [0, {len(self.tasks)}), "
                    f"got {type(i).__name__} {i!r:.40}"
                )
            i = operator.index(i)
            if not 0 <= i < len(self.tasks):
                raise TaskIndexError(f"reset option 'task_index' must be in [0, {len(self.tasks)}), got {i}")
            return i
        return int(self.np_random.integers(len(self.tasks)))


#: the tool styles of :class:`ToolEnv` (``tool_style=``)
TOOL_STYLES = ("tags", "native")

#: the keys ``ToolEnv.reset(options=...)`` accepts
RESET_OPTIONS = ("task_index", "task_id")


class UnknownTaskError(KeyError, ValueError):
    """``reset(options={"task_id": ...})`` names no task (a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class TaskIndexError(IndexError, ValueError):
    """``reset(options={"task_index": i})`` is out of range (an ``IndexError`` and a ``ValueError``)."""
