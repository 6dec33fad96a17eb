"""The running-usage page: customers see their own month to date, finance sees everyone."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from soc.core.settings import Settings
from tests.conftest import World
from tests.helpers import benign_event, key_headers, ndjson

PRICES = Path(__file__).resolve().parents[2] / "docs" / "billing-prices.example.json"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"billing_prices_file": PRICES})


def page_as(client: TestClient, world: World, user: str) -> str:
    client.cookies.set("soc_session", world[user].token)
    answer = client.get("/usage")
    client.cookies.clear()
    assert answer.status_code == 200
    return answer.text


def test_customer_sees_own_usage_and_finance_sees_all(client: TestClient, world: World) -> None:
    body = ndjson(*[benign_event(i) for i in range(5)])
    assert (
        client.post(
            "/api/v1/ingest", content=body, headers=key_headers(world.keys["alpha"])
        ).status_code
        == 200
    )
    customer = page_as(client, world, "customer-alpha")
    assert "(alpha)" in customer and "(beta)" not in customer
    assert "ws-1" in customer  # events per host
    assert "1 GB = 10^9 bytes" in customer
    finance = page_as(client, world, "finance")
    assert "(alpha)" in finance and "(beta)" in finance
    analyst = page_as(client, world, "authority")
    assert "(alpha)" not in analyst and "customers and finance" in analyst
