"""Shared fixtures: real stores in a temporary folder; the app store on SQLite, or on the
PostgreSQL server when KOKEMUS_TEST_DATABASE_URL names it (each test gets its own schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from kokemus import bootstrap
from kokemus.api.app import create_app
from kokemus.config import Settings
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.workspace import document

STARTER = Path(document.__file__).parent / "starter.yaml"
PG_URL = os.environ.get("KOKEMUS_TEST_DATABASE_URL")


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server at `url`, as a URL that uses it; dropped
    afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str | None]:
    """None for SQLite in tmp_path; on PostgreSQL a fresh schema, dropped afterwards."""
    if not PG_URL:
        yield None
        return
    with pg_schema(PG_URL) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    secret_key="test-secret")


@pytest.fixture
def kk(settings: Settings) -> Iterator[bootstrap.Kokemus]:
    with bootstrap.build(settings) as built:
        yield built


@pytest.fixture
def workspace(kk: bootstrap.Kokemus) -> ActiveWorkspace:
    """The starter workspace (my-company: order -> delivery), applied."""
    workspace_service.apply(kk.db, document.load(STARTER), source=str(STARTER))
    return workspace_service.get(kk.db, "my-company")


@pytest.fixture
def api_key(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> str:
    return access.create_key(kk.db, workspace.slug, "test", {"ingest", "read"})


@pytest.fixture
def client(settings: Settings, kk: bootstrap.Kokemus) -> Iterator[TestClient]:
    with TestClient(create_app(settings, kk)) as test_client:
        yield test_client


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}
