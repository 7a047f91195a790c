"""The read side: set-based analytics that run inside the engine (DuckDB, or Spark)."""
