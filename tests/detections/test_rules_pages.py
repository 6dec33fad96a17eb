"""Rules from the UI: the list (level, status, ATT&CK tags, state per tenant), enable and
disable for one tenant or for every tenant the reader sees, exceptions (add, remove), and the
effect on detection: a disabled rule or a matching exception raises no alert."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from soc.web.chrome import form_token
from tests.cases.test_case_screens import sign_in
from tests.conftest import World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event

WHOAMI = "e6fb6eac-9ce3-4c04-b51b-cdaed8a36161"


def _cases_on(client: TestClient, world: World, host: str) -> int:
    answer = client.get(f"/api/v1/cases?host={host}", headers=world["admin"].headers)
    return int(answer.json()["total"])


def _ingest(client: TestClient, world: World, tenant: str, *events: dict) -> None:
    answer = client.post(
        "/api/v1/ingest", content=ndjson(*events), headers=key_headers(world.keys[tenant])
    )
    assert answer.status_code == 200, answer.text


def _state(html: str, tenant: str) -> str:
    found = re.search(rf'data-tenant="{tenant}" data-enabled="(true|false)"', html)
    assert found, html[:1500]
    return found.group(1)


def test_list_enable_disable_and_the_effect(client: TestClient, world: World) -> None:
    sign_in(client, world, "soc_analyst")
    page = client.get("/rules?tenant=alpha&q=whoami")
    assert page.status_code == 200
    assert f'id="rule-{WHOAMI}"' in page.text and "SOC - Whoami Execution" in page.text
    assert 'href="https://attack.mitre.org/techniques/T1033/"' in page.text
    csrf = form_csrf(page.text)
    off = client.post(
        "/rules/state",
        data={
            "csrf": csrf,
            "rule": WHOAMI,
            "tenant": "alpha",
            "enabled": "false",
            "back": "/rules?tenant=alpha&q=whoami",
        },
        follow_redirects=False,
    )
    assert off.status_code == 303 and off.headers["location"].startswith("/rules?tenant=alpha")
    shown = client.get(off.headers["location"]).text
    assert "Disabled for 1 tenant(s)." in shown
    detail = client.get(f"/rules/{WHOAMI}?tenant=alpha").text
    assert _state(detail, "alpha") == "false" and _state(detail, "beta") == "true"
    # The effect: alpha raises no alert for the rule any more, beta still does.
    _ingest(client, world, "alpha", whoami_event("off-1"))
    _ingest(client, world, "beta", whoami_event("on-1"))
    assert _cases_on(client, world, "off-1") == 0 and _cases_on(client, world, "on-1") == 1
    # Enable it in every tenant the analyst sees.
    on = client.post(
        "/rules/state",
        data={"csrf": csrf, "rule": WHOAMI, "tenant": "*", "enabled": "true", "back": "/rules"},
        follow_redirects=False,
    )
    assert "Enabled+for+2+tenant" in on.headers["location"]
    _ingest(client, world, "alpha", whoami_event("off-2"))
    assert _cases_on(client, world, "off-2") == 1
    # An unknown rule is refused, in words, back on the page.
    wrong = client.post(
        "/rules/state",
        data={"csrf": csrf, "rule": "no-such-rule", "tenant": "alpha", "enabled": "false"},
    )
    assert "rule &#39;no-such-rule&#39; not found" in wrong.text and 'role="alert"' in wrong.text


def test_exceptions_add_and_remove_through_the_page(client: TestClient, world: World) -> None:
    sign_in(client, world, "soc_analyst")
    detail = client.get(f"/rules/{WHOAMI}?tenant=alpha")
    assert detail.status_code == 200 and "No exceptions." in detail.text
    csrf = form_csrf(detail.text)
    added = client.post(
        f"/rules/{WHOAMI}/exceptions",
        data={
            "csrf": csrf,
            "tenant": "alpha",
            "field": "CommandLine",
            "modifier": "contains",
            "value": "backup-job",
            "reason": "the nightly backup runs whoami",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303 and "Exception+added" in added.headers["location"]
    page = client.get(f"/rules/{WHOAMI}?tenant=alpha").text
    exception_id = re.search(r'id="exception-(\d+)"', page)
    assert exception_id and "the nightly backup runs whoami" in page
    _ingest(client, world, "alpha", whoami_event("ex-1", 5, "backup-job"))
    _ingest(client, world, "alpha", whoami_event("ex-2", 5, "attacker"))
    assert _cases_on(client, world, "ex-1") == 0 and _cases_on(client, world, "ex-2") == 1
    # beta has no exception: the same event raises an alert there.
    _ingest(client, world, "beta", whoami_event("ex-3", 5, "backup-job"))
    assert _cases_on(client, world, "ex-3") == 1
    assert "No exceptions." in client.get(f"/rules/{WHOAMI}?tenant=beta").text
    # A missing reason is refused; an expiry in the past too.
    refused = client.post(
        f"/rules/{WHOAMI}/exceptions",
        data={"csrf": csrf, "tenant": "alpha", "field": "CommandLine", "value": "x", "reason": ""},
    )
    assert "needs a reason" in refused.text
    removed = client.post(
        f"/rules/exceptions/{exception_id.group(1)}/delete",
        data={"csrf": csrf, "back": f"/rules/{WHOAMI}?tenant=alpha"},
        follow_redirects=False,
    )
    assert removed.status_code == 303 and "Exception+removed" in removed.headers["location"]
    _ingest(client, world, "alpha", whoami_event("ex-4", 4, "backup-job"))
    assert _cases_on(client, world, "ex-4") == 1
    dutch = client.get(f"/rules/{WHOAMI}?tenant=alpha&lang=nl").text
    assert "Uitzonderingen voor Alpha" in dutch and "begint met" in dutch
    listed = client.get("/rules?tenant=alpha&q=whoami").text
    assert "Detectieregels" in listed and "Uitzetten" in listed


def test_who_may_manage_rules(client: TestClient, world: World) -> None:
    sign_in(client, world, "customer-alpha")
    assert client.get("/rules", headers={"Accept": "text/html"}).status_code == 403
    csrf = form_token(client.cookies.get("soc_session") or "")
    refused = client.post(
        "/rules/state",
        data={"csrf": csrf, "rule": WHOAMI, "tenant": "alpha", "enabled": "false"},
    )
    assert refused.status_code == 403
    client.cookies.clear()
    # A provider-scoped analyst: "every tenant" means the tenants it serves, never beta.
    sign_in(client, world, "soc_analyst-prov-a")
    page = client.get("/rules")
    assert page.status_code == 200 and 'value="beta"' not in page.text
    csrf = form_csrf(page.text)
    everywhere = client.post(
        "/rules/state",
        data={"csrf": csrf, "rule": WHOAMI, "tenant": "*", "enabled": "false"},
        follow_redirects=False,
    )
    assert "Disabled+for+1+tenant" in everywhere.headers["location"]
    assert client.get(f"/rules/{WHOAMI}?tenant=beta").status_code == 404
    _ingest(client, world, "beta", whoami_event("prov-b-host"))
    assert _cases_on(client, world, "prov-b-host") == 1
    # Without the form token nothing changes.
    forged = client.post(
        "/rules/state", data={"csrf": "x", "rule": WHOAMI, "tenant": "alpha", "enabled": "true"}
    )
    assert forged.status_code == 403
