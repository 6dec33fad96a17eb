"""Each role lands on its own page, the menu lists only what the role may open, and a browser
that opens a page it may not see gets an HTML error page with a way on, never JSON."""

from __future__ import annotations

from typing import Any

import pytest

from soc.core.principal import Principal, Scope
from soc.web.shell import LANDING, NAV, nav_for
from tests.web.demo_server import DemoSite

ROLES = ("admin", "soc_analyst", "customer", "finance", "provider", "authority", "risk_owner")


def principal(role: str) -> Principal:
    scope = Scope.of_tenants(1) if role in ("customer", "risk_owner") else Scope.everything()
    return Principal(role, role, 1 if role in ("customer", "risk_owner") else None, scope)


@pytest.mark.parametrize("role", ROLES)
def test_the_menu_holds_only_what_the_role_may_open(role: str) -> None:
    who = principal(role)
    shown = {item["href"] for item in nav_for(who, "en")}
    assert shown == {item.href for item in NAV if item.shows(who)}
    assert any(LANDING[role].startswith(href) for href in shown), "lands inside its own menu"
    if not who.can("cases.read") or role == "customer":
        assert "/cases" not in shown
    if not who.can("billing.manage"):
        assert "/finance" not in shown
    if not who.can("users.manage"):
        assert "/admin" not in shown


def test_dutch_menu_words() -> None:
    words = {i["href"]: i["label"] for i in nav_for(principal("finance"), "nl")}
    assert words["/finance"] == "Financiën" and words["/kri"] == "KRI's"


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "nl"])
def test_a_risk_owner_lands_on_the_register_and_meets_no_json(
    demo_site: DemoSite,
    browser_page: Any,
    lang: str,
) -> None:
    page = browser_page
    demo_site.sign_in(page, "risk_owner", lang)
    assert page.url.endswith("/risk/mine")
    menu = page.locator("header nav a")
    hrefs = {menu.nth(i).get_attribute("href") for i in range(menu.count())}
    assert "/risk" in hrefs and "/cases" not in hrefs and "/finance" not in hrefs
    answer = page.goto(f"{demo_site.url}/cases")
    assert answer is not None and answer.status == 403
    assert "text/html" in (answer.headers.get("content-type") or "")
    title = page.inner_text("#error-title")
    assert title == (
        "Je mag deze pagina niet openen" if lang == "nl" else "You may not open this page"
    )
    page.click("#way-on")
    page.wait_for_load_state("load")
    assert page.url.endswith("/risk/mine")
    missing = page.goto(f"{demo_site.url}/no-such-page")
    assert missing is not None and missing.status == 404
    assert page.locator("#error-title").count() == 1
