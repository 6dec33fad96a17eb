"""Submitted KRIs: due dates and lateness (TC1), the period's on-time record (TC2), quality
flags, resubmission history, who may submit what, who sees which values, the CSV upload (all
or nothing), missing input flagged with a non-conformity; isolation of every route."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from kri import rules
from kri.models import KriDefinition, KriValue
from kri.submissions import flag_missing, missing_inputs, on_time_report, submit
from risk.models import RiskNonConformity
from risk.workdays import WorkCalendar
from soc.core.errors import Forbidden, NotFound
from soc.core.principal import Principal, Scope
from soc.services import Services
from tenants.models import Provider, Tenant
from tests.conftest import World
from tests.helpers import key_headers

API = "/api/v1/kri"

ISOLATION_COVERED = {
    ("POST", "/api/v1/kri/submissions"),
    ("POST", "/api/v1/kri/submissions/upload"),
    ("GET", "/api/v1/kri/values"),
    ("GET", "/api/v1/kri/on-time"),
    ("POST", "/api/v1/kri/missing/run"),
}


def kri(kri_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": kri_id,
        "name": {"en": kri_id, "nl": kri_id},
        "direction": "higher_better",
        "norm": "95",
        "green": "95",
        "amber": "90",
        "scope": "provider",
        "source": "submitted",
        "owner_provider": "prov-a",
        "quality": {"min": "0", "max": "100", "required": True},
        "domain": "Test",
        "weight": "10",
    }
    body.update(changes)
    return body


@pytest.fixture
def kri_client(client: TestClient, world: World, services: Services) -> TestClient:
    """The router mounted and three test KRIs: t_prov (prov-a's, per provider), t_cust (per
    customer, no owner), t_e2e (end to end); every other KRI disabled."""
    for body in (
        kri("t_prov"),
        kri("t_cust", scope="customer", owner_provider=None),
        kri("t_e2e", scope="end_to_end", owner_provider=None, due_working_days=6),
    ):
        answer = client.post(f"{API}/catalogue", json=body, headers=world["admin"].headers)
        assert answer.status_code == 201, answer.text
    with services.db.session() as session:
        session.execute(
            update(KriDefinition)
            .where(KriDefinition.id.not_in(["t_prov", "t_cust", "t_e2e"]))
            .values(enabled=False)
        )
    return client


def ids(services: Services) -> tuple[dict[str, int], dict[str, int]]:
    with services.db.session() as session:
        tenants = {s: i for s, i in session.execute(select(Tenant.slug, Tenant.id))}
        providers = {s: i for s, i in session.execute(select(Provider.slug, Provider.id))}
    return tenants, providers


def provider_principal(services: Services, slug: str) -> Principal:
    tenants, providers = ids(services)
    served = {"prov-a": [tenants["alpha"]], "prov-b": [tenants["beta"]]}[slug]
    scope = Scope.of_provider(providers[slug], served)
    return Principal(actor=f"user:provider-{slug}", role="provider", scope=scope)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_tc1_due_dates_and_a_late_report_opens_an_nc(
    kri_client: TestClient, services: Services
) -> None:
    calendar = WorkCalendar()
    assert rules.due_after_period(calendar, "2026-03", 3) == date(2026, 4, 3)
    assert rules.due_after_period(calendar, "2026-03", 6) == date(2026, 4, 9)
    assert rules.due_after_period(calendar, "2026-04", 3) == date(2026, 5, 6)
    assert rules.due_after_period(calendar, "2026-04", 6) == date(2026, 5, 11)
    prov_a = provider_principal(services, "prov-a")
    settings = services.settings
    with services.db.session() as session:
        march = submit(session, prov_a, settings, "t_prov", "2026-03", "96", now=at("2026-04-07"))
        assert march.due == date(2026, 4, 3) and march.on_time is False
        assert march.nc_id is not None and march.rag == "green" and march.met is True
        nc = session.get(RiskNonConformity, march.nc_id)
        assert nc is not None
        assert (nc.source, nc.kind, nc.scope) == ("kri", "process", "common")
        assert nc.provider_id == prov_a.provider_id
        assert "t_prov" in nc.title and "2026-03" in nc.title
        # 23:00 in Brussels on the due day is on time; 00:30 the next day is not.
        april = submit(
            session, prov_a, settings, "t_prov", "2026-04", "96", now=at("2026-05-06", 21)
        )
        assert april.due == date(2026, 5, 6) and april.on_time is True and april.nc_id is None
        may = submit(session, prov_a, settings, "t_prov", "2026-05", "96", now=at("2026-06-03", 22))
        assert may.due == date(2026, 6, 3) and may.on_time is False
        e2e = submit(session, Principal("admin", "admin"), settings, "t_e2e", "2026-03",
                     "99", now=at("2026-04-09"))  # fmt: skip
        assert e2e.due == date(2026, 4, 9) and e2e.on_time is True
        assert (e2e.tenant_id, e2e.provider_id) == (None, None)
        late_e2e = submit(session, Principal("admin", "admin"), settings, "t_e2e", "2026-04",
                          "99", now=at("2026-05-12"))  # fmt: skip
        assert late_e2e.due == date(2026, 5, 11) and late_e2e.on_time is False


def test_tc2_eleven_of_twelve_on_time(
    kri_client: TestClient, services: Services, world: World
) -> None:
    for n in range(12):
        body = kri(f"t_k{n:02d}")
        answer = kri_client.post(f"{API}/catalogue", json=body, headers=world["admin"].headers)
        assert answer.status_code == 201, answer.text
    with services.db.session() as session:
        session.execute(
            update(KriDefinition)
            .where(KriDefinition.id.in_(["t_prov", "t_cust", "t_e2e"]))
            .values(enabled=False)
        )
    prov_a = provider_principal(services, "prov-a")
    settings = services.settings
    with services.db.session() as session:
        for n in range(12):
            when = at("2026-04-07") if n == 7 else at("2026-04-02")
            submit(session, prov_a, settings, f"t_k{n:02d}", "2026-03", "96", now=when)
        report = on_time_report(
            session, prov_a, settings, "2026-03", "prov-a", today=date(2026, 4, 10)
        )
        assert str(report.on_time_pct) == "91.67" and report.met is False
        late = [i for i in report.items if i.status == "late"]
        assert [i.kri for i in late] == ["t_k07"]
        nc = session.get(RiskNonConformity, late[0].nc_id)
        assert nc is not None and nc.provider_id == prov_a.provider_id and nc.source == "kri"
        ncs = session.scalars(select(RiskNonConformity).where(RiskNonConformity.source == "kri"))
        assert len(list(ncs)) == 1
    answer = kri_client.get(
        f"{API}/on-time?period=2026-03&provider=prov-a", headers=world["provider-prov-a"].headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["on_time_pct"], body["target_pct"], body["met"]) == ("91.67", "100.0", False)
    assert (body["counted"], body["on_time"]) == (12, 11)
    assert [i["kri"] for i in body["late"]] == ["t_k07"] and body["missing"] == []
    # prov-b's users see none of prov-a's record; the customer none either (provider KRIs).
    for who in ("provider-prov-b", "customer-alpha"):
        other = kri_client.get(f"{API}/on-time?period=2026-03", headers=world[who].headers)
        assert other.status_code == 200 and other.json()["counted"] == 0, who


def test_quality_flags_and_resubmission_history(
    kri_client: TestClient, services: Services, world: World
) -> None:
    prov_a = provider_principal(services, "prov-a")
    settings = services.settings
    with services.db.session() as session:
        bad = submit(session, prov_a, settings, "t_prov", "2026-03", "120", now=at("2026-04-01"))
        # in time but failing the checks: stored, flagged, not on time (review finding 7)
        assert bad.on_time is False and bad.quality_ok is False
        assert bad.detail["arrived_on_time"] is True
        assert bad.quality_errors == ["above the maximum 100"] and bad.value == "120"
        assert bad.nc_id is not None  # bad quality raises the NC too
        fixed = submit(session, prov_a, settings, "t_prov", "2026-03", "93", now=at("2026-04-08"))
        # a late correction of a bad value is late; the period's NC is reused
        assert fixed.on_time is False and fixed.quality_ok is True and fixed.nc_id == bad.nc_id
        assert fixed.rag == "amber" and fixed.achievement == "97.9" and fixed.met is False
        assert fixed.detail["submission_on_time"] is False
        assert fixed.detail["supersedes"] == [bad.id]
        session.refresh(bad)
        assert bad.current is False and fixed.current is True
        empty = submit(session, prov_a, settings, "t_prov", "2026-04", None, now=at("2026-05-04"))
        assert empty.quality_errors == ["a value is required"] and empty.rag is None
        low = submit(session, prov_a, settings, "t_prov", "2026-05", "-1", now=at("2026-06-01"))
        assert low.quality_errors == ["below the minimum 0"]
        assert len(list(session.scalars(select(RiskNonConformity)))) == 3
    headers = world["provider-prov-a"].headers
    current = kri_client.get(f"{API}/values?period=2026-03&kri=t_prov", headers=headers).json()
    assert [v["value"] for v in current["items"]] == ["93"]
    full = kri_client.get(f"{API}/values?period=2026-03&history=true", headers=headers).json()
    assert sorted(v["value"] for v in full["items"]) == ["120", "93"]


def test_who_may_submit(kri_client: TestClient, services: Services, world: World) -> None:
    settings = services.settings
    prov_b = provider_principal(services, "prov-b")
    prov_a = provider_principal(services, "prov-a")
    with services.db.session() as session:
        with pytest.raises(Forbidden):
            submit(session, prov_b, settings, "t_prov", "2026-03", "96")
        with pytest.raises(NotFound):
            submit(session, prov_a, settings, "t_cust", "2026-03", "96", tenant="beta")
    body = {"kri": "t_prov", "period": "2026-03", "value": "96"}
    post = lambda who, b: kri_client.post(  # noqa: E731
        f"{API}/submissions", json=b, headers=world[who].headers
    )
    assert post("provider-prov-b", body).status_code == 403  # another provider's KRI
    assert post("soc_analyst-prov-b", body).status_code == 403
    for who in ("customer-alpha", "authority", "finance", "risk_owner-alpha", "finance-prov-a"):
        assert post(who, body).status_code == 403, who
    cust = {"kri": "t_cust", "period": "2026-03", "value": "96", "tenant": "beta"}
    assert post("provider-prov-a", cust).status_code == 404  # a tenant it does not serve
    assert post("provider-prov-a", cust | {"tenant": "nowhere"}).status_code == 404
    assert post("provider-prov-a", cust | {"tenant": "alpha"}).status_code == 201
    assert post("provider-prov-b", cust).status_code == 201
    assert post("provider-prov-a", body).status_code == 201
    computed = {"kri": "cases_p1", "period": "2026-03", "value": "1", "tenant": "alpha"}
    assert post("admin", computed).status_code in (404, 422)  # computed (or not seeded)
    assert post("admin", {"kri": "t_cust", "period": "2026-03", "value": "1"}).status_code == 422
    assert post("admin", body | {"period": "2026-13"}).status_code == 422
    assert post("admin", body | {"value": "NaN"}).status_code == 422
    assert post("admin", body | {"value": True}).status_code == 422
    assert post("admin", body | {"period": "2999-01"}).status_code == 422  # not started
    answer = post("admin", body | {"value": 97.5})
    assert answer.status_code == 201 and answer.json()["value"] == "97.5"
    assert answer.json()["provider"] == "prov-a"


def test_customers_see_only_their_values(
    kri_client: TestClient, services: Services, world: World
) -> None:
    for tenant, who in (("alpha", "provider-prov-a"), ("beta", "provider-prov-b")):
        answer = kri_client.post(
            f"{API}/submissions",
            json={"kri": "t_cust", "period": "2026-03", "value": "97", "tenant": tenant},
            headers=world[who].headers,
        )
        assert answer.status_code == 201, answer.text
    kri_client.post(
        f"{API}/submissions",
        json={"kri": "t_prov", "period": "2026-03", "value": "97"},
        headers=world["provider-prov-a"].headers,
    )

    def seen(who: str, query: str = "") -> list[tuple[str, str | None]]:
        answer = kri_client.get(f"{API}/values{query}", headers=world[who].headers)
        assert answer.status_code == 200, answer.text
        return sorted((v["kri"], v["tenant"]) for v in answer.json()["items"])

    assert seen("customer-beta") == [("t_cust", "beta")]
    assert seen("customer-alpha") == [("t_cust", "alpha")]
    assert seen("risk_owner-beta") == [("t_cust", "beta")]
    assert seen("provider-prov-a") == [("t_cust", "alpha"), ("t_prov", None)]
    assert seen("provider-prov-b") == [("t_cust", "beta")]
    assert len(seen("authority")) == 3 and len(seen("admin", "?provider=prov-a")) == 2
    assert seen("admin", "?tenant=beta") == [("t_cust", "beta")]
    for who, query in (("customer-beta", "?tenant=alpha"), ("provider-prov-b", "?tenant=alpha")):
        answer = kri_client.get(f"{API}/values{query}", headers=world[who].headers)
        assert answer.status_code == 404, who
    assert (
        kri_client.get(f"{API}/values?provider=x", headers=world["admin"].headers).status_code
        == 404
    )
    key = key_headers(world.keys["alpha"], "application/json")
    assert kri_client.get(f"{API}/values", headers=key).status_code in (401, 403)
    on_time = kri_client.get(
        f"{API}/on-time?period=2026-03", headers=world["customer-beta"].headers
    )
    assert on_time.status_code == 200
    assert {i["tenant"] for i in on_time.json()["items"]} == {"beta"}
    assert (
        kri_client.get(f"{API}/on-time?period=2026-3", headers=world["admin"].headers).status_code
        == 422
    )
    assert kri_client.get(f"{API}/on-time?period=2026-03", headers=key).status_code in (401, 403)


def csv_upload(client: TestClient, who: Any, text: str) -> Any:
    return client.post(
        f"{API}/submissions/upload",
        files={"file": ("kris.csv", text.encode(), "text/csv")},
        headers=who.headers,
    )


def count(services: Services, model: Any) -> int:
    with services.db.session() as session:
        return len(list(session.scalars(select(model))))


def test_csv_upload_is_all_or_nothing(
    kri_client: TestClient, services: Services, world: World
) -> None:
    bad = "kri,period,value,tenant\nt_prov,2026-03,96,\nt_cust,2026-03,97,beta\nt_prov,2026-04,x,\n"
    answer = csv_upload(kri_client, world["provider-prov-a"], bad)
    assert answer.status_code == 422, answer.text
    report = answer.json()
    assert report["applied"] is False and (report["ok"], report["errors"]) == (1, 2)
    assert [r["status"] for r in report["report"]] == ["ok", "error", "error"]
    assert "not found" in report["report"][1]["message"]
    assert report["report"][2]["row"] == 4
    assert count(services, KriValue) == 0 and count(services, RiskNonConformity) == 0
    good = "kri;period;value;tenant\nt_prov;2026-03;96;\nt_cust;2026-03;97;alpha\n"
    answer = csv_upload(kri_client, world["provider-prov-a"], good)
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] is True and answer.json()["ok"] == 2
    assert count(services, KriValue) == 2
    twice = "kri,period,value\nt_prov,2026-04,96\nt_prov,2026-04,97\n"
    assert csv_upload(kri_client, world["admin"], twice).status_code == 422
    assert csv_upload(kri_client, world["admin"], "a,b\n1,2\n").status_code == 422
    assert csv_upload(kri_client, world["customer-alpha"], good).status_code == 403
    assert csv_upload(kri_client, world["provider-prov-b"], good).status_code == 422  # rows 403
    assert count(services, KriValue) == 2


def test_missing_input_is_flagged_once_with_an_nc(
    kri_client: TestClient, services: Services, world: World
) -> None:
    settings = services.settings
    tenants, providers = ids(services)
    prov_b = provider_principal(services, "prov-b")
    with services.db.session() as session:
        assert missing_inputs(session, settings, "2026-03", date(2026, 4, 3)) == []  # due today
        gaps = missing_inputs(session, settings, "2026-03", date(2026, 4, 7))
        subjects = sorted((g.kri.id, g.subject) for g in gaps)
        assert subjects == [
            ("t_cust", (tenants["alpha"], providers["prov-a"])),
            ("t_cust", (tenants["beta"], providers["prov-b"])),
            ("t_prov", (None, providers["prov-a"])),
        ]  # t_e2e is due on the 6th working day, 2026-04-09
        rows = flag_missing(session, settings, date(2026, 4, 7), "2026-03")
        assert len(rows) == 3 and all(r.value is None and not r.on_time for r in rows)
        assert flag_missing(session, settings, date(2026, 4, 7), "2026-03") == []
        beta = next(r for r in rows if r.tenant_id == tenants["beta"])
        nc = session.get(RiskNonConformity, beta.nc_id)
        assert nc is not None and (nc.scope, nc.tenant_id) == ("specific", tenants["beta"])
        assert nc.provider_id == providers["prov-b"] and "missing input" in nc.title
        later = submit(
            session, prov_b, settings, "t_cust", "2026-03",
            "97", tenant="beta", now=at("2026-04-08"),
        )  # fmt: skip
        assert later.on_time is False and later.nc_id == beta.nc_id  # the same NC
        report = on_time_report(session, Principal("admin", "admin"), settings, "2026-03",
                                today=date(2026, 4, 10))  # fmt: skip
        by_status = sorted((i.kri, i.status) for i in report.items)
        assert by_status == [
            ("t_cust", "late"), ("t_cust", "missing"), ("t_e2e", "missing"), ("t_prov", "missing"),
        ]  # fmt: skip
        assert str(report.on_time_pct) == "0.00"
        pending = on_time_report(session, Principal("admin", "admin"), settings, "2026-04",
                                 today=date(2026, 5, 4))  # fmt: skip
        assert {i.status for i in pending.items} == {"pending"} and pending.met is True
    assert count(services, RiskNonConformity) == 3  # the on-time record raises none


def test_missing_run_route_admin_only(kri_client: TestClient, world: World) -> None:
    for who in ("soc_analyst", "authority", "customer-alpha", "provider-prov-a"):
        answer = kri_client.post(f"{API}/missing/run", headers=world[who].headers)
        assert answer.status_code == 403, who
    answer = kri_client.post(f"{API}/missing/run?period=2026-03", headers=world["admin"].headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["flagged"] == 4 and answer.json()["periods"] == ["2026-03"]
    again = kri_client.post(f"{API}/missing/run?period=2026-03", headers=world["admin"].headers)
    assert again.json()["flagged"] == 0
    bad = kri_client.post(f"{API}/missing/run?period=03-2026", headers=world["admin"].headers)
    assert bad.status_code == 422


def test_every_kri_route_is_covered(kri_client: TestClient, world: World) -> None:
    """Every route of kri/api.py is in an ISOLATION_COVERED set of these modules."""
    from kri.api import router
    from tests.kri.test_catalogue import ISOLATION_COVERED as CATALOGUE

    routes = {(m, r.path) for r in router.routes for m in getattr(r, "methods", ())}
    assert routes == ISOLATION_COVERED | CATALOGUE
    admin = world["admin"].headers
    for path in ("/on-time?period=9999-12", "/on-time?period=0001-01"):
        assert kri_client.get(API + path, headers=admin).status_code == 422
    assert kri_client.post(f"{API}/missing/run?period=9999-12", headers=admin).status_code == 422
    body = {"kri": "t_prov", "period": "9999-12", "value": "1"}
    assert kri_client.post(f"{API}/submissions", json=body, headers=admin).status_code == 422
