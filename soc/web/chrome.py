"""What every signed-in page carries besides its own content: the Status link for the roles
that read the CMDB, the Risks link for the roles that read the risk register, the KRI link for
the roles that read KRIs, and the outage banner with the open notices that concern the reader.

Also the sign-in helpers the status pages share with `soc.web.pages`: a router may not import
another router (import-linter contract 3), so they live here; `form_token` must stay the
same derivation as `soc.web.pages.form_token` (a test compares the two), since the shared
header's sign-out form and the status forms carry one token per session.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from soc.cmdb import notices
from soc.core.deps import SESSION_COOKIE
from soc.core.errors import DomainError
from soc.core.principal import Principal
from soc.web.texts import TEXT
from tenants import service as tenant_service


def lang_of(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "en"
    return lang if lang in TEXT else "en"


def form_token(session_token: str) -> str:
    """The CSRF token of the signed-in forms of one session (as soc.web.pages derives it)."""
    return hmac.new(session_token.encode(), b"soc web form", hashlib.sha256).hexdigest()


def same_token(expected: str | None, submitted: str) -> bool:
    return bool(expected) and hmac.compare_digest(str(expected).encode(), submitted.encode())


def signed_in(request: Request, session: Session) -> Principal | None:
    """The user of the session cookie, remembered for the page's chrome; None when signed out."""
    try:
        principal = tenant_service.principal_from_token(
            session, request.cookies.get(SESSION_COOKIE) or ""
        )
    except DomainError:
        return None
    return remember(request, session, principal)


def remember(request: Request, session: Session, principal: Principal) -> Principal:
    """Keep who reads the page (and the request's session) until the page renders."""
    request.state.soc_viewer = (session, principal)
    return principal


def chrome(request: Request) -> dict[str, Any]:
    """The template values of the page's frame: `nav_status` and the `notices` banner.

    The banner shows to customers (their own affected applications only, cut by
    `notices.active_notices_for`) and to the unscoped service desk and authority (what was
    published). A provider's scope names the tenants it serves, not the applications it may
    see, so provider-scoped users get no banner rather than other applications' names."""
    viewer: tuple[Session, Principal] | None = getattr(request.state, "soc_viewer", None)
    if viewer is None:
        return {"nav_status": False, "notices": [], **risk_chrome(None)}
    session, principal = viewer
    if not principal.can("cmdb.read"):
        return {"nav_status": False, "notices": [], **risk_chrome(principal)}
    shown: list[Any] = []
    if principal.provider_id is None:
        try:
            shown = list(notices.active_notices_for(session, principal))
        except DomainError:
            shown = []
    return {"nav_status": True, "notices": shown, **risk_chrome(principal)}


def risk_chrome(principal: Principal | None) -> dict[str, bool]:
    """`nav_risk`: the Risks link (roles that read the register); `can_raise_risk`: the
    "raise a risk" button on a security case (roles that write risks); `nav_kri`: the KRI
    link (roles that read KRIs)."""
    if principal is None:
        return {"nav_risk": False, "can_raise_risk": False, "nav_kri": False}
    return {
        "nav_risk": principal.can("risk.read"),
        "can_raise_risk": principal.can("risk.write"),
        "nav_kri": principal.can("kri.read"),
    }
