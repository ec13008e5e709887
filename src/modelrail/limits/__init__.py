"""Rate limits (declared in :mod:`modelrail.limits.schema`) per key, team and model, counted in the shared state."""
