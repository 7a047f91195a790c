"""Every API error has one machine-readable shape: {"error": code, "message": text, ...}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kokemus.domain.errors import Invalid, NotFound


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class ErrorBody(BaseModel):
    """The one shape of every API error; some carry more (`known`, `limit`, `problems`)."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(description="Machine-readable code, e.g. unknown_survey.")
    message: str = Field(description="What is wrong, for a person.")


# What each status means on the API, for the OpenAPI document (docs/api.md has the table).
_MEANING = {
    400: "invalid_json: the body is not JSON.",
    401: "unauthorized: no key, an unknown key or a revoked key.",
    403: "forbidden: the key lacks the scope, or names another workspace.",
    404: "unknown_survey, unknown_channel: a name the workspace does not "
         "have (with `known`); not_found: no such resource.",
    409: "conflict: the id belongs to another survey's response or invitation.",
    413: "body_too_large: the body is over the limit (`limit`, bytes); batch_too_large: "
         "more items than the limit.",
    422: "invalid, empty_batch, invalid_answers: the request fails validation "
         "(`problems` names each parameter or field).",
}
# What any key-authenticated route can answer: no or a wrong key, a workspace header naming
# none, a body over the limit (on any route), a parameter that fails validation.
AUTHENTICATED = (401, 403, 404, 413, 422)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: each status with the error body and its meaning."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]}
            for status in statuses}


def body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}


# Unknown things are named one way on every route: code unknown_<thing>, message
# "no <thing> '<id>'" (in workspace '<slug>' when it lives in one), with `known` ids
# where the caller may see them.
def unknown_survey(survey_id: str, slug: str, known: list[str]) -> ApiError:
    return ApiError(404, "unknown_survey", f"no survey '{survey_id}' in workspace '{slug}'",
                    known=known)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(body(exc.code, exc.message, **exc.extra), exc.status, headers)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(body("not_found", str(exc)), 404)

    @app.exception_handler(Invalid)
    async def _invalid(_: Request, exc: Invalid) -> JSONResponse:
        return JSONResponse(body("invalid", str(exc)), 422)

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses to keep (PostgreSQL: a NUL in text, a number out of
        # its range) is the input's fault, not the server's: the models should have refused
        # it first, and this answers what they missed as what it is.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "not storable"
        return JSONResponse(body("invalid", f"a value cannot be stored: {reason}"), 422)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        for e in errors:
            if e.get("type") == "json_invalid":  # the body is not JSON: the same 400 everywhere
                reason = (e.get("ctx") or {}).get("error") or e["msg"]
                return JSONResponse(invalid_json(str(reason)), 400)
        problems = [{"loc": list(e["loc"]), "message": e["msg"]} for e in errors]
        return JSONResponse(body("invalid", "the request is not valid", problems=problems), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSABLE:
            # FastAPI's answer to a body its JSON parser could not read at all: Python's
            # json gives up on deep nesting with a RecursionError
            cause = exc.__cause__
            reason = ("nested too deeply" if isinstance(cause, RecursionError)
                      else str(cause or "unreadable"))
            return JSONResponse(invalid_json(reason), 400)
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error")
        return JSONResponse(body(code, str(exc.detail)), exc.status_code,
                            headers=getattr(exc, "headers", None))


_UNPARSABLE = "There was an error parsing the body"


def invalid_json(reason: str) -> dict[str, Any]:
    """The one answer to a body that is not JSON, on every route that takes one."""
    return body("invalid_json", f"the body is not valid JSON: {reason}")
