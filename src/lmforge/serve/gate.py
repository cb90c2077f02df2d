"""The checks every request passes before any route sees it: API key and body size.

Done as ASGI middleware (not FastAPI dependencies) so they run first: a request
without the key gets 401 even when its body is garbage, and an oversized body is
refused after reading at most ``max_body_bytes + 1`` bytes of it.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmforge.serve.errors import APIError


class GateMiddleware:
    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes
        self.api_key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if problem := self._header_problem(scope):
            return await problem.response()(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                return await self._too_large().response()(scope, receive, send)
            if not message.get("more_body", False):
                break
        body_sent = False

        async def replay() -> Message:  # the app reads the buffered body, then live messages (disconnect)
            nonlocal body_sent
            if body_sent:
                return await receive()
            body_sent = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    def _header_problem(self, scope: Scope) -> APIError | None:
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        if self.api_key and scope["path"].startswith("/v1/"):
            given = headers.get("authorization", b"")
            scheme, _, token = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.api_key):
                what = "no API key given" if not given else "invalid API key"
                return APIError(401, f"{what}: send the header 'Authorization: Bearer <key>'",
                                code="invalid_api_key")
        if (length := headers.get("content-length")) is not None:
            if not length.isdigit():
                return APIError(400, f"invalid Content-Length header {length[:40]!r}")
            if int(length) > self.max_body_bytes:
                return self._too_large()
        return None

    def _too_large(self) -> APIError:
        return APIError(413, f"request body is larger than the server's limit of {self.max_body_bytes} bytes",
                        code="request_too_large")
