"""Authentication: a request's credential becomes a :class:`Principal`."""
