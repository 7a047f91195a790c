"""A customer's data rights over the API: export, erasure and consent (docs/privacy.md).

Export and erasure need a key with the `admin` scope; each is written to the audit log
under the key's prefix (`key:PREFIX`). Consents are read with `read` and recorded with
`ingest`, the scope of the channels that hear the customer say yes or no.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from kokemus.api.auth import Ingest, Read, kokemus, requires
from kokemus.api.errors import AUTHENTICATED, documented
from kokemus.domain.privacy import ConsentStatement
from kokemus.services import consents, privacy
from kokemus.services.workspaces import ActiveWorkspace

router = APIRouter(prefix="/api/v1", tags=["privacy"], responses=documented(*AUTHENTICATED))

Admin = Annotated[ActiveWorkspace, Depends(requires("admin"))]
CustomerId = Annotated[str, Path(max_length=200, description="The customer's id.")]


def _actor(request: Request) -> str:
    """`key:PREFIX` of the key that passed `requires`."""
    return str(request.state.actor)


@router.get("/customers/{customer_id}/export",
            summary="Everything held about one customer, as one JSON document (admin)")
async def export_customer(customer_id: CustomerId, request: Request,
                          workspace: Admin) -> dict[str, Any]:
    return await run_in_threadpool(privacy.export_customer, kokemus(request), workspace,
                                   customer_id, actor=_actor(request))


@router.get("/accounts/{account_id}/export",
            summary="A B2B account with everything held about its people (admin)")
async def export_account(account_id: Annotated[str, Path(max_length=200)], request: Request,
                         workspace: Admin) -> dict[str, Any]:
    return await run_in_threadpool(privacy.export_account, kokemus(request), workspace,
                                   account_id, actor=_actor(request))


@router.delete("/customers/{customer_id}",
               summary="Erase one customer from both stores (admin); see docs/privacy.md")
async def erase_customer(
    customer_id: CustomerId, request: Request, workspace: Admin,
    mode: Annotated[Literal["anonymize", "delete"], Query(
        description="anonymize: keep the events and answers without the person; "
                    "delete: remove them too.")] = "anonymize",
) -> dict[str, Any]:
    done = await run_in_threadpool(privacy.erase_customer, kokemus(request), workspace,
                                   customer_id, actor=_actor(request), mode=mode)
    return done.as_dict()


@router.get("/customers/{customer_id}/consents",
            summary="A customer's consent: what is in force per purpose, and the history")
def get_consents(customer_id: CustomerId, request: Request, workspace: Read) -> dict[str, Any]:
    return consents.summary(kokemus(request).db, workspace.id, customer_id)


@router.post("/customers/{customer_id}/consents", status_code=201,
             responses=documented(400),
             summary="Record what a customer agreed to or withdrew (one statement)")
def post_consent(customer_id: CustomerId, statement: ConsentStatement, request: Request,
                 workspace: Ingest) -> dict[str, Any]:
    return consents.record(kokemus(request).db, workspace, customer_id, statement,
                           source="api", actor=_actor(request))
