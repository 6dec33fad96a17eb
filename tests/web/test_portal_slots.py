"""The customer portal's summary slots (`/portal`): the applications impaired now with their
likely cause, the latest monthly reports with download links, the KRI status of the last month
(green/amber/red counts, the worst by name) and the open risks by level with the mitigation
actions due soon; each read as the customer sees it (alpha never meets beta's), Dutch and
English, no operator-only text; an admin over beta's shoulder sees beta's. One test with
the fixtures (a CMDB, KRIs, a register: seconds to build) and one without."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from kri.models import KriReport
from risk.matrix import matrix_from
from soc.services import Services
from tests.cmdb.test_status_pages import ALPHA_APP, BETA_APP, Topology, fire
from tests.cmdb.test_status_pages import topology as topology  # noqa: F401 (the fixture)
from tests.conftest import World
from tests.kri.test_kri_pages import PERIOD, Seeded
from tests.kri.test_kri_pages import seeded as seeded  # noqa: F401 (the fixture)
from tests.risk.test_risk_pages import ALPHA_RISK, BETA_RISK, Register
from tests.risk.test_risk_pages import register as register  # noqa: F401 (the fixture)


def page(client: TestClient, world: World, user: str, url: str) -> str:
    client.cookies.clear()
    client.cookies.set("soc_session", world[user].token)
    answer = client.get(url, headers={"accept": "text/html"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


def slot(html: str, name: str) -> str:
    found = re.search(rf'<section class="card" id="portal-{name}".*?</section>', html, re.S)
    assert found, name
    return found.group(0)


def correction(services: Services, seeded: Seeded) -> int:
    """A second version of alpha's report of the period: the slot shows only the newest."""
    with services.db.session() as session:
        row = KriReport(
            kind="customer",
            period=PERIOD,
            tenant_id=seeded.alpha,
            version=2,
            corrects_id=seeded.alpha_report,
            content="{}",
            sha256="1" * 64,
        )
        session.add(row)
        session.flush()
        return row.id


def test_each_slot_summarises_the_customers_own_tenant(
    client: TestClient,
    services: Services,
    world: World,
    topology: Topology,
    seeded: Seeded,
    register: Register,
) -> None:
    fire(client, world, "edge-fw")
    corrected = correction(services, seeded)
    html = page(client, world, "customer-alpha", "/portal?lang=en")
    status = slot(html, "status")
    assert f'data-app="{topology.alpha_app}"' in status and ALPHA_APP in status
    assert f'data-cause="{topology.edge_fw}"' in status and "Likely cause" in status
    assert BETA_APP not in html and f'data-app="{topology.beta_app}"' not in html
    reports = slot(html, "reports")
    assert f'data-report="{corrected}"' in reports
    assert f'href="/api/v1/kri/reports/{corrected}/pdf"' in reports
    assert f'data-report="{seeded.alpha_report}"' not in reports  # superseded by version 2
    assert f'data-report="{seeded.beta_report}"' not in html
    kri = slot(html, "kri")
    assert f"KRIs and compliance, {PERIOD}" in kri
    counts = dict(re.findall(r'data-rag-count="(\w+)">(\d+) ', kri))
    assert counts == {"green": "1", "amber": "1", "red": "0"}
    assert 'data-kri="cases_p1"' in kri and "cases_p1 (en)" in kri  # the amber one, named
    assert 'data-kri="response_sla_pct"' not in kri  # green: not among the worst
    assert f'href="/kri?period={PERIOD}"' in kri
    risk = slot(html, "risk")
    band = matrix_from(services.settings).band(2 * 3)
    assert re.search(rf'data-band="{band}">1<', risk) and "Open risks: 1" in risk
    assert f'data-action="{register.mitigation}"' in risk and "Patch the VPN" in risk
    assert "working day(s)" in risk
    assert f'data-action="{register.beta_action}"' not in html and BETA_RISK not in html
    assert f'data-action="{register.provider_action}"' not in risk  # due in 40 days: not soon
    # Beta's own portal: beta's figures, none of alpha's.
    other = page(client, world, "customer-beta", "/portal?lang=en")
    assert f'data-app="{topology.beta_app}"' in other and ALPHA_APP not in other
    assert (
        f'data-report="{seeded.beta_report}"' in other and f'data-report="{corrected}"' not in other
    )
    beta_counts = dict(re.findall(r'data-rag-count="(\w+)">(\d+) ', slot(other, "kri")))
    assert beta_counts == {"green": "0", "amber": "1", "red": "1"}
    assert "Close the beta port" in other and "Patch the VPN" not in other
    assert ALPHA_RISK not in other
    # An admin over beta's shoulder sees the slots as beta does.
    admin = page(client, world, "admin", "/portal?tenant=beta&lang=en")
    assert f'data-app="{topology.beta_app}"' in admin and ALPHA_APP not in admin
    assert (
        f'data-report="{seeded.beta_report}"' in admin and f'data-report="{corrected}"' not in admin
    )
    assert "Close the beta port" in admin and "Patch the VPN" not in admin
    assert 'href="/kri?tenant=beta&amp;period=' in admin
    # Dutch and English; nothing meant for operators.
    for words in ("Monthly reports", "Likely cause", "Mitigation actions due soon", "Open risks"):
        assert words in html, words
    dutch = page(client, world, "customer-alpha", "/portal?lang=nl")
    for words in ("Maandrapporten", "Waarschijnlijke oorzaak", "Mitigerende acties"):
        assert words in dutch, words
    assert "Monthly reports" not in dutch and "Likely cause" not in dutch
    for text in (html, dutch):
        assert "?tenant=" not in text and "?provider=" not in text
        assert "unmatched" not in text and "prov-b" not in text.lower()
        assert not text.lstrip().startswith("{")


def test_slots_stay_calm_when_there_is_nothing_to_show(client: TestClient, world: World) -> None:
    html = page(client, world, "customer-alpha", "/portal?lang=en")
    assert "None of your applications is followed on the status dashboard yet." in html
    assert "No monthly report has been published for you yet." in html
    assert "There are no KRI figures for this month yet." in html
    assert "No open risk concerns you." in html
