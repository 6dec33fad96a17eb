"""Published documents carry a detached Ed25519 signature over their exact bytes, on
PostgreSQL: a monthly KRI report (signed when published, `.sig` beside the PDF) and an
invoice (the same bytes on every rendering, signed when delivered). `soc verify` checks a
downloaded pair with the public key alone, and names an edited PDF."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kri import reports
from soc.cli import app as cli_app
from soc.core import signing
from soc.core.principal import SYSTEM
from soc.core.settings import get_settings
from soc.services import Services
from tenants.billing import service as billing
from tests.billing.conftest import example_prices
from tests.conftest import World

ISOLATION_COVERED = {
    ("GET", "/api/v1/kri/reports/{report_id}/pdf/signature"),
    ("GET", "/api/v1/billing/tenants/{tenant}/invoices/{month}/pdf/signature"),
}
USERS = ("finance", "authority", "customer-beta", "provider-prov-a")  # customer-alpha: above
MONTH = "2026-10"


@pytest.fixture
def db_backend() -> str:
    return "postgresql"


@pytest.fixture
def public_key(services: Services, tmp_path: Path) -> Path:
    path = tmp_path / "integrator.pub.pem"
    path.write_bytes(signing.public_pem(signing.signing_key(services.settings).public_key()))
    return path


def soc_verify(*args: str) -> tuple[int, str]:
    get_settings.cache_clear()
    result = CliRunner().invoke(cli_app, ["verify", *args])
    return result.exit_code, result.output


def edited_copy(source: Path, target: Path) -> Path:
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, mid-file
    target.write_bytes(bytes(data))
    return target


def test_a_published_report_is_signed_and_an_edited_one_fails(
    client: TestClient, world: World, services: Services, public_key: Path, tmp_path: Path
) -> None:
    now = datetime(2026, 4, 9, 8, 0, tzinfo=UTC)
    with services.db.session() as session:
        row = reports.publish(
            session, SYSTEM, services.settings, "customer", "2026-03", "alpha", now
        )
        report_id, pdf_path = row.id, Path(str(row.pdf_path))
    assert signing.signature_path(pdf_path).is_file()  # written at publication
    code, out = soc_verify(str(pdf_path), "--public-key", str(public_key))
    assert code == 0 and "signature OK" in out, out

    # What the customer downloads is the signed pair.
    customer = world["customer-alpha"].headers
    pdf = client.get(f"/api/v1/kri/reports/{report_id}/pdf", headers=customer)
    sig = client.get(f"/api/v1/kri/reports/{report_id}/pdf/signature", headers=customer)
    assert pdf.status_code == 200 and sig.status_code == 200
    (tmp_path / "report.pdf").write_bytes(pdf.content)
    (tmp_path / "report.sig").write_bytes(sig.content)
    args = ["--signature", str(tmp_path / "report.sig"), "--public-key", str(public_key)]
    assert soc_verify(str(tmp_path / "report.pdf"), *args)[0] == 0

    edited = edited_copy(tmp_path / "report.pdf", tmp_path / "report-edited.pdf")
    code, out = soc_verify(str(edited), *args)
    assert code == 1
    assert f"{edited} does NOT verify: the file was changed after it was signed" in out

    # Whoever may read the PDF may read its signature; nobody else.
    for user in USERS:
        headers = world[user].headers
        want = client.get(f"/api/v1/kri/reports/{report_id}/pdf", headers=headers).status_code
        got = client.get(f"/api/v1/kri/reports/{report_id}/pdf/signature", headers=headers)
        assert got.status_code == want, user
    assert client.get(f"/api/v1/kri/reports/{report_id}/pdf/signature").status_code == 401

    # A stored PDF changed on disk is no longer signed on request.
    edited_copy(pdf_path, pdf_path)
    changed = client.get(f"/api/v1/kri/reports/{report_id}/pdf/signature", headers=customer)
    assert changed.status_code == 409


def test_an_invoice_pdf_is_signed_and_an_edited_one_fails(
    client: TestClient,
    world: World,
    services: Services,
    public_key: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prices = example_prices()
    with services.db.session() as session:
        for slug in ("alpha", "beta"):
            billing.set_account(session, SYSTEM, slug, service_start=MONTH)
        billing.close_month(
            session,
            MONTH,
            billing.load_prices(services.settings.model_copy(update={"billing_prices": prices})),
            today=date(2026, 11, 2),
            settings=services.settings,
        )
    base = f"/api/v1/billing/tenants/alpha/invoices/{MONTH}"
    customer = world["customer-alpha"].headers
    pdf = client.get(f"{base}/pdf", headers=customer)
    sig = client.get(f"{base}/pdf/signature", headers=customer)
    assert pdf.status_code == 200 and sig.status_code == 200, sig.text
    assert client.get(f"{base}/pdf", headers=customer).content == pdf.content  # same bytes
    (tmp_path / "invoice.pdf").write_bytes(pdf.content)
    (tmp_path / "invoice.pdf.sig").write_bytes(sig.content)
    code, out = soc_verify(str(tmp_path / "invoice.pdf"), "--public-key", str(public_key))
    assert code == 0, out

    edited = edited_copy(tmp_path / "invoice.pdf", tmp_path / "invoice-edited.pdf")
    args = ["--signature", str(tmp_path / "invoice.pdf.sig"), "--public-key", str(public_key)]
    code, out = soc_verify(str(edited), *args)
    assert code == 1 and f"{edited} does NOT verify" in out
    other = tmp_path / "other.pub.pem"
    signing.write_key_pair(tmp_path / "other.pem", other)
    code, out = soc_verify(str(tmp_path / "invoice.pdf"), *args[:2], "--public-key", str(other))
    assert code == 1 and "not by the given key" in out

    for user in USERS:
        headers = world[user].headers
        want = client.get(f"{base}/pdf", headers=headers).status_code
        assert client.get(f"{base}/pdf/signature", headers=headers).status_code == want, user
    beta = f"/api/v1/billing/tenants/beta/invoices/{MONTH}/pdf.sig"
    assert client.get(beta, headers=customer).status_code == 404

    # The finance export writes the signature beside each PDF.
    monkeypatch.setenv("SOC_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("SOC_DATABASE_URL", str(services.settings.database_url))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli_app,
            [
                "billing",
                "export",
                "--month",
                MONTH,
                "--format",
                "pdf",
                "--out",
                str(tmp_path / "out"),
            ],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    exported = tmp_path / "out" / f"invoice-alpha-{MONTH}.pdf"
    assert exported.read_bytes() == pdf.content
    assert soc_verify(str(exported), "--public-key", str(public_key))[0] == 0
