"""Web UI routes (placeholder until the web UI lands)."""

from __future__ import annotations

from fastapi import FastAPI

from kokemus.config import Settings


def install(app: FastAPI, settings: Settings) -> None:
    del app, settings
