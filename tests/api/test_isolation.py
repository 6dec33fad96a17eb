"""Tenant isolation and roles, endpoint by endpoint.

Every API route must appear in ROUTES below (a test checks this), so a new endpoint cannot
ship without saying who may use it and proving that tenant A never reaches tenant B.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from soc.services import Services
from tests.conftest import PROVIDER_SCOPED, World
from tests.helpers import key_headers, ndjson, whoami_event

ALL_USERS = (
    "admin",
    "soc_analyst",
    "authority",
    "finance",
    "customer-alpha",
    "risk_owner-alpha",
    *PROVIDER_SCOPED,
)


@dataclass
class Objects:
    alpha_case: int
    beta_case: int
    beta_event: str
    alpha_event: str


@pytest.fixture
def objects(client: TestClient, world: World) -> Objects:
    """One case per tenant (alpha's assigned to provider prov-a, beta's to prov-b)."""
    ids = {}
    for tenant in ("alpha", "beta"):
        answer = client.post(
            "/api/v1/ingest?return_ids=true",
            content=ndjson(whoami_event(f"{tenant}-host")),
            headers=key_headers(world.keys[tenant]),
        )
        ids[tenant] = answer.json()["ids"][0]
    cases = client.get("/api/v1/cases", headers=world["admin"].headers).json()["items"]
    by_tenant = {c["tenant_id"]: c["id"] for c in cases}
    for tenant_id, provider in ((1, "prov-a"), (2, "prov-b")):
        client.post(
            f"/api/v1/cases/{by_tenant[tenant_id]}/assign",
            json={"provider": provider},
            headers=world["admin"].headers,
        )
    return Objects(by_tenant[1], by_tenant[2], ids["beta"], ids["alpha"])


# A request aimed at tenant beta's objects, and the status each user must get (users not named
# get `default`). Probes change state as they go (a status moves once), so for users who may act
# a 422 business-rule answer counts the same as success: `verdict` compares 200/201/422 alike.
@dataclass
class Probe:
    method: str
    path: str
    body: dict | None
    expected: dict[str, int]
    default: int


def verdict(status: int) -> str:
    return "allowed" if status in (200, 201, 204, 422) else str(status)


def probes(o: Objects) -> list[Probe]:
    """Aimed at tenant beta, which prov-b serves (beta's case is assigned to prov-b) and prov-a
    does not: prov-b's users act as their role allows, prov-a's get 404."""
    beta_case = f"/api/v1/cases/{o.beta_case}"
    everyone_global = {"admin": 200, "soc_analyst": 200, "authority": 200}
    no_tenant_user = {"customer-alpha": 404, "provider-prov-a": 404, "soc_analyst-prov-a": 404}
    served = {"provider-prov-b": 200, "soc_analyst-prov-b": 200}
    finance = {"finance-prov-a": 404, "finance-prov-b": 200}
    analysts = {
        "admin": 200,
        "soc_analyst": 200,
        "soc_analyst-prov-a": 404,
        "soc_analyst-prov-b": 200,
    }
    return [
        Probe(
            "GET",
            "/api/v1/cases",
            None,
            {
                "admin": 200,
                "soc_analyst": 200,
                "authority": 200,
                "customer-alpha": 200,
            }
            | {u: 200 for u in PROVIDER_SCOPED if not u.startswith("finance")},
            403,
        ),
        Probe("GET", beta_case, None, everyone_global | no_tenant_user | served, 403),
        Probe("GET", f"{beta_case}/timeline", None, everyone_global | no_tenant_user | served, 403),
        Probe(
            "GET", f"{beta_case}/itsm-tickets", None, everyone_global | no_tenant_user | served, 403
        ),
        Probe(
            "GET",
            f"{beta_case}/alerts",
            None,
            {"admin": 200, "soc_analyst": 200, "authority": 403}
            | no_tenant_user
            | {"provider-prov-b": 403, "soc_analyst-prov-b": 200},
            403,
        ),
        Probe(
            "GET",
            f"{beta_case}/events",
            None,
            {"admin": 200, "soc_analyst": 200, "authority": 403}
            | no_tenant_user
            | {"provider-prov-b": 403, "soc_analyst-prov-b": 200},
            403,
        ),
        Probe(
            "POST",
            f"{beta_case}/assign",
            {"provider": "prov-b"},
            analysts,
            403,
        ),
        Probe(
            "POST",
            f"{beta_case}/status",
            {"status": "triage"},
            {"admin": 200, "soc_analyst": 200, "provider-prov-a": 404, "soc_analyst-prov-a": 404}
            | served,
            403,
        ),
        Probe(
            "POST",
            f"{beta_case}/reopen",
            {},
            {"admin": 422, "soc_analyst": 422, "provider-prov-a": 404, "soc_analyst-prov-a": 404}
            | served,
            403,
        ),
        Probe(
            "POST",
            f"{beta_case}/comments",
            {"text": "hi"},
            {"admin": 201, "soc_analyst": 201} | no_tenant_user | served,
            403,
        ),
        Probe("GET", "/api/v1/tenants", None, {u: 200 for u in ALL_USERS}, 403),
        Probe(
            "GET",
            "/api/v1/tenants/beta",
            None,
            {
                "admin": 200,
                "soc_analyst": 200,
                "authority": 200,
                "finance": 200,
                "customer-alpha": 404,
                "risk_owner-alpha": 404,
            }
            | no_tenant_user
            | served
            | finance,
            403,
        ),
        Probe("POST", "/api/v1/tenants", {"slug": "gamma", "name": "Gamma"}, {"admin": 201}, 403),
        Probe("POST", "/api/v1/providers", {"slug": "prov-c", "name": "C"}, {"admin": 201}, 403),
        Probe(
            "POST",
            "/api/v1/users",
            {
                "username": "new-one",
                "password": "long-enough-pw",
                "role": "customer",
                "tenant": "beta",
            },
            {"admin": 201},
            403,
        ),
        Probe("GET", "/api/v1/tenants/beta/apikeys", None, {"admin": 200}, 403),
        Probe("POST", "/api/v1/tenants/beta/apikeys", {"name": "x"}, {"admin": 201}, 403),
        Probe("DELETE", "/api/v1/apikeys/2", None, {"admin": 200}, 403),
        Probe("GET", "/api/v1/tenants/beta/api-keys", None, {"admin": 200}, 403),
        Probe("POST", "/api/v1/tenants/beta/api-keys", {"name": "y"}, {"admin": 201}, 403),
        Probe("DELETE", "/api/v1/api-keys/2", None, {"admin": 200}, 403),
        Probe(
            "GET",
            "/api/v1/tenants/beta/usage",
            None,
            {"admin": 200, "finance": 200, "authority": 200, "customer-alpha": 404} | finance,
            403,
        ),
        Probe(
            "GET",
            "/api/v1/events?tenant=beta",
            None,
            analysts,
            403,
        ),
        Probe(
            "GET",
            f"/api/v1/events/{o.beta_event}?tenant=beta",
            None,
            analysts,
            403,
        ),
        # Bulk: 200 with a per-case answer for who may update cases (a foreign case is refused
        # in it as not found: test_bulk_refuses_foreign_cases_as_not_found), 403 for the rest.
        Probe(
            "POST",
            "/api/v1/cases/bulk",
            {"action": "status", "case_ids": [o.beta_case], "status": "triage"},
            analysts | {u: 200 for u in PROVIDER_SCOPED if not u.startswith("finance")},
            403,
        ),
        # Admin console (issue 14): onboarding, tenant updates, the user list: admins only.
        Probe(
            "POST",
            "/api/v1/tenants/onboard",
            {"slug": "onboarded", "name": "Onboarded", "portal_users": ["onboarded-user"]},
            {"admin": 201},
            403,
        ),
        Probe("PATCH", "/api/v1/tenants/beta", {"retention_days": 200}, {"admin": 200}, 403),
        Probe("GET", "/api/v1/users?tenant=beta", None, {"admin": 200}, 403),
        Probe("GET", "/api/v1/audit/verify", None, {"admin": 200, "authority": 200}, 403),
        # A tenant's signed audit bundle: 409 for those allowed (no checkpoint in this world).
        Probe(
            "GET",
            "/api/v1/tenants/beta/audit/bundle",
            None,
            {"admin": 409, "authority": 409, "customer-alpha": 404},
            403,
        ),
        Probe("GET", "/api/v1/providers", None, {"admin": 200}, 403),
        # A tenant's members and the access overview: tenant administrators (none in this
        # world; their isolation is in tests/tenants/test_tenant_admin.py) and admins; the
        # overview also to the authority.
        Probe("GET", "/api/v1/tenants/beta/members", None, {"admin": 200}, 403),
        Probe(
            "GET",
            "/api/v1/tenants/beta/members/customer-beta/sessions",
            None,
            {"admin": 200},
            403,
        ),
        Probe("GET", "/api/v1/access", None, {"admin": 200, "authority": 200}, 403),
        Probe("GET", "/api/v1/access?format=csv", None, {"admin": 200, "authority": 200}, 403),
        Probe("GET", "/api/v1/access/approvers", None, {"admin": 200, "authority": 200}, 403),
        # API tokens: everyone lists and makes its own (tests/tenants/test_api_tokens.py shows
        # another's token is a 404); only unscoped administrators list everyone's.
        Probe("GET", "/api/v1/auth/api-tokens", None, {}, 200),
        Probe(
            "POST",
            "/api/v1/auth/api-tokens",
            {"name": "probe", "scopes": ["cases:read"], "expires_days": 1},
            {},
            201,
        ),
        Probe("GET", "/api/v1/api-tokens", None, {"admin": 200}, 403),
        # Last: the admin's DELETE really ends prov-b serving beta (PUT before it is a no-op).
        Probe("PUT", "/api/v1/providers/prov-b/tenants/beta", None, {"admin": 204}, 403),
        Probe("DELETE", "/api/v1/providers/prov-b/tenants/beta", None, {"admin": 204}, 403),
    ]


def test_each_endpoint_answers_each_role_as_documented(
    client: TestClient, world: World, objects: Objects, services: Services
) -> None:
    failures = []
    for probe in probes(objects):
        for user in ALL_USERS:
            want = probe.expected.get(user, probe.default)
            got = client.request(
                probe.method, probe.path, json=probe.body, headers=world[user].headers
            ).status_code
            if verdict(got) != verdict(want):
                failures.append(f"{probe.method} {probe.path} as {user}: {got}, want {want}")
    assert not failures, "\n".join(failures)


def test_bulk_refuses_foreign_cases_as_not_found(
    client: TestClient, world: World, objects: Objects
) -> None:
    """A bulk request naming another tenant's case (or one not handed to the provider) gets
    that case refused as not found, and the case stays as it was."""
    body = {"action": "status", "case_ids": [objects.beta_case, objects.alpha_case]}
    for user, foreign, own in (
        ("provider-prov-a", objects.beta_case, objects.alpha_case),
        ("soc_analyst-prov-b", objects.alpha_case, objects.beta_case),
    ):
        answer = client.post(
            "/api/v1/cases/bulk", json=body | {"status": "triage"}, headers=world[user].headers
        )
        assert answer.status_code == 200, answer.text
        results = {r["case_id"]: r for r in answer.json()["results"]}
        assert results[foreign]["code"] == "not_found", user
        assert results[foreign]["message"] == f"case {foreign} not found"
        assert results[own]["code"] in ("done", "bad_request"), user
    seen = client.get(f"/api/v1/cases/{objects.beta_case}", headers=world["admin"].headers)
    assert seen.json()["status"] == "triage"  # moved by prov-b's analyst only


def test_tenant_users_see_only_their_own_rows(
    client: TestClient, world: World, objects: Objects
) -> None:
    customer = world["customer-alpha"].headers
    listing = client.get("/api/v1/cases", headers=customer).json()
    assert [c["id"] for c in listing["items"]] == [objects.alpha_case]
    forced = client.get("/api/v1/cases?tenant_id=2", headers=customer).json()
    assert forced["items"] == []
    tenants = client.get("/api/v1/tenants", headers=customer).json()
    assert [t["slug"] for t in tenants] == ["alpha"]
    own = client.get(f"/api/v1/cases/{objects.alpha_case}/events", headers=customer)
    assert own.status_code == 200 and own.json()[0]["tenant_id"] == 1
    provider = world["provider-prov-a"].headers
    provider_cases = client.get("/api/v1/cases", headers=provider).json()["items"]
    assert [c["id"] for c in provider_cases] == [objects.alpha_case]
    moved = client.post(
        f"/api/v1/cases/{objects.alpha_case}/status", json={"status": "triage"}, headers=provider
    )
    assert moved.status_code == 200


def test_provider_scoped_users_see_only_the_tenants_their_provider_serves(
    client: TestClient, world: World, objects: Objects
) -> None:
    def get(user: str, path: str) -> tuple[int, object]:
        answer = client.get(path, headers=world[user].headers)
        return answer.status_code, answer.json()

    for user in PROVIDER_SCOPED:
        own = "alpha" if user.endswith("prov-a") else "beta"
        assert [t["slug"] for t in get(user, "/api/v1/tenants")[1]] == [own], user
        if not user.startswith("finance"):
            cases = get(user, "/api/v1/cases")[1]["items"]
            assert {c["tenant_id"] for c in cases} == {1 if own == "alpha" else 2}, user
    # Naming no tenant is not "every tenant" for a provider: it must name one it serves.
    analyst = "soc_analyst-prov-a"
    me = get(analyst, "/api/v1/auth/me")[1]
    assert (me["scope"], me["tenant_ids"], me["tenant_id"]) == ("provider", [1], None)
    assert get("admin", "/api/v1/auth/me")[1]["tenant_ids"] is None
    for path in ("/api/v1/events", "/api/v1/rules/exceptions", "/api/v1/rules"):
        assert get(analyst, path)[0] == 422, path
    assert get(analyst, "/api/v1/events?tenant=alpha")[1]["total"] == 1
    assert get(analyst, "/api/v1/tenants/alpha/assets")[0] == 200
    assert get("provider-prov-a", "/api/v1/tenants/beta/assets")[0] == 404

    # The relation is live: unserve, and alpha's data is gone at the next request; the case
    # handed to prov-a stays visible (cases follow their assignment).
    admin = world["admin"].headers
    assert client.delete("/api/v1/providers/prov-a/tenants/alpha", headers=admin).status_code == 204
    assert get(analyst, "/api/v1/tenants")[1] == []
    assert get(analyst, "/api/v1/tenants/alpha/assets")[0] == 404
    assert get(analyst, "/api/v1/events?tenant=alpha")[0] == 404
    assert get(analyst, f"/api/v1/cases/{objects.alpha_case}")[0] == 200
    assert client.put("/api/v1/providers/prov-a/tenants/beta", headers=admin).status_code == 204
    assert [t["slug"] for t in get(analyst, "/api/v1/tenants")[1]] == ["beta"]
    assert get(analyst, "/api/v1/events?tenant=beta")[1]["total"] == 1
    providers = client.get("/api/v1/providers", headers=admin).json()
    assert {p["slug"]: p["tenants"] for p in providers} == {"prov-a": ["beta"], "prov-b": ["beta"]}
    missing = client.put("/api/v1/providers/prov-x/tenants/beta", headers=admin)
    assert missing.status_code == 404


def test_ingest_key_writes_only_to_its_own_tenant(
    client: TestClient, world: World, objects: Objects, services: Services
) -> None:
    # A key cannot choose a tenant: a tenant field in the body is just data.
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("x") | {"tenant_id": 2}),
        headers=key_headers(world.keys["alpha"]),
    )
    assert services.store.stats(1).events == 2
    assert services.store.stats(2).events == 1
    analyst = world["soc_analyst"].headers
    assert (
        client.get(f"/api/v1/events/{objects.beta_event}?tenant=alpha", headers=analyst).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/events/{objects.alpha_event}?tenant=beta", headers=analyst).status_code
        == 404
    )


def test_anonymous_requests_are_401(client: TestClient, objects: Objects) -> None:
    for method, path in (
        ("GET", "/api/v1/cases"),
        ("GET", f"/api/v1/cases/{objects.beta_case}"),
        ("GET", "/api/v1/tenants"),
        ("GET", "/api/v1/events?tenant=beta"),
        ("GET", "/api/v1/auth/me"),
        ("GET", "/api/v1/audit/verify"),
    ):
        assert client.request(method, path).status_code == 401, path
    forged = client.get("/api/v1/cases", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401


def isolation_covered_elsewhere() -> set[tuple[str, str]]:
    """Routes whose tenant isolation and roles are tested in another module: each such module
    declares them in a module-level ISOLATION_COVERED set of (method, path template)."""
    covered: set[tuple[str, str]] = set()
    for path in sorted(Path(__file__).resolve().parents[1].rglob("test_*.py")):
        text = path.read_text()
        if "ISOLATION_COVERED" in text and path.name != Path(__file__).name:
            module = importlib.import_module(
                ".".join(
                    path.relative_to(Path(__file__).resolve().parents[2]).with_suffix("").parts
                )
            )
            covered |= module.ISOLATION_COVERED
    return covered


# Exercised in tests/api/test_auth.py, test_ingest.py and the health check.
ISOLATION_COVERED = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/totp/enroll"),
    ("POST", "/api/v1/auth/totp/verify"),
    ("POST", "/api/v1/ingest"),
    ("GET", "/api/v1/health"),
}


def test_every_api_route_is_probed(client: TestClient, objects: Objects) -> None:
    """Every API route has a probe here, or sits in some test module's ISOLATION_COVERED.
    Routes come from the OpenAPI document: included routers are not flat in app.routes."""
    probed = {(p.method, p.path.split("?")[0]) for p in probes(objects)}
    concrete = {
        "{case_id}": str(objects.beta_case),
        "{tenant}": "beta",
        "{key_id}": "2",
        "{event_id}": objects.beta_event,
        "{provider}": "prov-b",
    }
    elsewhere = ISOLATION_COVERED | isolation_covered_elsewhere()
    routes = [
        (method.upper(), template)
        for template, operations in client.app.openapi()["paths"].items()
        for method in operations
        if template.startswith(("/api/", "/es/"))
    ]
    assert len(routes) > 30  # the walk itself found the API
    missing = []
    for method, template in routes:
        path = template
        for name, value in concrete.items():
            path = path.replace(name, value)
        if (method, path) not in probed and (method, template) not in elsewhere:
            missing.append(f"{method} {template}")
    assert not missing, f"routes without an isolation probe: {missing}"
