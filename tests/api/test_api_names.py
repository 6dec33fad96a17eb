"""One name per idea across the API: tenants and providers by slug, people by username, paths
in lower-case words joined by hyphens, one usage endpoint, one export convention. Renamed
paths keep answering, marked deprecated with their successor (`Deprecation`, `Link`)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_case_workflow_api import raise_cases
from tests.conftest import World

SEGMENT = re.compile(r"^([a-z0-9]+(-[a-z0-9]+)*|\{[a-z_]+\})$")
# Ids that name a tenant, a provider or a person: the API takes their names instead.
NAMED_BY_NAME = {"tenant_id", "provider_id", "assignee_id", "owner_id", "user_id"}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if path.startswith("/api/")
    ]


def test_current_paths_are_hyphenated_words_and_tenants_go_by_slug(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    bad: list[str] = []
    for method, path, op in operations(spec):
        if op.get("deprecated"):
            continue
        for segment in path.split("/")[1:]:
            if not SEGMENT.match(segment):
                bad.append(f"{method} {path}: segment '{segment}'")
        if "{tenant_id}" in path or "{provider_id}" in path:
            bad.append(f"{method} {path}: a tenant or provider goes by its slug")
        for param in op.get("parameters", []):
            if param["name"] in NAMED_BY_NAME and not param.get("deprecated"):
                bad.append(f"{method} {path}: query '{param['name']}' (use the name)")
    assert not bad, "\n".join(bad)


def test_every_deprecated_operation_names_a_successor_that_exists(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    current = {(m, p) for m, p, op in operations(spec) if not op.get("deprecated")}
    deprecated = [(m, p, op) for m, p, op in operations(spec) if op.get("deprecated")]
    assert len(deprecated) >= 7
    for method, path, op in deprecated:
        successor = op["x-successor"].split("?")[0]
        assert (method, successor) in current, (method, path, successor)


def test_old_paths_answer_as_the_new_ones_and_name_them(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    old = client.get("/api/v1/tenants/alpha/apikeys", headers=admin)
    new = client.get("/api/v1/tenants/alpha/api-keys", headers=admin)
    assert old.status_code == new.status_code == 200 and old.json() == new.json()
    assert old.headers["deprecation"] == "true"
    assert old.headers["link"] == '</api/v1/tenants/alpha/api-keys>; rel="successor-version"'
    assert "deprecation" not in new.headers

    created = client.post("/api/v1/tenants/alpha/apikeys", json={"name": "old"}, headers=admin)
    assert created.status_code == 201 and created.headers["deprecation"] == "true"
    key_id = created.json()["key"]["id"]
    revoked = client.delete(f"/api/v1/apikeys/{key_id}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["id"] == key_id
    assert revoked.headers["link"] == f'</api/v1/api-keys/{key_id}>; rel="successor-version"'
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=admin).status_code in (200, 409)

    # The old daily usage route names the one usage endpoint, which now has the days too.
    usage_old = client.get("/api/v1/tenants/alpha/usage", headers=admin)
    assert usage_old.status_code == 200
    assert usage_old.headers["link"].startswith("</api/v1/billing/tenants/alpha/usage>")
    usage = client.get("/api/v1/billing/tenants/alpha/usage", headers=admin)
    assert usage.status_code == 200 and isinstance(usage.json()["days"], list)


def test_the_month_export_takes_a_format_and_the_old_file_names_refuse_alike(
    client: TestClient, world: World
) -> None:
    finance = world["finance"].headers
    base = "/api/v1/billing/months/2001-01"
    for fmt in ("csv", "xlsx"):
        new = client.get(f"{base}/export?format={fmt}", headers=finance)
        old = client.get(f"{base}/export.{fmt}", headers=finance)
        # Not closed: both refuse alike (the closed month's files: tests/billing).
        assert new.status_code == old.status_code == 409
        assert new.json() == old.json()
    bad = client.get(f"{base}/export?format=pdf", headers=finance)
    assert bad.status_code == 422


def test_cases_filter_by_tenant_slug_provider_slug_and_username(
    client: TestClient, world: World
) -> None:
    analyst = world["soc_analyst"]
    raise_cases(client, world, "alpha", "names-a")
    raise_cases(client, world, "beta", "names-b")
    headers = analyst.headers
    by_slug = client.get("/api/v1/cases?tenant=alpha", headers=headers).json()
    assert by_slug["total"] >= 1
    assert {c["tenant"] for c in by_slug["items"]} == {"alpha"}
    tenant_id = by_slug["items"][0]["tenant_id"]
    by_id = client.get(f"/api/v1/cases?tenant_id={tenant_id}", headers=headers).json()
    assert [c["id"] for c in by_id["items"]] == [c["id"] for c in by_slug["items"]]
    assert client.get("/api/v1/cases?tenant=nosuch", headers=headers).json()["total"] == 0

    case_id = by_slug["items"][0]["id"]
    assigned = client.post(
        f"/api/v1/cases/{case_id}/assign", json={"assignee": analyst.username}, headers=headers
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee"] == analyst.username
    mine = client.get(f"/api/v1/cases?assignee={analyst.username}", headers=headers).json()
    assert [c["id"] for c in mine["items"]] == [case_id]

    # A customer's filter on another tenant finds nothing: the slug does not widen the scope.
    customer = world["customer-alpha"].headers
    assert client.get("/api/v1/cases?tenant=beta", headers=customer).json()["total"] == 0
