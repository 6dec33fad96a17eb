"""The SLA calendar as a tenant field: chosen at onboarding (API, CLI shape via the service),
changed with the tenant update (future clocks only), shown and edited on the admin pages."""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select

from soc.cases import sla
from soc.cases.models import Case
from soc.core.migrate import alembic_config, upgrade
from soc.core.settings import Settings, get_settings
from soc.services import Services
from tenants.models import Tenant
from tenants.onboarding import sla_calendar
from tests.cases.test_queue_pages import signed
from tests.conftest import World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event
from tests.tenants.test_admin_cli import data_dir, soc
from tests.tenants.test_admin_pages import post

__all__ = ["data_dir"]  # the CLI test's fixture

ONBOARD = "/api/v1/tenants/onboard"


def onboard(client: TestClient, world: World, slug: str, **extra: Any) -> dict[str, Any]:
    answer = client.post(
        ONBOARD,
        json={"slug": slug, "name": slug.title(), **extra},
        headers=world["admin"].headers,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def one_case(client: TestClient, world: World, secret: str, tenant_id: int, host: str) -> Any:
    """Ingest a whoami on `host` and answer the case it opened."""
    sent = client.post(
        "/api/v1/ingest", content=ndjson(whoami_event(host)), headers=key_headers(secret)
    )
    assert sent.status_code == 200, sent.text
    items = client.get(
        f"/api/v1/cases?tenant_id={tenant_id}", headers=world["admin"].headers
    ).json()["items"]
    found = [c for c in items if c["tenant_id"] == tenant_id and host in str(c)]
    assert found, items
    return found[0]


def due(case: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(case["sla"]["resolution"]["due"])


def test_the_calendar_chosen_at_onboarding_sets_the_clocks(
    client: TestClient, world: World
) -> None:
    office = onboard(client, world, "office-co")
    always = onboard(client, world, "always-co", sla_calendar="24x7")
    assert office["tenant"]["sla_calendar"] == "business_hours"
    assert always["tenant"]["sla_calendar"] == "24x7"
    assert set(always["sla_calendar"].values()) == {"24x7"}
    assert set(office["sla_calendar"].values()) == {"office hours"}

    a = one_case(client, world, office["api_key"]["secret"], office["tenant"]["id"], "ws-o1")
    b = one_case(client, world, always["api_key"]["secret"], always["tenant"]["id"], "ws-a1")
    assert a["priority"] == b["priority"]
    assert (a["clock_24x7"], b["clock_24x7"]) == (False, True)
    created = datetime.fromisoformat(b["created_at"])
    minutes = Settings().case_sla_minutes[b["priority"]]["resolution"]
    # 24/7: the target in wall-clock time; business hours: the same target in office
    # seconds, which always lands later (at least 16 h of office time spans nights).
    assert abs((due(b) - created).total_seconds() - minutes * 60) < 2
    assert due(a) > due(b)

    bad = client.post(
        ONBOARD,
        json={"slug": "bad-co", "name": "Bad", "sla_calendar": "weekends"},
        headers=world["admin"].headers,
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"


def test_an_update_changes_future_clocks_and_leaves_running_ones(
    client: TestClient, world: World, services: Services
) -> None:
    out = onboard(client, world, "switch-co")
    tenant_id, secret = out["tenant"]["id"], out["api_key"]["secret"]
    before = one_case(client, world, secret, tenant_id, "ws-s1")
    assert before["clock_24x7"] is False

    admin = world["admin"].headers
    changed = client.patch(
        "/api/v1/tenants/switch-co", json={"sla_calendar": "24x7"}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["sla_calendar"] == "24x7"
    bad = client.patch("/api/v1/tenants/switch-co", json={"sla_calendar": "x"}, headers=admin)
    assert bad.status_code == 422

    after = one_case(client, world, secret, tenant_id, "ws-s2")
    assert after["clock_24x7"] is True
    # The running clock keeps the calendar it started on: same mode, same due time.
    again = client.get(f"/api/v1/cases/{before['id']}", headers=admin).json()
    assert (
        again["clock_24x7"] is False
        and again["sla"]["resolution"]["due"] == (before["sla"]["resolution"]["due"])
    )
    # A re-prioritised case is fixed to the calendar of that moment (as at registration).
    with services.db.session() as session:
        case = session.get(Case, before["id"])
        assert case is not None
        sla.set_clock_mode(session, Settings(), case)
        assert case.clock_24x7 is True
        session.rollback()


def test_the_setting_still_overrides_per_priority() -> None:
    settings = Settings(case_24x7={"legacy": ["P1"]})
    assert sla_calendar(settings, "legacy") == {
        "P1": "24x7",
        "P2": "office hours",
        "P3": "office hours",
        "P4": "office hours",
    }
    assert set(sla_calendar(settings, "legacy", "24x7").values()) == {"24x7"}


def test_the_admin_pages_show_and_change_the_calendar(
    client: TestClient, world: World, services: Services
) -> None:
    signed(client, world, "admin")
    form = client.get("/admin/onboard", headers={"Accept": "text/html"}).text
    assert 'name="sla_calendar"' in form and 'value="24x7"' in form
    made = client.post(
        "/admin/onboard",
        data={
            "slug": "page-co",
            "name": "Page Co",
            "sla_calendar": "24x7",
            "csrf": form_csrf(form),
        },
    )
    assert made.status_code == 200, made.text
    assert "24/7" in html.unescape(made.text)
    page = client.get("/admin/tenants", headers={"Accept": "text/html"}).text
    row = page.split('id="tenant-page-co"')[1].split("</tr>")[0]
    assert "24/7 (day and night" in html.unescape(row)
    edited = post(client, "/admin/tenants/page-co", {"sla_calendar": "business_hours"})
    assert edited.status_code == 303 and "message=" in edited.headers["location"]
    with services.db.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "page-co"))
        assert tenant is not None and tenant.sla_calendar == "business_hours"
    dutch = client.get("/admin/tenants?lang=nl").text
    assert "Kantooruren (werkdagen" in html.unescape(dutch)
    client.get("/admin?lang=en")


def test_the_cli_sets_and_changes_the_calendar(data_dir: Path) -> None:
    code, out = soc("tenants", "onboard", "cli-co", "--name", "Cli Co", "--sla-calendar", "24x7")
    assert code == 0, out
    assert "SLA calendar: P1 24x7, P2 24x7" in out and "(tenant calendar 24x7)" in out
    code, out = soc("tenants", "update", "cli-co", "--sla-calendar", "business_hours")
    assert code == 0 and out.strip().endswith("SLA business_hours"), out
    code, out = soc("tenants", "update", "cli-co", "--sla-calendar", "weekends")
    assert code == 1, out


def test_the_migration_carries_whole_contract_24x7_settings_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0019")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for slug in ("all-day", "p1-only", "office"):
                conn.execute(
                    sa.text(
                        "INSERT INTO tenants (slug, name, retention_days, default_impact,"
                        " created_at) VALUES (:s, :s, 365, 'medium', '2026-01-01 00:00:00')"
                    ),
                    {"s": slug},
                )
        monkeypatch.setenv(
            "SOC_CASE_24X7", '{"all-day": ["P1", "P2", "P3", "P4"], "p1-only": ["P1"]}'
        )
        get_settings.cache_clear()
        upgrade(url, "0020")
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.text("SELECT slug, sla_calendar FROM tenants")).all())
        assert rows == {"all-day": "24x7", "p1-only": "business_hours", "office": "business_hours"}
        command.downgrade(alembic_config(url), "0019")
        assert "sla_calendar" not in {c["name"] for c in sa.inspect(engine).get_columns("tenants")}
    finally:
        engine.dispose()
        get_settings.cache_clear()
