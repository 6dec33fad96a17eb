"""Regenerate docs/screenshots/*.png: every role's landing page and a few key pages, NL and EN.

Starts the demo server (`soc run --demo`, as the Quick start and the browser journeys do: see
tests/web/demo_server.py), signs a user of each role in through the sign-in form (MFA included)
in Debian Chromium, and captures full-page screenshots at 1280x900, named
`<role>-<page>-<lang>.png` (e.g. `analyst-console-en.png`, `customer-portal-nl.png`). A page
that is not built yet (404) or that the role may not open is skipped with a message.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--role customer] [--lang nl]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.demo_server import CHROMIUM, DemoSite, start_demo_site  # noqa: E402

FIRST_CASE = "first-case"  # the first case of the queue, whatever its id
# Per role (its file name prefix): the pages captured, (name, path); the first is its landing.
PAGES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "soc_analyst": (
        "analyst",
        [
            ("console", "/console"),
            ("queue", "/cases"),
            ("case", FIRST_CASE),
            ("events", "/events"),
            ("rules", "/rules"),
            ("status", "/status"),
        ],
    ),
    "customer": (
        "customer",
        [("portal", "/portal"), ("usage", "/usage"), ("status", "/status"), ("kri", "/kri")],
    ),
    "finance": ("finance", [("finance", "/finance"), ("kri", "/kri")]),
    "admin": ("admin", [("admin", "/admin"), ("rules", "/rules")]),
    "provider": ("provider", [("queue", "/cases"), ("kri", "/kri/provider")]),
    "authority": ("authority", [("risk", "/risk/authority"), ("kri", "/kri/authority")]),
    "risk_owner": ("risk-owner", [("risk", "/risk/mine"), ("register", "/risk")]),
}


def _first_case(page: Any, site: DemoSite) -> str | None:
    page.goto(f"{site.url}/cases")
    links = page.locator("main a[href^='/cases/']")
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href") or ""
        if href.removeprefix("/cases/").split("?")[0].isdigit():
            return href
    return None


def capture(site: DemoSite, browser: Any, role: str, lang: str, out: Path) -> list[str]:
    """Sign a fresh `role` user in and capture its pages; the names of the files written."""
    import pytest

    prefix, pages = PAGES[role]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=lang)
    page = context.new_page()
    page.set_default_timeout(60_000)
    written: list[str] = []
    try:
        try:
            site.sign_in(page, role, lang)
        except pytest.fail.Exception as exc:
            print(f"  {role} {lang}: sign-in failed, skipped: {exc}")
            return written
        for name, path in pages:
            if path == FIRST_CASE:
                found = _first_case(page, site)
                if found is None:
                    print(f"  {prefix}-{name}-{lang}: no case in the queue, skipped")
                    continue
                path = found
            answer = page.goto(f"{site.url}{path}")
            status = answer.status if answer is not None else 0
            if status != 200:
                why = {404: "not built yet", 403: "not for this role"}.get(status, "failed")
                print(f"  {prefix}-{name}-{lang}: {path} answered {status} ({why}), skipped")
                continue
            page.wait_for_load_state("networkidle")
            file = out / f"{prefix}-{name}-{lang}.png"
            page.screenshot(path=str(file), full_page=True)
            written.append(file.name)
            print(f"  {file.relative_to(ROOT) if file.is_relative_to(ROOT) else file}  ({path})")
    finally:
        context.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--role", action="append", choices=sorted(PAGES), help="only these")
    parser.add_argument("--lang", action="append", choices=["en", "nl"], help="only these")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"no {CHROMIUM}: run deploy/browser.sh start")
    from playwright.sync_api import sync_playwright

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_demo_site(Path(tmp)) as site,
        sync_playwright() as playwright,
    ):
        print(f"demo server at {site.url}; writing {out}")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            for role in args.role or list(PAGES):
                for lang in args.lang or ["en", "nl"]:
                    written += capture(site, browser, role, lang, out)
        finally:
            browser.close()
    print(f"{len(written)} screenshots written to {out}")


if __name__ == "__main__":
    main()
