"""Headers every response carries: no sniffing, no framing, no caching of PHI; and
HSTS (RFC 6797) on every response sent over HTTPS."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeadersMiddleware:
    """Pure ASGI middleware (no body buffering, so streamed responses stay streamed)."""

    def __init__(self, app: ASGIApp, hsts_seconds: int = 31_536_000) -> None:
        self.app = app
        self._hsts = (b"strict-transport-security",
                      f"max-age={hsts_seconds}; includeSubDomains".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        extra = [*_HEADERS, self._hsts] if scope.get("scheme") == "https" else _HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in extra if name not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
