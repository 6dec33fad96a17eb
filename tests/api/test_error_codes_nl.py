"""API errors in Dutch keep their code: the case workflow's refusals, ingest's 413 and 415 and
the edge's 403 and 429, raised as a template with values (`DomainError(N_(...), **params)`)
or answered before routing, all follow Accept-Language."""

from __future__ import annotations

from fastapi.testclient import TestClient

from soc.core.error_texts import domain_text
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from tests.api.test_case_workflow_api import raise_cases
from tests.api.test_error_language import EN, NL, both
from tests.conftest import World
from tests.helpers import key_headers

EVIL = {"Origin": "https://evil.example"}


def test_a_template_with_values_keeps_the_english_message_and_translates_exactly() -> None:
    error = Invalid(N_("case {id} is '{status}'; reopen it before escalating"), id=7, status="new")
    assert error.message == "case 7 is 'new'; reopen it before escalating"
    assert error.template.startswith("case {id}") and error.params == {"id": 7, "status": "new"}
    assert domain_text("en", error) == error.message
    assert domain_text("nl", error) == "incident 7 is 'new'; heropen het voor je escaleert"
    # Text without values goes through the catalogue as before; unknown text stays English.
    assert domain_text("nl", NotFound()) == "niet gevonden"
    assert domain_text("nl", Invalid("no such text in the catalogue")) == (
        "no such text in the catalogue"
    )


def test_case_workflow_refusals_in_dutch(client: TestClient, world: World) -> None:
    analyst = world["soc_analyst"].headers
    (case_id,) = raise_cases(client, world, "alpha", "nl-h1")
    url = f"/api/v1/cases/{case_id}"
    status, en, nl = both(client, "POST", f"{url}/status", analyst, json={"status": "closed"})
    assert status == 422 and en["error"] == nl["error"] == "invalid"
    assert en["detail"].startswith(f"case {case_id} is 'new'; it can move to: ")
    assert nl["detail"].startswith(f"incident {case_id} is 'new'; het kan naar: ")
    assert en["detail"].split(": ")[1] == nl["detail"].split(": ")[1]  # the states stay ids

    status, en, nl = both(client, "POST", f"{url}/reopen", analyst, json={})
    assert status == 422 and "only resolved or closed cases reopen" in en["detail"]
    assert "alleen opgeloste of afgesloten incidenten" in nl["detail"]

    status, en, nl = both(client, "GET", "/api/v1/cases/987654", analyst)
    assert status == 404 and en["error"] == "not_found"
    assert (en["detail"], nl["detail"]) == (
        "case 987654 not found",
        "incident 987654 niet gevonden",
    )


def test_ingest_413_and_415_in_dutch(client: TestClient, world: World) -> None:
    key = key_headers(world.keys["alpha"])
    status, en, nl = both(
        client, "POST", "/api/v1/ingest", key | {"Content-Type": "application/xml"}, content=b"x"
    )
    assert status == 415 and en["error"] == "unsupported_media_type"
    assert en["detail"].startswith("content type 'application/xml' is not accepted; ")
    assert nl["detail"].startswith("inhoudstype 'application/xml' wordt niet aanvaard; ")

    huge = key | {"Content-Length": str(10**12)}
    status, en, nl = both(client, "POST", "/api/v1/ingest", huge, content=b"{}")
    assert status == 413 and en["error"] == "payload_too_large"
    assert "the limit is" in en["detail"] and "de limiet is" in nl["detail"]


def test_edge_refusals_in_dutch(client: TestClient, world: World) -> None:
    client.cookies.set("soc_session", world["soc_analyst"].token)
    answers = {
        lang: client.post("/api/v1/cases/1/comments", json={"text": "x"}, headers=EVIL | h)
        for lang, h in (("en", EN), ("nl", NL))
    }
    client.cookies.clear()
    assert {a.status_code for a in answers.values()} == {403}
    assert answers["en"].json() == {"error": "forbidden", "detail": "cross-site request refused"}
    assert answers["nl"].json() == {
        "error": "forbidden",
        "detail": "verzoek van een andere site geweigerd",
    }

    for n in range(30):
        client.post("/api/v1/auth/login", json={"username": f"ghost-{n}", "password": "guess-x"})
    en_429 = client.post("/api/v1/auth/login", content=b"{}", headers=EN)
    nl_429 = client.post("/api/v1/auth/login", content=b"{}", headers=NL)
    assert en_429.status_code == nl_429.status_code == 429
    assert en_429.json()["error"] == nl_429.json()["error"] == "too_many_requests"
    assert en_429.json()["detail"].startswith("too many failed logins; try again in ")
    assert nl_429.json()["detail"].startswith("te veel mislukte aanmeldingen; probeer het opnieuw")


def test_errors_of_each_domain_in_dutch_keep_their_code(client: TestClient, world: World) -> None:
    """Raise sites converted to templates: tenants, billing, risk, kri and detections each
    answer the same code and English text as before, and Dutch for nl."""
    admin, authority = world["admin"].headers, world["authority"].headers
    cases = [
        # (method, path, headers, body, status, code, English, Dutch)
        (
            "POST",
            "/api/v1/providers",
            admin,
            {"slug": "prov-a", "name": "Again"},
            409,
            "conflict",
            "provider 'prov-a' already exists",
            "dienstverlener 'prov-a' bestaat al",
        ),
        (
            "GET",
            "/api/v1/billing/tenants/alpha/invoices/2025-13",
            world["finance"].headers,
            None,
            422,
            "invalid",
            "'2025-13' is not a month; write YYYY-MM, e.g. 2025-03",
            "'2025-13' is geen maand; schrijf JJJJ-MM, bv. 2025-03",
        ),
        (
            "POST",
            "/api/v1/risk/acceptances/987654/revoke",
            authority,
            {"reason": "no longer holds"},
            404,
            "not_found",
            "acceptance 987654 not found",
            "aanvaarding 987654 niet gevonden",
        ),
        (
            "GET",
            "/api/v1/risk/risks/987654",
            authority,
            None,
            404,
            "not_found",
            "risk 987654 not found",
            "risico 987654 niet gevonden",
        ),
        (
            "GET",
            "/api/v1/kri/catalogue/KRI-01/trend?tenant=nowhere",
            authority,
            None,
            404,
            "not_found",
            "tenant 'nowhere' not found",
            "klant 'nowhere' niet gevonden",
        ),
        (
            "GET",
            "/api/v1/rules/no-such-rule?tenant=alpha",
            admin,
            None,
            404,
            "not_found",
            "rule 'no-such-rule' not found",
            "regel 'no-such-rule' niet gevonden",
        ),
    ]
    for method, path, headers, body, status, code, english, dutch in cases:
        kw = {"json": body} if body is not None else {}
        got, en, nl = both(client, method, path, headers, **kw)
        assert (got, en["error"], nl["error"]) == (status, code, code), (path, en)
        assert (en["detail"], nl["detail"]) == (english, dutch), path
