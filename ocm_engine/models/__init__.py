"""Model members, their registry and the soft-voting ensemble."""
