"""modelrail: an OpenAI-compatible LLM API server and gateway."""

__version__ = "0.1.0"
