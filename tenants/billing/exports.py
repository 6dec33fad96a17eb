"""Finance exports of a closed month: CSV and XLSX (one row per customer) and a PDF invoice
per customer. 1 GB = 10^9 bytes; amounts in the price table's currency."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from soc.core import signing
from soc.core.i18n import N_, day, gettext, money, number
from soc.core.settings import Settings
from tenants.billing.invoices import InvoiceView
from tenants.billing.models import Invoice, InvoiceLineRow
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
    "number",
    "issued_on",
    "due_on",
    "vat_regime",
    "vat_rate",
    "vat_amount",
    "total_due",
)
HEADERS = {
    "customer": N_("Customer"),
    "name": N_("Name"),
    "month": N_("Month"),
    "status": N_("Status"),
    "plan": N_("Plan"),
    "events": N_("Events"),
    "bytes": N_("Bytes"),
    "gb": N_("Volume (GB)"),
    "cases": N_("Security cases"),
    "months_in_average": N_("Months in the average"),
    "avg_gb_3m": N_("Average GB per month"),
    "avg_cases_3m": N_("Average cases per month"),
    "enterprise_eligible": N_("Enterprise eligible"),
    "notified": N_("Notified"),
    "case_tier": N_("Case tier"),
    "standard_fee": N_("Standard fee"),
    "siem_billable_gb": N_("Billable GB"),
    "siem_price_per_gb": N_("Price per GB"),
    "siem_volume": N_("SIEM volume"),
    "soc_cases_quantity": N_("SOC cases (quantity)"),
    "soc_cases_unit_price": N_("SOC cases (unit price)"),
    "soc_cases": N_("SOC cases"),
    "corrections": N_("Corrections"),
    "total": N_("Subtotal (excl. VAT)"),
    "currency": N_("Currency"),
    "error": N_("Error"),
    "number": N_("Invoice number"),
    "issued_on": N_("Issue date"),
    "due_on": N_("Due date"),
    "vat_regime": N_("VAT regime"),
    "vat_rate": N_("VAT rate (%)"),
    "vat_amount": N_("VAT amount"),
    "total_due": N_("Total due"),
}
MONEY_COLUMNS = (
    "standard_fee",
    "siem_volume",
    "soc_cases",
    "corrections",
    "total",
    "vat_amount",
    "total_due",
)


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
            "number": inv.number,
            "issued_on": inv.issued_on,
            "due_on": inv.due_on,
            "vat_regime": inv.vat_regime,
            "vat_rate": inv.vat_rate,
            "vat_amount": inv.vat_amount,
            "total_due": inv.total_due,
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


def to_xlsx(views: Sequence[InvoiceView], month: str, lang: str = "en") -> bytes:
    """One row per customer under translated headers, sized columns, number formats and a
    totals row (sums of the money columns, events, bytes and cases)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"{gettext(lang, 'Invoices')} {month}"[:31]
    headers = [gettext(lang, HEADERS[c]) for c in COLUMNS]
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    formats = {c: "#,##0.00" for c in MONEY_COLUMNS} | {
        "gb": "#,##0.000",
        "avg_gb_3m": "#,##0.000",
        "avg_cases_3m": "#,##0.00",
        "siem_billable_gb": "#,##0.000",
        "siem_price_per_gb": "#,##0.00##",
        "soc_cases_unit_price": "#,##0.00",
        "events": "#,##0",
        "bytes": "#,##0",
        "cases": "#,##0",
        "issued_on": "yyyy-mm-dd",
        "due_on": "yyyy-mm-dd",
    }
    widths = [len(h) for h in headers]
    data = rows(views)
    for row in data:
        values = [
            (gettext(lang, "yes") if v else gettext(lang, "no")) if isinstance(v, bool) else v
            for v in (row[c] for c in COLUMNS)
        ]
        sheet.append(values)
        for i, (column, cell) in enumerate(zip(COLUMNS, sheet[sheet.max_row], strict=True)):
            if column in formats and cell.value is not None:
                cell.number_format = formats[column]
            widths[i] = max(widths[i], len(_text(cell.value)))
    summed = (*MONEY_COLUMNS, "events", "bytes", "cases")
    if data:
        last = sheet.max_row
        totals: list[Any] = [gettext(lang, "Total")]
        for i, column in enumerate(COLUMNS[1:], start=2):
            letter = get_column_letter(i)
            totals.append(f"=SUM({letter}2:{letter}{last})" if column in summed else None)
        sheet.append(totals)
        for column, cell in zip(COLUMNS, sheet[sheet.max_row], strict=True):
            cell.font = Font(bold=True)
            if column in formats:
                cell.number_format = formats[column]
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width, 8) + 2, 60)
    sheet.append([])
    sheet.append([gettext(lang, "1 GB = 10^9 bytes; amounts rounded half up to cents per line.")])
    sheet.freeze_panes = "B2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


REVERSE_CHARGE = "BTW verlegd / VAT reverse charge"  # the legal mention, in both languages
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
LINE_TEXT = {
    "standard_fee": N_("Standard subscription (monthly fee)"),
    "siem_volume": N_("SIEM volume above the included volume (1 GB = 10^9 bytes)"),
    "soc_cases": N_("SOC cases, tier {tier}"),
}


def parties_of(view: InvoiceView) -> dict[str, Any]:
    """The supplier and customer as frozen on the invoice (empty for a blocked one)."""
    raw = view.invoice.parties
    return orjson.loads(raw) if raw else {}


def invoice_language(view: InvoiceView) -> str:
    return str(parties_of(view).get("customer", {}).get("language") or "nl")


def _price(value: Decimal, lang: str, currency: str) -> str:
    if value == value.quantize(Decimal("0.01")):
        return money(value, lang, currency)
    return f"{money(0, lang, currency).split('0')[0]}{number(value.normalize(), lang)}"


def _line_text(line: InvoiceLineRow, lang: str, inv: Invoice) -> str:
    if line.kind in LINE_TEXT:
        return gettext(lang, LINE_TEXT[line.kind]).format(tier=inv.case_tier or "-")
    return line.description


def _quantity(line: InvoiceLineRow, lang: str) -> str:
    if line.kind == "siem_volume":
        return f"{number(line.quantity, lang, 3)} GB"
    return number(line.quantity, lang, 2 if line.quantity != line.quantity.to_integral() else 0)


def _fonts(pdf: Any) -> tuple[str, Any]:
    """DejaVu Sans when installed (every character, the euro sign), else Helvetica."""
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if regular.exists() and bold.exists():
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold))
        return "DejaVu", lambda text: text
    return (
        "Helvetica",
        lambda text: text.replace("\u20ac", "EUR").encode("latin-1", "replace").decode("latin-1"),
    )


def to_pdf(view: InvoiceView, lang: str | None = None) -> bytes:
    """The invoice document for one customer and month, in the customer's language: number,
    issue and due dates, supplier and customer identity, lines, subtotal, VAT (or the
    exemption / reverse-charge mention), total and payment terms."""
    from fpdf import FPDF

    inv = view.invoice
    parties = parties_of(view)
    lang = lang or invoice_language(view)
    supplier = parties.get("supplier", {})
    customer = parties.get("customer", {"name": view.tenant.name, "address": []})
    t = functools.partial(gettext, lang)
    cur = inv.currency
    pdf = FPDF(format="A4")
    # The close time, not the rendering time: an invoice renders to the same bytes each
    # time, so its detached signature (signed_pdf) holds for every download.
    pdf.set_creation_date(inv.created_at)
    font, clean = _fonts(pdf)
    pdf.set_title(clean(f"{t('Invoice')} {inv.number or view.tenant.slug} {inv.month}"))
    pdf.add_page()

    def text(w: float, h: float, value: str, **kw: Any) -> None:
        pdf.cell(w, h, clean(value), **kw)

    pdf.set_font(font, "B", 16)
    title = t("Invoice") if inv.status == "issued" else t("Statement (no invoice)")
    text(0, 10, f"{title} {inv.number or ''}".strip(), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, "", 9)
    top = pdf.get_y() + 2
    for col, (head, who) in enumerate(((t("Supplier"), supplier), (t("Customer"), customer))):
        pdf.set_xy(10 + col * 95, top)
        pdf.set_font(font, "B", 9)
        text(90, 5, head, new_x="LEFT", new_y="NEXT")
        pdf.set_font(font, "", 9)
        lines = [who.get("name", ""), *who.get("address", [])]
        if who.get("vat_number"):
            lines.append(f"{t('VAT number')}: {who['vat_number']}")
        if who.get("reference"):
            lines.append(f"{t('Customer reference')}: {who['reference']}")
        for item in lines:
            text(90, 5, item, new_x="LEFT", new_y="NEXT")
    pdf.set_xy(10, max(pdf.get_y(), top + 35) + 4)
    facts = [
        (t("Invoice number"), inv.number or "-"),
        (t("Issue date"), day(inv.issued_on, lang) if inv.issued_on else "-"),
        (t("Due date"), day(inv.due_on, lang) if inv.due_on else "-"),
        (t("Period"), inv.month),
        (t("Plan"), inv.plan),
        (
            t("Processed volume"),
            f"{number(to_gb(inv.bytes), lang, 3)} GB ({number(inv.bytes, lang)} bytes)",
        ),
        (t("Security cases"), number(inv.cases, lang)),
        (
            t("{n}-month average").format(n=inv.months_in_average),
            f"{number(inv.avg_gb_3m, lang, 3)} GB, {number(inv.avg_cases_3m, lang, 2)} "
            + t("cases per month"),
        ),
    ]
    for label, value in facts:
        text(50, 5.5, label)
        text(0, 5.5, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (90, 30, 35, 35)
    pdf.set_font(font, "B", 9)
    heads = (t("Description"), t("Quantity"), t("Unit price"), t("Amount"))
    for width, title, align in zip(widths, heads, "LRRR", strict=True):
        text(width, 7, title, border="B", align=align)
    pdf.ln()
    pdf.set_font(font, "", 8.5)
    for line in view.lines:
        cells = (
            _line_text(line, lang, inv),
            _quantity(line, lang),
            _price(line.unit_price, lang, cur),
            money(line.amount, lang, cur),
        )
        for width, value, align in zip(widths, cells, "LRRR", strict=True):
            shown = clean(value)
            while width < pdf.get_string_width(shown) + 2 and len(shown) > 4:
                shown = shown[:-4] + "..."
            pdf.cell(width, 6, shown, align=align)
        pdf.ln()
    label_w, amount_w = sum(widths[:3]), widths[3]
    if inv.total is None:
        pdf.set_font(font, "B", 10)
        text(0, 8, t("No invoice: no contractual tier applies."), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(font, "", 8)
        pdf.multi_cell(0, 4, clean(inv.error or ""))
        return bytes(pdf.output())
    pdf.set_font(font, "", 9)
    text(label_w, 6, t("Subtotal (excl. VAT)"), border="T")
    text(
        amount_w,
        6,
        money(inv.total, lang, cur),
        border="T",
        align="R",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    vat_amount = inv.vat_amount if inv.vat_amount is not None else Decimal("0.00")
    if inv.vat_regime == "reverse_charge":
        vat_label = f"{t('VAT')} 0 % - {REVERSE_CHARGE}"
    elif inv.vat_regime == "exempt":
        vat_label = f"{t('VAT')} 0 % - {t('exempt from VAT')}"
    else:
        vat_label = f"{t('VAT')} {number(inv.vat_rate or 0, lang)} %"
    text(label_w, 6, vat_label)
    text(amount_w, 6, money(vat_amount, lang, cur), align="R", new_x="LMARGIN", new_y="NEXT")
    due = inv.total_due if inv.total_due is not None else inv.total + vat_amount
    pdf.set_font(font, "B", 11)
    text(label_w, 8, t("Total due"), border="T")
    text(amount_w, 8, money(due, lang, cur), border="T", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font(font, "", 9)
    if inv.vat_regime == "reverse_charge":
        pdf.multi_cell(
            0,
            5,
            clean(REVERSE_CHARGE + " - " + t("VAT to be paid by the customer.")),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    days = int(parties.get("payment_days", 30))
    pay = t(
        "Payment terms: {days} days. Please pay {amount} by {due} to IBAN {iban} (BIC {bic}), "
        "quoting invoice number {number}."
    ).format(
        days=days,
        amount=money(due, lang, cur),
        due=day(inv.due_on, lang) if inv.due_on else "-",
        iban=supplier.get("iban", ""),
        bic=supplier.get("bic", ""),
        number=inv.number or "-",
    )
    pdf.multi_cell(0, 5, clean(pay), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(font, "", 7.5)
    pdf.multi_cell(
        0,
        4,
        clean(
            t(
                "Amounts are rounded half up to cents per line. 1 GB = 10^9 bytes. The case "
                "tier follows the average number of security cases over this month and the "
                "two before it."
            )
        ),
    )
    return bytes(pdf.output())


def invoice_pdf_name(view: InvoiceView) -> str:
    return f"invoice-{view.tenant.slug}-{view.invoice.month}.pdf"


def signed_pdf(view: InvoiceView, settings: Settings) -> tuple[bytes, bytes]:
    """The invoice PDF and its detached Ed25519 signature over exactly those bytes."""
    pdf = to_pdf(view)
    key = signing.signing_key(settings)
    return pdf, signing.detached(key, pdf, invoice_pdf_name(view))
