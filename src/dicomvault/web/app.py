"""Serving the UI's static shell under ``/ui/`` with a strict Content Security Policy.

The files are public (they hold no data; the data APIs need a token) and are
listed in :data:`dicomvault.api.auth.PUBLIC_PREFIXES`. Every UI response
carries :data:`CONTENT_SECURITY_POLICY`: scripts and styles only from this
origin, no inline script or style, images from this origin or ``blob:`` (the
viewer draws rendered frames fetched with the user's token), no framing.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_PREFIX = "/ui"
STATIC_DIR = Path(__file__).parent / "static"

#: No inline script or style, nothing from another origin; ``blob:`` images for the viewer.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


class ContentSecurityPolicy:
    """Pure ASGI: adds the UI's Content-Security-Policy header to every response of ``app``."""

    def __init__(self, app: ASGIApp, policy: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self.header = (b"content-security-policy", policy.encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with_policy)


async def root(request: Request) -> RedirectResponse:
    """``/``: an anonymous visitor (or anyone) lands on the UI, whose first page is the login."""
    return RedirectResponse(UI_PREFIX + "/", status_code=307)


def routes() -> list[BaseRoute]:
    return [
        Route("/", root, methods=["GET"]),
        Mount(UI_PREFIX, app=ContentSecurityPolicy(StaticFiles(directory=STATIC_DIR, html=True)),
              name="ui"),
    ]
