"""The invoice as a legal document: its PDF rendered to PNG and read back as text carries the
number, dates, both parties, VAT (or the reverse-charge mention), payment terms and amounts in
the customer's language; numbers are gap-free under concurrent closes (SQLite and
PostgreSQL); a start of service before a closed month is refused; `--out` names a file."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from soc.cli import app
from soc.core.errors import Conflict
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import Services
from tenants.billing import exports
from tenants.billing import service as billing
from tenants.billing.accounts import Identity
from tenants.billing.models import Invoice
from tenants.metering import count_cases, meter_many
from tests.billing.conftest import example_prices
from tests.conftest import World
from tests.services import create_database, drop_database, service_url

MONTH = "2026-10"
CLOSED_ON = date(2026, 11, 3)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, db_backend: str, request: pytest.FixtureRequest) -> Settings:
    url = None
    if db_backend == "postgresql":
        server = service_url("postgresql")
        templates = request.getfixturevalue("pg_templates")
        name, url = create_database(server, templates.world)
        request.addfinalizer(lambda: drop_database(server, name))
    return Settings(
        data_dir=tmp_path / "var",
        database_url=url,
        max_event_bytes=4096,
        max_request_bytes=200_000,
        billing_prices=example_prices(),
        invoice_supplier_name="Waakzaam SOC BV",
        invoice_supplier_address=["Kunstlaan 12", "1000 Brussel"],
        invoice_supplier_vat="BE0999.888.777",
        invoice_supplier_iban="BE71 0961 2345 6769",
        invoice_supplier_bic="GKCCBEBB",
        invoice_payment_days=45,
    )


def tenant_id(services: Services, slug: str) -> int:
    from tenants.models import Tenant

    with services.db.read_session() as session:
        found = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        assert found is not None
        return found


def prepare(services: Services, *, language: str, regime: str) -> None:
    """alpha: enterprise from MONTH with 200 GB and 3 cases (1.251,50 net); beta: standard."""
    alpha = tenant_id(services, "alpha")
    with services.db.session() as session:
        for slug in ("alpha", "beta"):
            billing.set_account(session, SYSTEM, slug, service_start=MONTH)
        billing.set_account(
            session,
            SYSTEM,
            "alpha",
            identity=Identity(
                legal_name="Alpha Logistics NV",
                address=["Havenlaan 7", "2000 Antwerpen"],
                vat_number="BE0111.222.333",
                language=language,
                vat_regime=regime,
            ),
        )
        billing.decide_plan(session, SYSTEM, "alpha", "enterprise", MONTH)
        meter_many(session, [(alpha, date(2026, 10, 5), 1000, 200 * 10**9)])
        count_cases(session, alpha, date(2026, 10, 6), 3)


def close(services: Services, month: str = MONTH, today: date = CLOSED_ON) -> None:
    with services.db.session() as session:
        billing.close_month(
            session,
            month,
            billing.load_prices(services.settings),
            today=today,
            settings=services.settings,
        )


def pdf_text(data: bytes, png: Path) -> str:
    doc = pdfium.PdfDocument(data)
    page = doc[0]
    page.render(scale=1.5).to_pil().save(png)
    assert png.stat().st_size > 20_000  # a real page, not a blank one
    return str(page.get_textpage().get_text_range())


@pytest.mark.parametrize(
    ("language", "regime"), [("nl", "standard"), ("en", "standard"), ("en", "reverse_charge")]
)
def test_the_pdf_carries_every_element_of_an_invoice(
    world: World, services: Services, tmp_path: Path, db_backend: str, language: str, regime: str
) -> None:
    if db_backend != "sqlite":
        pytest.skip("the document does not depend on the database")
    prepare(services, language=language, regime=regime)
    close(services)
    with services.db.read_session() as session:
        view = billing.invoice(session, SYSTEM, "alpha", MONTH)
        data = exports.to_pdf(view)
    inv = view.invoice
    assert inv.number == "2026-000001" and inv.total == Decimal("1251.50")
    assert inv.issued_on == CLOSED_ON and inv.due_on == date(2026, 12, 18)
    text = pdf_text(data, tmp_path / f"invoice-{language}-{regime}.png")
    flat = " ".join(text.split())
    for element in (
        "2026-000001",
        "Waakzaam SOC BV",
        "Kunstlaan 12",
        "1000 Brussel",
        "BE0999.888.777",
        "BE71 0961 2345 6769",
        "Alpha Logistics NV",
        "Havenlaan 7",
        "2000 Antwerpen",
        "BE0111.222.333",
        "2026-10",
        "45",
    ):
        assert element in flat, element
    assert "0E-9" not in flat and "E-" not in flat
    if language == "nl":
        assert "Factuur" in flat and "Vervaldatum" in flat
        assert "3 nov 2026" in flat and "18 dec 2026" in flat
        assert "1.251,50" in flat and "262,82" in flat and "1.514,32" in flat
        assert "200,000 GB" in flat and "btw 21 %" in flat.lower()
    else:
        assert "Invoice" in flat and "Due date" in flat
        assert "3 Nov 2026" in flat and "18 Dec 2026" in flat
        assert "1,251.50" in flat and "200.000 GB" in flat
        if regime == "standard":
            assert "262.82" in flat and "1,514.32" in flat and "VAT 21 %" in flat
        else:
            assert "BTW verlegd / VAT reverse charge" in flat
            assert "262.82" not in flat and inv.vat_amount == Decimal("0.00")
            assert inv.total_due == Decimal("1251.50")


def test_numbers_are_gap_free_under_concurrent_closes(
    world: World, services: Services, db_backend: str
) -> None:
    months = ["2026-06", "2026-07", "2026-08", "2026-09"]
    with services.db.session() as session:
        for slug in ("alpha", "beta"):
            billing.set_account(session, SYSTEM, slug, service_start=months[0])
    barrier = threading.Barrier(len(months))
    errors: list[BaseException] = []

    def run(month: str) -> None:
        try:
            barrier.wait(timeout=10)
            close(services, month)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(m,)) for m in months]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    # a close that fails after numbering gives its numbers back
    with pytest.raises(RuntimeError), services.db.session() as session:
        billing.close_month(
            session,
            "2026-10",
            billing.load_prices(services.settings),
            today=CLOSED_ON,
            settings=services.settings,
        )
        raise RuntimeError("injected failure after the numbers were taken")
    close(services, "2026-10")
    with services.db.read_session() as session:
        numbers = sorted(n for n in session.scalars(select(Invoice.number)) if n)
        count = session.scalar(select(Invoice.id).where(Invoice.status == "issued").limit(1))
    assert count is not None
    expected = [f"2026-{n:06d}" for n in range(1, len(numbers) + 1)]
    assert numbers == expected and len(numbers) >= 2 * len(months) + 2


def test_a_start_of_service_before_a_closed_month_is_refused(
    world: World, services: Services, db_backend: str
) -> None:
    if db_backend != "sqlite":
        pytest.skip("plain rule, one backend")
    with services.db.session() as session:
        billing.set_account(session, SYSTEM, "alpha", service_start=MONTH)
        billing.set_account(session, SYSTEM, "beta", service_start="2026-11")
    close(services)
    with services.db.session() as session, pytest.raises(Conflict) as refused:
        billing.set_account(session, SYSTEM, "beta", service_start="2026-09")
    assert "2026-10 is already closed" in str(refused.value)
    assert "'beta' without an invoice for 2026-10" in str(refused.value)
    with services.db.session() as session:  # an open month is still fine
        assert billing.set_account(session, SYSTEM, "beta", service_start="2026-12")


def test_out_names_a_file_or_a_folder(
    world: World,
    services: Services,
    tmp_path: Path,
    db_backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if db_backend != "sqlite":
        pytest.skip("the CLI is backend-neutral")
    prepare(services, language="en", regime="standard")
    close(services)
    import json

    from soc.core.settings import get_settings

    monkeypatch.setenv("SOC_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("SOC_BILLING_PRICES", json.dumps(example_prices()))
    monkeypatch.delenv("SOC_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    one = tmp_path / "x.pdf"
    done = runner.invoke(
        app,
        [
            "billing",
            "export",
            "--month",
            MONTH,
            "--format",
            "pdf",
            "--tenant",
            "alpha",
            "--out",
            str(one),
        ],
    )
    assert done.exit_code == 0, done.output
    assert one.is_file() and one.read_bytes().startswith(b"%PDF")
    ambiguous = runner.invoke(
        app,
        [
            "billing",
            "export",
            "--month",
            MONTH,
            "--format",
            "pdf",
            "--out",
            str(tmp_path / "all.pdf"),
        ],
    )
    assert ambiguous.exit_code != 0 and "one file" in ambiguous.output
    folder = tmp_path / "invoices"
    many = runner.invoke(
        app, ["billing", "export", "--month", MONTH, "--format", "pdf", "--out", str(folder)]
    )
    assert many.exit_code == 0, many.output
    assert sorted(p.name for p in folder.iterdir()) == [  # each with its detached signature
        f"invoice-alpha-{MONTH}.pdf",
        f"invoice-alpha-{MONTH}.pdf.sig",
        f"invoice-beta-{MONTH}.pdf",
        f"invoice-beta-{MONTH}.pdf.sig",
    ]
    get_settings.cache_clear()
