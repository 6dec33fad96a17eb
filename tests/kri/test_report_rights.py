"""Who may publish which report, and for which month: a provider-scoped analyst publishes only
for tenants its provider serves and its own provider report, never the end-to-end one; no
report for a month that is not over, nor for a year outside 2000-2099 (422, never a 500)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kri.models import KriReport
from soc.services import Services
from tests.conftest import World

API = "/api/v1/kri/reports"


def publish(client: TestClient, world: World, who: str, **body: object) -> int:
    return client.post(API, json=body, headers=world[who].headers).status_code


def count(services: Services) -> int:
    with services.db.session() as session:
        return session.scalar(select(func.count()).select_from(KriReport)) or 0


def test_a_provider_scoped_publisher_stays_in_its_scope(
    client: TestClient, world: World, services: Services
) -> None:
    who = "soc_analyst-prov-a"  # prov-a serves alpha only
    assert publish(client, world, who, kind="customer", period="2026-03", tenant="beta") == 404
    assert publish(client, world, who, kind="customer", period="2026-03", tenant="nosuch") == 404
    assert publish(client, world, who, kind="provider", period="2026-03", provider="prov-b") == 404
    assert publish(client, world, who, kind="end_to_end", period="2026-03") == 403
    assert count(services) == 0
    assert publish(client, world, who, kind="customer", period="2026-03", tenant="alpha") == 201
    assert publish(client, world, who, kind="provider", period="2026-03", provider="prov-a") == 201
    assert count(services) == 2


def test_only_months_that_are_over_and_sane_years(
    client: TestClient, world: World, services: Services
) -> None:
    for period in ("0000-01", "1899-12", "9999-12", "2099-12"):
        assert publish(client, world, "admin", kind="end_to_end", period=period) == 422, period
    assert count(services) == 0
