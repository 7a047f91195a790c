"""Every API error has one machine-readable shape: {"error": code, "message": text, ...}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kokemus.domain.errors import Invalid, NotFound


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}


# Unknown things are named one way on every route: code unknown_<thing>, message
# "no <thing> '<id>'" (in workspace '<slug>' when it lives in one), with `known` ids
# where the caller may see them.
def unknown_survey(survey_id: str, slug: str, known: list[str]) -> ApiError:
    return ApiError(404, "unknown_survey", f"no survey '{survey_id}' in workspace '{slug}'",
                    known=known)


def unknown_workspace(slug: str) -> ApiError:
    return ApiError(404, "unknown_workspace", f"no workspace '{slug}'")


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
