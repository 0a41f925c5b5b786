"""Suite-wide settings: tiny models run fastest on one CPU thread (no thread-pool overhead)."""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module, the previous number restored after it (``pytestmark =
    pytest.mark.usefixtures("one_torch_thread")``): tiny models run far faster on one thread than
    on two contended ones (shared CPU)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
