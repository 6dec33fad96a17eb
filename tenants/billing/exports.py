"""Finance exports of a closed month: CSV and XLSX (one row per customer) and a PDF invoice
per customer. 1 GB = 10^9 bytes; amounts in the price table's currency."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tenants.billing.invoices import InvoiceView
from tenants.billing.rules import dec, to_gb

COLUMNS = (
    "customer",
    "name",
    "month",
    "status",
    "plan",
    "events",
    "bytes",
    "gb",
    "cases",
    "months_in_average",
    "avg_gb_3m",
    "avg_cases_3m",
    "enterprise_eligible",
    "notified",
    "case_tier",
    "standard_fee",
    "siem_billable_gb",
    "siem_price_per_gb",
    "siem_volume",
    "soc_cases_quantity",
    "soc_cases_unit_price",
    "soc_cases",
    "corrections",
    "total",
    "currency",
    "error",
)
MONEY_COLUMNS = ("standard_fee", "siem_volume", "soc_cases", "corrections", "total")


def rows(views: Sequence[InvoiceView]) -> list[dict[str, Any]]:
    """One flat row per customer, values as Decimal/int/str/bool/None."""
    out = []
    for view in views:
        inv = view.invoice
        row: dict[str, Any] = {
            "customer": view.tenant.slug,
            "name": view.tenant.name,
            "month": inv.month,
            "status": inv.status,
            "plan": inv.plan,
            "events": inv.events,
            "bytes": inv.bytes,
            "gb": to_gb(inv.bytes),
            "cases": inv.cases,
            "months_in_average": inv.months_in_average,
            "avg_gb_3m": inv.avg_gb_3m,
            "avg_cases_3m": inv.avg_cases_3m,
            "enterprise_eligible": inv.enterprise_eligible,
            "notified": inv.notify,
            "case_tier": inv.case_tier,
            "standard_fee": None,
            "siem_billable_gb": None,
            "siem_price_per_gb": None,
            "siem_volume": None,
            "soc_cases_quantity": None,
            "soc_cases_unit_price": None,
            "soc_cases": None,
            "corrections": None,
            "total": inv.total,
            "currency": inv.currency,
            "error": inv.error,
        }
        for line in view.lines:
            if line.kind == "standard_fee":
                row["standard_fee"] = line.amount
            elif line.kind == "siem_volume":
                row["siem_billable_gb"] = line.quantity
                row["siem_price_per_gb"] = line.unit_price
                row["siem_volume"] = line.amount
            elif line.kind == "soc_cases":
                row["soc_cases_quantity"] = line.quantity
                row["soc_cases_unit_price"] = line.unit_price
                row["soc_cases"] = line.amount
            elif line.kind == "correction":
                row["corrections"] = (row["corrections"] or Decimal("0.00")) + line.amount
        out.append(row)
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return dec(value)
    return str(value)


def to_csv(views: Sequence[InvoiceView]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows(views):
        writer.writerow([_text(row[c]) for c in COLUMNS])
    return buffer.getvalue()


def to_xlsx(views: Sequence[InvoiceView], month: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = f"billing {month}"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    formats = {c: "0.00" for c in MONEY_COLUMNS} | {
        "gb": "0.000000000",
        "avg_gb_3m": "0.000000000",
        "siem_billable_gb": "0.000000000",
        "events": "0",
        "bytes": "0",
    }
    for row in rows(views):
        values = [row[c] for c in COLUMNS]
        sheet.append(values)
        for column, cell in zip(COLUMNS, sheet[sheet.max_row], strict=True):
            if column in formats and cell.value is not None:
                cell.number_format = formats[column]
    sheet.append([])
    sheet.append(["1 GB = 10^9 bytes; amounts rounded half up to cents per invoice line."])
    sheet.freeze_panes = "B2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def to_pdf(view: InvoiceView) -> bytes:
    """A one-page invoice document for one customer and month."""
    from fpdf import FPDF

    inv = view.invoice
    pdf = FPDF(format="A4")
    pdf.set_title(f"Invoice {view.tenant.slug} {inv.month}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "SIEM/SOC services - monthly invoice", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for label, value in (
        ("Customer", f"{view.tenant.name} ({view.tenant.slug})"),
        ("Month", inv.month),
        ("Plan", inv.plan),
        ("Status", inv.status),
        ("Processed volume", f"{to_gb(inv.bytes)} GB ({inv.bytes} bytes; 1 GB = 10^9 bytes)"),
        ("Security cases", str(inv.cases)),
        ("Events", str(inv.events)),
        (
            f"{inv.months_in_average}-month average",
            f"{inv.avg_gb_3m} GB/month, {inv.avg_cases_3m} cases/month",
        ),
        ("Case tier", inv.case_tier or "-"),
    ):
        pdf.cell(50, 6, _latin1(label))
        pdf.cell(0, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (85, 35, 30, 30)
    pdf.set_font("Helvetica", "B", 10)
    for width, title in zip(widths, ("Line", "Quantity", "Unit price", "Amount"), strict=True):
        pdf.cell(width, 7, title, border="B", align="L" if title == "Line" else "R")
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for line in view.lines:
        cells = (line.description, dec(line.quantity), dec(line.unit_price), dec(line.amount))
        for width, value, align in zip(widths, cells, "LRRR", strict=True):
            text = _latin1(value)
            while width < pdf.get_string_width(text) + 2 and len(text) > 4:
                text = text[:-4] + "..."
            pdf.cell(width, 6, text, align=align)
        pdf.ln()
    pdf.set_font("Helvetica", "B", 11)
    total = "no invoice: " + (inv.error or "") if inv.total is None else f"{inv.total}"
    pdf.cell(sum(widths[:3]), 8, f"Total ({inv.currency})", border="T")
    pdf.cell(widths[3], 8, _latin1(total if inv.total is not None else "-"), border="T", align="R")
    pdf.ln()
    if inv.error:
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, _latin1(inv.error))
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(
        0,
        4,
        "Amounts are rounded half up to cents per line. Enterprise volume is billed above the "
        "volume included in the standard subscription; the case tier follows the average "
        "number of security cases over this month and the two before it.",
    )
    return bytes(pdf.output())
