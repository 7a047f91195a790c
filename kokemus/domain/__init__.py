"""The domain core: plain Python and pydantic models, no web or database imports."""
