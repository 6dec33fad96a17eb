"""OpenID Connect sign-in, the protocol side: discovery, the authorization request (code flow
with PKCE, state and nonce), the code exchange, the ID token's checks and the logout URL.

authlib builds the authorization request (RFC 6749 parameters, the RFC 7636 S256 challenge)
and checks the ID token's claims (`CodeIDToken`); its JOSE layer (joserfc) checks the
signature against the provider's JWKS. The code exchange is one plain POST with httpx
(authlib's httpx client integration is deprecated in favour of another HTTP library).
Who the person then is here (user, role, scope) is `tenants.oidc_users`.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from soc.core.errors import DomainError
from soc.core.i18n import N_
from tenants.oidc_config import IdentityProvider, client_secret

TIMEOUT = httpx.Timeout(10.0)
# Discovery documents and key sets are kept this long; an unknown key id refetches the keys
# at once (the provider rotated them).
CACHE_SECONDS = 3600.0
# Only asymmetric signatures: a symmetric (HS*) token would be signed with the client secret,
# "none" with nothing.
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class OidcRefused(DomainError):
    """A sign-in at an identity provider that cannot be accepted; `reason` goes to the audit."""

    status_code = 401
    code = "oidc_refused"
    default = N_("the sign-in at the identity provider could not be accepted")

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__()
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Flow:
    """What the browser keeps between the redirect to the provider and the callback (a
    short-lived cookie): the state to compare, the nonce to expect, the PKCE verifier."""

    provider: str
    state: str
    nonce: str
    verifier: str
    redirect_uri: str

    def dump(self) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(asdict(self))).decode()

    @classmethod
    def load(cls, raw: str | None) -> Flow | None:
        if not raw or len(raw) > 4000:
            return None
        try:
            data = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
            return cls(**{k: str(data[k]) for k in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError):
            return None


_cache: dict[str, tuple[float, Any]] = {}
_lock = threading.Lock()


def _get_json(url: str) -> Any:
    try:
        answer = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
        answer.raise_for_status()
        return answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcRefused("provider_unreachable", f"{url}: {exc}") from exc


def _cached(url: str, refresh: bool = False) -> Any:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(url)
    if hit and not refresh and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    value = _get_json(url)
    with _lock:
        _cache[url] = (now, value)
    return value


def metadata(provider: IdentityProvider) -> dict[str, Any]:
    """The provider's discovery document; its issuer must be the configured one exactly."""
    found = _cached(provider.discovery_url)
    if not isinstance(found, dict) or found.get("issuer") != provider.issuer:
        raise OidcRefused("issuer_mismatch", f"discovery names {found.get('issuer')!r}")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(found.get(key), str):
            raise OidcRefused("bad_discovery", f"no {key}")
    return found


def key_set(provider: IdentityProvider, refresh: bool = False) -> dict[str, Any]:
    found = _cached(metadata(provider)["jwks_uri"], refresh)
    if not isinstance(found, dict):
        raise OidcRefused("bad_discovery", "the JWKS is not an object")
    return found


def start(provider: IdentityProvider, redirect_uri: str) -> tuple[str, Flow]:
    """The provider's authorization URL to send the browser to, and the flow to keep."""
    endpoint = metadata(provider)["authorization_endpoint"]
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    url = prepare_grant_uri(
        endpoint,
        client_id=provider.client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        scope=" ".join(provider.scopes),
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
    )
    return str(url), Flow(provider.name, state, nonce, verifier, redirect_uri)


def exchange(provider: IdentityProvider, flow: Flow, code: str) -> dict[str, Any]:
    """Trade the authorization code (with the PKCE verifier) for the provider's tokens;
    a confidential client authenticates with HTTP Basic (client_secret_basic)."""
    endpoint = metadata(provider)["token_endpoint"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": flow.redirect_uri,
        "code_verifier": flow.verifier,
    }
    secret = client_secret(provider)
    auth = None
    if secret:  # RFC 6749 2.3.1: both form-encoded before the Basic encoding
        auth = (quote(provider.client_id, safe=""), quote(secret, safe=""))
    else:
        form["client_id"] = provider.client_id
    try:
        answer = httpx.post(
            endpoint, data=form, auth=auth, timeout=TIMEOUT, headers={"Accept": "application/json"}
        )
        token = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcRefused("token_exchange", str(exc)[:300]) from exc
    if answer.status_code != 200 or not isinstance(token, dict):
        raise OidcRefused("token_exchange", f"{answer.status_code}: {answer.text[:300]}")
    if not isinstance(token.get("id_token"), str):
        raise OidcRefused("no_id_token")
    return token


def validate_id_token(
    id_token: str,
    *,
    keys: dict[str, Any],
    issuer: str,
    client_id: str,
    nonce: str,
    skew_seconds: int,
    algorithms: list[str] | None = None,
    access_token: str | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """The ID token's claims once its signature (one of `keys`, an asymmetric algorithm),
    issuer, audience (and authorized party), nonce, expiry and issue time hold, with
    `skew_seconds` of clock skew either way. Raises OidcRefused naming what failed."""
    allowed = [a for a in (algorithms or ["RS256"]) if a in ASYMMETRIC]
    try:
        token = jwt.decode(
            id_token,
            KeySet.import_key_set(keys),  # type: ignore[arg-type]
            algorithms=allowed,
        )
    except InvalidKeyIdError as exc:
        raise OidcRefused("unknown_key", str(exc)) from exc
    except (JoseError, ValueError) as exc:
        raise OidcRefused("bad_signature", str(exc)) from exc
    claims = CodeIDToken(
        token.claims,
        token.header,
        {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
        },
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=now, leeway=skew_seconds)
    except ExpiredTokenError as exc:
        raise OidcRefused("expired", str(exc)) from exc
    except ClaimError as exc:
        raise OidcRefused(f"invalid_{exc.claim}", str(exc)) from exc
    if not nonce:  # never accept a token without the flow's nonce
        raise OidcRefused("invalid_nonce")
    return dict(claims)


def verified_claims(
    provider: IdentityProvider, token: dict[str, Any], flow: Flow, skew_seconds: int
) -> dict[str, Any]:
    """validate_id_token against the provider's current keys (refetched once on an unknown
    key id: a rotation)."""
    found = metadata(provider)
    algorithms = found.get("id_token_signing_alg_values_supported") or ["RS256"]

    def check(keys: dict[str, Any]) -> dict[str, Any]:
        return validate_id_token(
            token["id_token"],
            keys=keys,
            issuer=provider.issuer,
            client_id=provider.client_id,
            nonce=flow.nonce,
            skew_seconds=skew_seconds,
            algorithms=list(algorithms),
            access_token=token.get("access_token"),
        )

    try:
        return check(key_set(provider))
    except OidcRefused as exc:
        if exc.reason != "unknown_key":
            raise
        return check(key_set(provider, refresh=True))


def end_session_url(
    provider: IdentityProvider, id_token: str | None, post_logout_redirect_uri: str
) -> str | None:
    """Where to send the browser to end the session at the provider too (RP-initiated
    logout), or None when the provider offers no end_session_endpoint."""
    try:
        endpoint = metadata(provider).get("end_session_endpoint")
    except OidcRefused:
        return None
    if not isinstance(endpoint, str):
        return None
    params = {"client_id": provider.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
    if id_token:
        params["id_token_hint"] = id_token
    return str(httpx.URL(endpoint).copy_merge_params(params))
