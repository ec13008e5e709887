"""Wire models: OpenAI (and later Anthropic) request, response and chunk types."""
