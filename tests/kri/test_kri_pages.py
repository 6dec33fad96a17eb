"""The KRI pages (issue 13, item 9): the customer's KRI and compliance status (RAG tiles, trend
lines, drill-down, domain scores, report archive), the provider's submission page with its
deadlines and forms, the authority's end-to-end view; English and Dutch; a customer of beta
never meets alpha's figures; a provider submits a value through the form and sees it marked on
time or late; other roles get the 403 page, another tenant the 404 page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from kri import rules, sla
from kri.models import KriDefinition, KriReport, KriValue
from risk.workdays import WorkCalendar
from soc.core.principal import SYSTEM
from soc.services import Services
from tenants.models import Provider, Tenant
from tests.cases.test_case_screens import sign_in
from tests.conftest import World
from tests.helpers import form_csrf

TODAY = date.today()
NOW_PERIOD = f"{TODAY:%Y-%m}"
PERIOD = rules.previous_period(NOW_PERIOD)  # the last closed month: what the pages show
ALPHA_FIGURE, BETA_FIGURE = "97.5", "42.25"


@dataclass
class Seeded:
    alpha: int
    beta: int
    prov_a: int
    prov_b: int
    alpha_report: int
    beta_report: int


@pytest.fixture
def kri_client(client: TestClient) -> TestClient:
    """The app with the KRI pages (the shell mounts them)."""
    return client


def definition(kri_id: str, **fields: object) -> KriDefinition:
    base: dict[str, object] = {
        "id": kri_id,
        "name_en": f"{kri_id} (en)",
        "name_nl": f"{kri_id} (nl)",
        "unit": "%",
        "direction": "higher_better",
        "norm": "95",
        "green": "95",
        "amber": "90",
        "scope": "customer",
        "source": "computed",
        "computation": kri_id,
        "domain": "security",
        "weight": "1",
        "due_working_days": 3,
        "quality": {"min": "0", "max": "100", "required": True},
    }
    return KriDefinition(**(base | fields))


@pytest.fixture
def seeded(services: Services, world: World) -> Seeded:
    """The catalogue rows the pages need, values of alpha and beta over three months, a
    provider-scope submitted KRI of prov-a, a per-customer one, and a report each."""
    with services.db.session() as session:
        ids = {t.slug: t.id for t in session.scalars(select(Tenant))}
        provs = {p.slug: p.id for p in session.scalars(select(Provider))}
        session.execute(delete(KriDefinition))  # this test's own catalogue, not the shipped one
        session.add_all(
            [
                definition(
                    "cases_p1",
                    unit="cases",
                    direction="lower_better",
                    norm="2",
                    green="2",
                    amber="4",
                    weight="0",
                ),
                definition("response_sla_pct"),
                definition("actions_on_time_pct", domain="governance", scope="end_to_end"),
                definition(
                    "sd_reachability_pct",
                    scope="provider",
                    source="submitted",
                    computation="",
                    owner_provider_id=provs["prov-a"],
                ),
                definition(
                    "patch_compliance_pct",
                    source="submitted",
                    computation="",
                    owner_provider_id=provs["prov-a"],
                ),
            ]
        )
        session.flush()
        for tenant, figure in (("alpha", ALPHA_FIGURE), ("beta", BETA_FIGURE)):
            for back, value in ((2, "91"), (1, "93"), (0, figure)):
                achieved = rules.achievement(Decimal(value), Decimal(95), "higher_better")
                session.add(
                    KriValue(
                        kri_id="response_sla_pct",
                        period=rules.previous_period(PERIOD, back),
                        tenant_id=ids[tenant],
                        value=value,
                        source="computed",
                        due=TODAY,
                        on_time=True,
                        achievement=str(achieved),
                        rag=rules.rag(Decimal(value), Decimal(95), Decimal(90), "higher_better"),
                        met=Decimal(value) >= 95,
                    )
                )
            session.add(
                KriValue(
                    kri_id="cases_p1",
                    period=PERIOD,
                    tenant_id=ids[tenant],
                    value="3",
                    source="computed",
                    due=TODAY,
                    on_time=True,
                    achievement="66.7",
                    rag="amber",
                    met=False,
                )
            )
        reports = []
        for tenant in ("alpha", "beta"):
            report = KriReport(
                kind="customer", period=PERIOD, tenant_id=ids[tenant], content="{}", sha256="0" * 64
            )
            session.add(report)
            reports.append(report)
        session.flush()
        return Seeded(
            ids["alpha"], ids["beta"], provs["prov-a"], provs["prov-b"], *(r.id for r in reports)
        )


def as_user(client: TestClient, world: World, user: str) -> TestClient:
    client.cookies.clear()
    sign_in(client, world, user)
    return client


def test_the_customer_sees_its_tiles_trends_domains_and_archive_in_both_languages(
    kri_client: TestClient, world: World, seeded: Seeded
) -> None:
    as_user(kri_client, world, "customer-alpha")
    english = kri_client.get("/kri?lang=en")
    assert english.status_code == 200, english.text
    page = english.text
    assert "KRI and compliance status" in page and f"KRIs of {PERIOD}" in page
    tile = page.split('data-kri="response_sla_pct"')[1].split("</article>")[0]
    assert f"<strong>{ALPHA_FIGURE}</strong>" in tile and 'data-rag="green"' in tile
    assert "achievement 100.0 %" in tile and "Norm 95" in tile
    assert tile.count("<circle") == 3 and "<polyline" in tile  # three months of trend
    assert f'href="/cases?tenant_id={seeded.alpha}"' in tile  # the drill-down
    p1 = page.split('data-kri="cases_p1"')[1].split("</article>")[0]
    assert f'href="/cases?tenant_id={seeded.alpha}&amp;priority=P1"' in p1
    assert 'data-rag="amber"' in p1
    domains = page.split('id="domains"')[1].split("</table>")[0]
    assert 'data-domain="security"' in domains and "100.00 %" in domains  # weight 0 left out
    archive = page.split('id="archive"')[1].split("</table>")[0]
    assert f"/api/v1/kri/reports/{seeded.alpha_report}/pdf" in archive
    assert f"/api/v1/kri/reports/{seeded.beta_report}/" not in archive
    assert BETA_FIGURE not in page
    dutch = kri_client.get("/kri?lang=nl").text
    assert "KRI- en conformiteitsstatus" in dutch and "Domeinscores en boeteschijf" in dutch
    assert "response_sla_pct (nl)" in dutch and "realisatie 100.0 %" in dutch


def test_beta_never_sees_alphas_figures_and_another_tenant_is_a_404(
    kri_client: TestClient, world: World, seeded: Seeded
) -> None:
    as_user(kri_client, world, "customer-beta")
    page = kri_client.get("/kri?lang=en").text
    assert f"<strong>{BETA_FIGURE}</strong>" in page and ALPHA_FIGURE not in page
    assert f"/api/v1/kri/reports/{seeded.alpha_report}/" not in page
    assert f"tenant_id={seeded.alpha}" not in page
    refused = kri_client.get("/kri?tenant=alpha")
    assert refused.status_code == 404 and ALPHA_FIGURE not in refused.text
    assert kri_client.get("/kri?tenant=nope").status_code == 404
    assert ALPHA_FIGURE not in kri_client.get(f"/kri?period={PERIOD}&tenant=beta").text
    assert kri_client.get("/kri/provider").status_code == 403
    assert kri_client.get("/kri/authority").status_code == 403
    as_user(kri_client, world, "provider-prov-b")  # serves beta only
    assert kri_client.get("/kri?tenant=alpha").status_code == 404
    assert BETA_FIGURE in kri_client.get("/kri?tenant=beta").text
    kri_client.cookies.clear()
    for path in ("/kri", "/kri/provider", "/kri/authority"):
        answer = kri_client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/", path


@pytest.mark.parametrize("user", ["admin", "authority", "finance"])
def test_global_readers_pick_a_tenant(
    kri_client: TestClient, world: World, seeded: Seeded, user: str
) -> None:
    as_user(kri_client, world, user)
    page = kri_client.get("/kri?tenant=beta&lang=en").text
    assert 'id="tenant-picker"' in page and f"<strong>{BETA_FIGURE}</strong>" in page
    assert ALPHA_FIGURE in kri_client.get("/kri?tenant=alpha").text


def due_of(period: str, days: int = 3) -> date:
    return rules.due_after_period(WorkCalendar.with_closing_days([]), period, days)


def send(client: TestClient, kri: str, period: str, value: str, tenant: str = "") -> str:
    """Submit one value through the provider page's form; the redirect's location."""
    csrf = form_csrf(client.get("/kri/provider").text)
    data = {"kri": kri, "period": period, "value": value, "tenant": tenant}
    answer = client.post(
        "/kri/provider/submit",
        data=data | {"provider": "prov-a", "csrf": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def test_the_provider_submits_through_the_form_and_sees_on_time_or_late(
    kri_client: TestClient, world: World, services: Services, seeded: Seeded
) -> None:
    as_user(kri_client, world, "provider-prov-a")
    late_period = rules.previous_period(NOW_PERIOD, 3)  # long past its due date
    page = kri_client.get(f"/kri/provider?period={NOW_PERIOD}&lang=en").text
    assert "KRI submissions" in page and 'id="kri-upload"' in page
    assert f"<td>{due_of(NOW_PERIOD).isoformat()}</td>" in page  # 3rd working day after
    row = page.split('data-kri="sd_reachability_pct"')[1].split("</tr>")[0]
    assert 'data-status="open"' in row and "Not yet submitted" in row
    assert 'data-kri="patch_compliance_pct" data-tenant="alpha"' in page  # per customer
    assert 'data-tenant="beta"' not in page  # prov-a does not serve beta
    forged = kri_client.post(
        "/kri/provider/submit", data={"kri": "sd_reachability_pct", "csrf": "x"}
    )
    assert forged.status_code == 403
    for period in (NOW_PERIOD, late_period):
        done = send(kri_client, "sd_reachability_pct", period, "99.1")
        assert "done=submitted" in done and f"period={period}" in done, done
    on_time = kri_client.get(f"/kri/provider?period={NOW_PERIOD}").text
    row = on_time.split('data-kri="sd_reachability_pct"')[1].split("</tr>")[0]
    assert 'data-status="on_time"' in row and "99.1" in row and "Submitted on time" in row
    late = kri_client.get(f"/kri/provider?period={late_period}&lang=nl").text
    row = late.split('data-kri="sd_reachability_pct"')[1].split("</tr>")[0]
    assert 'data-status="late"' in row and "Laattijdig" in row
    assert "Tijdigheid (binair per KRI per periode)" in late
    record = late.split('data-provider="prov-a"')[1].split("</table>")[0]
    cell = record.split('data-kri="sd_reachability_pct"')[1].split("</tr>")[0]
    assert f'data-period="{late_period}" data-on-time="false"' in cell
    # A bad value and a quality failure come back as the page's error.
    wrong = send(kri_client, "sd_reachability_pct", NOW_PERIOD, "abc")
    assert "error=" in wrong
    flagged = send(kri_client, "patch_compliance_pct", NOW_PERIOD, "150", "alpha")
    assert "done=submitted" in flagged
    row = kri_client.get(f"/kri/provider?period={NOW_PERIOD}").text
    assert 'data-tenant="alpha" data-status="quality"' in row
    other = send(kri_client, "patch_compliance_pct", NOW_PERIOD, "90", "beta")
    assert "error=" in other
    with services.db.session() as session:
        rows = session.scalars(
            select(KriValue).where(KriValue.kri_id == "sd_reachability_pct", KriValue.current)
        ).all()
        verdicts = {r.period: r.on_time for r in rows}
        assert verdicts == {NOW_PERIOD: True, late_period: False}
        beta = select(KriValue).where(
            KriValue.tenant_id == seeded.beta, KriValue.source == "submitted"
        )
        assert not session.scalars(beta).all()


def test_the_csv_upload_and_the_provider_page_for_others(
    kri_client: TestClient, world: World, services: Services, seeded: Seeded
) -> None:
    as_user(kri_client, world, "provider-prov-a")
    csrf = form_csrf(kri_client.get("/kri/provider").text)
    body = f"kri,period,value,tenant\nsd_reachability_pct,{NOW_PERIOD},98.5,\n".encode()
    answer = kri_client.post(
        "/kri/provider/upload",
        data={"csrf": csrf, "provider": "prov-a", "period": NOW_PERIOD},
        files={"file": ("values.csv", body, "text/csv")},
        follow_redirects=False,
    )
    assert "done=uploaded" in answer.headers["location"], answer.headers
    page = kri_client.get(f"/kri/provider?period={NOW_PERIOD}").text
    assert "98.5" in page.split('data-kri="sd_reachability_pct"')[1].split("</tr>")[0]
    bad = kri_client.post(
        "/kri/provider/upload",
        data={"csrf": csrf, "provider": "prov-a"},
        files={"file": ("values.csv", b"kri,period,value\nnope,2020-13,x\n", "text/csv")},
        follow_redirects=False,
    )
    assert "error=" in bad.headers["location"]
    assert kri_client.get("/kri/provider?provider=prov-b").status_code == 404
    as_user(kri_client, world, "admin")  # the integrator picks a provider
    page = kri_client.get("/kri/provider?provider=prov-b&lang=en").text
    assert "No submitted KRIs." in page
    assert 'data-kri="sd_reachability_pct"' in kri_client.get("/kri/provider?provider=prov-a").text
    for user in ("customer-alpha", "finance", "authority", "risk_owner-alpha"):
        as_user(kri_client, world, user)
        refused = kri_client.get("/kri/provider?lang=en")
        assert refused.status_code == 403 and "submits KRI values" in refused.text, user


def test_the_authority_sees_every_providers_on_time_record(
    kri_client: TestClient, world: World, services: Services, seeded: Seeded
) -> None:
    with services.db.session() as session:
        for back in (2, 1, 0):  # three misses in a row: repeated from the third
            at = rules.previous_period(PERIOD, back)
            session.add(
                KriValue(
                    kri_id="sd_reachability_pct",
                    period=at,
                    provider_id=seeded.prov_a,
                    value="80",
                    source="submitted",
                    due=due_of(at),
                    on_time=False,
                    met=False,
                    rag="red",
                    achievement="84.2",
                )
            )
        session.add(
            KriValue(
                kri_id="actions_on_time_pct",
                period=PERIOD,
                value="88",
                source="computed",
                due=TODAY,
                on_time=True,
                achievement="92.6",
                rag="red",
                met=False,
            )
        )
        session.add(KriReport(kind="end_to_end", period=PERIOD, content="{}", sha256="1" * 64))
    as_user(kri_client, world, "authority")
    english = kri_client.get(f"/kri/authority?period={PERIOD}&lang=en")
    assert english.status_code == 200, english.text
    page = english.text
    records = page.split('id="on-time-records"')[1].split("</section>")[0]
    assert 'data-provider="prov-a"' in records and 'data-provider="prov-b"' in records
    prov_a = records.split('data-provider="prov-a"')[1].split("</table>")[0]
    assert f'data-period="{PERIOD}" data-on-time="false"' in prov_a
    assert re.search(rf'data-period="{PERIOD}" data-pct="0.00"', prov_a)
    repeated = page.split('id="repeated"')[1].split("</section>")[0]
    assert 'data-kri="sd_reachability_pct" data-subject="prov-a"' in repeated
    assert PERIOD in repeated  # repeated since the third miss
    with services.db.session() as session:
        share = sla.repeated_report(session, SYSTEM, services.settings, PERIOD)
    assert share["repeated_pct"] not in ("0.00", "100.00")
    assert f'data-pct="{share["repeated_pct"]}"' in repeated  # as kri.sla counts it
    assert 'data-kri="actions_on_time_pct"' in page.split('id="kri-tiles"')[1]
    assert 'data-domain="governance"' in page and "92.60 %" in page and "0.5 %" in page
    assert "/api/v1/kri/reports/" in page.split("End-to-end and provider reports")[1]
    dutch = kri_client.get("/kri/authority?lang=nl").text
    assert "Tijdigheid van elke leverancier" in dutch and "Aandeel herhaalde SLA" in dutch
    for user in ("customer-alpha", "provider-prov-a", "finance"):
        as_user(kri_client, world, user)
        assert kri_client.get("/kri/authority").status_code == 403, user


def test_the_words_exist_in_both_languages_and_the_nav_flag_follows_kri_read() -> None:
    from soc.core.principal import Principal, Scope
    from soc.web.chrome import risk_chrome
    from soc.web.texts import KRI_TEXT, TEXT

    assert KRI_TEXT["en"].keys() == KRI_TEXT["nl"].keys()
    for lang in ("en", "nl"):
        assert KRI_TEXT[lang].items() <= TEXT[lang].items()
    assert risk_chrome(Principal("c", "customer", 1, Scope.of_tenants(1)))["nav_kri"]
    assert risk_chrome(Principal("k", "ingest_key", None, Scope.of_tenants(1)))["nav_kri"] is False
    assert risk_chrome(None)["nav_kri"] is False
