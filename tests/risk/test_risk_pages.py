"""The risk register pages (server-rendered, issue 12 item 8): the register with its heat maps
and trend, one risk with its forms by role, and a page per party (owner, authority, customer,
provider), "raise a risk" from a case; English and Dutch; a customer of alpha never meets beta's
risk; every form needs the session's CSRF token and the right role."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from risk import actions, nonconformities, risks, warnings
from risk.action_schemas import ActionCreate
from risk.models import Risk, RiskAcceptance, RiskAction, RiskActionEvidence, RiskDeadlineChange
from risk.nc_schemas import NCIn
from risk.schemas import RiskCreate
from soc.core.principal import Principal
from soc.services import Services
from tenants import service as tenant_service
from tests.cases.test_case_screens import sign_in
from tests.conftest import World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event

TODAY = date.today()
ALPHA_RISK, BETA_RISK, COMMON_RISK = (
    "VPN concentrator unpatched",
    "Beta ledger exposed",
    "Shared DNS",
)


@dataclass
class Register:
    alpha: int
    beta: int
    common: int
    mitigation: int
    beta_action: int
    provider_action: int
    proposal: int
    nc: int


def who(services: Services, world: World, name: str) -> Principal:
    with services.db.session() as session:
        return tenant_service.principal_from_token(session, world[name].token)


def as_user(client: TestClient, world: World, user: str) -> TestClient:
    client.cookies.clear()
    sign_in(client, world, user)
    return client


@pytest.fixture
def register(services: Services, world: World) -> Register:
    """Alpha's risk (owned by alpha's risk owner, aligned), beta's (aligned), a common
    strategic one; a mitigation due in 3 days (inside the early-warning window), beta's
    mitigation, an action assigned to prov-a; alpha's non-conformity with a proposal."""
    analyst = who(services, world, "soc_analyst")
    authority = who(services, world, "authority")
    settings = services.settings
    with services.db.session() as session:

        def risk(title: str, scope: str, tenants: list[str], **more: object) -> int:
            data = RiskCreate.model_validate(
                {
                    "title": title,
                    "category": more.pop("category", "operational"),
                    "source": "audit",
                    "scope": scope,
                    "tenants": tenants,
                    "likelihood": 4,
                    "impact": 4,
                    "residual_likelihood": 2,
                    "residual_impact": 3,
                    **more,
                }
            )
            return risks.create_risk(session, analyst, settings, data).id

        alpha = risk(ALPHA_RISK, "specific", ["alpha"], owner="risk_owner-alpha")
        beta = risk(BETA_RISK, "specific", ["beta"], owner="risk_owner-beta")
        common = risk(COMMON_RISK, "common", [], category="strategic")
        for risk_id in (alpha, beta):
            risks.align(session, authority, risk_id, f"Advice for {risk_id}: patch it", TODAY)

        def action(**fields: object) -> int:
            data = ActionCreate.model_validate(fields)
            return actions.create_action(session, analyst, settings, data, TODAY).id

        due = (TODAY + timedelta(days=3)).isoformat()
        mitigation = action(
            register="mitigation",
            title="Patch the VPN",
            scope="specific",
            tenant="alpha",
            risk_id=alpha,
            owner_user="risk_owner-alpha",
            due=due,
        )
        beta_action = action(
            register="mitigation",
            title="Close the beta port",
            scope="specific",
            tenant="beta",
            risk_id=beta,
            owner_user="risk_owner-beta",
            due=due,
        )
        provider_action = action(
            register="audit_finding",
            title="Rotate firewall keys",
            scope="specific",
            tenant="alpha",
            owner_provider="prov-a",
            due=(TODAY + timedelta(days=40)).isoformat(),
        )
        nc = nonconformities.create_nc(
            session,
            analyst,
            NCIn.model_validate(
                {
                    "title": "Backups untested",
                    "kind": "process",
                    "source": "audit",
                    "scope": "specific",
                    "tenant": "alpha",
                }
            ),
        ).id
        proposal = action(
            register="improvement_proposal",
            title="Monthly restore test",
            scope="specific",
            tenant="alpha",
            nc_id=nc,
            owner_provider="prov-a",
            due=(TODAY + timedelta(days=60)).isoformat(),
        )
    return Register(alpha, beta, common, mitigation, beta_action, provider_action, proposal, nc)


def post(client: TestClient, path: str, page: str, data: dict[str, str]) -> str:
    """Send a form with the CSRF token of `page`; the redirect's location."""
    csrf = form_csrf(client.get(page).text)
    answer = client.post(path, data=data | {"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


READERS = (
    "admin",
    "soc_analyst",
    "authority",
    "customer-alpha",
    "risk_owner-alpha",
    "provider-prov-a",
)


@pytest.mark.parametrize("user", READERS)
def test_the_register_renders_for_every_reader_in_english_and_dutch(
    client: TestClient, world: World, register: Register, user: str
) -> None:
    as_user(client, world, user)
    english = client.get("/risk?lang=en")
    assert english.status_code == 200, english.text
    assert "Risk register" in english.text and 'id="heat-inherent"' in english.text
    assert 'id="heat-residual"' in english.text and "<svg" in english.text
    assert "Almost certain" in english.text and "Severe" in english.text  # axis labels
    scoped = user not in ("admin", "soc_analyst", "authority")
    assert ALPHA_RISK in english.text and (BETA_RISK in english.text) is not scoped
    dutch = client.get("/risk?lang=nl")
    assert "Risicoregister" in dutch.text and "Vrijwel zeker" in dutch.text
    assert "Verloop per maand" in dutch.text and "Restrisico" in dutch.text
    detail = client.get(f"/risk/risks/{register.alpha}")  # the language is remembered
    assert detail.status_code == 200 and "Wijzigingshistoriek" in detail.text
    assert client.get(f"/risk/risks/{register.beta}").status_code == (404 if scoped else 200)


def test_the_heat_maps_count_inherent_and_residual_risks_by_band(
    client: TestClient, world: World, register: Register
) -> None:
    as_user(client, world, "soc_analyst")
    page = client.get("/risk?lang=en").text
    inherent = page.split('id="heat-inherent"')[1].split("</table>")[0]
    residual = page.split('id="heat-residual"')[1].split("</table>")[0]
    assert re.search(r'band-critical" data-l="4" data-i="4" data-count="3"', inherent)
    assert re.search(r'band-medium" data-l="2" data-i="3" data-count="3"', residual)
    assert 'data-l="4" data-i="4" data-count="0"' in residual
    trend = page.split('id="trend-table"')[1].split("</table>")[0]
    for row, count in (("open", 3), ("new", 3), ("closed", 0)):  # three open, three new
        line = trend.split(f'data-row="{row}"')[1].split("</tr>")[0]
        assert f'data-month="{TODAY:%Y-%m}">{count}</td>' in line, row
    # Filters: the strategic one alone.
    strategic = client.get("/risk?category=strategic").text.split('id="risks"')[1]
    assert COMMON_RISK in strategic and ALPHA_RISK not in strategic


def test_another_tenants_risk_is_a_404_and_a_role_without_rights_a_403(
    client: TestClient, world: World, register: Register
) -> None:
    as_user(client, world, "customer-alpha")
    assert client.get(f"/risk/risks/{register.beta}").status_code == 404
    assert client.get("/risk/risks/nope").status_code == 404
    assert client.get("/risk/risks/99999999999999999999999").status_code == 404
    mine = client.get("/risk/customer").text
    assert ALPHA_RISK in mine and BETA_RISK not in mine and "Close the beta port" not in mine
    assert client.get("/risk/authority").status_code == 403
    assert client.get("/risk/provider").status_code == 403
    assert client.get("/risk/new").status_code == 403
    as_user(client, world, "finance")
    assert client.get("/risk").status_code == 403
    as_user(client, world, "authority")
    assert client.get("/risk/customer").status_code == 403
    client.cookies.clear()
    for path in ("/risk", "/risk/mine", f"/risk/risks/{register.alpha}", "/risk/authority"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/", path


def test_status_align_and_acceptance_through_the_forms(
    client: TestClient, world: World, services: Services, register: Register
) -> None:
    page = f"/risk/risks/{register.alpha}"
    as_user(client, world, "soc_analyst")
    detail = client.get(page).text
    assert "Advice for" in detail and 'action="/risk/acceptances/' not in detail
    forged = client.post(f"{page}/status", data={"status": "assessed", "csrf": "x"})
    assert forged.status_code == 403
    assert "done=moved" in post(client, f"{page}/status", page, {"status": "assessed"})
    assert "done=requested" in post(client, f"{page}/acceptance", page, {"note": "low enough"})
    detail = client.get(page).text
    assert 'data-status="assessed"' in detail and "<td>status</td>" in detail  # the history
    # The integrator may not decide: the service refuses, the page says why.
    with services.db.session() as session:
        pending = session.scalars(
            select(RiskAcceptance.id).where(RiskAcceptance.risk_id == register.alpha)
        ).one()
    refused = post(
        client,
        f"/risk/acceptances/{pending}/decide",
        page,
        {"decision": "approve", "justification": "fine", "back": page},
    )
    assert "error=" in refused and refused.startswith(page)

    as_user(client, world, "customer-alpha")  # accepting is the authority's (the setting)
    seen = client.get(page).text
    assert ALPHA_RISK in seen and 'action="/risk/acceptances/' not in seen
    as_user(client, world, "authority")
    queue = client.get("/risk/authority?lang=en").text
    assert f'data-acceptance="{pending}"' in queue and ALPHA_RISK in queue
    assert COMMON_RISK in queue.split("Strategic risks")[1]  # the strategic risks
    expiry = (TODAY + timedelta(days=90)).isoformat()
    done = post(
        client,
        f"/risk/acceptances/{pending}/decide",
        "/risk/authority",
        {
            "decision": "approve",
            "justification": "Residual 6 is tolerable",
            "expires_on": expiry,
            "back": "/risk/authority",
        },
    )
    assert done == "/risk/authority?done=approved", done
    assert f'data-acceptance="{pending}"' not in client.get("/risk/authority").text
    detail = client.get(page).text
    assert 'id="risk-acceptance" data-state="accepted"' in detail
    assert "Residual 6 is tolerable" in detail
    # Alignment of the common risk by the authority, with its advice.
    common = f"/risk/risks/{register.common}"
    assert "done=aligned" in post(client, f"{common}/align", common, {"advice": "Add a DNS twin"})
    as_user(client, world, "customer-beta")
    assert "Add a DNS twin" in client.get("/risk/customer").text


def test_the_owner_updates_progress_and_uploads_evidence(
    client: TestClient, world: World, services: Services, register: Register
) -> None:
    as_user(client, world, "risk_owner-alpha")
    page = client.get("/risk/mine?lang=en")
    assert page.status_code == 200 and "My risks and actions" in page.text
    assert ALPHA_RISK in page.text and "Patch the VPN" in page.text
    assert "Close the beta port" not in page.text and BETA_RISK not in page.text
    note = post(
        client,
        f"/risk/actions/{register.mitigation}/note",
        "/risk/mine",
        {
            "text": "Half the nodes patched",
            "progress_pct": "50",
            "status": "in_progress",
            "back": "/risk/mine",
        },
    )
    assert note == "/risk/mine?done=noted", note
    csrf = form_csrf(client.get("/risk/mine").text)
    uploaded = client.post(
        f"/risk/actions/{register.mitigation}/evidence",
        data={"csrf": csrf, "back": "/risk/mine"},
        files={"file": ("patch-log.txt", b"node1 patched\nnode2 patched\n", "text/plain")},
        follow_redirects=False,
    )
    assert uploaded.headers["location"] == "/risk/mine?done=uploaded", uploaded.headers
    refused = client.post(
        f"/risk/actions/{register.beta_action}/note",
        data={"csrf": csrf, "text": "not mine", "back": "/risk/mine"},
        follow_redirects=False,
    )
    assert "error=" in refused.headers["location"]
    page = client.get("/risk/mine?lang=nl").text
    assert "Half the nodes patched" in page and "patch-log.txt" in page
    link = re.search(r'href="(/api/v1/risk/actions/\d+/evidence/\d+)" download', page)
    assert link and client.get(link.group(1)).content == b"node1 patched\nnode2 patched\n"
    assert 'value="50"' in page and "Voortgang" in page
    with services.db.session() as session:
        action = session.get(RiskAction, register.mitigation)
        assert action is not None and action.progress_pct == 50
        assert action.status == "in_progress"
        assert session.scalars(select(RiskActionEvidence)).one().filename == "patch-log.txt"
        other = session.get(RiskAction, register.beta_action)
        assert other is not None and other.progress_pct == 0


def test_the_early_warning_shows_to_the_owner_and_the_customer(
    client: TestClient, world: World, services: Services, register: Register
) -> None:
    with services.db.session() as session:
        warnings.send_due_warnings(session, services.settings, TODAY)
    for user, path in (("risk_owner-alpha", "/risk/mine"), ("customer-alpha", "/risk/customer")):
        as_user(client, world, user)
        page = client.get(f"{path}?lang=en").text
        box = page.split('id="notifications"')[1].split("</section>")[0]
        assert 'data-kind="early_warning"' in box and "Patch the VPN" in box, user
        assert "Close the beta port" not in box, user
    as_user(client, world, "risk_owner-alpha")
    row = client.get("/risk/mine?lang=en").text.split(f'data-action="{register.mitigation}"')[1]
    assert f"warned {TODAY.isoformat()}" in row.split("</tr>")[0]


def test_a_dutch_page_shows_the_notices_in_dutch_once_each(
    client: TestClient, world: World, services: Services, register: Register
) -> None:
    """The services store English; a Dutch page writes the notice again from its kind, subject
    and lateness (an unknown kind keeps its stored text); the owner, also a customer's user,
    gets the early warning as owner and as customer but sees it once."""
    from risk.notifications import Notice, notify
    from tenants.models import Tenant

    due = (TODAY + timedelta(days=3)).isoformat()  # inside the 5 working days: warned late
    with services.db.session() as session:
        warnings.send_due_warnings(session, services.settings, TODAY)
        alpha_tenant = session.scalars(select(Tenant.id).where(Tenant.slug == "alpha")).one()
        notify(
            session,
            [
                Notice(
                    "customer",
                    "brand_new_kind",
                    "risk",
                    register.alpha,
                    "Stored English words",
                    tenant_id=alpha_tenant,
                )
            ],
        )
    as_user(client, world, "risk_owner-alpha")
    box = client.get("/risk/mine?lang=nl").text.split('id="notifications"')[1]
    box = box.split("</section>")[0]
    dutch = (
        "Vroegtijdige waarschuwing: &#39;Patch the VPN&#39; (Beperkende actie) vervalt op"
        f" {due}; de waarschuwing werd laattijdig verstuurd."
    )
    assert box.count(dutch) == 1, box
    assert box.count('data-kind="early_warning"') == 1
    assert "Early warning:" not in box and "Stored English words" in box
    english = client.get("/risk/mine?lang=en").text.split('id="notifications"')[1]
    assert f"Early warning: &#39;Patch the VPN&#39; (Mitigation) is due {due}; the" in english
    as_user(client, world, "customer-alpha")
    box = client.get("/risk/customer?lang=nl").text.split('id="notifications"')[1]
    box = box.split("</section>")[0]
    assert (
        f"Risico &#39;{ALPHA_RISK}&#39; is afgestemd met de autoriteit. Advies: "
        f"Advice for {register.alpha}: patch it"
    ) in box
    assert BETA_RISK not in box and "was aligned" not in box


def test_the_provider_sees_its_assigned_actions(
    client: TestClient, world: World, register: Register
) -> None:
    as_user(client, world, "provider-prov-a")
    page = client.get("/risk/provider?lang=en").text
    assert "Rotate firewall keys" in page and "Close the beta port" not in page
    assert f'action="/risk/actions/{register.provider_action}/note"' in page
    done = post(
        client,
        f"/risk/actions/{register.provider_action}/note",
        "/risk/provider",
        {"text": "Keys rotated on fw-1", "progress_pct": "30", "back": "/risk/provider"},
    )
    assert done == "/risk/provider?done=noted"
    as_user(client, world, "provider-prov-b")
    assert "Rotate firewall keys" not in client.get("/risk/provider").text


def test_the_customer_decides_its_proposal_and_deadline_change(
    client: TestClient, world: World, services: Services, register: Register
) -> None:
    owner = who(services, world, "risk_owner-alpha")
    with services.db.session() as session:
        from risk import deadline_changes

        change = deadline_changes.request_change(
            session, owner, register.mitigation, TODAY + timedelta(days=20), "parts late"
        ).id
    as_user(client, world, "customer-alpha")
    page = client.get("/risk/customer?lang=en").text
    assert "Backups untested" in page and "Monthly restore test" in page
    assert f'action="/risk/proposals/{register.proposal}/decide"' in page
    assert f'data-change="{change}"' in page
    assert (
        post(
            client,
            f"/risk/proposals/{register.proposal}/decide",
            "/risk/customer",
            {"decision": "approve", "note": "go", "back": "/risk/customer"},
        )
        == "/risk/customer?done=approved"
    )
    assert (
        post(
            client,
            f"/risk/deadline-changes/{change}/decide",
            "/risk/customer",
            {"decision": "approve", "back": "/risk/customer"},
        )
        == "/risk/customer?done=approved"
    )
    with services.db.session() as session:
        proposal = session.get(RiskAction, register.proposal)
        assert proposal is not None and proposal.decision == "approved"
        decided = session.get(RiskDeadlineChange, change)
        assert decided is not None and decided.status == "approved"
    as_user(client, world, "customer-beta")
    assert "Backups untested" not in client.get("/risk/customer").text


def test_an_analyst_raises_a_risk_from_a_case(
    client: TestClient, world: World, services: Services
) -> None:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("ws-7", 5, "x")),
        headers=key_headers(world.keys["alpha"]),
    )
    as_user(client, world, "soc_analyst")
    case_id = client.get("/api/v1/cases?host=ws-7").json()["items"][0]["id"]
    case_page = client.get(f"/cases/{case_id}").text
    assert f'href="/risk/new?case={case_id}"' in case_page
    form = client.get(f"/risk/new?case={case_id}&lang=en").text
    assert 'name="case" value="' in form and "SOC case" in form and 'value="alpha"' in form
    title = re.search(r'name="title" maxlength="200" size="60" required value="([^"]*)"', form)
    assert title and title.group(1)
    made = post(
        client,
        "/risk/new",
        f"/risk/new?case={case_id}",
        {
            "case": str(case_id),
            "title": title.group(1),
            "category": "operational",
            "scope": "specific",
            "tenants": "alpha",
            "likelihood": "3",
            "impact": "4",
        },
    )
    assert re.fullmatch(r"/risk/risks/\d+\?done=created", made), made
    detail = client.get(made).text
    assert f'href="/cases/{case_id}"' in detail and "SOC case" in detail
    with services.db.session() as session:
        risk = session.scalars(select(Risk)).one()
        assert risk.source == "soc_case" and risk.likelihood == 3
    bad = post(
        client,
        "/risk/new",
        f"/risk/new?case={case_id}",
        {"case": str(case_id), "likelihood": "9", "impact": "4"},
    )
    assert "error=" in bad
    as_user(client, world, "customer-alpha")
    assert 'href="/risk/new?case=' not in client.get(f"/cases/{case_id}").text
    as_user(client, world, "customer-beta")
    assert client.get(f"/risk/new?case={case_id}").status_code == 403
    as_user(client, world, "provider-prov-b")
    assert client.get(f"/risk/new?case={case_id}").status_code == 404


FORM_PATHS = (
    "/risk/new",
    "/risk/risks/{alpha}/status",
    "/risk/risks/{alpha}/align",
    "/risk/risks/{alpha}/acceptance",
    "/risk/acceptances/1/decide",
    "/risk/actions/{mitigation}/note",
    "/risk/deadline-changes/1/decide",
    "/risk/proposals/{proposal}/decide",
)


def test_every_form_refuses_a_missing_or_foreign_token(
    client: TestClient, world: World, services: Services, register: Register
) -> None:
    as_user(client, world, "authority")
    other = client.get("/risk").text
    for template in FORM_PATHS:
        path = template.format(**vars(register))
        for csrf in ("", "0" * 64):
            answer = client.post(path, data={"csrf": csrf, "decision": "approve"})
            assert answer.status_code == 403, (path, answer.text)
    evidence = client.post(
        f"/risk/actions/{register.mitigation}/evidence",
        data={"csrf": "x"},
        files={"file": ("a.txt", b"x", "text/plain")},
    )
    assert evidence.status_code == 403
    with services.db.session() as session:
        risk = session.get(Risk, register.common)
        assert risk is not None and risk.aligned_at is None  # nothing was done
    assert form_csrf(other)  # the real token is on the page


def test_the_risks_link_and_raise_button_follow_the_roles(services: Services, world: World) -> None:
    from soc.web.chrome import risk_chrome

    for user, nav, write in (
        ("risk_owner-alpha", True, True),
        ("customer-alpha", True, False),
        ("provider-prov-a", True, True),
        ("finance", False, False),
    ):
        found = risk_chrome(who(services, world, user))
        assert {k: found[k] for k in ("nav_risk", "can_raise_risk")} == {
            "nav_risk": nav,
            "can_raise_risk": write,
        }, user
    signed_out = risk_chrome(None)
    assert not signed_out["nav_risk"] and not signed_out["can_raise_risk"]


def test_every_notice_kind_in_use_has_dutch_and_english_words() -> None:
    """Each kind the services write renders from its subject in both languages; a subject
    without the date its sentence needs keeps the stored text."""
    from datetime import UTC, datetime

    from risk.models import RiskNotification
    from soc.web.risk_notices import ACTION_KINDS, RISK_KINDS, Subjects, render
    from soc.web.texts import TEXT

    at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    earlier = datetime(2026, 3, 1, tzinfo=UTC)
    risk = Risk(id=7, title="Weak TLS", review_date=date(2026, 3, 9), advice="Renew it")
    action = RiskAction(
        id=8, title="Renew certs", register="mitigation", due=date(2026, 4, 1), decision="approved"
    )
    acc = RiskAcceptance(
        risk_id=7, status="accepted", decided_at=earlier, expires_on=date(2026, 9, 1)
    )
    change = RiskDeadlineChange(
        action_id=8, old_due=date(2026, 4, 1), new_due=date(2026, 5, 1), requested_at=earlier
    )
    found = Subjects({7: risk}, {8: action}, {7: [acc]}, {8: [change]})
    for kind, subject in [(k, "risk") for k in RISK_KINDS] + [(k, "action") for k in ACTION_KINDS]:
        n = RiskNotification(
            kind=kind,
            subject_type=subject,
            subject_id=7 if subject == "risk" else 8,
            text="stored",
            late=False,
            at=at,
        )
        nl, en = render(n, found, TEXT["nl"]), render(n, found, TEXT["en"])
        assert nl != "stored" and en != "stored" and nl != en, kind
        assert ("Weak TLS" if subject == "risk" else "Renew certs") in nl, kind
    accepted = RiskNotification(
        kind="risk_accepted",
        subject_type="risk",
        subject_id=7,
        text="stored",
        late=False,
        at=earlier,
    )
    assert render(accepted, Subjects({7: risk}, {}, {}, {}), TEXT["nl"]) == "stored"
    assert "2026-09-01" in render(
        RiskNotification(kind="risk_accepted", subject_type="risk", subject_id=7, text="", at=at),
        found,
        TEXT["nl"],
    )
    unseen = RiskNotification(
        kind="review_due", subject_type="risk", subject_id=99, text="s", at=at
    )
    assert render(unseen, found, TEXT["nl"]) == "s"
    proposal = render(
        RiskNotification(
            kind="proposal_decided", subject_type="action", subject_id=8, text="", at=at
        ),
        found,
        TEXT["nl"],
    )
    assert proposal == "Voorstel 'Renew certs' is goedgekeurd."
