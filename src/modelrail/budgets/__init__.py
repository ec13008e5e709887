"""Dollar budgets per key and team: reserved before the upstream call, settled after, with spend alerts."""
