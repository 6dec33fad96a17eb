"""The customer's log sources (`/sources`): the declared sources with kind, host pattern,
expected volume, first and last event and state (sending / silent N h / never seen), and the
hosts no source covers; alpha never meets beta's; Dutch and English; linked from the menu.
The analyst console's silent-sources panel reads the declared sources' state, the meters only
for tenants that declared none (labelled so). A silence case's page describes its built-in
rule (`soc.cases.builtin_rules`) in the reader's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ingest.models import LogSource
from soc.cases.models import Case
from soc.cases.source_silence import RULE_ID, run_silence_check
from soc.services import Services
from tenants.models import Tenant, UsageHostDaily
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event
from tests.web.test_portal_slots import page

NOW = datetime.now(UTC)


def declare(client: TestClient, world: World, tenant: str, name: str, pattern: str, **more: int):
    answer = client.post(
        "/api/v1/log-sources",
        json={"name": name, "kind": "windows", "host_pattern": pattern, "tenant": tenant, **more},
        headers=world["admin"].headers,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


@pytest.fixture
def declared(client: TestClient, services: Services, world: World) -> dict[str, int]:
    """Alpha: domain controllers sending, an old file server silent for 5 h, a new proxy not
    seen yet; an alpha host no source covers. Beta: one source of its own."""
    for host, key in (("alpha-dc-1", "alpha"), ("alpha-web-7", "alpha"), ("beta-db-1", "beta")):
        sent = client.post(
            "/api/v1/ingest",
            content=ndjson(whoami_event(host)),
            headers=key_headers(world.keys[key]),
        )
        assert sent.status_code == 200, sent.text
    ids = {
        "dc": declare(client, world, "alpha", "Domain controllers", "alpha-dc-*",
                      silent_after_hours=4, expected_daily_bytes=2_500_000_000),
        "files": declare(client, world, "alpha", "File servers", "alpha-fs-*",
                         silent_after_hours=2),
        "proxy": declare(client, world, "alpha", "Web proxy", "alpha-proxy-*",
                         silent_after_hours=48),
        "beta": declare(client, world, "beta", "Beta databases", "beta-db-*", silent_after_hours=4),
    }  # fmt: skip
    with services.db.session() as session:
        files = session.get(LogSource, ids["files"])
        assert files is not None
        files.first_seen = NOW - timedelta(days=3)
        files.last_seen = NOW - timedelta(hours=5, minutes=10)
    return ids


def row(html: str, source_id: int) -> str:
    found = re.search(rf'<tr data-source="{source_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, source_id
    return found.group(0)


def test_the_customer_sees_its_sources_their_state_and_the_hosts_to_onboard(
    client: TestClient, world: World, declared: dict[str, int]
) -> None:
    html = page(client, world, "customer-alpha", "/sources?lang=en")
    assert 'id="nav-sources"' in html and 'href="/sources"' in html
    dc = row(html, declared["dc"])
    assert 'data-state="ok"' in dc and "Domain controllers" in dc and "alpha-dc-*" in dc
    assert "2.50 GB" in dc and "sending" in dc and "Windows" in dc and "silent after 4 h" in dc
    files = row(html, declared["files"])
    assert 'data-state="silent"' in files and "silent for 5 h" in files
    proxy = row(html, declared["proxy"])
    assert 'data-state="never_seen"' in proxy and "never seen" in proxy
    assert html.index(f'data-source="{declared["files"]}"') < html.index(
        f'data-source="{declared["dc"]}"'
    )  # silent first
    assert 'data-unknown="alpha-web-7"' in html and 'data-unknown="alpha-dc-1"' not in html
    assert "Beta databases" not in html and "beta-db" not in html
    dutch = page(client, world, "customer-alpha", "/sources?lang=nl")
    assert "Aangemelde logbronnen" in dutch and "Nieuwe hosts om aan te sluiten" in dutch
    assert "5 u stil" in dutch and "New hosts to onboard" not in dutch
    other = page(client, world, "customer-beta", "/sources?lang=en")
    assert "Beta databases" in other and "Domain controllers" not in other
    assert "alpha-web-7" not in other
    # An admin looks over beta's shoulder; other roles get the HTML 403 page.
    assert "Beta databases" in page(client, world, "admin", "/sources?tenant=beta")
    for user in ("soc_analyst", "provider-prov-a", "finance"):
        client.cookies.set("soc_session", world[user].token)
        answer = client.get("/sources", headers={"accept": "text/html"})
        assert answer.status_code == 403 and "<html" in answer.text, user
        assert "Domain controllers" not in answer.text


def test_the_console_reads_declared_sources_and_meters_only_where_none_are_declared(
    client: TestClient, services: Services, world: World
) -> None:
    with services.db.session() as session:
        ids = {t.slug: t.id for t in session.scalars(select(Tenant))}
        gone = (NOW - timedelta(days=3)).date()
        for tenant, host in (("alpha", "alpha-gone-1"), ("beta", "beta-gone-1")):
            session.add(
                UsageHostDaily(tenant_id=ids[tenant], day=gone, host=host, events=5, bytes=9)
            )
    quiet = declare(client, world, "alpha", "File servers", "alpha-fs-*", silent_after_hours=2)
    with services.db.session() as session:
        source = session.get(LogSource, quiet)
        assert source is not None
        source.last_seen = NOW - timedelta(hours=7, minutes=5)
    html = page(client, world, "soc_analyst", "/console?lang=en")
    panel = re.search(r'id="silent-sources".*?</section>', html, re.S)
    assert panel
    silent = panel.group(0)
    assert f'data-source="{quiet}"' in silent and "File servers" in silent and "7 h" in silent
    # Beta declared nothing: its meter view stays, labelled; alpha's meter row is gone.
    assert "tenants without declared sources" in silent and 'data-host="beta-gone-1"' in silent
    assert 'data-host="alpha-gone-1"' not in silent
    dutch = page(client, world, "soc_analyst", "/console?lang=nl")
    assert "tenants zonder aangemelde bronnen" in dutch


def test_a_silence_case_page_describes_its_built_in_rule(
    client: TestClient, services: Services, world: World
) -> None:
    quiet = declare(client, world, "alpha", "File servers", "alpha-fs-*", silent_after_hours=2)
    with services.db.session() as session:
        source = session.get(LogSource, quiet)
        assert source is not None
        source.created_at = NOW - timedelta(hours=3)
    assert run_silence_check(services.db, services.settings) == 1
    with services.db.read_session() as session:
        case_id = session.scalar(select(Case.id).where(Case.rule_id == RULE_ID))
    english = page(client, world, "soc_analyst", f"/cases/{case_id}?lang=en")
    rule = re.search(r'<section class="card" id="rule">.*?</section>', english, re.S)
    assert rule, "the case page has a rule section"
    text = rule.group(0)
    assert "Log source silent" in text and 'id="rule-description"' in text
    assert "silence limit" in text and "built-in check" in text
    assert 'id="rule-tags"' in text and "attack.t1562.006" in text and "attack.mitre.org" in text
    assert 'id="rule-falsepositives"' in text and "Planned maintenance" in text
    dutch = page(client, world, "soc_analyst", f"/cases/{case_id}?lang=nl")
    assert "stiltelimiet" in dutch and "Gepland onderhoud" in dutch and "silence limit" not in dutch
