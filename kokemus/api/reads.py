"""Read endpoints: the workspace document, counts, customers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kokemus.api.auth import Read, kokemus
from kokemus.api.errors import AUTHENTICATED, ApiError, documented
from kokemus.storage import people
from kokemus.storage.tables import accounts, customers
from kokemus.workspace.document import canonical

router = APIRouter(prefix="/api/v1", tags=["read"], responses=documented(*AUTHENTICATED))


@router.get("/workspace", summary="The current workspace document")
def get_workspace(workspace: Read) -> dict[str, Any]:
    return {"version": workspace.version, "document": canonical(workspace.document)}


@router.get("/stats", summary="Counts of events, customers and accounts")
def get_stats(request: Request, workspace: Read) -> dict[str, int]:
    kk = kokemus(request)
    return {
        "events": kk.events.count(workspace.id),
        "customers": people.count(kk.db, customers, workspace.id),
        "accounts": people.count(kk.db, accounts, workspace.id),
    }


@router.get("/customers/{customer_id}", summary="One customer")
def get_customer(customer_id: str, request: Request, workspace: Read) -> dict[str, Any]:
    row = people.get_customer(kokemus(request).db, workspace.id, customer_id)
    if row is None:
        raise ApiError(404, "not_found", f"no customer '{customer_id}'")
    row.pop("workspace_id", None)
    return row
