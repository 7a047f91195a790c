"""Use cases. Each takes plain inputs and the stores, owns its transaction, returns a result."""
