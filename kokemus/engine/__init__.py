"""The engine: what runs on its own between the stores (survey triggers, invitation emails)."""
