"""The provider workspace (`/provider`, the provider role's landing page): its open cases by
priority and SLA state with the breaches due soon, its impaired CIs and operational events, its
actions with their deadlines in working days, its KRIs to submit; each with a link to the full
page. Provider A sees nothing of provider B (naming B in the query changes nothing); the
integrator opens either; other roles get the HTML 403 page; Dutch and English."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from soc.cmdb.models import OpsEvent
from soc.services import Services
from tenants.models import Provider
from tests.cases.test_queue_pages import make_cases
from tests.cmdb.test_status_pages import Topology, fire
from tests.cmdb.test_status_pages import topology as topology  # noqa: F401 (the fixture)
from tests.conftest import World
from tests.kri.test_kri_pages import Seeded
from tests.kri.test_kri_pages import seeded as seeded  # noqa: F401 (the fixture)
from tests.risk.test_risk_pages import Register
from tests.risk.test_risk_pages import register as register  # noqa: F401 (the fixture)
from tests.web.test_portal_slots import page


def section(html: str, name: str) -> str:
    start = html.index(f'id="provider-{name}"')
    return html[start : html.index("</section>", start)]


@pytest.fixture
def assigned(services: Services, world: World) -> dict[str, list[int]]:
    """Cases handed to each provider: prov-a a P1 due within the hour and a P3, prov-b a P2."""
    with services.db.session() as session:
        ids = {p.slug: p.id for p in session.scalars(select(Provider))}
    a = make_cases(
        services,
        [
            {
                "priority": "P1",
                "tenant": "alpha",
                "provider_id": ids["prov-a"],
                "title": "A-urgent",
            },
            {"priority": "P3", "tenant": "alpha", "provider_id": ids["prov-a"], "title": "A-calm"},
        ],
    )
    b = make_cases(
        services,
        [{"priority": "P2", "tenant": "beta", "provider_id": ids["prov-b"], "title": "B-only"}],
    )
    return {"prov-a": a, "prov-b": b}


def test_each_provider_sees_only_what_is_assigned_to_it(
    client: TestClient,
    services: Services,
    world: World,
    topology: Topology,
    seeded: Seeded,
    register: Register,
    assigned: dict[str, list[int]],
) -> None:
    fire(client, world, "edge-fw")  # prov-b's firewall down: prov-a's core-db impaired by it
    with services.db.read_session() as session:
        b_events = list(session.scalars(select(OpsEvent.id)))
    html = page(client, world, "provider-prov-a", "/provider?lang=en")
    cases = section(html, "cases")
    assert 'id="open-total">2<' in cases and 'data-priority="P1">1<' in cases
    assert f'data-case="{assigned["prov-a"][0]}"' in cases and "A-urgent" in cases  # due soon
    assert "B-only" not in html and f'data-case="{assigned["prov-b"][0]}"' not in html
    ops = section(html, "ops")
    assert f'data-ci="{topology.core_db}"' in ops and "impaired by a component under it" in ops
    assert f'data-ci="{topology.edge_fw}"' not in ops and "edge-fw" not in ops
    assert not any(f'data-event="{e}"' in html for e in b_events)
    actions = section(html, "actions")
    assert f'data-action="{register.provider_action}"' in actions
    assert f'data-action="{register.proposal}"' in actions and "working day(s)" in actions
    assert f'data-action="{register.mitigation}"' not in actions  # alpha's risk owner's
    assert 'href="/risk/provider"' in actions
    kris = section(html, "kris")
    assert 'data-kri="sd_reachability_pct"' in kris and 'data-kri="patch_compliance_pct"' in kris
    assert 'href="/kri/provider"' in kris
    # Provider B: its own firewall, its event, its case; nothing of A's.
    other = page(client, world, "provider-prov-b", "/provider?lang=en")
    assert f'data-ci="{topology.edge_fw}"' in other and "its own alerts" in other
    assert all(f'data-event="{e}"' in other for e in b_events)
    assert "B-only" in other and "A-urgent" not in other and "A-calm" not in other
    assert f'data-ci="{topology.core_db}"' not in other
    assert f'data-action="{register.provider_action}"' not in other
    assert "You submit no KRI for this month." in other and "sd_reachability_pct" not in other
    # Naming the other provider in the query does not open its workspace.
    sneaky = page(client, world, "provider-prov-b", "/provider?provider=prov-a&lang=en")
    assert "A-urgent" not in sneaky and f'data-ci="{topology.core_db}"' not in sneaky
    assert "Workspace of PROV-B" in sneaky


def test_the_integrator_opens_any_workspace_others_get_403_providers_land_here(
    client: TestClient, world: World, assigned: dict[str, list[int]]
) -> None:
    html = page(client, world, "admin", "/provider?provider=prov-b&lang=en")
    assert "Workspace of PROV-B" in html and "B-only" in html and "A-urgent" not in html
    assert 'id="provider-pick"' in html and 'href="/kri/provider?provider=prov-b"' in html
    for user in ("customer-alpha", "finance", "authority", "risk_owner-alpha"):
        client.cookies.clear()
        client.cookies.set("soc_session", world[user].token)
        answer = client.get("/provider", headers={"accept": "text/html"})
        assert answer.status_code == 403, user
        assert answer.headers["content-type"].startswith("text/html") and "<html" in answer.text
        assert "B-only" not in answer.text
    client.cookies.set("soc_session", world["admin"].token)
    missing = client.get("/provider?provider=nobody", headers={"accept": "text/html"})
    assert missing.status_code == 404 and "<html" in missing.text
    client.cookies.clear()
    assert client.get("/provider", follow_redirects=False).headers["location"] == "/"
    # A provider lands on its workspace, in Dutch and English.
    client.cookies.set("soc_session", world["provider-prov-a"].token)
    landing = client.get("/", follow_redirects=False)
    assert landing.status_code == 303 and landing.headers["location"] == "/provider"
    english = page(client, world, "provider-prov-a", "/provider?lang=en")
    assert "Our open cases" in english and 'id="nav-provider"' in english
    assert "Our configuration items" in english and "KRIs to submit for" in english
    dutch = page(client, world, "provider-prov-a", "/provider?lang=nl")
    assert "Onze open incidenten" in dutch and "Werkruimte van" in dutch
    assert "Our open cases" not in dutch and "KRIs to submit for" not in dutch
    # A provider's analyst has the same workspace (its cases, its KRIs).
    staff = page(client, world, "soc_analyst-prov-a", "/provider?lang=en")
    assert "A-urgent" in staff and "B-only" not in staff
