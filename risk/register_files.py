"""Register files: a CSV or XLSX upload read into rows of field values, and rows written
back as CSV or XLSX.

The first row names the columns (`risk.register_columns`); unknown columns are ignored and
listed, a column named twice counts once. Blank rows are skipped. A workbook or CSV file is
untrusted input: whatever cannot be read is an `Invalid`, never a 500. On export, text a
spreadsheet would run as a formula gets a leading apostrophe, which the import removes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from risk.register_columns import (
    COLUMNS,
    FORMULA_START,
    Column,
    Kind,
    RowProblem,
    convert,
    header_map,
    norm_header,
)
from soc.core.errors import DomainError, Invalid
from soc.core.i18n import N_

Format = Literal["csv", "xlsx"]
MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_ROWS = 5000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"


@dataclass
class FileRow:
    row: int  # the row number in the sheet (the header is row 1)
    values: dict[str, Any]
    ref: str | None
    error: str | None = None


@dataclass
class Table:
    rows: list[FileRow]
    ignored_columns: list[str]


def sniff_format(filename: str, data: bytes) -> Format:
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        return "xlsx"
    return "csv"


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    """The first sheet's rows. A workbook is untrusted input: whatever the parser trips on
    (a broken zip, missing parts, bad XML) is an Invalid, never a 500."""
    from openpyxl import load_workbook  # heavy: only when a workbook comes in

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise Invalid(
            N_("not a readable XLSX workbook: {error}"), error=type(exc).__name__
        ) from exc
    try:
        if not book.worksheets:
            raise Invalid(N_("the workbook has no sheet"))
        for values in book.worksheets[0].iter_rows(values_only=True):
            yield list(values)
    except DomainError:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise Invalid(
            N_("not a readable XLSX workbook: {error}"), error=type(exc).__name__
        ) from exc
    finally:
        book.close()


def _blank(values: Sequence[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _header(kind: Kind, header: Sequence[Any]) -> tuple[list[Column | None], list[str]]:
    """Each header cell's column (None: ignored) and the ignored headers' text."""
    known = header_map(kind)
    columns: list[Column | None] = []
    ignored: list[str] = []
    seen: set[str] = set()
    for cell in header:
        column = known.get(norm_header(cell))
        if column is None or column.field in seen:
            if cell is not None and str(cell).strip():
                ignored.append(str(cell).strip())
            columns.append(None)
            continue
        seen.add(column.field)
        columns.append(column)
    if "title" not in seen:
        raise Invalid(
            N_("no 'title' column in the first row: name the columns ({columns})"),
            columns=", ".join(c.field for c in COLUMNS[kind]),
        )
    return columns, ignored


def read_table(kind: Kind, fmt: Format, data: bytes) -> Table:
    """The file's rows as field values (converted, not yet validated), each with its row
    number; a row whose cell cannot be read carries the error."""
    if len(data) > MAX_IMPORT_BYTES:
        raise Invalid(
            N_("an import file is at most {max_import_bytes} bytes"),
            max_import_bytes=MAX_IMPORT_BYTES,
        )
    rows_in = _xlsx_rows(data) if fmt == "xlsx" else _csv_rows(data)
    try:
        header = next(rows_in)
    except StopIteration:
        raise Invalid(N_("the file is empty: the first row names the columns")) from None
    except csv.Error as exc:
        raise Invalid(N_("not a readable CSV file: {exc}"), exc=exc) from exc
    columns, ignored = _header(kind, header)
    rows: list[FileRow] = []
    try:
        for number, values in enumerate(rows_in, start=2):
            if _blank(values):
                continue
            if len(rows) >= MAX_ROWS:
                raise Invalid(N_("an import has at most {max_rows} rows"), max_rows=MAX_ROWS)
            rows.append(_row(number, columns, values))
    except csv.Error as exc:
        raise Invalid(N_("not a readable CSV file: {exc}"), exc=exc) from exc
    return Table(rows, ignored)


def _row(number: int, columns: list[Column | None], values: Sequence[Any]) -> FileRow:
    out: dict[str, Any] = {}
    problems: list[str] = []
    for column, value in zip(columns, values, strict=False):
        if column is None:
            continue
        try:
            converted = convert(column, value)
        except RowProblem as exc:
            problems.append(str(exc))
            continue
        if converted is not None:
            out[column.field] = converted
    ref = out.pop("external_ref", None)
    return FileRow(number, out, ref, "; ".join(problems) or None)


def _cell(value: Any) -> Any:
    """Dates as ISO text, booleans as true/false, text that a spreadsheet would run as a
    formula escaped with a leading apostrophe (the import removes it)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def to_xlsx(rows: list[list[Any]], sheet: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    page = book.create_sheet(sheet)
    for row in rows:
        page.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
