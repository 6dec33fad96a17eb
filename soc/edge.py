"""Refusals made at the edge, in pure ASGI before routing and before the body is read.

A flood of refused requests then costs the server almost nothing (no middleware task, no body
parsing, no dependency resolution), so it cannot slow the analysts' pages: cross-site writes
made with the session cookie (CSRF) and API logins from an address already over its
failed-login limit.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from soc.core.deps import SESSION_COOKIE, client_ip
from soc.core.error_texts import accepted_language
from soc.core.i18n import N_, gettext

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CROSS_SITE = N_("cross-site request refused")
LOGIN_BLOCKED = N_("too many failed logins; try again in {seconds} s")
API_LOGIN = "/api/v1/auth/login"


def same_origin(request: Request) -> bool:
    """True when the Origin (or, without one, the Referer) names this host, or neither is
    sent (not a browser form)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True
    return urlsplit(source).netloc == request.headers.get("host", request.url.netloc)


def cookie_authenticates(request: Request) -> bool:
    """True when the session cookie is what would authenticate this request: always on the
    web pages; on the API unless an Authorization header is sent (current_principal then
    ignores the cookie)."""
    if SESSION_COOKIE not in request.cookies:
        return False
    return not (request.url.path.startswith("/api/") and "authorization" in request.headers)


def _text(request: Request, message: str, **params: object) -> str:
    """The refusal's text in the caller's language (Accept-Language; the code stays)."""
    lang = accepted_language(request.headers.get("accept-language"))
    return gettext(lang, message).format(**params)


async def _answer(send: Send, status: int, body: dict[str, str], retry_after: int = 0) -> None:
    headers = [(b"content-type", b"application/json")]
    if retry_after:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(body)})


class EdgeRefusals:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        # A change made with the session cookie must come from this site's own pages: a
        # browser names the page's origin on every cross-site POST (CSRF defence next to the
        # SameSite=Strict cookie, which sibling subdomains would pass). The sign-in form too,
        # cookie or not: another site must not sign a browser into an account of its choosing.
        if (cookie_authenticates(request) or path == "/login") and not same_origin(request):
            detail = _text(request, CROSS_SITE)
            await _answer(send, 403, {"error": "forbidden", "detail": detail})
            return
        if path == API_LOGIN:
            guard = scope["app"].state.login_guard
            wait = guard.ip_blocked_for(client_ip(request))
            if wait > 0:
                retry = math.ceil(wait)
                detail = _text(request, LOGIN_BLOCKED, seconds=retry)
                await _answer(send, 429, {"error": "too_many_requests", "detail": detail}, retry)
                return
        await self.app(scope, receive, send)
