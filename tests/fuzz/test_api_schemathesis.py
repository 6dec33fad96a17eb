"""Fuzz the whole OpenAPI of the app with schemathesis: no 5xx, answers as documented.

The app is built once for the module (a temp SQLite database, two tenants, a logged-in global
admin, an ingest key per tenant, a few cases from a detected event) and every documented
operation is called with generated valid and invalid input.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyotp
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from detections.engine import RuleSet
from soc.app import create_app
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import BUILTIN_RULES, Services, build_services
from tenants import service as tenant_service
from tenants.login_guard import LoginGuard
from tests.helpers import key_headers, ndjson, whoami_event

PASSWORD = "correct-horse-battery"
# Small by default so the module runs in well under a minute; raise it for a deeper hunt, e.g.
# SOC_FUZZ_EXAMPLES=500 SOC_FUZZ_RANDOM=1 pytest tests/fuzz/test_api_schemathesis.py
MAX_EXAMPLES = int(os.environ.get("SOC_FUZZ_EXAMPLES", "15"))
DERANDOMIZE = not os.environ.get("SOC_FUZZ_RANDOM")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Operations where negative_data_rejection ("schema-violating request accepted") is skipped;
# every other check still runs for them:
# - pydantic reads query dates/datetimes and booleans leniently (`?start=0` is 1970-01-01,
#   `0` is false), which is harmless;
# - ingest refuses bad items one by one and accepts the rest by design, so a batch with some
#   schema-violating items is rightly answered 200.
LENIENT_PARSING = {
    "GET /api/v1/tenants/{tenant}/usage",
    "GET /api/v1/events",
    "POST /api/v1/ingest",
    "PUT /api/v1/billing/tenants/{tenant}/account",  # `"clear_ceiling": 0` reads as false
}


_json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20)
_json_values = st.recursive(
    _json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_ndjson_line = st.one_of(
    st.dictionaries(
        st.sampled_from(["EventID", "@timestamp", "Computer", "msg", "_id"]),
        _json_values,
        min_size=1,
    ).map(orjson.dumps),
    _json_values.map(orjson.dumps),  # valid JSON but maybe not an object
    st.binary(max_size=40),  # anything at all
)
# NDJSON has no built-in generator in schemathesis: lines of (mostly) JSON objects and garbage.
schemathesis.openapi.media_type(
    "application/x-ndjson",
    st.lists(_ndjson_line, max_size=5).map(lambda lines: b"\n".join(lines)),
)


@dataclass
class Fuzzed:
    app: FastAPI
    client: TestClient
    services: Services
    admin_headers: dict[str, str]
    customer_headers: dict[str, str]


def _login(client: TestClient, username: str, totp_secret: str | None = None) -> str:
    body = {"username": username, "password": PASSWORD}
    if totp_secret:
        body["totp"] = pyotp.TOTP(totp_secret).now()
    answer = client.post("/api/v1/auth/login", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    base = tmp_path_factory.mktemp("fuzz")
    app_settings = Settings(data_dir=base / "var", max_event_bytes=4096, max_request_bytes=200_000)
    upgrade(app_settings.sqlalchemy_url)
    services = build_services(app_settings, ruleset=RuleSet.from_dirs([BUILTIN_RULES]))
    with services.db.session() as session:
        for slug in ("alpha", "beta"):
            tenant_service.create_tenant(session, SYSTEM, slug, slug.title())
        tenant_service.create_provider(session, SYSTEM, "prov-a", "PROV-A")
        admin = tenant_service.create_user(session, SYSTEM, "admin", PASSWORD, "admin", None, None)
        # A user without TOTP whose sessions the fuzzer may log out.
        tenant_service.create_user(session, SYSTEM, "finance", PASSWORD, "finance", None, None)
        tenant_service.create_user(session, SYSTEM, "customer", PASSWORD, "customer", "alpha")
        tenant_service.create_api_key(session, SYSTEM, "beta", "beta-key")
        _, secret = tenant_service.create_api_key(session, SYSTEM, "alpha", "seed")
    # The fuzzer's own wrong logins must not lock out the sessions it needs (the limits are
    # tested in tests/api/test_auth.py).
    services.login_guard = LoginGuard(
        user_failures=10**6, ip_failures=10**6, lockout_failures=10**6
    )
    app = create_app(app_settings, services)
    with TestClient(app) as client:
        token = _login(client, "admin", admin.totp_secret)
        # Detected events give the case endpoints something to find.
        answer = client.post(
            "/api/v1/ingest",
            content=ndjson(whoami_event("ws-1"), whoami_event("ws-2", marker="x")),
            headers=key_headers(secret),
        )
        assert answer.status_code == 200, answer.text
        yield Fuzzed(
            app=app,
            client=client,
            admin_headers={"Authorization": f"Bearer {token}"},
            customer_headers={"Authorization": f"Bearer {_login(client, 'customer')}"},
            services=services,
        )
    services.close()


# The schema is loaded when the module is collected, from an app that is never started (so no
# database is touched); requests go to the module's app below. `schemathesis.pytest.from_fixture`
# would load it from the fixture instead, but its lazy loader breaks on pytest 9 (it writes the
# removed `Item._nodeid`).
schema = schemathesis.openapi.from_dict(
    create_app(Settings(data_dir=Path("unused-fuzz-schema-only"))).openapi()
)
# The tests send the credentials themselves (_headers_for): the fuzzer neither generates nor
# drops the declared security headers (bearerAuth, ingestKey) as if they were parameters.
schema.config.generation.update(with_security_parameters=False)


# Operations that end the caller's own sessions (small ids are likely the admin's).
SIGN_OUTS = (
    "/api/v1/auth/logout",
    "/api/v1/auth/sessions/{session_id}",
    "/api/v1/auth/sessions/end-others",
)


def _headers_for(case: schemathesis.Case, fuzzed: Fuzzed, role: str) -> dict[str, str]:
    if case.operation.path in ("/api/v1/ingest", "/api/v1/ingest/evtx"):
        # A fresh key each time: the fuzzer may well have revoked earlier ones (DELETE apikeys).
        with fuzzed.services.db.session() as session:
            _, secret = tenant_service.create_api_key(session, SYSTEM, "alpha", "fuzz")
        return {"X-API-Key": secret}
    if case.operation.path in SIGN_OUTS:
        # Never log the admin out: log out a throwaway session instead.
        return {"Authorization": f"Bearer {_login(fuzzed.client, 'finance')}"}
    return dict(fuzzed.admin_headers if role == "admin" else fuzzed.customer_headers)


FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=DERANDOMIZE,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def _call(case: schemathesis.Case, fuzzed: Fuzzed, role: str) -> None:
    checks = CHECKS
    if f"{case.operation.method.upper()} {case.operation.path}" in LENIENT_PARSING:
        checks = [check for check in CHECKS if check is not negative_data_rejection]
    case.call_and_validate(headers=_headers_for(case, fuzzed, role), checks=checks, app=fuzzed.app)


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_fuzz(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    """As the global admin: every operation's happy and unhappy paths."""
    _call(case, fuzzed, "admin")


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_fuzz_as_customer(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    """As a tenant's customer: refusals (403/404) must be as well-formed as the answers."""
    _call(case, fuzzed, "customer")
