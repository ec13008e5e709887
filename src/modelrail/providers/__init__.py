"""Providers: one module per upstream kind, each exposing ``PROVIDER``, a :class:`Provider` subclass."""
