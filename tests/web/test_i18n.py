"""Every message the product shows has a Dutch translation, and the compiled catalogue is the
one the `.po` file says (scripts/i18n.sh keeps both current)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from soc.core import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("soc", "risk", "kri", "tenants", "ingest", "detections")
KEYWORDS = {"N_": None, "P_": ((1, "c"), 2), "_": None, "pgettext": ((2, "c"), 3)}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
PO = i18n.LOCALE_DIR / "nl" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


def extracted(folder: Path) -> set[tuple[str | None, str]]:
    """(context, message id) of every message marked under `folder`."""
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(folder),
        METHODS,
        keywords=KEYWORDS,
    ):
        if isinstance(message, tuple):
            message = message[0]
        if message:
            found.add((context, message))
    return found


def untranslated(messages: set[tuple[str | None, str]]) -> list[tuple[str | None, str]]:
    with PO.open("rb") as handle:
        catalogue = read_po(handle)
    missing = []
    for context, message in sorted(messages, key=lambda m: (m[1], m[0] or "")):
        entry = catalogue.get(message, context=context)
        if entry is None or not entry.string or entry.fuzzy:
            missing.append((context, message))
    return missing


def test_every_message_has_a_dutch_translation() -> None:
    messages: set[tuple[str | None, str]] = set()
    for package in PACKAGES:
        messages |= extracted(ROOT / package)
    assert len(messages) > 300
    missing = untranslated(messages)
    assert not missing, (
        f"no Dutch for {len(missing)} messages (run scripts/i18n.sh): {missing[:10]}"
    )


def test_a_missing_translation_is_found(tmp_path: Path) -> None:
    (tmp_path / "page.py").write_text(
        'from soc.core.i18n import N_\nLABEL = N_("A message nobody translated yet")\n'
        'USAGE = N_("Usage")\n'
    )
    assert untranslated(extracted(tmp_path)) == [(None, "A message nobody translated yet")]


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    with PO.open("rb") as handle:
        source = {(m.context, m.id): m.string for m in read_po(handle) if m.id}
    with MO.open("rb") as handle:
        compiled = {(m.context, m.id): m.string for m in read_mo(handle) if m.id}
    assert compiled == source, "messages.mo is stale: run scripts/i18n.sh"


def test_dutch_and_english_formats() -> None:
    assert i18n.money(Decimal("1234.56"), "nl") == "€\xa01.234,56"
    assert i18n.money(Decimal("1234.56"), "en") == "€1,234.56"
    assert i18n.money(Decimal("0E-9"), "nl") == "€\xa00,00"
    assert i18n.number(Decimal("0E-9"), "nl", 3) == "0,000"
    assert i18n.number(Decimal("1234567.5"), "en", 2) == "1,234,567.50"
    assert i18n.gettext("nl", "Usage") == "Verbruik"
    assert i18n.gettext("en", "Usage") == "Usage"
