"""Browser security headers on every answer (pure ASGI: no per-request task, ingest-friendly)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages use only their own files: no inline script or style (an injected one does not run),
# no framing (clickjacking), forms post only here.
PAGE_CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Swagger UI and ReDoc (soc.docs_routes): their bundles from this server, no inline script
# (Swagger UI starts from a file); inline styles (ReDoc's styled components, Swagger UI's
# style attributes), data: images and a blob: worker (ReDoc's search). They show no user data,
# so the looser style policy is scoped to those pages alone.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """Adds CSP, X-Frame-Options, nosniff, Referrer-Policy and (over TLS) HSTS to every
    response that does not set them itself."""

    def __init__(self, app: ASGIApp, hsts_max_age: int | None) -> None:
        self.app = app
        common = [
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            # Same-origin requests keep the Referer (the CSRF check falls back on it); other
            # sites never see case URLs.
            (b"referrer-policy", b"same-origin"),
        ]
        if hsts_max_age is not None:
            common.append((b"strict-transport-security", f"max-age={hsts_max_age}".encode()))
        self.page = [(b"content-security-policy", PAGE_CSP.encode()), *common]
        self.docs = [(b"content-security-policy", DOCS_CSP.encode()), *common]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = self.docs if path.startswith(DOCS_PATHS) else self.page

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
