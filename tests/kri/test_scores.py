"""Scores over the API (kri.scores, kri.scores_api): the 004-G worked example through the
scorecard (91.79 %, penalty 0.5 %), RAG per KRI, trends, who sees which subject (another
tenant's or provider's scorecard is a 404), and tenant isolation and roles of every route of
kri/scores_api.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from kri.models import KriDefinition, KriValue
from soc.app import create_app
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import World
from tests.kri.test_sla import define

API = "/api/v1/kri"
ISOLATION_COVERED = {
    ("GET", "/api/v1/kri/scorecard"),
    ("GET", "/api/v1/kri/trend/{kri_id}"),
    ("GET", "/api/v1/kri/catalogue/{kri_id}/trend"),
    ("GET", "/api/v1/kri/repeated"),
    ("POST", "/api/v1/kri/compute"),
    ("GET", "/api/v1/kri/computations"),
}
# Seed 004-G: (id, norm, measured, weight) of the service-desk domain.
EXAMPLE = (
    ("t_reachability", "80", "75", "0.25"),
    ("t_fcr", "70", "68", "0.40"),
    ("t_handoff", "100", "98", "0.25"),
    ("t_training", "2", "1", "0.10"),
)


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:
    """The app (the shell mounts the scores router)."""
    app = create_app(settings, services)
    with TestClient(app) as test_client:
        yield test_client


def value(
    session: Session,
    kri_id: str,
    number: str,
    period: str = "2026-03",
    tenant_id: int | None = None,
    provider_id: int | None = None,
) -> None:
    session.add(
        KriValue(
            kri_id=kri_id,
            period=period,
            tenant_id=tenant_id,
            provider_id=provider_id,
            value=number,
            source="submitted",
            due=date(2026, 4, 3),
            on_time=True,
            current=True,
        )
    )
    session.flush()


def example(services: Services) -> None:
    """004-G for prov-a (provider id 1) in March 2026, and a tenant KRI for alpha and beta."""
    with services.db.session() as session:
        for kri_id, norm, measured, weight in EXAMPLE:
            define(
                session,
                kri_id,
                scope="provider",
                norm=norm,
                green=norm,
                amber=str(Decimal(norm) * Decimal("0.9")),
                domain="service_desk",
                weight=weight,
            )
            value(session, kri_id, measured, provider_id=1)
        define(session, "t_tenant", scope="customer", domain="soc", weight="1")
        value(session, "t_tenant", "96", tenant_id=1)
        value(session, "t_tenant", "91", period="2026-02", tenant_id=1)
        value(session, "t_tenant", "50", tenant_id=2)
        # only the example's KRIs: a shipped KRI owed without a value would count 0.0 %
        mine = [k for k, *_ in EXAMPLE] + ["t_tenant"]
        session.execute(
            update(KriDefinition).where(KriDefinition.id.not_in(mine)).values(enabled=False)
        )


def get(client: TestClient, world: World, who: str, path: str) -> Any:
    return client.get(f"{API}{path}", headers=world[who].headers)


def test_the_004g_worked_example_scores_91_79_with_a_0_5_penalty(
    client: TestClient, world: World, services: Services
) -> None:
    example(services)
    for who in ("admin", "authority", "provider-prov-a", "soc_analyst-prov-a"):
        answer = get(client, world, who, "/scorecard?provider=prov-a&period=2026-03")
        assert answer.status_code == 200, (who, answer.text)
        card = answer.json()
        assert card["subject"] == {"kind": "provider", "tenant": None, "provider": "prov-a"}
        assert card["domains"] == [
            {"domain": "service_desk", "score": "91.79", "penalty_pct": "0.5"}
        ]
        mine = {k["id"]: k for k in card["kris"] if k["id"].startswith("t_")}
        assert {k: v["achievement"] for k, v in mine.items()} == {
            "t_reachability": "93.8",
            "t_fcr": "97.1",
            "t_handoff": "98.0",
            "t_training": "50.0",
        }
        assert mine["t_reachability"]["rag"] == "amber"  # 75 < 80, >= 72
        assert mine["t_training"]["rag"] == "red" and mine["t_training"]["met"] is False
    other = get(client, world, "admin", "/scorecard?provider=prov-b&period=2026-03").json()
    assert {k["id"] for k in other["kris"]} >= {"t_fcr"}
    # nothing reported by prov-b: every owed KRI counts 0.0 % (review finding 5)
    assert other["domains"] == [{"domain": "service_desk", "score": "0.00", "penalty_pct": "2.0"}]
    assert all(k["missing"] and k["rag"] == "red" for k in other["kris"])
    with services.db.session() as session:
        define(session, "t_owned_by_a", scope="provider", owner_provider_id=1)
    ids_b = {
        k["id"] for k in get(client, world, "admin", "/scorecard?provider=prov-b").json()["kris"]
    }
    ids_a = {
        k["id"] for k in get(client, world, "admin", "/scorecard?provider=prov-a").json()["kris"]
    }
    assert "t_owned_by_a" in ids_a and "t_owned_by_a" not in ids_b
    own = get(client, world, "provider-prov-a", "/scorecard?period=2026-03").json()
    assert own["subject"]["provider"] == "prov-a" and own["domains"][0]["score"] == "91.79"


def test_penalty_tiers_come_from_the_settings(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    example(services)
    settings.kri_penalty_tiers = [(92.0, 0.0), (0.0, 3.0)]
    card = get(client, world, "admin", "/scorecard?provider=prov-a&period=2026-03").json()
    assert card["domains"][0] == {"domain": "service_desk", "score": "91.79", "penalty_pct": "3.0"}


def test_customers_see_only_their_own_scorecard(
    client: TestClient, world: World, services: Services
) -> None:
    example(services)
    alpha = get(client, world, "customer-alpha", "/scorecard?tenant=alpha&period=2026-03")
    assert alpha.status_code == 200
    tile = next(k for k in alpha.json()["kris"] if k["id"] == "t_tenant")
    assert (tile["value"], tile["rag"], tile["achievement"]) == ("96", "green", "100.0")
    default = get(client, world, "customer-alpha", "/scorecard?period=2026-03").json()
    assert default["subject"] == {"kind": "customer", "tenant": "alpha", "provider": None}
    for who, path in (
        ("customer-beta", "/scorecard?tenant=alpha&period=2026-03"),
        ("risk_owner-beta", "/scorecard?tenant=alpha&period=2026-03"),
        ("customer-alpha", "/scorecard?provider=prov-a&period=2026-03"),
        ("provider-prov-b", "/scorecard?tenant=alpha&period=2026-03"),
        ("provider-prov-b", "/scorecard?provider=prov-a&period=2026-03"),
        ("customer-alpha", "/scorecard?tenant=nobody&period=2026-03"),
    ):
        answer = get(client, world, who, path)
        assert answer.status_code == 404, (who, path, answer.text)
        assert "t_tenant" not in answer.text
    served = get(client, world, "provider-prov-a", "/scorecard?tenant=alpha&period=2026-03")
    assert served.status_code == 200
    beta = get(client, world, "admin", "/scorecard?tenant=beta&period=2026-03").json()
    assert next(k for k in beta["kris"] if k["id"] == "t_tenant")["rag"] == "red"
    e2e = get(client, world, "finance", "/scorecard?period=2026-03").json()
    assert e2e["subject"]["kind"] == "end_to_end"
    both = get(client, world, "admin", "/scorecard?tenant=alpha&provider=prov-a&period=2026-03")
    assert both.status_code == 422


def test_trend_per_month_oldest_first_and_hidden_from_other_tenants(
    client: TestClient, world: World, services: Services
) -> None:
    example(services)
    answer = get(client, world, "customer-alpha", "/trend/t_tenant?months=3&period=2026-03")
    assert answer.status_code == 200, answer.text
    points = answer.json()["points"]
    assert [(p["period"], p["value"], p["rag"]) for p in points] == [
        ("2026-01", None, None),
        ("2026-02", "91", "amber"),
        ("2026-03", "96", "green"),
    ]
    for who, path in (
        ("customer-beta", "/catalogue/t_tenant/trend?tenant=alpha&period=2026-03"),
        ("provider-prov-b", "/catalogue/t_reachability/trend?provider=prov-a&period=2026-03"),
        ("admin", "/catalogue/t_nothing/trend?tenant=alpha&period=2026-03"),
        (
            "admin",
            "/catalogue/t_reachability/trend?tenant=alpha&period=2026-03",
        ),  # not a tenant KRI
    ):
        assert get(client, world, who, path).status_code == 404, (who, path)
    assert get(client, world, "admin", "/trend/t_tenant?tenant=alpha&months=0").status_code == 422
    assert get(client, world, "admin", "/trend/t_tenant?period=2026-13").status_code == 422


def test_repeated_report_and_computations_and_compute_roles(
    client: TestClient, world: World, services: Services
) -> None:
    with services.db.session() as session:
        define(session, "t_sla", scope="customer")
        for period in ("2026-01", "2026-02", "2026-03"):
            value(session, "t_sla", "80", period=period, tenant_id=1)
            value(session, "t_sla", "99", period=period, tenant_id=2)
        for row in session.query(KriValue).filter(KriValue.kri_id == "t_sla"):
            row.met = row.value == "99"
    seen = {
        who: get(client, world, who, "/repeated?period=2026-03").json()
        for who in ("admin", "customer-alpha", "customer-beta", "provider-prov-b")
    }
    assert [seen[w]["slas"] for w in seen] == [2, 1, 1, 1]
    assert [len(seen[w]["repeated"]) for w in seen] == [1, 1, 0, 0]
    assert seen["admin"]["repeated_pct"] == "50.00" and seen["admin"]["met"] is False
    assert "alpha" not in str(seen["customer-beta"])
    names = get(client, world, "customer-alpha", "/computations").json()["computations"]
    assert "silent_log_sources" in names and "cases_p1" in names
    for who in ("customer-alpha", "provider-prov-a", "soc_analyst-prov-a", "authority"):
        answer = client.post(
            f"{API}/compute", json={"period": "2026-03"}, headers=world[who].headers
        )
        assert answer.status_code == 403, (who, answer.text)
    done = client.post(f"{API}/compute", json={"period": "2026-03"}, headers=world["admin"].headers)
    assert done.status_code == 200, done.text
    assert done.json()["repeated"] == 1 and len(done.json()["plans"]) == 1
    again = client.post(
        f"{API}/compute", json={"period": "2026-03"}, headers=world["soc_analyst"].headers
    ).json()
    assert again["plans"] == [] and again["written"] == 0
    for body in ({"period": "2026-3"}, {"period": 202603}, {"period": "2026-03", "x": 1}, {}):
        bad = client.post(f"{API}/compute", json=body, headers=world["admin"].headers)
        assert bad.status_code == 422, body
    for path in (
        "/scorecard?period=0000-01",
        "/repeated?period=1899-12",
        "/trend/t_sla?period=9999-12",
    ):
        assert get(client, world, "admin", path).status_code == 422, path
    bad = client.post(f"{API}/compute", json={"period": "9999-12"}, headers=world["admin"].headers)
    assert bad.status_code == 422
    assert client.get(f"{API}/scorecard").status_code == 401
