"""Bulk actions from the queue and `POST /api/v1/cases/bulk`: assign, status (with a partial
refusal reported per case), merge, close as false positive with a rule exception that then
suppresses the rule's next match; isolation (a foreign case is refused as not found)."""

from __future__ import annotations

import base64
import re

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from detections.models import RuleException
from soc.cases.models import Case, CaseEvent
from soc.core.audit import AuditEntry
from soc.services import Services
from tests.cases.test_queue_pages import make_cases, row_ids, signed
from tests.conftest import World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event

WHOAMI = "e6fb6eac-9ce3-4c04-b51b-cdaed8a36161"


def bulk(client: TestClient, data: dict, back: str = "") -> str:
    """Post the queue's bulk form; the queue page it redirects to (with its report)."""
    csrf = form_csrf(client.get("/cases").text)
    answer = client.post(
        "/cases/bulk", data={"csrf": csrf, "back": back, **data}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    page = client.get(answer.headers["location"])
    assert page.status_code == 200
    return page.text


def timeline(services: Services, case_id: int) -> list[str]:
    with services.db.session() as session:
        query = select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        return list(session.scalars(query))


def cases_by_id(services: Services) -> dict[int, Case]:
    with services.db.session() as session:
        found = {c.id: c for c in session.scalars(select(Case))}
        session.expunge_all()
        return found


def test_bulk_assign_and_status_with_partial_refusal(
    client: TestClient, services: Services, world: World
) -> None:
    new1, new2, closed = make_cases(
        services, [{"status": "new"}, {"status": "triage"}, {"status": "closed"}]
    )
    signed(client, world, "soc_analyst")
    page = bulk(
        client,
        {"action": "assign", "case": [str(new1), str(new2)], "assignee": "admin"},
        back="status=open",
    )
    assert "2 done, 0 refused" in page
    assert set(row_ids(page)) == {new1, new2}  # back on the filtered queue
    page = bulk(
        client,
        {
            "action": "status",
            "case": [str(new1), str(new2), str(closed)],
            "status": "in_progress",
            "note": "looking",
        },
    )
    assert "2 done, 1 refused" in page
    refused = re.search(r'<ul class="refused">(.*?)</ul>', page, re.S).group(1)
    assert f"#{closed}" in refused and "can move to: triage" in refused
    assert "status changed to in_progress" in page
    now = cases_by_id(services)
    assert now[new1].status == now[new2].status == "in_progress"
    assert now[closed].status == "closed"
    assert now[new1].assignee_id is not None
    assert timeline(services, new1)[-2:] == ["assigned", "status"]
    assert "status" not in timeline(services, closed)
    with services.db.session() as session:
        audited = session.scalars(
            select(AuditEntry.object_id).where(AuditEntry.action == "case.status")
        )
        assert sorted(audited) == sorted([str(new1), str(new2)])
    verified = client.get("/api/v1/audit/verify", headers=world["admin"].headers)
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text


def test_bulk_merge_into_one_case(client: TestClient, services: Services, world: World) -> None:
    target, a, b, other_tenant = make_cases(
        services, [{}, {}, {"status": "triage"}, {"tenant": "beta"}]
    )
    signed(client, world, "soc_analyst")
    page = bulk(
        client,
        {
            "action": "merge",
            "case": [str(a), str(target), str(b), str(other_tenant)],
            "target": str(target),
        },
    )
    assert "3 done, 1 refused" in page  # the target (kept) and the two merged; beta refused
    assert "different tenants" in page and f"merged into case {target}" in page
    now = cases_by_id(services)
    assert now[a].merged_into_id == now[b].merged_into_id == target
    assert now[a].status == now[b].status == "closed"
    assert now[other_tenant].merged_into_id is None and now[other_tenant].status == "new"
    assert now[target].status == "new" and now[target].merged_into_id is None
    assert timeline(services, target).count("merged") == 2


def test_close_as_false_positive_with_exception(
    client: TestClient, services: Services, world: World
) -> None:
    """Two whoami cases on one host and one on another: all three close; one exception per
    host; the next whoami from an excepted host opens no case."""
    for host in ("fp-1", "fp-2"):
        answer = client.post(
            "/api/v1/ingest",
            content=ndjson(whoami_event(host, 5, "a")),
            headers=key_headers(world.keys["alpha"]),
        )
        assert answer.status_code in (200, 202), answer.text
    extra = make_cases(services, [{"host": "fp-1", "rule": WHOAMI}])[0]
    ids = sorted(cases_by_id(services))
    signed(client, world, "soc_analyst")
    page = bulk(
        client,
        {
            "action": "false_positive",
            "case": [str(i) for i in ids],
            "reason": "admin runs whoami in the login script",
            "add_exception": "1",
        },
    )
    assert "3 done, 0 refused" in page
    assert page.count("closed as a false positive") == 3
    assert "covered by exception" in page  # the second fp-1 case shares the first's
    now = cases_by_id(services)
    assert {now[i].status for i in ids} == {"closed"}
    assert "false positive" in (now[extra].root_cause or "")
    with services.db.session() as session:
        rows = list(session.scalars(select(RuleException).order_by(RuleException.id)))
        conditions = [orjson.loads(r.conditions) for r in rows]
    assert [c[0]["value"] for c in conditions] == [["fp-1"], ["fp-2"]]
    assert {c[0]["field"] for c in conditions} == {"Computer"}
    # the exception works: fp-1 no longer opens a case, another host still does
    before = len(cases_by_id(services))
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("fp-1", 1, "b"), whoami_event("fp-3", 1, "c")),
        headers=key_headers(world.keys["alpha"]),
    )
    hosts = [c.host for c in cases_by_id(services).values()]
    assert len(hosts) == before + 1 and "fp-3" in hosts


def test_bulk_needs_a_reason_the_rights_and_the_token(
    client: TestClient, services: Services, world: World
) -> None:
    case_id = make_cases(services, [{}])[0]
    signed(client, world, "soc_analyst")
    page = bulk(client, {"action": "false_positive", "case": [str(case_id)]})
    assert 'id="queue-error"' in page and "say why" in page
    assert cases_by_id(services)[case_id].status == "new"
    forged = client.post("/cases/bulk", data={"csrf": "x", "action": "assign", "case": "1"})
    assert forged.status_code == 403
    signed(client, world, "provider-prov-a")  # providers may not assign
    csrf = form_csrf(client.get("/cases").text)
    answer = client.post(
        "/cases/bulk",
        data={"csrf": csrf, "action": "assign", "case": str(case_id), "assignee": "admin"},
        follow_redirects=False,
    )
    assert "error=" in answer.headers["location"]
    assert cases_by_id(services)[case_id].assignee_id is None


def test_report_cannot_be_forged(client: TestClient, services: Services, world: World) -> None:
    signed(client, world, "soc_analyst")
    fake = base64.urlsafe_b64encode(orjson.dumps({"a": "assign", "o": [[1, True, []]]})).decode()
    page = client.get(f"/cases?report={fake}.deadbeef").text
    assert 'id="bulk-report"' not in page


def test_bulk_api_reports_per_case_and_hides_foreign_cases(
    client: TestClient, services: Services, world: World
) -> None:
    mine, theirs, closed = make_cases(
        services, [{"tenant": "alpha"}, {"tenant": "beta"}, {"status": "closed"}]
    )
    customer = world["customer-alpha"].headers
    assert (
        client.post(
            "/api/v1/cases/bulk",
            json={"action": "status", "case_ids": [mine], "status": "triage"},
            headers=customer,
        ).status_code
        == 403
    )
    analyst = world["soc_analyst"].headers
    answer = client.post(
        "/api/v1/cases/bulk",
        json={
            "action": "status",
            "case_ids": [mine, closed, 999_999],
            "status": "triage",
            "note": "bulk",
        },
        headers=analyst,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["done"], body["refused"]) == (2, 1)
    codes = {r["case_id"]: r["code"] for r in body["results"]}
    assert codes == {mine: "done", closed: "done", 999_999: "not_found"}
    # provider-prov-b serves beta only: alpha's case is not found, not forbidden
    with services.db.session() as session:
        from tenants.models import Provider

        prov_b = session.scalar(select(Provider.id).where(Provider.slug == "prov-b"))
        session.get(Case, theirs).provider_id = prov_b
    provider = world["provider-prov-b"].headers
    answer = client.post(
        "/api/v1/cases/bulk",
        json={"action": "status", "case_ids": [theirs, mine], "status": "triage"},
        headers=provider,
    )
    assert answer.status_code == 200
    results = {r["case_id"]: r for r in answer.json()["results"]}
    assert results[theirs]["ok"] and results[mine]["code"] == "not_found"
    assert f"case {mine} not found" == results[mine]["message"]
    assert cases_by_id(services)[mine].status == "triage"  # from the analyst, not the provider
    bad = client.post(
        "/api/v1/cases/bulk", json={"action": "delete", "case_ids": [mine]}, headers=analyst
    )
    assert bad.status_code == 422
