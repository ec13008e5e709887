"""Test and benchmark support: a mock OpenAI upstream (``mock_openai``) and helpers to run servers
in subprocesses (``servers``).

Nothing is imported here, so ``python -m modelrail.testing.mock_openai`` runs without importing
its own module twice.
"""
