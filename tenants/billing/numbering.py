"""Invoice numbers: one gap-free sequence per issuer and year (`2026-000123`).

The numbers are taken in the transaction that stores the invoices: the issuer's counter row
is locked (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite holds its write lock for the whole
transaction), so concurrent closes queue behind each other and a rolled-back close gives its
numbers back. A number once committed is never reused."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenants.billing.models import InvoiceCounter


def issuer_key(vat_number: str, name: str) -> str:
    """The issuer a sequence belongs to: its VAT number, else its name."""
    return (vat_number or name or "default").strip()[:64]


def take(session: Session, issuer: str, year: int, count: int) -> list[str]:
    """The next `count` numbers of the issuer's sequence for `year`, the counter locked."""
    if count <= 0:
        return []
    row = _locked(session, issuer, year)
    if row is None:
        try:
            with session.begin_nested():
                session.add(InvoiceCounter(issuer=issuer, year=year, last=0))
        except IntegrityError:
            pass  # created by a concurrent close: lock it below
        row = _locked(session, issuer, year)
        assert row is not None
    first = row.last + 1
    row.last += count
    session.flush()
    return [f"{year}-{n:06d}" for n in range(first, first + count)]


def _locked(session: Session, issuer: str, year: int) -> InvoiceCounter | None:
    return session.scalar(
        select(InvoiceCounter)
        .where(InvoiceCounter.issuer == issuer, InvoiceCounter.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
