"""Usage: tokens, cost, and the record of each call."""
