"""Fixes after the review of the risk register's web side: a shared risk's other tenants and
another tenant's case links are never named (export, pages, history, API); the forms' refusals
are audited as the API's; the evidence form checks who may update before it reads the body."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from risk import acceptance, actions, nonconformities, risks
from risk.action_schemas import ActionCreate
from risk.models import RiskActionEvidence
from risk.nc_schemas import NCIn
from risk.risk_links import link
from risk.schemas import RiskCreate
from risk.visibility import visible_risk
from soc.core.audit import AuditEntry
from soc.core.principal import Principal
from soc.services import Services
from tenants import service as tenant_service
from tests.cases.test_case_screens import sign_in
from tests.conftest import World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event

TODAY = date.today()
SHARED = "Shared VPN appliance"


def who(services: Services, world: World, name: str) -> Principal:
    with services.db.session() as session:
        return tenant_service.principal_from_token(session, world[name].token)


def as_user(client: TestClient, world: World, user: str) -> TestClient:
    client.cookies.clear()
    sign_in(client, world, user)
    return client


def case_of(client: TestClient, world: World, tenant: str, host: str) -> int:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event(host, 5, "x")),
        headers=key_headers(world.keys[tenant]),
    )
    found = client.get(f"/api/v1/cases?host={host}", headers=world["soc_analyst"].headers)
    return int(found.json()["items"][0]["id"])


def shared_risk(client: TestClient, services: Services, world: World) -> tuple[int, int, int]:
    """A risk of alpha and beta, aligned, linked to a case of each: (risk, alpha's case,
    beta's case)."""
    alpha_case = case_of(client, world, "alpha", "ws-alpha-1")
    beta_case = case_of(client, world, "beta", "ws-beta-1")
    analyst = who(services, world, "soc_analyst")
    authority = who(services, world, "authority")
    with services.db.session() as session:
        data = RiskCreate.model_validate(
            {
                "title": SHARED,
                "category": "operational",
                "source": "audit",
                "scope": "specific",
                "tenants": ["alpha", "beta"],
                "likelihood": 4,
                "impact": 4,
            }
        )
        risk_id = risks.create_risk(session, analyst, services.settings, data).id
        link(session, analyst, risk_id, "case", alpha_case)
        link(session, analyst, risk_id, "case", beta_case)
        risks.align(session, authority, risk_id, "Patch the appliance", TODAY)
    return risk_id, alpha_case, beta_case


def test_a_customer_never_meets_the_other_tenant_of_a_shared_risk(
    client: TestClient, world: World, services: Services
) -> None:
    risk_id, _, _ = shared_risk(client, services, world)
    customer = world["customer-alpha"]
    export = client.get("/api/v1/risk/export?kind=risks&format=csv", headers=customer.headers)
    assert export.status_code == 200 and SHARED in export.text
    assert "alpha" in export.text and "beta" not in export.text
    xlsx = client.get("/api/v1/risk/export?kind=risks&format=xlsx", headers=customer.headers)
    assert xlsx.status_code == 200
    as_user(client, world, "customer-alpha")
    register = client.get("/risk?lang=en")
    assert register.status_code == 200 and SHARED in register.text
    assert "beta" not in register.text.lower()
    detail = client.get(f"/risk/risks/{risk_id}?lang=en")
    assert detail.status_code == 200 and SHARED in detail.text
    assert "beta" not in detail.text.lower()  # facts and history (the "created" row)
    customer_page = client.get("/risk/customer?lang=en").text
    assert SHARED in customer_page and "beta" not in customer_page.lower()
    # the integrator still sees both, on the page and in the export
    as_user(client, world, "soc_analyst")
    assert "alpha, beta" in client.get(f"/risk/risks/{risk_id}").text
    both = client.get(
        "/api/v1/risk/export?kind=risks&format=csv", headers=world["soc_analyst"].headers
    )
    assert "alpha; beta" in both.text


def test_case_links_of_another_tenant_are_not_named(
    client: TestClient, world: World, services: Services
) -> None:
    risk_id, alpha_case, beta_case = shared_risk(client, services, world)
    customer = world["customer-alpha"]
    body = client.get(f"/api/v1/risk/risks/{risk_id}", headers=customer.headers).json()
    assert {"kind": "case", "target_id": alpha_case} in body["links"]
    assert all(link["target_id"] != beta_case for link in body["links"]), body["links"]
    history = client.get(f"/api/v1/risk/risks/{risk_id}/history", headers=customer.headers)
    assert history.status_code == 200
    assert f"case:{beta_case}" not in history.text and f"case:{alpha_case}" in history.text
    as_user(client, world, "customer-alpha")
    page = client.get(f"/risk/risks/{risk_id}").text
    assert f'href="/cases/{alpha_case}"' in page
    assert f'href="/cases/{beta_case}"' not in page and f"case:{beta_case}" not in page
    analyst = world["soc_analyst"]
    full = client.get(f"/api/v1/risk/risks/{risk_id}", headers=analyst.headers).json()
    assert {"kind": "case", "target_id": beta_case} in full["links"]


def _refusals(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return list(rows)


def _post(client: TestClient, path: str, page: str, data: dict[str, str]) -> str:
    csrf = form_csrf(client.get(page).text)
    answer = client.post(path, data=data | {"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def test_refusals_through_the_forms_are_audited_like_the_api(
    client: TestClient, world: World, services: Services
) -> None:
    analyst = who(services, world, "soc_analyst")
    authority = who(services, world, "authority")
    settings = services.settings
    with services.db.session() as session:
        data = RiskCreate.model_validate(
            {
                "title": "Alpha backups",
                "category": "operational",
                "source": "audit",
                "scope": "specific",
                "tenants": ["alpha"],
                "likelihood": 3,
                "impact": 3,
            }
        )
        risk_id = risks.create_risk(session, analyst, settings, data).id
        risks.align(session, authority, risk_id, "Test them", TODAY)
        risks.transition(session, analyst, risk_id, "assessed")
        acc_id = acceptance.request_acceptance(session, analyst, settings, risk_id).id
        nc_id = nonconformities.create_nc(
            session,
            analyst,
            NCIn.model_validate(
                {
                    "title": "Restores untested",
                    "kind": "process",
                    "source": "audit",
                    "scope": "specific",
                    "tenant": "alpha",
                }
            ),
        ).id
        proposal = actions.create_action(
            session,
            analyst,
            settings,
            ActionCreate.model_validate(
                {
                    "register": "improvement_proposal",
                    "title": "Monthly restore test",
                    "scope": "specific",
                    "tenant": "alpha",
                    "nc_id": nc_id,
                    "owner_provider": "prov-a",
                    "due": (TODAY + timedelta(days=30)).isoformat(),
                }
            ),
            TODAY,
        ).id
    page = f"/risk/risks/{risk_id}"
    # the customer may not accept (the default setting: the authority alone) nor move it
    as_user(client, world, "customer-alpha")
    decided = _post(
        client,
        f"/risk/acceptances/{acc_id}/decide",
        page,
        {"decision": "approve", "justification": "fine", "back": page},
    )
    assert "error=" in decided
    moved = _post(client, f"/risk/risks/{risk_id}/status", page, {"status": "closed"})
    assert "error=" in moved
    (acc_row,) = _refusals(services, "risk.acceptance.refused")
    assert acc_row.actor == "user:customer-alpha" and acc_row.object_type == "risk_acceptance"
    assert acc_row.object_id == str(acc_id) and '"attempt":"decision"' in acc_row.detail
    (status_row,) = _refusals(services, "risk.refused")
    assert status_row.object_type == "risk" and status_row.object_id == str(risk_id)
    assert '"form":"status"' in status_row.detail
    # a provider may not decide a proposal
    as_user(client, world, "provider-prov-a")
    refused = _post(
        client,
        f"/risk/proposals/{proposal}/decide",
        "/risk/provider",
        {"decision": "approve", "back": "/risk/provider"},
    )
    assert "error=" in refused
    (proposal_row,) = _refusals(services, "risk.proposal.refused")
    assert proposal_row.actor == "user:provider-prov-a" and proposal_row.object_id == str(proposal)
    with services.db.session() as session:
        risk = visible_risk(session, analyst, risk_id)
        assert risk.status == "assessed" and risk.acceptance_state != "accepted"


def test_the_evidence_form_refuses_before_reading_the_body(
    client: TestClient, world: World, services: Services
) -> None:
    analyst = who(services, world, "soc_analyst")
    authority = who(services, world, "authority")
    settings = services.settings
    with services.db.session() as session:
        data = RiskCreate.model_validate(
            {
                "title": "Alpha firewall",
                "category": "operational",
                "source": "audit",
                "scope": "specific",
                "tenants": ["alpha"],
                "likelihood": 3,
                "impact": 3,
                "owner": "risk_owner-alpha",
            }
        )
        risk_id = risks.create_risk(session, analyst, settings, data).id
        risks.align(session, authority, risk_id, "Close ports", TODAY)
        action_id = actions.create_action(
            session,
            analyst,
            settings,
            ActionCreate.model_validate(
                {
                    "register": "mitigation",
                    "title": "Close the ports",
                    "scope": "specific",
                    "tenant": "alpha",
                    "risk_id": risk_id,
                    "owner_user": "risk_owner-alpha",
                    "due": (TODAY + timedelta(days=30)).isoformat(),
                }
            ),
            TODAY,
        ).id

    def send(user: str) -> tuple[httpx.Response, bool]:
        """Post the evidence form as `user` through a transport that hands the body to the
        app only when the app reads it: (answer, whether any of the body was read)."""
        as_user(client, world, user)
        csrf = form_csrf(client.get(f"/risk/risks/{risk_id}").text)
        boundary = "b0undary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="log.txt"\r\nContent-Type: text/plain\r\n\r\nports closed\r\n'
            f"--{boundary}--\r\n"
        ).encode()
        read: list[bool] = []

        async def chunks() -> AsyncIterator[bytes]:
            read.append(True)
            yield body

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=client.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", cookies=dict(client.cookies)
            ) as http:
                return await http.post(
                    f"/risk/actions/{action_id}/evidence?back=/risk/risks/{risk_id}",
                    content=chunks(),
                    headers={"content-type": f"multipart/form-data; boundary={boundary}"},
                )

        return asyncio.run(go()), bool(read)

    answer, read = send("customer-alpha")  # sees the action, has no say in it
    assert answer.status_code == 303 and "error=" in answer.headers["location"]
    assert answer.headers["location"].startswith(f"/risk/risks/{risk_id}?")
    assert not read  # refused before a byte of the upload was taken
    (row,) = _refusals(services, "risk.refused")
    assert row.object_type == "risk_action" and '"form":"evidence"' in row.detail
    answer, read = send("risk_owner-alpha")
    assert answer.status_code == 303 and read, answer.text
    assert answer.headers["location"] == f"/risk/risks/{risk_id}?done=uploaded"
    with services.db.session() as session:
        assert session.scalars(select(RiskActionEvidence)).one().filename == "log.txt"
