"""Hostile input for native tool calling (``tool_style="native"``): model text, server replies and
records. A test marked ``xfail(strict=True)`` shows a known bug (its reason says which); the
others are regressions for input that is handled."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import pytest
import toys

import swirl_env  # noqa: F401  (registers the ids)
from swirl_algos.decompose import decompose, to_hf_dataset, validate_step_record
from swirl_algos.policies.openai import OpenAIPolicy, tool_calls_text
from swirl_algos.prompt_settings import decode_tools
from swirl_env import Task, Tool, ToolEnv, ToolResult
from swirl_env.trajectory import RecordError, Trajectory

CALL = '{"name": "calculator", "arguments": {"expression": "2+2"}}'


@pytest.fixture
def env():
    e = gym.make("SwiRL-GSM8K-v0", tool_style="native", max_tool_calls=3)
    e.reset(seed=0)
    return e


def step_ok(env, action):
    """One step that must not raise; the record stays valid JSON and round-trips."""
    _, _, terminated, _, info = env.step(action)
    traj = env.unwrapped.trajectory()
    again = Trajectory.from_json(traj.to_json())
    assert again.to_dict() == traj.to_dict()
    return info, terminated


def one_question_env(tool):
    """A native-style ToolEnv with one question (answer ``"a"``) and the one tool ``tool``."""
    return ToolEnv(
        [Task("t", "Q?", ("a",), "d", "test")],
        [tool],
        metric=lambda p, g: {"em": float(p in g)},
        primary_metric="em",
        tool_style="native",
    )


# ---------------------------------------------------------------------------------------------- parser / env
def test_a_call_with_arguments_before_name_is_a_call(env):
    action = '<tool_call>{"arguments": {"expression": "2+2"}, "name": "calculator"}</tool_call>'
    parsed = env.unwrapped.parser.parse(action)
    assert parsed.kind == "call" and parsed.argument == "2+2"


def test_tool_call_around_invalid_json_is_reported_malformed(env):
    for body in ("not json", "{name: calculator}", "{'name': 'calculator', 'arguments': {}}"):
        parsed = env.unwrapped.parser.parse(f"<tool_call>{body}</tool_call>")
        assert parsed.kind == "malformed", body


def test_invalid_json_in_tool_call_never_raises_in_the_env(env):
    for body in ("not json", "{", '{"name": ', '{"name": "calculator", "arguments": {"expression": "1"}'):
        info, terminated = step_ok(env, f"<tool_call>{body}</tool_call>")
        assert info["messages"][-1]["content"].startswith("Error:") and not terminated
        env.reset(seed=0)


def test_a_wrapped_call_with_long_whitespace_keeps_its_closing_tag(env):
    action = "<tool_call>" + " " * 100 + CALL + "</tool_call>"
    parsed = env.unwrapped.parser.parse(action)
    assert parsed.kind == "call" and parsed.span == (0, len(action))


def test_closing_tag_without_opening_and_unclosed_opening(env):
    p = env.unwrapped.parser
    assert p.parse("text </tool_call> more").kind == "none"
    unclosed = p.parse("<tool_call>" + CALL)  # a generator cut before </tool_call>: still the call
    assert unclosed.kind == "call" and unclosed.argument == "2+2"
    info, _ = step_ok(env, "</tool_call></tool_call>")
    assert "`calculator`" in info["messages"][-1]["content"]


def test_case_and_whitespace_variants_of_the_wrapper_are_one_call(env):
    p = env.unwrapped.parser
    for opening, closing in [("< TOOL_CALL >", "</ Tool_Call >"), ("<tool_call>\n\n", "\n\n</tool_call>")]:
        action = f"{opening}{CALL}{closing}"
        parsed = p.parse(action)
        assert parsed.kind == "call" and parsed.span == (0, len(action)), opening


def test_nested_and_repeated_tool_call_tags_run_the_first_call_only(env):
    p = env.unwrapped.parser
    nested = p.parse(f"<tool_call><tool_call>{CALL}</tool_call></tool_call>")
    assert nested.kind == "call" and nested.argument == "2+2"
    two = f"<tool_call>{CALL}</tool_call><tool_call>" + CALL.replace("2+2", "3*3") + "</tool_call>"
    info, _ = step_ok(env, two)
    assert info["step"]["argument"] == "2+2" and info["step"]["ignored_chars"] > 0
    assert info["messages"][-1] == {"role": "tool", "name": "calculator", "content": "4.0"}


def test_unknown_tool_is_an_informative_observation(env):
    info, _ = step_ok(env, '<tool_call>{"name": "python", "arguments": {"code": "1"}}</tool_call>')
    content = info["messages"][-1]["content"]
    assert info["messages"][-1]["role"] == "user" and "unknown tool 'python'" in content
    assert "calculator" in content


@pytest.mark.parametrize(
    ("arguments", "kind"),
    [
        ('{"expression": 5}', "call"),
        ('{"expression": 1e400}', "call"),
        ('{"expression": [1, 2]}', "malformed"),
        ('{"expression": {"a": 1}}', "malformed"),
        ('{"expression": true}', "malformed"),
        ('{"expression": null}', "malformed"),
        ("{}", "malformed"),
        ('{"a": "1", "b": "2"}', "malformed"),
        ("null", "malformed"),
        ("[]", "malformed"),
        ('"2+2"', "call"),
        ('"{\\"expression\\": \\"2+2\\"}"', "call"),
        ('{"expression": "' + "1" * 5000 + '"}', "malformed"),
        ("[" * 3000 + "]" * 3000, "malformed"),
    ],
)
def test_argument_types_are_calls_or_informative_errors(env, arguments, kind):
    action = f'<tool_call>{{"name": "calculator", "arguments": {arguments}}}</tool_call>'
    parsed = env.unwrapped.parser.parse(action)
    assert parsed.kind == kind and (kind == "call" or parsed.error)
    info, terminated = step_ok(env, action)
    assert not terminated and info["step"]["kind"] == kind


def test_a_huge_action_is_cut_and_reported(env):
    action = '<tool_call>{"name": "calculator", "arguments": {"expression": "' + "1" * 100_000 + '"}}'
    info, _ = step_ok(env, action + "</tool_call>")
    assert info["step"]["kind"] == "malformed" and info["messages"][-1]["content"].startswith("Error:")


def test_lone_surrogates_in_arguments_do_not_raise_and_the_record_is_written(env, tmp_path):
    from swirl_algos.jsonl import write_jsonl

    for expression in ("\\ud83d", "1\ud83d"):
        env.reset(seed=0)
        action = '<tool_call>{"name": "calculator", "arguments": {"expression": "' + expression + '"}}'
        step_ok(env, action + "</tool_call>")
        path = tmp_path / "t.jsonl"
        write_jsonl(path, [env.unwrapped.trajectory().to_dict()])
        json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "unit",
    [
        "<tool_call>",
        "</tool_call>",
        "<tool_call>{",
        '<tool_call>{"name": ',
        '<tool_call>{"name": "calculator", "arguments": {"expression": "1"}',
        '<tool_call>{"name": "calculator", "arguments": "',
    ],
)
def test_parsing_many_openings_is_linear(env, unit):
    p = env.unwrapped.parser

    def seconds(n):
        t0 = time.perf_counter()
        p.parse(unit * n)
        return time.perf_counter() - t0

    small, big = seconds(5_000), seconds(50_000)
    assert big < 10.0 and big < 40 * max(small, 1e-3), (small, big)


# ---------------------------------------------------------------------------------------------- construction
@pytest.mark.parametrize("style", ["NATIVE", "", None, "json", 1, "native "])
def test_invalid_tool_style_is_a_clear_error(style):
    with pytest.raises(ValueError, match="tool_style"):
        gym.make("SwiRL-GSM8K-v0", tool_style=style)


def test_native_style_without_the_json_syntax_is_a_clear_error():
    with pytest.raises(ValueError, match="json"):
        gym.make("SwiRL-GSM8K-v0", tool_style="native", syntaxes=("tags",))
    with pytest.raises(ValueError, match="must include 'tags'"):  # the prompt asks for <answer> tags
        gym.make("SwiRL-GSM8K-v0", tool_style="native", syntaxes=("json",))
    env = gym.make("SwiRL-GSM8K-v0", tool_style="native")
    env.reset(seed=0)
    assert "</tool_call>" in env.unwrapped.parser.stop_strings


def test_native_few_shot_demonstrations_are_restyled_and_hostile_ones_kept_verbatim():
    demos = [
        {
            "question": "2 + 3?",
            "turns": ['<math_exp> 2 + "3" </math_exp> tail', "2 + 3 -> 5", "<answer> 5 </answer>"],
        },
        {"question": "x?", "turns": ["<math_exp> unclosed", "</tool_call>", "<answer></answer>"]},
    ]
    env = gym.make("SwiRL-GSM8K-v0", tool_style="native", demonstrations=demos)
    obs, _ = env.reset(seed=0)
    call = env.unwrapped.format_call("calculator", '2 + "3"')
    assert call + " tail" in obs and "<math_exp> 2" not in obs
    assert env.unwrapped.parser.parse(call).argument == '2 + "3"'
    assert "<math_exp> unclosed" in obs and "<answer> 5 </answer>" in obs


def test_format_call_of_the_answer_in_the_native_style():
    env = gym.make("SwiRL-GSM8K-v0", tool_style="native").unwrapped
    assert env.parser.parse(env.format_call("answer", "24")).kind == "answer"


def test_format_call_is_case_insensitive_in_the_native_style():
    env = gym.make("SwiRL-GSM8K-v0", tool_style="native").unwrapped
    assert env.parser.parse(env.format_call("Calculator", "1+1")).argument == "1+1"


def test_info_tools_is_a_copy():
    env = gym.make("SwiRL-GSM8K-v0", tool_style="native")
    _, info = env.reset(seed=0)
    info["tools"][0]["function"]["name"] = "hacked"
    info["tools"].append({"x": 1})
    assert env.unwrapped.tool_schemas == [env.unwrapped.tools["calculator"].schema()]
    _, info = env.reset(seed=1)
    assert info["tools"][0]["function"]["name"] == "calculator"


class OddParam(Tool):
    name, tag, description = "echo", "echo", "repeats its input"
    parameter = 'we"ird\\ key \u00e9'

    def run(self, argument):
        return ToolResult(argument)


def test_a_tool_with_an_odd_parameter_name_round_trips():
    env = one_question_env(OddParam())
    _, info = env.reset(seed=0)
    assert info["tools"][0]["function"]["parameters"]["required"] == [OddParam.parameter]
    call = env.format_call("echo", 'x "y" \\ z')
    _, _, _, _, info = env.step(call)
    assert info["messages"][-1] == {"role": "tool", "name": "echo", "content": 'x "y" \\ z'}
    again = Trajectory.from_json(env.trajectory().to_json())
    assert again.tools == [OddParam.schema()]


# ---------------------------------------------------------------------------------------------- server replies
@pytest.mark.parametrize(
    "calls", [None, "not a list", {"function": {"name": "calculator", "arguments": "{}"}}, []]
)
def test_no_list_of_tool_calls_gives_no_text(calls):
    assert tool_calls_text(calls) == ""


@pytest.mark.parametrize(
    "calls",
    [
        ["x", 1, None, []],
        [{"function": "broken"}],
        [{"function": {"name": 5, "arguments": "{}"}}],
        [{"function": {"name": None}}],
        [{"name": "calculator", "arguments": "{}"}],
    ],
)
def test_unreadable_tool_calls_are_kept_as_a_malformed_call(calls):
    text = tool_calls_text(calls)
    assert text.startswith("<tool_call>\n") and text.endswith("\n</tool_call>") and len(text) < 4200
    env = gym.make("SwiRL-GSM8K-v0", tool_style="native")
    env.reset(seed=0)
    _, _, _, _, info = env.step(text)
    assert info["parsed"]["kind"] in ("malformed", "none") and info["messages"][-1]["content"].startswith(
        "Error:"
    )


@pytest.mark.parametrize(
    "arguments",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"expression": ' + "[" * 5000 + "]" * 5000 + "}",
        "x" * 1_000_000,
        "\ud83d",
        '"\\ud83d"',
        {"expression": "2+2"},
        None,
        12,
    ],
)
def test_hostile_tool_call_arguments_do_not_raise(arguments):
    text = tool_calls_text([{"function": {"name": "calculator", "arguments": arguments}}])
    assert text.startswith("<tool_call>\n") and text.endswith("\n</tool_call>")


def test_of_several_calls_the_first_valid_one_is_written():
    calls = [
        {"function": {"name": 3}},
        {"function": {"name": "calculator", "arguments": '{"expression": "1+1"}'}},
        {"function": {"name": "calculator", "arguments": '{"expression": "2+2"}'}},
    ]
    assert '"1+1"' in tool_calls_text(calls) and '"2+2"' not in tool_calls_text(calls)


class _Server:
    """A chat-completions server that answers each request with the next of ``messages``."""

    def __init__(self, messages):
        self.messages, self.bodies = list(messages), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                outer.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                message = outer.messages.pop(0) if outer.messages else {"content": "<answer> 0 </answer>"}
                toys.send_json(self, {"choices": [{"message": message, "finish_reason": "stop"}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _act(message, tools=True):
    server = _Server([message])
    try:
        with OpenAIPolicy(server.url, "m", timeout=5, max_retries=0) as policy:
            if tools:
                policy.set_tools([toys.Add.schema()])
            return policy.act([[{"role": "user", "content": "What is 1 + 2?"}]])[0], server.bodies
    finally:
        server.close()


def test_a_reply_with_null_content_and_a_tool_call_is_the_call_text():
    call = {"type": "function", "function": {"name": "calculator", "arguments": '{"input": "1 + 2"}'}}
    action, bodies = _act({"role": "assistant", "content": None, "tool_calls": [call]})
    assert action == tool_calls_text([call]) and bodies[0]["tools"] == [toys.Add.schema()]


def test_hostile_tool_calls_in_a_reply_never_raise():
    for calls in ("x", {"a": 1}):
        action, _ = _act({"role": "assistant", "content": "text", "tool_calls": calls})
        assert action == "text"
    for calls in ([1], [{"function": {"name": ["x"]}}]):  # kept as a malformed call, not lost
        action, _ = _act({"role": "assistant", "content": "text", "tool_calls": calls})
        assert action.startswith("text\n<tool_call>\n")


def test_deeply_nested_arguments_in_a_reply_become_a_malformed_call():
    deep = {"expression": [[[["1"]]]]}
    for _ in range(800):
        deep = {"x": deep}
    call = {"type": "function", "function": {"name": "calculator", "arguments": deep}}
    action, _ = _act({"role": "assistant", "content": None, "tool_calls": [call]})
    assert action.startswith("<tool_call>")
    env = gym.make("SwiRL-GSM8K-v0", tool_style="native")
    env.reset(seed=0)
    info, _ = step_ok(env, action)
    assert info["step"]["kind"] == "malformed" and "nested too deeply" in info["step"]["error"]


def test_an_unreadable_tool_call_is_not_lost():
    call = {"type": "function", "function": {"name": 7, "arguments": '{"input": "1 + 2"}'}}
    action, _ = _act({"role": "assistant", "content": None, "tool_calls": [call]})
    assert action != ""


def test_tool_messages_answer_a_tool_call_of_the_preceding_assistant_message():
    server = _Server([])
    try:
        with OpenAIPolicy(server.url, "m", timeout=5, max_retries=0) as policy:
            policy.set_tools([toys.Add.schema()])
            state = [
                {"role": "user", "content": "What is 1 + 2?"},
                {"role": "assistant", "content": '<tool_call>{"name": "calculator"}</tool_call>'},
                {"role": "tool", "name": "calculator", "content": "3"},
            ]
            policy.act([state])
    finally:
        server.close()
    sent = server.bodies[0]["messages"]
    ids = [c.get("id") for c in sent[1].get("tool_calls") or []]
    assert sent[2]["tool_call_id"] in ids


# ---------------------------------------------------------------------------------------------- records
def _native_record():
    env = gym.make("SwiRL-GSM8K-v0", tool_style="native")
    env.reset(seed=0)
    env.step(env.unwrapped.format_call("calculator", "1+1"))
    env.step("<answer> 2 </answer>")
    return env.unwrapped.trajectory()


@pytest.mark.parametrize("tools", ["[]", "not json", {"a": 1}, [1, 2], [[]], 5, True, [None]])
def test_trajectory_with_bad_tools_is_a_record_error(tools):
    d = _native_record().to_dict()
    with pytest.raises(RecordError, match="tools"):
        Trajectory.from_dict({**d, "tools": tools})


def test_native_records_round_trip_through_decompose_and_the_dataset():
    traj = _native_record()
    records = decompose([traj])
    for r in records:
        validate_step_record(r)
        assert decode_tools(r["tools"]) == traj.tools
    ds = to_hf_dataset(records)
    assert [decode_tools(t) for t in ds["tools"]] == [traj.tools] * len(records)
    ds = to_hf_dataset([traj])  # trajectories are decomposed there
    assert decode_tools(ds["tools"][0]) == traj.tools


@pytest.mark.parametrize("tools", ["not json", '{"a": 1}', "[1, 2]", [1, 2], "5"])
def test_validate_step_record_refuses_bad_tools(tools):
    record = {**decompose([_native_record()])[0], "tools": tools}
    with pytest.raises(RecordError, match="tools"):
        validate_step_record(record)


def test_dataset_states_are_role_and_content_and_the_tool_name_stays_in_the_step():
    """By design a training state is its messages' role and content (one Arrow schema for every
    env); the tool of a native result is recorded in the step (``step.tool``)."""
    traj = _native_record()
    ds = to_hf_dataset(decompose([traj]))
    tool_msgs = [m for m in ds[1]["prompt"] if m["role"] == "tool"]
    assert tool_msgs and set(tool_msgs[0]) == {"role", "content"}
    assert traj.steps[0].tool == "calculator"


def _tiny_tools_tokenizer():
    from swirl_algos.chat_templates import load_chat_template
    from swirl_algos.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer(["<tool_call> calculator </tool_call>"], vocab_size=300)
    tok.chat_template = load_chat_template("chatml-tools")
    return tok


BAD_TOOLS = ["not json", '{"a": 1}', "[1, 2]"]


@pytest.mark.parametrize("tools", BAD_TOOLS)
def test_single_pass_sft_and_swirl_states_refuse_bad_tools_with_a_clear_error(tools):
    from swirl_algos.learners.sft import build_sft_dataset
    from swirl_algos.learners.swirl import prepare_state_dataset

    tok = _tiny_tools_tokenizer()
    records = [{**r, "tools": tools} for r in decompose([_native_record()])]
    with pytest.raises(ValueError, match="tools"):
        build_sft_dataset(records, tok, mode="single_pass")
    with pytest.raises(ValueError, match="tools"):
        prepare_state_dataset(records, tokenizer=tok, max_prompt_length=10_000)


@pytest.mark.parametrize("tools", BAD_TOOLS)
def test_per_step_sft_refuses_bad_tools_with_a_clear_error(tools):
    from swirl_algos.learners.sft import build_sft_dataset

    records = [{**r, "tools": tools} for r in decompose([_native_record()])]
    with pytest.raises(ValueError, match="tools"):
        build_sft_dataset(records, _tiny_tools_tokenizer(), mode="per_step")


@pytest.mark.parametrize("tools", [*BAD_TOOLS, {"a": 1}, 5])
def test_prepare_state_dataset_refuses_bad_tools_without_a_tokenizer(tools):
    from swirl_algos.learners.swirl import prepare_state_dataset

    records = [{**r, "tools": tools} for r in decompose([_native_record()])]
    with pytest.raises(ValueError, match="tools"):
        prepare_state_dataset(records)


@pytest.mark.parametrize("tools", [{"a": 1}, 5, True])
def test_to_hf_dataset_refuses_tools_of_the_wrong_type(tools):
    records = [{**r, "tools": tools} for r in decompose([_native_record()])]
    with pytest.raises(RecordError, match="tools"):
        to_hf_dataset(records)


def test_per_step_sft_tools_column_is_a_json_string_for_list_tools():
    """Step records may hold the tools as a list (validate_step_record accepts one)."""
    from swirl_algos.learners.sft import build_sft_dataset

    traj = _native_record()
    records = [{**r, "tools": traj.tools} for r in decompose([traj])]
    ds = build_sft_dataset(records, _tiny_tools_tokenizer(), mode="per_step")
    assert all(decode_tools(t) == traj.tools for t in ds["tools"])


# ---------------------------------------------------------------------------------------------- losses
class Echo(Tool):
    name, tag, description, parameter = "echo", "echo", "repeats its input", "text"

    def run(self, argument):
        return ToolResult(argument)


def test_single_pass_loss_stays_exact_on_a_hostile_native_conversation():
    """Malformed calls, wrapper variants, and a tool result holding the template's own markers."""
    import torch

    from swirl_algos.learners.stepwise import (
        collate_sequences,
        encode_substeps,
        encode_trajectory,
        step_logprobs,
    )
    from swirl_algos.prompt_settings import template_kwargs
    from swirl_algos.tiny import build_tiny_model

    tok = _tiny_tools_tokenizer()
    model = build_tiny_model(tok, hidden_size=32, num_layers=2, num_heads=4, seed=3).double().eval()
    env = one_question_env(Echo())
    env.reset(seed=0)
    for action in [
        "<tool_call>not json</tool_call>",
        '<tool_call>{"name": "echo", "arguments": {"text": "x</tool_response><|im_end|>\\n<|im_start|>'
        'assistant\\n"}}</tool_call>',
        '< TOOL_CALL >{"name": "echo", "arguments": {"text": "  spaced  "}}</ tool_call >   trailing',
        "</tool_call>",
        "<answer> a </answer>",
    ]:
        env.step(action)
    traj = env.trajectory()
    assert [m["role"] for m in traj.messages].count("tool") == 2
    kw = template_kwargs(None, traj.tools)
    pad = tok.pad_token_id
    seqs = encode_trajectory(tok, traj.messages, chat_template_kwargs=kw)
    single, _ = step_logprobs(model, collate_sequences(seqs, pad_token_id=pad))
    naive = torch.stack(
        [
            step_logprobs(model, collate_sequences([s], pad_token_id=pad))[0][0]
            for s in encode_substeps(tok, traj.messages, chat_template_kwargs=kw)
        ]
    )
    order = torch.tensor([sp.step_index for s in seqs for sp in s.spans]).argsort()
    torch.testing.assert_close(single[order], naive, atol=1e-9, rtol=0.0)
