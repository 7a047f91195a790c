"""Server-rendered web UI (Jinja2), Finnish and English, vendored assets only."""
