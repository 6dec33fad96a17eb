"""Reading CMDB import files into rows: CSV, JSON and a ServiceNow Table API export.

Every format becomes the same `Parsed`: CI rows (an external id and the fields the file gives;
a field the file leaves out keeps its stored value) and relation rows ("`from` depends on / …
`to`", by external id), each named by where it is in the file so errors point at it. The
formats are described in docs/cmdb-import.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from soc.cmdb.models import RELATION_TYPES

FORMATS = ("csv", "json", "servicenow")
CI_KEYS = {
    "name": "name",
    "type": "ci_type",
    "environment": "environment",
    "criticality": "criticality",
}
TRUE = {"true", "yes", "y", "1", "ja", "24/7"}
FALSE = {"false", "no", "n", "0", "nee"}

# ServiceNow classes → CI types (a class not listed is a row error).
SN_CLASSES = {
    "cmdb_ci_appl": "application",
    "cmdb_ci_business_app": "application",
    "cmdb_ci_service": "service",
    "cmdb_ci_service_discovered": "service",
    "cmdb_ci_server": "server",
    "cmdb_ci_linux_server": "server",
    "cmdb_ci_win_server": "server",
    "cmdb_ci_unix_server": "server",
    "cmdb_ci_vm_instance": "vm",
    "cmdb_ci_vmware_instance": "vm",
    "cmdb_ci_docker_container": "container",
    "cmdb_ci_database": "database",
    "cmdb_ci_db_instance": "database",
    "cmdb_ci_netgear": "network_device",
    "cmdb_ci_ip_router": "network_device",
    "cmdb_ci_ip_switch": "network_device",
    "cmdb_ci_ip_firewall": "firewall",
    "cmdb_ci_lb": "load_balancer",
    "cmdb_ci_storage_device": "storage",
    "cmdb_ci_cluster": "cluster",
}
# ServiceNow relation types, read parent-first: "parent <label> child". The mapped relation
# is (type, reversed): reversed means "child <type> parent". A type not listed is skipped with
# a warning (exports hold many informational ones: Owns, Managed by, Contains, …).
SN_RELATIONS: dict[str, tuple[str, bool]] = {
    "depends on::used by": ("depends_on", False),
    "runs on::runs": ("runs_on", False),
    "virtualized by::virtualizes": ("runs_on", False),
    "hosted on::hosts": ("hosted_in", False),
    "members::member of": ("member_of", True),
    "cluster of::cluster": ("member_of", False),
    "connects to::connected by": ("connects_to", False),
}
SN_RETIRED = {"6", "retired"}
SN_CRITICALITY = {"1": "critical", "2": "high", "3": "medium", "4": "low"}


@dataclass
class RowError:
    where: str  # "row 3" (CSV line), "cis[2]", "relations[0]", "result[5]", "file"
    message: str


@dataclass
class CIRow:
    where: str
    external_id: str
    fields: dict[str, Any]
    provider: str | None = None  # as the file names it: must be the import's
    retired: bool = False  # the source says the CI is retired (ServiceNow status 6)


@dataclass
class RelationRow:
    where: str
    from_ref: str
    to_ref: str
    rel_type: str


@dataclass
class Parsed:
    source: str | None = None
    cis: list[CIRow] = field(default_factory=list)
    relations: list[RelationRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)


class RowProblem(ValueError):
    """One field of one row is wrong."""


def parse(fmt: str, content: str) -> Parsed:
    if fmt == "csv":
        return parse_csv(content)
    if fmt == "json":
        return parse_json(content)
    if fmt == "servicenow":
        return parse_servicenow(content)
    return Parsed(errors=[RowError("file", f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")])


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise RowProblem(f"'{key}' must be true or false, got {value!r}")


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise RowProblem(f"'{key}' must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise RowProblem(f"'{key}' must be a whole number, got {value!r}")
    return int(text)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def _external_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowProblem("'external_id' must be a string")
    text = str(value).strip()
    if not text:
        raise RowProblem("'external_id' is empty")
    if len(text) > 200:
        raise RowProblem("'external_id' is longer than 200 characters")
    return text


# --- CSV ----------------------------------------------------------------------------------


def parse_csv(content: str) -> Parsed:
    """One row per CI; relation columns (depends_on, runs_on, hosted_in, member_of,
    connects_to) hold `;`-separated external ids the row's CI relates to; unknown columns go
    into the CI's attributes. An empty cell gives nothing (the stored value stays)."""
    out = Parsed()
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [h for h in ("external_id", "name", "type") if h not in header]
    if missing:
        out.errors.append(RowError("row 1", f"header lacks {', '.join(missing)}"))
        return out
    reader.fieldnames = header
    for raw in reader:
        where = f"row {reader.line_num}"
        if None in raw or any(v is None for v in raw.values()):
            out.errors.append(RowError(where, f"expected {len(header)} columns"))
            continue
        cells = {k: (v or "").strip() for k, v in raw.items() if k}
        try:
            out.cis.append(_csv_ci(where, cells))
        except RowProblem as exc:
            out.errors.append(RowError(where, str(exc)))
            continue
        for rel_type in RELATION_TYPES:
            for target in _split(cells.get(rel_type, "")):
                out.relations.append(RelationRow(where, cells["external_id"], target, rel_type))
    return out


def _csv_ci(where: str, cells: dict[str, str]) -> CIRow:
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in cells.items():
        if not value or key in ("external_id", "provider", *RELATION_TYPES):
            continue
        if key in CI_KEYS:
            fields[CI_KEYS[key]] = value
        elif key == "tenants":
            fields["tenants"] = _split(value)
        elif key == "hostnames":
            fields["names"] = _split(value)
        elif key == "always_on":
            fields["always_on"] = _bool(value, key)
        elif key == "min_healthy":
            fields["min_healthy"] = _int(value, key)
        else:
            attributes[key] = value
    if attributes:
        fields["attributes"] = attributes
    return CIRow(where, _external_id(cells["external_id"]), fields, cells.get("provider") or None)


# --- JSON ---------------------------------------------------------------------------------


def _load(content: str) -> tuple[Any, RowError | None]:
    try:
        return orjson.loads(content), None
    except orjson.JSONDecodeError as exc:
        return None, RowError("file", f"not valid JSON: {exc}")


def parse_json(content: str) -> Parsed:
    """`{"source"?, "cis": [{external_id, name, type, ...}], "relations"?: [{from, to,
    type}]}`."""
    doc, error = _load(content)
    if error is not None:
        return Parsed(errors=[error])
    if not isinstance(doc, dict) or not isinstance(doc.get("cis"), list):
        return Parsed(errors=[RowError("file", "expected an object with a 'cis' list")])
    out = Parsed()
    source = doc.get("source")
    if source is not None and not isinstance(source, str):
        out.errors.append(RowError("source", "'source' must be a string"))
    out.source = source if isinstance(source, str) else None
    for n, item in enumerate(doc["cis"]):
        where = f"cis[{n}]"
        try:
            out.cis.append(_json_ci(where, item))
        except RowProblem as exc:
            out.errors.append(RowError(where, str(exc)))
    relations = doc.get("relations", [])
    if not isinstance(relations, list):
        out.errors.append(RowError("relations", "'relations' must be a list"))
        return out
    for n, item in enumerate(relations):
        where = f"relations[{n}]"
        if not isinstance(item, dict):
            out.errors.append(RowError(where, "expected an object {from, to, type}"))
            continue
        try:
            ends = [_external_id(item.get(k)).strip() for k in ("from", "to")]
        except RowProblem:
            out.errors.append(RowError(where, "'from' and 'to' must be external ids"))
            continue
        out.relations.append(RelationRow(where, ends[0], ends[1], str(item.get("type", ""))))
    return out


def _json_ci(where: str, item: Any) -> CIRow:
    if not isinstance(item, dict):
        raise RowProblem("expected an object")
    fields: dict[str, Any] = {}
    for key, target in CI_KEYS.items():
        if item.get(key) is not None:
            fields[target] = item[key]
    for key, target in (("tenants", "tenants"), ("hostnames", "names")):
        if item.get(key) is not None:
            value = item[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise RowProblem(f"'{key}' must be a list of strings")
            fields[target] = value
    if item.get("always_on") is not None:
        fields["always_on"] = _bool(item["always_on"], "always_on")
    if "min_healthy" in item:
        value = item["min_healthy"]
        fields["min_healthy"] = None if value is None else _int(value, "min_healthy")
    if item.get("attributes") is not None:
        fields["attributes"] = item["attributes"]
    provider = item.get("provider")
    if provider is not None and not isinstance(provider, str):
        raise RowProblem("'provider' must be a provider slug")
    return CIRow(where, _external_id(item.get("external_id")), fields, provider)


# --- ServiceNow ---------------------------------------------------------------------------


def _sn(record: Mapping[str, Any], key: str, display: bool = False) -> str:
    """A field of a Table API record, whatever sysparm_display_value was: a plain string, a
    reference {link, value} or {display_value, value}."""
    value = record.get(key)
    if isinstance(value, dict):
        first, second = ("display_value", "value") if display else ("value", "display_value")
        value = value.get(first) or value.get(second)
    return "" if value is None else str(value).strip()


def parse_servicenow(content: str) -> Parsed:
    """`{"result": [...]}`: `cmdb_ci*` records become CIs (external id = sys_id), records
    with `parent` and `child` (cmdb_rel_ci) become relations; both may be in one list."""
    doc, error = _load(content)
    if error is not None:
        return Parsed(errors=[error])
    if not isinstance(doc, dict) or not isinstance(doc.get("result"), list):
        return Parsed(errors=[RowError("file", 'expected a Table API answer {"result": [...]}')])
    out = Parsed()
    for n, record in enumerate(doc["result"]):
        where = f"result[{n}]"
        if not isinstance(record, dict):
            out.errors.append(RowError(where, "expected a record object"))
            continue
        try:
            if "parent" in record and "child" in record:
                relation = _sn_relation(where, record, out)
                if relation is not None:
                    out.relations.append(relation)
            else:
                out.cis.append(_sn_ci(where, record))
        except RowProblem as exc:
            out.errors.append(RowError(where, str(exc)))
    return out


def _sn_ci(where: str, record: Mapping[str, Any]) -> CIRow:
    sys_id = _external_id(_sn(record, "sys_id"))
    cls = _sn(record, "sys_class_name")
    ci_type = SN_CLASSES.get(cls) or ("cloud_resource" if cls.startswith("cmdb_ci_cloud_") else "")
    if not ci_type:
        raise RowProblem(f"unknown ServiceNow class {cls!r}" if cls else "no sys_class_name")
    fields: dict[str, Any] = {"name": _sn(record, "name", display=True), "ci_type": ci_type}
    if not fields["name"]:
        raise RowProblem("no name")
    names = [n for n in (_sn(record, k) for k in ("host_name", "fqdn", "ip_address")) if n]
    if names:
        fields["names"] = names
    environment = _sn(record, "environment", True) or _sn(record, "used_for", True)
    if environment:
        fields["environment"] = environment.lower()
    criticality = _sn(record, "business_criticality") or _sn(record, "busines_criticality")
    if criticality:
        mapped = SN_CRITICALITY.get(criticality[:1])
        if mapped is None:
            raise RowProblem(f"business criticality {criticality!r} is not 1 to 4")
        fields["criticality"] = mapped
    status = _sn(record, "operational_status")
    attributes = {"sys_class_name": cls}
    if status:
        attributes["operational_status"] = status
    fields["attributes"] = attributes
    tenants = _sn(record, "u_tenants")
    if tenants:
        fields["tenants"] = _split(tenants.replace(",", ";"))
    if _sn(record, "u_min_healthy"):
        fields["min_healthy"] = _int(_sn(record, "u_min_healthy"), "u_min_healthy")
    if _sn(record, "u_always_on"):
        fields["always_on"] = _bool(_sn(record, "u_always_on"), "u_always_on")
    return CIRow(where, sys_id, fields, retired=status.lower() in SN_RETIRED)


def _sn_relation(where: str, record: Mapping[str, Any], out: Parsed) -> RelationRow | None:
    parent, child = _sn(record, "parent"), _sn(record, "child")
    if not parent or not child:
        raise RowProblem("a relation needs a parent and a child sys_id")
    label = _sn(record, "type", display=True)
    if not label or "::" not in label:
        raise RowProblem("relation type without its name (export with sysparm_display_value=all)")
    key = label.lower().strip()
    mapped = SN_RELATIONS.get(key)
    if mapped is None:
        forward, _, backward = key.partition("::")
        flipped = SN_RELATIONS.get(f"{backward}::{forward}")
        if flipped is None:
            out.warnings.append(RowError(where, f"relation type {label!r} skipped"))
            return None
        mapped = (flipped[0], not flipped[1])
    rel_type, reverse = mapped
    source, target = (child, parent) if reverse else (parent, child)
    return RelationRow(where, source, target, rel_type)
