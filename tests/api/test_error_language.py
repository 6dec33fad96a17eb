"""API errors in the caller's language: the `error` code never changes, the `detail` follows
Accept-Language (Dutch for nl, English otherwise) through the gettext catalogue."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from soc.core import error_texts
from soc.core.error_texts import accepted_language, error_text
from soc.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from tests.conftest import World

ROOT = Path(__file__).resolve().parents[2]
NL = {"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


def both(client: TestClient, method: str, path: str, headers: dict[str, str], **kw: object):
    english = client.request(method, path, headers={**headers, **EN}, **kw)  # type: ignore[arg-type]
    dutch = client.request(method, path, headers={**headers, **NL}, **kw)  # type: ignore[arg-type]
    assert english.status_code == dutch.status_code
    assert english.json()["error"] == dutch.json()["error"]
    return english.status_code, english.json(), dutch.json()


def test_not_found_unauthorized_and_forbidden_in_dutch_and_english(
    client: TestClient, world: World
) -> None:
    status, en, nl = both(client, "GET", "/api/v1/tenants/no-such-tenant", world["admin"].headers)
    assert status == 404 and en["error"] == "not_found"
    assert en["detail"] == "tenant 'no-such-tenant' not found"
    assert nl["detail"] == "klant 'no-such-tenant' niet gevonden"

    status, en, nl = both(client, "GET", "/api/v1/cases", {})
    assert status == 401 and en["error"] == "unauthorized"
    assert en["detail"].startswith("log in first")
    assert nl["detail"].startswith("meld je eerst aan") and "Authorization: Bearer" in nl["detail"]

    status, en, nl = both(client, "GET", "/api/v1/cases", {"Authorization": "Bearer nonsense"})
    assert (status, en["detail"]) == (401, "invalid or expired session token")
    assert nl["detail"] == "ongeldig of verlopen sessietoken"

    customer = world["customer-alpha"].headers
    body = {"slug": "gamma", "name": "Gamma"}
    status, en, nl = both(client, "POST", "/api/v1/tenants", customer, json=body)
    assert status == 403 and en["error"] == "forbidden"
    assert en["detail"] == "role 'customer' may not do 'tenants.manage'"
    assert nl["detail"] == "de rol 'customer' mag 'tenants.manage' niet doen"


def test_conflict_and_validation_errors_in_dutch(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    body = {"slug": "alpha", "name": "Alpha again"}
    status, en, nl = both(client, "POST", "/api/v1/tenants", admin, json=body)
    assert status == 409 and en["error"] == "conflict"
    assert (en["detail"], nl["detail"]) == (
        "tenant 'alpha' already exists",
        "klant 'alpha' bestaat al",
    )

    status, en, nl = both(client, "GET", "/api/v1/cases?limit=many", admin)
    assert status == 422 and en["error"] == "invalid"
    assert "limit" in en["detail"] and "valid integer" in en["detail"]
    assert "limit" in nl["detail"] and "geldig geheel getal" in nl["detail"]

    status, en, nl = both(client, "POST", "/api/v1/tenants", admin, json={"name": "No slug"})
    assert status == 422
    assert "Field required" in en["detail"] and "Veld verplicht" in nl["detail"]


def test_framework_errors_in_dutch(client: TestClient, world: World) -> None:
    status, en, nl = both(client, "GET", "/api/v1/no-such-route", {})
    assert status == 404 and en["error"] == "not_found"
    assert (en["detail"], nl["detail"]) == ("Not Found", "Niet gevonden")

    status, en, nl = both(client, "PUT", "/api/v1/health", {})
    assert status == 405 and en["error"] == "method_not_allowed"
    assert nl["detail"] == "Methode niet toegestaan"


def test_no_accept_language_or_another_language_is_english(
    client: TestClient, world: World
) -> None:
    for header in ({}, {"Accept-Language": "fr-BE,fr;q=0.9"}, {"Accept-Language": "nl;q=0"}):
        answer = client.get("/api/v1/tenants/nowhere", headers={**world["admin"].headers, **header})
        assert answer.json() == {"error": "not_found", "detail": "tenant 'nowhere' not found"}


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("nl", "nl"),
        ("nl-BE", "nl"),
        ("NL-be;q=0.8, en;q=0.5", "nl"),
        ("en;q=0.9, nl", "nl"),
        ("en, nl;q=0.9", "en"),
        ("fr, de;q=0.8, nl;q=0.1", "nl"),
        ("fr", "en"),
        ("nl;q=0, en;q=0.1", "en"),
        ("", "en"),
        (None, "en"),
        ("nl;q=abc", "en"),
    ],
)
def test_the_language_is_the_accepted_one_with_the_highest_weight(
    header: str | None, lang: str
) -> None:
    assert accepted_language(header) == lang


def test_each_error_class_has_a_translated_default() -> None:
    for kind in (NotFound, Forbidden, Unauthorized, Conflict, Invalid):
        error = kind()
        assert error.message == kind.default
        assert error_text("nl", error.message) not in ("", error.message)
    assert NotFound("user not found").message == "user not found"


def _raised_texts() -> set[str]:
    """The fixed first argument of every DomainError raised in the product's code."""
    names = {"NotFound", "Forbidden", "Unauthorized", "Conflict", "Invalid", "Unavailable"}
    found: set[str] = set()
    for package in ("soc", "tenants", "ingest", "detections", "risk", "kri"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and node.args):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                first = node.args[0]
                if isinstance(first, ast.Call) and getattr(first.func, "id", "") == "N_":
                    first = first.args[0]  # raised as a marked template
                if name in names and isinstance(first, ast.Constant) and not node.keywords:
                    found.add(str(first.value))
    return found


def test_the_marked_error_texts_are_the_raised_ones_and_all_have_dutch() -> None:
    raised = _raised_texts()
    marked = set(error_texts.DOMAIN_TEXTS)
    # A marked text no code raises any more is dead weight in the catalogue (its raise site
    # was reworded: mark the new text).
    gone = sorted(t for t in marked - raised if t != "too many logins at once; try again shortly")
    assert not gone, gone
    for text in (
        *raised,
        *marked,
        *error_texts.HTTP_TEXTS,
        *error_texts.VALIDATION_TEXTS,
        *error_texts.SERVER_TEXTS,
    ):
        assert error_text("nl", text) != text or text == "Conflict", text
    for template in error_texts.TEMPLATES:
        values = {"name": "'x1'", "seconds": "'x1'", "bytes": "'x1'", "count": "'x1'"}
        sample = template.format_map(values | {"role": "'r'", "permission": "'x1'"})
        assert error_text("nl", sample) != sample, template
        assert "'x1'" in error_text("nl", sample), template
