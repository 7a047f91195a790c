"""The HTTP API (FastAPI): ingestion and reads, over the same services as the CLI."""
