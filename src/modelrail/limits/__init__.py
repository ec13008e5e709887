"""Rate limits: RPM, TPM and concurrency per key, team and model, counted in the shared state."""
