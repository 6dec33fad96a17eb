"""Monthly reports (issue 13, Must-have 6): TC5 (the five blocks, events per CI only when
time-stamped in March in Europe/Brussels, a work request opened 2026-03-02 and still open is
29 days / 21 working days old on 2026-03-31), validation of a missing block, immutable
versions with verified hashes, and each reader's archive (customers their own, 404 else)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.events import Event
from kri import report_render, reports
from kri.models import KriDefinition, KriReport, KriValue
from soc.cases.models import Case
from soc.core.audit import AuditEntry
from soc.core.errors import Conflict, Invalid
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import Services
from tenants.models import Provider, Tenant, UsageDaily, UsageHostDaily
from tests.conftest import World

API = "/api/v1/kri"
NOW = datetime(2026, 4, 9, 8, 0, tzinfo=UTC)
ISOLATION_COVERED = {
    ("POST", "/api/v1/kri/reports"),
    ("POST", "/api/v1/kri/reports/{report_id}/correction"),
    ("GET", "/api/v1/kri/reports"),
    ("GET", "/api/v1/kri/reports/{report_id}"),
    ("GET", "/api/v1/kri/reports/{report_id}/html"),
    ("GET", "/api/v1/kri/reports/{report_id}/pdf"),
    ("GET", "/api/v1/kri/reports/{report_id}/csv"),
}


@pytest.fixture
def api(client: TestClient) -> TestClient:
    """The client (the shell mounts the reports router)."""
    return client


def _ids(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    tenants = dict(session.execute(select(Tenant.slug, Tenant.id)).all())
    providers = dict(session.execute(select(Provider.slug, Provider.id)).all())
    return tenants, providers


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _case(tenant_id: int, provider_id: int, title: str, created: str, **more: Any) -> Case:
    at = utc(created)
    return Case(
        tenant_id=tenant_id,
        provider_id=provider_id,
        rule_id="r1",
        title=title,
        level="high",
        host="web-1",
        status=more.pop("status", "in_progress"),
        first_seen=at,
        last_seen=at,
        created_at=at,
        priority=more.pop("priority", "P2"),
        **more,
    )


def seed(services: Services) -> None:
    """March 2026 for alpha (and a little for beta): KRIs, meters, events, cases."""
    with services.db.session() as s:
        tenants, providers = _ids(s)
        alpha, beta, prov_a = tenants["alpha"], tenants["beta"], providers["prov-a"]
        for kri, direction, norm in (
            ("resp", "higher_better", "95"),
            ("mttr", "lower_better", "4"),
        ):
            s.add(
                KriDefinition(
                    id=kri,
                    name_en=f"{kri} en",
                    name_nl=f"{kri} nl",
                    direction=direction,
                    norm=norm,
                    green=norm,
                    amber="80" if kri == "resp" else "6",
                    scope="customer",
                    source="computed",
                    domain="Incident",
                    weight="1",
                )
            )
        s.flush()
        due = datetime(2026, 4, 3).date()
        for kri, value, rag, ach in (
            ("resp", "90", "amber", "94.7"),
            ("mttr", "5", "amber", "80.0"),
        ):
            for tid in (alpha, beta):
                s.add(
                    KriValue(
                        kri_id=kri,
                        period="2026-03",
                        tenant_id=tid,
                        value=value,
                        source="computed",
                        due=due,
                        on_time=True,
                        rag=rag,
                        achievement=ach,
                        met=False,
                    )
                )
        for day, host, events in (("2026-03-01", "web-1", 10), ("2026-03-15", "db-1", 5)):
            s.add(
                UsageHostDaily(
                    tenant_id=alpha, day=utc(day).date(), host=host, events=events, bytes=1000
                )
            )
        s.add(
            UsageDaily(
                tenant_id=alpha, day=utc("2026-03-15").date(), events=17, bytes=2_200, cases=3
            )
        )
        # The UTC day 2026-03-31 metered 2 events: one is March local, one April local.
        s.add(
            UsageHostDaily(
                tenant_id=alpha, day=utc("2026-03-31").date(), host="web-1", events=2, bytes=200
            )
        )
        s.add(_case(alpha, prov_a, "still open", "2026-03-02T09:00:00"))
        s.add(
            _case(
                alpha,
                prov_a,
                "closed in March",
                "2026-03-10T09:00:00",
                status="resolved",
                resolved_at=utc("2026-03-10T11:00:00"),
                responded_at=utc("2026-03-10T09:30:00"),
                response_seconds=1800,
                resolution_seconds=7200,
            )
        )
        s.add(
            _case(
                alpha,
                prov_a,
                "missed SLA",
                "2026-03-12T09:00:00",
                status="closed",
                priority="P1",
                resolved_at=utc("2026-03-12T15:00:00"),
                response_seconds=600,
                resolution_seconds=21600,
            )
        )
        s.add(_case(beta, providers["prov-b"], "beta's case", "2026-03-05T09:00:00"))
    services.store.write(
        [
            _event(alpha, "a", "2026-03-31T21:30:00", "web-1"),  # 23:30 CEST: March
            _event(alpha, "b", "2026-03-31T23:30:00", "web-1"),  # 01:30 CEST on 1 April
            _event(alpha, "c", "2026-02-28T23:30:00", "edge-1"),  # 00:30 CET on 1 March
        ]
    )


def _event(tenant_id: int, name: str, at: str, host: str) -> Event:
    when = utc(at)
    return Event(
        id=f"ev-{name}",
        tenant_id=tenant_id,
        received_at=when,
        event_time=when,
        size=100,
        host=host,
        data={"msg": name, "host": host},
    )


def build_alpha(services: Services, settings: Settings) -> dict[str, Any]:
    with services.db.read_session() as s:
        return reports.build(s, settings, "customer", "2026-03", "alpha", NOW, services.store)


def test_tc5_customer_report_has_five_blocks(
    services: Services, settings: Settings, world: World
) -> None:
    seed(services)
    content = build_alpha(services, settings)
    blocks = content["blocks"]
    assert set(blocks) == {"kris", "invoice", "events", "open_cases", "closed_cases"}
    reports.validate(content)
    # (1) KRIs with RAG, achievement, norm; the domain score of the two.
    assert [v["kri"] for v in blocks["kris"]["values"]] == ["mttr", "resp"]
    assert blocks["kris"]["domains"] == [
        {"domain": "Incident", "score": "87.35", "penalty_pct": "1.0"}
    ]
    # (2) the running usage (no closed invoice).
    assert blocks["invoice"]["source"] == "running_usage"
    assert (blocks["invoice"]["events"], blocks["invoice"]["cases"]) == (17, 3)
    # (3) March in Brussels: the meters of 1..30 March, the events of the edge windows.
    events = blocks["events"]
    assert events["exact"] is True
    per_ci = {h["ci"]: h["events"] for h in events["per_ci"]}
    assert per_ci == {"web-1": 11, "db-1": 5, "edge-1": 1}
    assert events["events"] == 17
    by_day = {d["day"]: d["events"] for d in events["per_day"]}
    assert len(by_day) == 31 and by_day["2026-03-31"] == 1 and by_day["2026-03-01"] == 11
    # (4) opened 2026-03-02, still open: 29 days and 21 working days on 2026-03-31.
    (still_open,) = blocks["open_cases"]["items"]
    assert (still_open["opened"], still_open["age_days"], still_open["age_working_days"]) == (
        "2026-03-02",
        29,
        21,
    )
    # (5) closed in March with the real lead time and the service level achieved.
    closed = {c["title"]: c for c in blocks["closed_cases"]["items"]}
    assert closed["closed in March"]["lead_time_hours"] == "2.00"
    assert closed["closed in March"]["sla_met"] is True
    assert closed["missed SLA"]["sla_met"] is False
    assert blocks["closed_cases"]["sla_pct"] == "50.00"


def test_tc5_a_report_missing_a_block_fails_validation(
    services: Services, settings: Settings, world: World
) -> None:
    seed(services)
    content = build_alpha(services, settings)
    for name in reports.REQUIRED_BLOCKS["customer"]:
        broken = orjson.loads(reports.canonical(content))
        del broken["blocks"][name]
        with pytest.raises(Invalid, match=name):
            reports.validate(broken)


def test_without_a_store_the_meters_are_used_and_flagged(
    services: Services, settings: Settings, world: World
) -> None:
    seed(services)
    with services.db.read_session() as s:
        content = reports.build(s, settings, "customer", "2026-03", "alpha", NOW, None)
    assert content["blocks"]["events"]["exact"] is False
    assert content["blocks"]["events"]["events"] == 17  # 10 + 5 + the UTC day's 2


def test_published_reports_are_immutable_and_verified(
    services: Services, settings: Settings, world: World
) -> None:
    seed(services)
    with services.db.session() as s:
        first = reports.publish(
            s, SYSTEM, settings, "customer", "2026-03", "alpha", NOW, services.store
        )
        first_id, first_hash, first_content = first.id, first.sha256, first.content
    with pytest.raises(Conflict, match="correction"), services.db.session() as s:
        reports.publish(s, SYSTEM, settings, "customer", "2026-03", "alpha", NOW)
    with services.db.session() as s:
        second = reports.correct(s, SYSTEM, settings, first_id, "late KRI value", NOW)
        assert (second.version, second.corrects_id, second.reason) == (
            2,
            first_id,
            "late KRI value",
        )
    with services.db.session() as s:
        again = s.get(KriReport, first_id)
        assert again is not None
        assert (again.version, again.sha256, again.content) == (1, first_hash, first_content)
        assert reports.verify(s, first_id) and reports.verify(s, second.id)
        assert reports.verify_pdf(again)
        logged = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "kri.report.published")
        ).all()
        assert [orjson.loads(e.detail)["sha256"] for e in logged] == [first_hash, second.sha256]
        again.content = again.content.replace("alpha", "alpha2")  # tampering
    with services.db.session() as s:
        assert reports.verify(s, first_id) is False


def test_every_kind_builds_validates_and_renders(
    services: Services, settings: Settings, world: World
) -> None:
    seed(services)
    with services.db.session() as s:
        made = reports.publish_month(s, SYSTEM, settings, "2026-03", NOW, services.store)
        assert sorted((r.kind, r.version) for r in made) == sorted(
            [("customer", 1)] * 2 + [("provider", 1)] * 2 + [("end_to_end", 1)]
        )
        assert reports.publish_month(s, SYSTEM, settings, "2026-03", NOW) == []
        for row in made:
            content = orjson.loads(row.content)
            for lang in ("en", "nl"):
                html = report_render.render_html(content, lang)
                for heading in report_render.headings(content, lang):
                    assert str(escape(heading)) in html
            csv_text = report_render.to_csv(content)
            for name in content["blocks"]:
                assert f"# {name}" in csv_text
    e2e = next(orjson.loads(r.content) for r in made if r.kind == "end_to_end")
    assert e2e["blocks"]["volumes"]["cases_opened"] == 4


def test_the_monthly_run_renders_in_parallel_and_commits_in_batches(
    services: Services, settings: Settings, world: World
) -> None:
    """Two render workers (spawned processes) and a commit every 2 reports: the same rows,
    in subject order, each PDF on disk with its hash; the PDF matches a serial render."""
    seed(services)
    with services.db.session() as s:
        made = reports.publish_month(
            s, SYSTEM, settings, "2026-03", NOW, services.store, workers=2, commit_every=2
        )
        assert [(r.kind, r.version) for r in made] == [("customer", 1)] * 2 + [
            ("provider", 1)
        ] * 2 + [("end_to_end", 1)]
        assert all(reports.verify_pdf(r) and reports.verify(s, r.id) for r in made)
        first = orjson.loads(made[0].content)
        serial = report_render.render_pdf(first, "en")
        with open(made[0].pdf_path or "", "rb") as handle:
            assert len(handle.read()) == pytest.approx(len(serial), rel=0.05)
        assert reports.publish_month(s, SYSTEM, settings, "2026-03", NOW, workers=2) == []
    with services.db.session() as s:  # committed: a second session sees them all
        assert len(s.scalars(select(KriReport).where(KriReport.period == "2026-03")).all()) == 5


def _publish(api: TestClient, world: World, **body: Any) -> dict[str, Any]:
    answer = api.post(f"{API}/reports", json=body, headers=world["soc_analyst"].headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_api_customer_isolation(api: TestClient, services: Services, world: World) -> None:
    seed(services)
    alpha = _publish(api, world, kind="customer", period="2026-03", tenant="alpha")
    beta = _publish(api, world, kind="customer", period="2026-03", tenant="beta")
    prov = _publish(api, world, kind="provider", period="2026-03", provider="prov-a")
    e2e = _publish(api, world, kind="end_to_end", period="2026-03")
    rid = alpha["id"]
    paths = ("", "/html", "/html?lang=nl", "/pdf", "/csv")
    for suffix in paths:
        own = api.get(f"{API}/reports/{rid}{suffix}", headers=world["customer-alpha"].headers)
        assert own.status_code == 200, (suffix, own.text)
        other = api.get(f"{API}/reports/{rid}{suffix}", headers=world["customer-beta"].headers)
        assert other.status_code == 404, suffix
        provider = api.get(f"{API}/reports/{rid}{suffix}", headers=world["provider-prov-a"].headers)
        assert provider.status_code == 404, suffix
    detail = api.get(f"{API}/reports/{rid}", headers=world["customer-alpha"].headers).json()
    assert detail["verified"] is True and detail["pdf_verified"] is True
    assert detail["content"]["blocks"]["open_cases"]["items"][0]["age_working_days"] == 21
    listed = api.get(f"{API}/reports", headers=world["customer-alpha"].headers).json()
    assert [r["id"] for r in listed["items"]] == [rid]
    listed = api.get(f"{API}/reports", headers=world["provider-prov-a"].headers).json()
    assert [r["id"] for r in listed["items"]] == [prov["id"]]
    listed = api.get(f"{API}/reports?period=2026-03", headers=world["authority"].headers).json()
    assert {r["id"] for r in listed["items"]} == {rid, beta["id"], prov["id"], e2e["id"]}
    pdf = api.get(f"{API}/reports/{rid}/pdf", headers=world["customer-alpha"].headers)
    assert pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"


def test_api_publish_and_correct_need_the_permission(
    api: TestClient, services: Services, world: World
) -> None:
    seed(services)
    body = {"kind": "customer", "period": "2026-03", "tenant": "alpha"}
    for who in ("customer-alpha", "provider-prov-a", "authority", "finance"):
        refused = api.post(f"{API}/reports", json=body, headers=world[who].headers)
        assert refused.status_code == 403, who
    rid = _publish(api, world, **body)["id"]
    fix = {"reason": "a KRI value came late"}
    refused = api.post(
        f"{API}/reports/{rid}/correction", json=fix, headers=world["customer-alpha"].headers
    )
    assert refused.status_code == 403
    corrected = api.post(
        f"{API}/reports/{rid}/correction", json=fix, headers=world["admin"].headers
    )
    assert corrected.status_code == 201, corrected.text
    assert (corrected.json()["version"], corrected.json()["corrects_id"]) == (2, rid)
    stale = api.post(f"{API}/reports/{rid}/correction", json=fix, headers=world["admin"].headers)
    assert stale.status_code == 409
    bad = api.post(
        f"{API}/reports", json=body | {"provider": "prov-a"}, headers=world["admin"].headers
    )
    assert bad.status_code == 422
    again = api.post(f"{API}/reports", json=body, headers=world["admin"].headers)
    assert again.status_code == 409
    missing = api.get(f"{API}/reports/999999", headers=world["admin"].headers)
    assert missing.status_code == 404
    nobody = api.post(
        f"{API}/reports", json=body | {"tenant": "nobody"}, headers=world["admin"].headers
    )
    assert nobody.status_code == 404


def test_the_monthly_task_publishes_on_the_end_to_end_due_day(
    services: Services, settings: Settings, world: World
) -> None:
    """March 2026: the end-to-end due day is 2026-04-09 (the 6th working day, Easter Monday
    skipped); on the 8th nothing is published, on the 9th every report, then nothing more."""
    seed(services)
    with services.db.session() as s:
        early = utc("2026-04-08T06:00:00")
        assert reports.publish_due(s, settings, early, services.store) == []
        made = reports.publish_due(s, settings, utc("2026-04-09T04:00:00"), services.store)
        assert len(made) == 5 and {r.period for r in made} == {"2026-03"}
        assert reports.publish_due(s, settings, utc("2026-04-10T04:00:00")) == []
