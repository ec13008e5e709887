"""Routing: a model alias becomes a deployment that answers."""
