"""The API against its own OpenAPI document, with schemathesis: generated requests (valid
and not) to every operation, with a real key over the real stores; no answer may be a 5xx
or a status the document does not list for that operation. A bounded run (a few examples
per operation) for CI; KOKEMUS_FUZZ_EXAMPLES raises it for a longer hunt."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from kokemus import bootstrap
from kokemus.api.app import create_app
from kokemus.config import Settings
from kokemus.services.ingest import ingest_customers
from kokemus.services.workspaces import ActiveWorkspace

EXAMPLES = int(os.environ.get("KOKEMUS_FUZZ_EXAMPLES", "12"))


def _document() -> dict[str, object]:
    """The app's OpenAPI document, from an app over throwaway stores (the document does not
    depend on the data; schemathesis' lazy fixture loading does not run on pytest 9)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key="x")
        with bootstrap.build(settings) as built:
            return dict(create_app(settings, built).openapi())


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture
def app(settings: Settings, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> FastAPI:
    ingest_customers([{"id": "emma"}], workspace, kk.db)
    return create_app(settings, kk)


@pytest.mark.fuzz
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_no_undocumented_status(case: schemathesis.Case, app: FastAPI,
                                                     auth: dict[str, str]) -> None:
    case.call_and_validate(app=app, headers=auth,
                           checks=[not_a_server_error, status_code_conformance])
