"""The columns of an imported or exported register and how one cell is read.

The file's first row names the columns; the documented names are the fields of the create
schemas (`RISK_COLUMNS`, `ACTION_COLUMNS`: `title`, `description`, `likelihood`, `due`, ...)
and each has a few aliases, Dutch ones included (Titel, Omschrijving, Categorie, Eigenaar,
Waarschijnlijkheid, Impact, Vervaldatum, ...); headers are compared case-insensitively,
spaces, `_` and `-` alike. `external_ref` (alias `ID`) is the row's reference in the source
register.

Values: dates as `YYYY-MM-DD`, `DD/MM/YYYY` or `DD-MM-YYYY` (or Excel dates), booleans
true/false/yes/no/ja/nee/1/0, lists (tenants, providers) separated by `;` or `,`;
vocabularies in English or Dutch (operationeel, specifiek, gemeenschappelijk, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

Kind = Literal["risks", "actions"]
KINDS: tuple[Kind, ...] = ("risks", "actions")

ValueType = Literal["str", "int", "date", "bool", "list", "word"]
TRUE = {"true", "yes", "y", "1", "ja", "j", "waar", "x"}
FALSE = {"false", "no", "n", "0", "nee", "onwaar", ""}
# What a spreadsheet would run as a formula: an export escapes it with a leading apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    field: str  # the create schema's field, also the documented (English) header
    type: ValueType
    aliases: tuple[str, ...] = ()


REF = Column("external_ref", "str", ("id", "ref", "reference", "referentie", "nummer", "nr"))
RISK_COLUMNS: tuple[Column, ...] = (
    REF,
    Column("title", "str", ("titel", "naam", "name", "risk", "risico")),
    Column("description", "str", ("omschrijving", "beschrijving")),
    Column("category", "word", ("categorie",)),
    Column("source", "word", ("bron",)),
    Column("scope", "word", ("bereik",)),
    Column("tenants", "list", ("tenant", "klanten", "klant", "customers", "customer")),
    Column("providers", "list", ("provider", "leveranciers", "leverancier")),
    Column("owner", "str", ("owner user", "owner username", "gebruiker")),
    Column("owner_name", "str", ("eigenaar", "naam eigenaar", "risk owner", "risico eigenaar")),
    Column("owning_provider", "str", ("leverancier eigenaar", "eigenaar leverancier")),
    Column("likelihood", "int", ("waarschijnlijkheid", "kans", "probability")),
    Column("impact", "int", ("gevolg",)),
    Column(
        "residual_likelihood",
        "int",
        ("restwaarschijnlijkheid", "residuele waarschijnlijkheid", "restkans"),
    ),
    Column("residual_impact", "int", ("restimpact", "residuele impact")),
    Column("treatment", "word", ("behandeling",)),
    Column("review_date", "date", ("reviewdatum", "review datum", "herzieningsdatum")),
    Column("review_cadence_days", "int", ("review cadence", "reviewfrequentie")),
)
ACTION_COLUMNS: tuple[Column, ...] = (
    REF,
    Column("register", "word", ("soort", "type")),
    Column("title", "str", ("titel", "naam", "name", "actie", "action")),
    Column("description", "str", ("omschrijving", "beschrijving")),
    Column("scope", "word", ("bereik",)),
    Column("tenant", "str", ("klant", "customer")),
    Column("risk_id", "int", ("risk", "risico")),
    Column("nc_id", "int", ("nc", "non-conformity", "non-conformiteit", "afwijking")),
    Column("owner_provider", "str", ("provider", "leverancier")),
    Column("owner_user", "str", ("owner", "gebruiker")),
    Column("owner_name", "str", ("eigenaar", "naam eigenaar")),
    Column("due", "date", ("due date", "vervaldatum", "deadline", "einddatum", "termijn")),
    Column("outside_ecosystem", "bool", ("buiten ecosysteem", "outside")),
    Column("origin", "str", ("herkomst", "oorsprong", "bron")),
    Column("proposed_mitigation", "str", ("voorgestelde mitigatie", "mitigatievoorstel")),
    Column("service", "str", ("dienst",)),
    Column("ci_id", "int", ("ci",)),
    Column("window_start", "date", ("venster start", "start venster", "uitvoering van")),
    Column("window_end", "date", ("venster einde", "einde venster", "uitvoering tot")),
)
COLUMNS: dict[Kind, tuple[Column, ...]] = {"risks": RISK_COLUMNS, "actions": ACTION_COLUMNS}

# Dutch (and spelled-out) words for the vocabularies.
WORDS = {
    "operationeel": "operational",
    "strategisch": "strategic",
    "specifiek": "specific",
    "klantspecifiek": "specific",
    "gemeenschappelijk": "common",
    "gemeenschappelijke": "common",
    "gedeeld": "common",
    "mitigeren": "mitigate",
    "overdragen": "transfer",
    "vermijden": "avoid",
    "aanvaarden": "accept",
    "accepteren": "accept",
    "mitigatie": "mitigation",
    "corrigerende_actie": "corrective_action",
    "verbetervoorstel": "improvement_proposal",
    "klacht": "complaint",
    "auditbevinding": "audit_finding",
    "audit": "audit",
    "pentest": "pen_test",
    "leverancier": "provider",
    "integrator": "integrator",
}


class RowProblem(ValueError):
    """A cell that cannot be read as its column's type."""


def norm_header(text: object) -> str:
    return re.sub(r"[\s_\-]+", " ", str(text or "")).strip().casefold()


def header_map(kind: Kind) -> dict[str, Column]:
    """Every accepted header (normalised) and its column."""
    out: dict[str, Column] = {}
    for column in COLUMNS[kind]:
        for name in (column.field, *column.aliases):
            out.setdefault(norm_header(name), column)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_START:
        text = text[1:]  # what an export escapes, so a spreadsheet never runs it
    return text


DATE_FORMS = (
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
    re.compile(r"(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})"),
)


def _date(name: str, value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = _text(value)
    if not text:
        return None
    for form in DATE_FORMS:
        hit = form.fullmatch(text)
        if hit:
            try:
                return date(int(hit["y"]), int(hit["m"]), int(hit["d"])).isoformat()
            except ValueError:
                break
    raise RowProblem(f"{name}: not a date (YYYY-MM-DD or DD/MM/YYYY): {text!r}")


def convert(column: Column, value: Any) -> Any:
    """A cell as the schema wants it (None: the cell is empty, the field keeps its default)."""
    if value is None:
        return None
    name = column.field
    if column.type == "date":
        return _date(name, value)
    text = _text(value)
    if column.type == "str":
        return text or None
    if not text:
        return None
    if column.type == "int":
        if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise RowProblem(f"{name}: not a whole number: {text!r}")
        return int(text)
    if column.type == "bool":
        low = text.casefold()
        if low in TRUE:
            return True
        if low in FALSE:
            return False
        raise RowProblem(f"{name}: not true or false: {text!r}")
    if column.type == "list":
        return [part.strip() for part in re.split(r"[;,]", text) if part.strip()]
    word = re.sub(r"[\s\-]+", "_", text.casefold())
    return WORDS.get(word, word)
