"""Adapters to the stores: the app store (SQLAlchemy) and the event store (DuckDB)."""
