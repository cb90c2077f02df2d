"""Every error the server sends is an OpenAI error object:

    {"error": {"message": "...", "type": "invalid_request_error", "param": "max_tokens", "code": null}}

OpenAI clients read ``error.message`` to show the user what went wrong, so no
framework-style ``{"detail": ...}`` body and no bare 500 may ever leak out.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from lmforge.errors import LmforgeError

log = logging.getLogger("lmforge.serve")

STATUS_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                405: "invalid_request_error", 413: "invalid_request_error", 422: "invalid_request_error",
                429: "rate_limit_error", 503: "server_error", 500: "server_error"}


class APIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or STATUS_TYPES.get(status, "invalid_request_error")

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def validation_error(e: ValidationError) -> APIError:
    """The first pydantic problem as one readable message naming the field (e.g. ``messages.0.content``)."""
    first = e.errors()[0]
    loc = [str(part) for part in first["loc"] if not str(part).startswith(("function-", "list[", "str", "int"))]
    param = ".".join(loc) or None
    got = repr(first.get("input"))
    got = got if len(got) <= 80 else got[:77] + "..."
    where = f"'{param}': " if param else ""
    return APIError(400, f"{where}{first['msg']} (got {got})", param=param, code="invalid_value")


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_request: Request, e: APIError) -> JSONResponse:
        return e.response()

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, e: HTTPException) -> JSONResponse:
        message = {404: "unknown URL; the API lives under /v1 (see GET /v1/models)",
                   405: "method not allowed for this URL"}.get(e.status_code, str(e.detail))
        return APIError(e.status_code, message).response()

    @app.exception_handler(LmforgeError)
    async def _user_error(_request: Request, e: LmforgeError) -> JSONResponse:
        return APIError(400, str(e)).response()

    @app.exception_handler(Exception)
    async def _bug(_request: Request, e: Exception) -> JSONResponse:
        log.exception("internal error")
        return APIError(500, f"internal server error ({type(e).__name__}); this is a bug in lmforge").response()
