"""Fixes of the independent review of issue 13 (KRIs): one test per finding, each failing on
the code before the fix."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from kri import dwh, scores, sla
from kri.deps import periods_to_check
from kri.models import KriDefinition, KriValue
from kri.submissions import flag_missing, on_time_report, submit, upload
from soc.core import db as core_db
from soc.core.errors import Conflict, Forbidden, Invalid
from soc.core.principal import SYSTEM, Principal, Scope
from soc.services import Services
from soc.web import kri_pages
from soc.web import kri_reads as reads
from tenants import scope as scope_service
from tenants import service as tenant_service
from tenants.models import Tenant
from tests.conftest import PASSWORD, World
from tests.kri import test_submissions
from tests.kri.test_catalogue import SHIPPED, load_yaml
from tests.kri.test_dwh import add_case
from tests.kri.test_sla import define, put
from tests.kri.test_submissions import API, at, csv_upload, ids, kri, provider_principal

ISOLATION_COVERED: set[tuple[str, str]] = set()  # routes: covered in test_dwh/test_submissions
ADMIN = Principal("admin", "admin")
kri_client = test_submissions.kri_client  # the fixture: three test KRIs, the rest disabled


def scoped(services: Services, slug: str, tenants: list[str]) -> Principal:
    t, p = ids(services)
    scope = Scope.of_provider(p[slug], [t[s] for s in tenants])
    return Principal(actor=f"user:provider-{slug}", role="provider", scope=scope)


# --- 1: the DWH feed is for unscoped users only --------------------------------------------


def test_a_provider_scoped_admin_is_refused_every_dwh_route(
    client: TestClient, world: World, services: Services
) -> None:
    with services.db.session() as session:
        created = tenant_service.create_user(
            session, SYSTEM, "admin-prov-a", PASSWORD, "admin", None, "prov-a"
        )
    totp = pyotp.TOTP(created.totp_secret) if created.totp_secret else None
    token, _ = tenant_service.login(
        services.db, "admin-prov-a", PASSWORD, totp.now() if totp else None, 600
    )
    scoped_admin = {"Authorization": f"Bearer {token}"}
    made = client.post(
        "/api/v1/kri/dwh/exports", json={"date": "2026-03-18"}, headers=world["admin"].headers
    )
    assert made.status_code == 201, made.text
    export_id = made.json()["id"]
    answers = [
        client.get("/api/v1/kri/dwh/exports", headers=scoped_admin),
        client.post("/api/v1/kri/dwh/exports", json={"date": "2026-03-19"}, headers=scoped_admin),
        client.get(f"/api/v1/kri/dwh/exports/{export_id}/files/cases.csv", headers=scoped_admin),
    ]
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert "only unscoped users" in answer.text
    admin_scope = Principal(actor="admin-prov-a", role="admin", scope=Scope.of_provider(1, [1]))
    with services.db.session() as session, pytest.raises(Forbidden):
        dwh.list_exports(session, admin_scope)


# --- 2: an unowned end-to-end KRI is the integrator's --------------------------------------


def test_only_the_integrator_submits_an_unowned_end_to_end_kri(
    kri_client: TestClient, services: Services, world: World
) -> None:
    owned = kri("t_e2e_a", scope="end_to_end", owner_provider="prov-a", due_working_days=6)
    answer = kri_client.post(f"{API}/catalogue", json=owned, headers=world["admin"].headers)
    assert answer.status_code == 201, answer.text
    settings = services.settings
    prov_a, prov_b = provider_principal(services, "prov-a"), provider_principal(services, "prov-b")
    with services.db.session() as session:
        for provider in (prov_a, prov_b):
            with pytest.raises(Forbidden):
                submit(session, provider, settings, "t_e2e", "2026-03", "99", now=at("2026-04-02"))
        with pytest.raises(Forbidden):
            submit(session, prov_b, settings, "t_e2e_a", "2026-03", "99", now=at("2026-04-02"))
        mine = submit(session, prov_a, settings, "t_e2e_a", "2026-03", "99", now=at("2026-04-02"))
        assert (mine.tenant_id, mine.provider_id) == (None, None)
        ours = submit(session, ADMIN, settings, "t_e2e", "2026-03", "99", now=at("2026-04-02"))
        assert ours.current is True
    body = {"kri": "t_e2e", "period": "2026-03", "value": "1"}
    answer = kri_client.post(
        f"{API}/submissions", json=body, headers=world["provider-prov-a"].headers
    )
    assert answer.status_code == 403


# --- 3: a provider sees only its own values of a shared tenant -------------------------------


def test_a_provider_sees_only_its_own_values_of_a_shared_tenant(
    kri_client: TestClient, services: Services
) -> None:
    settings = services.settings
    with services.db.session() as session:
        scope_service.serve(session, SYSTEM, "prov-b", "alpha")
        define(session, "t_sla_cust", scope="customer", domain="Test", weight="1")
    prov_a = scoped(services, "prov-a", ["alpha"])
    prov_b = scoped(services, "prov-b", ["alpha", "beta"])
    tenants, providers = ids(services)
    with services.db.session() as session:
        submit(session, prov_b, settings, "t_cust", "2026-03", "10", tenant="alpha",
               now=at("2026-04-02"))  # fmt: skip
        put(session, "t_sla_cust", {"2026-01": False, "2026-02": False, "2026-03": False},
            tenant_id=tenants["alpha"], provider_id=providers["prov-b"])  # fmt: skip
    with services.db.session() as session:
        card = scores.scorecard(session, prov_a, settings, "2026-03", tenant="alpha")
        row = next(k for k in card["kris"] if k["id"] == "t_cust")
        assert row["value"] is None and row["reported"] is False
        theirs = scores.scorecard(session, prov_b, settings, "2026-03", tenant="alpha")
        assert next(k for k in theirs["kris"] if k["id"] == "t_cust")["value"] == "10"
        points = scores.trend(session, prov_a, settings, "t_cust", tenant="alpha",
                              months=1, period="2026-03")["points"]  # fmt: skip
        assert points[0]["value"] is None
        assert sla.repeated_report(session, prov_a, settings, "2026-03")["slas"] == 0
        everything = sla.repeated_report(session, SYSTEM, settings, "2026-03")["slas"]
        assert sla.repeated_report(session, prov_b, settings, "2026-03")["slas"] == everything > 0
        alpha = session.scalars(select(Tenant).where(Tenant.slug == "alpha")).one()
        view = reads.customer_view(session, prov_a, settings, alpha, "2026-03", "en",
                                   date(2026, 5, 1))  # fmt: skip
        assert [t.kri_id for t in view["tiles"]] == []
        view_b = reads.customer_view(session, prov_b, settings, alpha, "2026-03", "en",
                                     date(2026, 5, 1))  # fmt: skip
        assert "t_cust" in [t.kri_id for t in view_b["tiles"]]


# --- 4: a CSV with a huge cell -------------------------------------------------------------


def test_a_csv_with_a_huge_cell_is_a_422(
    kri_client: TestClient, services: Services, world: World
) -> None:
    text = "kri,period,value\nt_prov,2026-03," + '"' + "9" * 200_000 + '"\n'
    answer = csv_upload(kri_client, world["provider-prov-a"], text)
    assert answer.status_code == 422, answer.text
    assert "not a readable CSV" in answer.text
    with services.db.session() as session, pytest.raises(Invalid, match="readable CSV"):
        upload(session, provider_principal(services, "prov-a"), services.settings, text.encode())


# --- 5: a missing owed value counts 0.0 % in the domain score ------------------------------


def test_a_missing_owed_kri_counts_zero_in_the_domain_score(
    kri_client: TestClient, services: Services, world: World
) -> None:
    for body in (kri("t_prov2"), kri("t_quarterly", frequency="quarterly")):
        answer = kri_client.post(f"{API}/catalogue", json=body, headers=world["admin"].headers)
        assert answer.status_code == 201, answer.text
    settings = services.settings
    prov_a = provider_principal(services, "prov-a")
    with services.db.session() as session:
        submit(session, prov_a, settings, "t_prov", "2026-04", "96", now=at("2026-05-04"))
    with services.db.session() as session:
        card = scores.scorecard(session, prov_a, settings, "2026-04", today=date(2026, 6, 1))
        assert card["domains"] == [{"domain": "Test", "score": "50.00", "penalty_pct": "2.0"}]
        by_id = {k["id"]: k for k in card["kris"]}
        assert by_id["t_prov2"]["missing"] is True and by_id["t_prov2"]["achievement"] == "0.0"
        assert by_id["t_prov2"]["rag"] == "red"
        # a quarterly KRI in an off month is not owed: left out
        assert by_id["t_quarterly"]["missing"] is False
        assert by_id["t_quarterly"]["achievement"] is None
        # before the due date nothing is owed yet
        early = scores.scorecard(session, prov_a, settings, "2026-04", today=date(2026, 5, 5))
        assert early["domains"][0]["score"] == "100.00"


# --- 6 and 9: repeated SLAs ----------------------------------------------------------------


def test_missing_input_counts_as_a_miss_and_no_slas_is_zero_and_met(
    services: Services,
) -> None:
    settings = services.settings
    with services.db.session() as session:
        empty = sla.repeated_report(session, SYSTEM, settings, "2031-01")
        assert empty["slas"] == 0
        assert (empty["repeated_pct"], empty["met"]) == ("0.00", True)
        define(session, "t_sla")
        put(session, "t_sla", {"2026-01": False, "2026-02": False})
        session.add(
            KriValue(kri_id="t_sla", period="2026-03", value=None, source="submitted",
                     due=date(2026, 4, 9), on_time=False, current=True,
                     quality_ok=False, quality_errors=["missing"])
        )  # fmt: skip
        session.flush()
        report = sla.repeated_report(session, SYSTEM, settings, "2026-03")
        assert [r["kri"] for r in report["repeated"]] == ["t_sla"]
        assert report["repeated"][0]["since"] == "2026-03"


# --- 7: on time means on time and of good quality ------------------------------------------


def test_bad_quality_is_not_on_time_and_the_scorecard_counts_like_the_on_time_record(
    kri_client: TestClient, services: Services, world: World
) -> None:
    answer = kri_client.post(
        f"{API}/catalogue", json=kri("t_quarterly", frequency="quarterly"),
        headers=world["admin"].headers,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    settings = services.settings
    prov_a = provider_principal(services, "prov-a")
    with services.db.session() as session:
        placeholder = submit(session, prov_a, settings, "t_prov", "2026-03", "120",
                             now=at("2026-04-01"))  # fmt: skip
        assert placeholder.on_time is False and placeholder.quality_ok is False
        real = submit(session, prov_a, settings, "t_prov", "2026-03", "96", now=at("2026-04-20"))
        assert real.on_time is False  # the first value failed the checks
        good = submit(session, prov_a, settings, "t_prov", "2026-04", "96", now=at("2026-05-04"))
        corrected = submit(session, prov_a, settings, "t_prov", "2026-04", "97",
                           now=at("2026-05-20"))  # fmt: skip
        assert good.on_time is True and corrected.on_time is True
        session.execute(update(KriDefinition).where(KriDefinition.id == "t_cust")
                        .values(enabled=False))  # fmt: skip
    with services.db.session() as session:
        record = on_time_report(session, prov_a, settings, "2026-03", today=date(2026, 5, 1))
        assert ("t_prov", "late") in [(i.kri, i.status) for i in record.items]
        april = on_time_report(session, prov_a, settings, "2026-04", today=date(2026, 6, 1))
        card = scores.scorecard(session, prov_a, settings, "2026-04", today=date(2026, 6, 1))
        # the quarterly KRI is not expected in April: neither counts it
        assert card["on_time_pct"] == str(april.on_time_pct) == "100.00"


# --- 8: the pages' day is the Brussels day -------------------------------------------------


def test_the_pages_use_the_brussels_day(services: Services, monkeypatch: Any) -> None:
    late = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)  # 01:30 on 1 April in Brussels
    monkeypatch.setattr(kri_pages, "utcnow", lambda: late)
    assert kri_pages.today(services.settings) == date(2026, 4, 1)
    assert core_db.utcnow() != late  # only the page's clock was set


# --- 9: flag_missing looks back far enough -------------------------------------------------


def test_flag_missing_checks_every_period_due_within_90_days(
    kri_client: TestClient, services: Services, world: World
) -> None:
    body = kri("t_slow", due_working_days=60)
    answer = kri_client.post(f"{API}/catalogue", json=body, headers=world["admin"].headers)
    assert answer.status_code == 201, answer.text
    today = date(2026, 5, 20)  # 2026-01 + 60 working days is due late April
    with services.db.session() as session:
        assert "2026-01" in periods_to_check(session, services.settings, today)
        flagged = flag_missing(session, services.settings, today)
        assert ("t_slow", "2026-01") in {(r.kri_id, r.period) for r in flagged}


# --- 10: DWH formula escaping and no rmtree of a committed export --------------------------


def test_dwh_csv_escapes_formulas_and_never_removes_an_existing_folder(
    services: Services, world: World, tmp_path: Path
) -> None:
    assert dwh._csv_cell("=1+1") == "'=1+1" and dwh._csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert dwh._csv_cell("-2.5") == "-2.5" and dwh._csv_cell("+x") == "'+x"
    settings = services.settings
    now = datetime(2026, 3, 18, 5, 0, tzinfo=UTC)
    with services.db.session() as session:
        tenants, _ = ids(services)
        add_case(session, tenants["alpha"], datetime(2026, 3, 16, 9, tzinfo=UTC),
                 rule_id='=HYPERLINK("http://x","y")')  # fmt: skip
        dwh.export_day(session, settings, date(2026, 3, 17), tmp_path, now)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "2026-03-17" / "cases.csv").read_text())))
    assert rows[0]["rule_id"] == '\'=HYPERLINK("http://x","y")'
    first = json.loads((tmp_path / "2026-03-17" / "cases.jsonl").read_text().splitlines()[0])
    assert first["rule_id"] == '=HYPERLINK("http://x","y")'
    committed = tmp_path / "2026-03-18"
    committed.mkdir()
    (committed / "manifest.json").write_text("{}")
    with services.db.session() as session, pytest.raises(Conflict, match="exists"):
        dwh.export_day(session, settings, date(2026, 3, 18), tmp_path, now)
    assert (committed / "manifest.json").read_text() == "{}"


# --- 11: the catalogue ---------------------------------------------------------------------


def test_change_failed_pct_is_quarterly() -> None:
    by_id = {e["id"]: e for e in load_yaml(SHIPPED)}
    assert by_id["change_failed_pct"]["frequency"] == "quarterly"
