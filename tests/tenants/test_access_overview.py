"""The access overview and its CSV exports match the users a test creates: role, approver,
state, last sign-in, MFA, source; and the approvers per tenant (billed per user)."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from tenants.access import APPROVER_COLUMNS, COLUMNS
from tests.conftest import PASSWORD, World
from tests.tenants.test_tenant_admin import login, make_tenant_admin


def rows_of(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) in (COLUMNS, APPROVER_COLUMNS)
    return list(reader)


def test_the_csv_matches_the_users_created(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    assert client.post(
        "/api/v1/tenants", json={"slug": "gamma", "name": "Gamma"}, headers=admin
    ).status_code == 201  # fmt: skip
    local = make_tenant_admin(client, world, "gamma", "ta-gamma")
    made = {}
    for name, role in (
        ("g-ann", "customer"),
        ("g-bert", "customer"),
        ("g-cas", "customer"),
        ("g-dirk", "risk_owner"),
    ):
        answer = client.post(
            "/api/v1/tenants/gamma/members", json={"username": name, "role": role}, headers=local
        )
        assert answer.status_code == 201, answer.text
        made[name] = answer.json()["initial_password"]
    login(client, "g-ann", made["g-ann"])
    disabled = client.patch(
        "/api/v1/tenants/gamma/members/g-cas", json={"active": False}, headers=local
    )
    assert disabled.status_code == 200
    # A username a spreadsheet would run as a formula is exported as text.
    formula = client.post(
        "/api/v1/users",
        json={"username": "=HYPERLINK(1)", "password": PASSWORD, "role": "customer",
              "tenant": "beta"},
        headers=admin,
    )  # fmt: skip
    assert formula.status_code == 201

    answer = client.get("/api/v1/access?format=csv", headers=admin)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = rows_of(answer.text)
    gamma = {r["username"]: r for r in rows if r["tenant"] == "gamma"}
    assert {
        name: (r["role"], r["approver"], r["active"], r["mfa"], r["source"], r["system"])
        for name, r in gamma.items()
    } == {
        "ta-gamma": ("tenant_admin", "no", "yes", "totp", "local", "soc"),
        "g-ann": ("customer", "yes", "yes", "none", "local", "soc"),
        "g-bert": ("customer", "yes", "yes", "none", "local", "soc"),
        "g-cas": ("customer", "yes", "no", "none", "local", "soc"),
        "g-dirk": ("risk_owner", "no", "yes", "none", "local", "soc"),
    }
    signed = {n for n, r in gamma.items() if r["last_sign_in"]}
    assert signed == {"ta-gamma", "g-ann"}
    assert gamma["g-ann"]["last_sign_in"].endswith("Z")
    # Every user once, grouped by tenant then provider, unscoped users last.
    assert len(rows) == len(client.get("/api/v1/users", headers=admin).json())
    assert [r["username"] for r in rows if r["provider"] == "prov-a"] == [
        "finance-prov-a", "provider-prov-a", "soc_analyst-prov-a"
    ]  # fmt: skip
    assert rows[-1]["tenant"] == "" and rows[-1]["provider"] == ""
    authority = next(r for r in rows if r["username"] == "authority")
    assert authority["approver"] == "yes"
    assert next(r for r in rows if r["tenant"] == "beta" and r["username"].endswith("(1)"))[
        "username"
    ] == "'=HYPERLINK(1)"  # fmt: skip

    # The approver count: active users whose role approves, per tenant; the billed number.
    counts = {r["tenant"]: int(r["approvers"]) for r in rows_of(
        client.get("/api/v1/access/approvers?format=csv", headers=admin).text
    )}  # fmt: skip
    assert counts == {"alpha": 1, "beta": 2, "gamma": 2}
    assert counts["gamma"] == sum(
        1 for r in gamma.values() if r["approver"] == "yes" and r["active"] == "yes"
    )
    overview = client.get("/api/v1/access", headers=admin).json()
    assert {a["tenant"]: a["approvers"] for a in overview["approvers"]} == counts

    # The tenant administrator sees its own tenant only; the authority sees all; others none.
    own = rows_of(client.get("/api/v1/access?format=csv", headers=local).text)
    assert {r["tenant"] for r in own} == {"gamma"} and len(own) == 5
    own_counts = rows_of(client.get("/api/v1/access/approvers?format=csv", headers=local).text)
    assert [(r["tenant"], r["approvers"]) for r in own_counts] == [("gamma", "2")]
    seen = client.get("/api/v1/access", headers=world["authority"].headers).json()
    assert len(seen["users"]) == len(rows)
    for user in ("customer-alpha", "risk_owner-alpha", "provider-prov-a", "finance"):
        headers = world[user].headers
        assert client.get("/api/v1/access?format=csv", headers=headers).status_code == 403, user
