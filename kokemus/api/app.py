"""The application factory: one FastAPI app serving the API and the web UI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel

from kokemus import __version__, bootstrap
from kokemus.api import (
    auth,
    bodies,
    cases,
    direct,
    docs,
    errors,
    feedback,
    ingest,
    insights,
    journeys,
    privacy,
    promises,
    reads,
    scores,
    signals,
    timeline,
    value,
)
from kokemus.config import Settings
from kokemus.domain.events import Account, Customer, Event


def create_app(settings: Settings, kk: bootstrap.Kokemus | None = None) -> FastAPI:
    """The app over the stores of `settings` (or over `kk`, which the caller then owns)."""
    owned = kk is None
    kk = kk or bootstrap.build(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            kk.close()

    app = direct.App(
        title="kokemus",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url=None,  # docs.install: Swagger UI from the vendored copy
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.kokemus = kk
    app.state.workspaces = {}
    app.state.keys = auth.KeyCache()
    errors.install(app)
    app.include_router(ingest.router)
    app.include_router(reads.router)
    app.include_router(journeys.router)
    app.include_router(scores.router)
    app.include_router(promises.router)
    app.include_router(signals.router)
    app.include_router(insights.router)
    app.include_router(feedback.router)
    app.include_router(privacy.router)
    app.include_router(timeline.router)
    app.include_router(value.router)
    app.include_router(cases.router)
    _publish_models(app, Event, Customer, Account)
    docs.install(app)

    from kokemus.web import pages

    pages.install(app, settings)
    # a single event straight to its endpoint (api/direct.py); a batch larger than what the
    # endpoint validates on the event loop goes the full way
    app.direct("/api/v1/events", ingest.post_events,
               limit=min(ingest.INLINE_BYTES, settings.max_batch_body))
    # added last, so outermost: bodies are bounded before any other layer can read them
    app.add_middleware(bodies.BodyLimit, limit=settings.max_body,
                       larger=settings.max_batch_body, larger_paths=ingest.BATCH_PATHS)
    return app


def _publish_models(app: FastAPI, *models: type[BaseModel]) -> None:
    """The ingest routes read raw bodies (per-item errors); their schemas still belong in
    the OpenAPI document, where the request bodies refer to them."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
