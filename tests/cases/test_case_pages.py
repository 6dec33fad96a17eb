"""The case page: the Sigma rule's description, ATT&CK tags, false positives and references
(a real SigmaHQ rule and its sample), merge and split through the page, evidence, the pivot to
the event search, and the timeline as sentences in English and Dutch (never `x=None`)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from detections.engine import RuleSet
from soc.services import BUILTIN_RULES
from soc.web.timeline_text import SENTENCES, attack_link, sentence
from tests.cases.test_case_screens import sign_in
from tests.conftest import World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "sigmahq"
RULE = (
    CORPUS
    / "rules/windows/process_creation/proc_creation_win_bitsadmin_download_susp_extensions.yml"
)
SAMPLE = (
    CORPUS / "regression_data/rules/windows/process_creation"
    "/proc_creation_win_bitsadmin_download_susp_extensions/5b80a791-ad9b-4b75-bcc1-ad4e1e89c200.json"
)


@pytest.fixture(scope="module")
def builtin_rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The shipped rules plus one real SigmaHQ rule (when the corpus is here)."""
    dirs = [BUILTIN_RULES]
    if RULE.exists():
        extra = tmp_path_factory.mktemp("sigmahq")
        shutil.copy(RULE, extra / RULE.name)
        dirs.append(extra)
    return RuleSet.from_dirs(dirs)


def _case_of(client: TestClient, host: str) -> dict:
    items = client.get(f"/api/v1/cases?host={host}").json()["items"]
    assert items, f"no case on {host}"
    return items[0]


def _timeline(html: str) -> list[str]:
    section = html.split('id="timeline"', 1)[1]
    return [
        re.sub(r"<[^>]+>", "", li).strip() for li in re.findall(r"<li[^>]*>(.*?)</li>", section)
    ]


@pytest.mark.corpus
@pytest.mark.skipif(not SAMPLE.exists(), reason="SigmaHQ corpus not present")
def test_case_page_shows_the_sigmahq_rule(client: TestClient, world: World) -> None:
    answer = client.post(
        "/api/v1/ingest",
        content=SAMPLE.read_bytes(),
        headers=key_headers(world.keys["alpha"], "application/json"),
    )
    assert answer.status_code == 200 and answer.json()["accepted"] >= 1, answer.text
    sign_in(client, world, "soc_analyst")
    cases = client.get("/api/v1/cases").json()["items"]
    case = next(c for c in cases if c["rule_id"] == "5b80a791-ad9b-4b75-bcc1-ad4e1e89c200")
    page = client.get(f"/cases/{case['id']}")
    assert page.status_code == 200
    html = page.text
    assert "Detects usage of bitsadmin downloading a file with a suspicious extension" in html
    for link in (
        "https://attack.mitre.org/techniques/T1197/",
        "https://attack.mitre.org/techniques/T1036/003/",
        "https://attack.mitre.org/software/S0190/",
    ):
        assert f'href="{link}"' in html
    assert "attack.persistence" in html  # a tactic tag shows, without a technique link
    falsepositives = html.split('id="rule-falsepositives"', 1)[1].split("</ul>", 1)[0]
    assert "<li>Unknown</li>" in falsepositives
    assert 'href="https://isc.sans.edu/diary/22264"' in html
    pivot = re.search(r'href="(/events\?[^"]+)" id="pivot-events"', html)
    assert pivot and pivot.group(1) and "tenant=alpha" in pivot.group(1)
    assert f"host={case['host']}" in pivot.group(1).replace("%2D", "-")
    # The times are Brussels time with UTC on hover.
    assert re.search(r'<time datetime="[^"]+Z" title="[^"]+ UTC">', html)
    # The pivot opens the event search with the case's event in it.
    events = client.get(pivot.group(1).replace("&amp;", "&"))
    assert events.status_code == 200 and "1 event(s) found" in events.text
    assert f'href="/cases/{case["id"]}"' in events.text


def test_merge_and_split_through_the_page(client: TestClient, world: World) -> None:
    client.post(
        "/api/v1/ingest",
        content=ndjson(
            whoami_event("ws-1", 9, "a"), whoami_event("ws-1", 8, "b"), whoami_event("ws-1", 7, "c")
        ),
        headers=key_headers(world.keys["alpha"]),
    )
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("ws-2", 6, "d")),
        headers=key_headers(world.keys["alpha"]),
    )
    sign_in(client, world, "soc_analyst")
    first, second = _case_of(client, "ws-1"), _case_of(client, "ws-2")
    assert first["alert_count"] == 3
    page = client.get(f"/cases/{first['id']}").text
    csrf = form_csrf(page)
    alert_ids = re.findall(r'name="alert" value="(\d+)"', page)
    assert len(alert_ids) == 3
    split = client.post(
        f"/cases/{first['id']}/split",
        data={"csrf": csrf, "alert": alert_ids[:1], "title": "Second look"},
        follow_redirects=False,
    )
    assert split.status_code == 303
    new_id = int(split.headers["location"].rsplit("/", 1)[1])
    assert new_id not in (first["id"], second["id"])
    new_page = client.get(f"/cases/{new_id}").text
    assert "Second look" in new_page
    assert (
        f"soc_analyst split this case off case #{first['id']} with 1 alert(s)."
        in _timeline(new_page)[-1]
    )
    assert client.get(f"/api/v1/cases/{first['id']}").json()["alert_count"] == 2
    assert any(
        f"split 1 alert(s) off into case #{new_id}." in s
        for s in _timeline(client.get(f"/cases/{first['id']}").text)
    )
    # Merge the second case into the first: the page then shows the first.
    merged = client.post(
        f"/cases/{second['id']}/merge",
        data={"csrf": csrf, "into": str(first["id"])},
        follow_redirects=False,
    )
    assert merged.status_code == 303 and merged.headers["location"] == f"/cases/{first['id']}"
    target = client.get(f"/cases/{first['id']}").text
    assert any(
        f"merged case(s) #{second['id']} into this case; it now has 3 alert(s)." in s
        for s in _timeline(target)
    )
    source = client.get(f"/cases/{second['id']}").text
    assert 'data-status="closed"' in source and 'id="merged-note"' in source
    # A merge into itself is refused, in words, on the page.
    again = client.post(
        f"/cases/{first['id']}/merge", data={"csrf": csrf, "into": str(first["id"])}
    )
    assert "cannot be merged into itself" in again.text and 'role="alert"' in again.text
    # Splitting every alert off is refused too (one must stay).
    left = re.findall(r'name="alert" value="(\d+)"', target)
    refused = client.post(
        f"/cases/{first['id']}/split", data={"csrf": csrf, "alert": left}, follow_redirects=False
    )
    assert "error=" in refused.headers["location"]
    # Another tenant's case cannot be a merge target: no such case for that view.
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("b-9")),
        headers=key_headers(world.keys["beta"]),
    )
    foreign = _case_of(client, "b-9")
    crossed = client.post(
        f"/cases/{first['id']}/merge", data={"csrf": csrf, "into": str(foreign["id"])}
    )
    assert "different tenants" in crossed.text


def test_timeline_sentences_in_english_and_dutch(client: TestClient, world: World) -> None:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("ws-5")),
        headers=key_headers(world.keys["alpha"]),
    )
    sign_in(client, world, "soc_analyst")
    case = _case_of(client, "ws-5")
    csrf = form_csrf(client.get(f"/cases/{case['id']}").text)
    for path, form in (
        ("assign", {"assignee": "soc_analyst", "provider": "prov-a"}),
        ("priority", {"impact": "high", "urgency": "high", "reason": "domain controller"}),
        ("comment", {"text": "looked at it"}),
        ("status", {"status": "in_progress", "note": "working"}),
    ):
        done = client.post(
            f"/cases/{case['id']}/{path}", data=form | {"csrf": csrf}, follow_redirects=False
        )
        assert "error" not in done.headers["location"], done.headers["location"]
    english = _timeline(client.get(f"/cases/{case['id']}?lang=en").text)
    text = " | ".join(english)
    assert "=None" not in text and "previous_provider_id" not in text and "None" not in text
    assert any("soc_analyst assigned the case to soc_analyst at PROV-A." in s for s in english)
    assert any(
        re.search(r"soc_analyst changed the priority from P\d to P1: reason domain controller", s)
        for s in english
    )
    assert any("soc_analyst commented: looked at it" in s for s in english)
    assert any("changed the status from New to In progress: working" in s for s in english)
    assert any("The case was opened by rule" in s for s in english)
    dutch = _timeline(client.get(f"/cases/{case['id']}?lang=nl").text)
    joined = " | ".join(dutch)
    assert "=None" not in joined and "None" not in joined
    assert any(
        "soc_analyst heeft het incident toegewezen aan soc_analyst bij PROV-A." in s for s in dutch
    )
    assert any("prioriteit" in s and "reden domain controller" in s for s in dutch)
    assert any("van Nieuw naar Lopend: working" in s for s in dutch)


def test_evidence_list_and_upload_through_the_page(client: TestClient, world: World) -> None:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("ws-6")),
        headers=key_headers(world.keys["alpha"]),
    )
    sign_in(client, world, "soc_analyst")
    case = _case_of(client, "ws-6")
    page = client.get(f"/cases/{case['id']}").text
    assert "No evidence yet." in page
    csrf = form_csrf(page)
    files = {"file": ("notes.txt", b"the parent was explorer.exe\n", "text/plain")}
    forged = client.post(f"/cases/{case['id']}/evidence?csrf=nope", files=files)
    assert forged.status_code == 403
    done = client.post(
        f"/cases/{case['id']}/evidence?csrf={csrf}", files=files, follow_redirects=False
    )
    assert done.status_code == 303 and "error" not in done.headers["location"]
    page = client.get(f"/cases/{case['id']}").text
    link = re.search(rf'href="(/api/v1/cases/{case["id"]}/evidence/\d+)">notes.txt<', page)
    assert link, page.split('id="evidence"', 1)[1][:800]
    assert client.get(link.group(1)).content == b"the parent was explorer.exe\n"
    assert any("added the evidence file notes.txt (28 bytes)" in s for s in _timeline(page))
    # A file whose bytes are not what it claims is refused, in words, on the page.
    fake = {"file": ("x.pdf", b"not a pdf", "application/pdf")}
    bad = client.post(f"/cases/{case['id']}/evidence?csrf={csrf}", files=fake)
    assert bad.status_code == 200 and "is not application/pdf" in bad.text


def test_a_foreign_case_is_a_translated_404(client: TestClient, world: World) -> None:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("b-1")),
        headers=key_headers(world.keys["beta"]),
    )
    sign_in(client, world, "soc_analyst")
    beta_case = _case_of(client, "b-1")
    client.cookies.clear()
    sign_in(client, world, "customer-alpha")
    answer = client.get(f"/cases/{beta_case['id']}?lang=nl", headers={"Accept": "text/html"})
    assert answer.status_code == 404
    assert "Deze pagina bestaat niet" in answer.text and "b-1" not in answer.text


def test_every_kind_has_a_sentence_and_unknown_kinds_a_generic_one() -> None:
    providers = {"prov-a": "Provider A", 1: "Provider A", 2: "Provider B"}
    details = {
        "created": {"rule_id": "r", "host": "h", "priority": "P3"},
        "assigned": {"provider": "prov-a", "previous_provider_id": None},
        "bouncing": {"reassignments": 4, "limit": 3},
        "status": {"from": "new", "to": "triage", "note": None},
        "reopened": {"from": "closed", "to": "triage", "note": "again"},
        "problem_opened": {"problem_id": 3, "root_cause_due": "2026-12-03T10:00:00+00:00"},
        "comment": {"text": "hi"},
        "priority": {"urgency": "high", "from": "P3", "to": "P2", "reason": "level"},
        "root_cause": {"text": "weak password"},
        "escalated": {"level": 1, "reason": "slow", "provider": None},
        "merged_into": {"target": 5, "alerts": 2, "from": "new"},
        "merged": {"sources": [6, 7], "alerts": 9},
        "split": {"new_case": 8, "alerts": [1, 2]},
        "evidence": {"evidence_id": 1, "filename": "a.txt", "size": 1234, "sha256": "x"},
        "alerts_added": {"count": 2, "total": 5},
        "sla_warning": {"clock": "response", "due": "2026-12-03T10:00:00+00:00"},
        "confirmed": {"billable": True, "billed_on": "2026-12-02"},
    }
    for lang in ("en", "nl"):
        for kind, detail in details.items():
            said = sentence(lang, kind, "system", detail, providers)
            assert said and "None" not in said and "{" not in said, (kind, said)
    assert sentence("en", "assigned", "jan", details["assigned"], providers) == (
        "jan assigned the case to Provider A."
    )
    moved = {"provider": "prov-a", "previous_provider_id": 2}
    assert sentence("en", "assigned", "jan", moved, providers) == (
        "jan moved the case from Provider B to Provider A."
    )
    assert sentence("en", "priority", "system", details["priority"]) == (
        "The priority changed from P3 to P2: the alert level rose."
    )
    assert sentence("en", "brand_new", "jan", {"x": None}) == "jan changed the case (brand_new)."
    assert sentence("nl", "comment", "system", {"text": "x"}).startswith("Het systeem")
    assert set(SENTENCES) >= {"generic", "merged", "split", "evidence"}
    assert attack_link("attack.t1059.001") == "https://attack.mitre.org/techniques/T1059/001/"
    assert attack_link("attack.g0016") == "https://attack.mitre.org/groups/G0016/"
    assert attack_link("attack.execution") is None and attack_link("cve.2021-1") is None
