"""The pieces every CMDB writer shares (the inventory service, relations, the importer): a
CI's comparable state, validating what a caller asks for, the field diff, writing it with its
tenants, names and external ids, the change history row, and the topology revision bump.

One `CIState` per CI, built from the database in batches (`snapshots`), lets the importer
compare thousands of rows without a query per row, and makes "nothing changed" exact: a
re-import of the same file yields no diff.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import orjson
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from soc.cmdb.engine import StatusEngine, bump_revision
from soc.cmdb.models import CI_TYPES, CIChange, CIName, CITenant, ConfigurationItem, ExternalId
from soc.core.db import utcnow
from soc.core.errors import Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants.models import Provider, Tenant

CRITICALITIES = ("low", "medium", "high", "critical")
MAX_ATTRIBUTES_BYTES = 16_384
CHUNK = 500  # ids per IN (...) clause

Diff = dict[str, list[Any]]


@dataclass(frozen=True)
class CIState:
    """What a CI is, in a form two of which compare equal exactly when nothing changed."""

    name: str
    ci_type: str
    provider_id: int | None
    environment: str = "production"
    criticality: str = "medium"
    always_on: bool = False
    min_healthy: int | None = None
    source: str = "gos"
    attributes: Mapping[str, Any] | None = None
    tenant_ids: tuple[int, ...] = ()
    names: tuple[str, ...] = ()
    external_ids: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "attributes":
                value = dict(value or {})
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out


def diff(old: CIState | None, new: CIState) -> Diff:
    """{field: [old, new]} for every field that differs (all of them for a new CI)."""
    after = new.as_json()
    if old is None:
        return {k: [None, v] for k, v in after.items()}
    before = old.as_json()
    return {k: [before[k], v] for k, v in after.items() if before[k] != v}


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def snapshots(session: Session, cis: Sequence[ConfigurationItem]) -> dict[int, CIState]:
    """The state of each CI, three queries per 500 CIs."""
    ids = [ci.id for ci in cis]
    tenants: dict[int, list[int]] = {i: [] for i in ids}
    names: dict[int, list[str]] = {i: [] for i in ids}
    ext: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    for part in chunks(ids):
        for ci_id, tenant_id in session.execute(
            select(CITenant.ci_id, CITenant.tenant_id).where(CITenant.ci_id.in_(part))
        ):
            tenants[ci_id].append(tenant_id)
        for ci_id, name in session.execute(
            select(CIName.ci_id, CIName.name).where(CIName.ci_id.in_(part))
        ):
            names[ci_id].append(name)
        for ci_id, source, external_id in session.execute(
            select(ExternalId.ci_id, ExternalId.source, ExternalId.external_id).where(
                ExternalId.ci_id.in_(part)
            )
        ):
            ext[ci_id].append((source, external_id))
    return {
        ci.id: CIState(
            name=ci.name,
            ci_type=ci.ci_type,
            provider_id=ci.provider_id,
            environment=ci.environment,
            criticality=ci.criticality,
            always_on=ci.always_on,
            min_healthy=ci.min_healthy,
            source=ci.source,
            attributes=dict(ci.attributes or {}),
            tenant_ids=tuple(sorted(tenants[ci.id])),
            names=tuple(sorted(names[ci.id])),
            external_ids=tuple(sorted(ext[ci.id])),
        )
        for ci in cis
    }


def snapshot(session: Session, ci: ConfigurationItem) -> CIState:
    return snapshots(session, [ci])[ci.id]


class Lookup:
    """Provider and tenant slugs → ids (and back), read once per request or import."""

    def __init__(self, session: Session) -> None:
        self.providers = {p.slug: p.id for p in session.scalars(select(Provider))}
        self.tenants = {t.slug: t.id for t in session.scalars(select(Tenant))}
        self.provider_slugs = {v: k for k, v in self.providers.items()}
        self.tenant_slugs = {v: k for k, v in self.tenants.items()}

    def provider_id(self, slug: str) -> int:
        found = self.providers.get(slug)
        if found is None:
            raise NotFound(N_("provider '{ref}' not found"), ref=slug)
        return found

    def tenant_ids(self, principal: Principal, slugs: Iterable[str]) -> list[int]:
        """Ids of visible tenants; an unknown or foreign slug is a NotFound (never confirm)."""
        out = []
        for slug in slugs:
            found = self.tenants.get(slug)
            if found is None or not principal.sees_tenant(found):
                raise NotFound(N_("tenant '{ref}' not found"), ref=slug)
            out.append(found)
        return out


def check_can_edit(principal: Principal, provider_id: int | None) -> None:
    """The integrator edits every CI; a provider-scoped user only its own provider's."""
    principal.require("cmdb.manage")
    if principal.is_global:
        return
    if principal.provider_id is None or provider_id != principal.provider_id:
        raise Forbidden(N_("a provider's users edit only that provider's CIs"))


def check_can_relate(
    principal: Principal, from_provider: int | None, to_provider: int | None
) -> None:
    """A relation across providers is the integrator's to write (A6); within one provider,
    whoever may edit that provider's CIs."""
    if from_provider != to_provider:
        principal.require("cmdb.relate_cross")
        if not principal.is_global:
            raise Forbidden(N_("relations between CIs of different providers are the integrator's"))
        return
    check_can_edit(principal, from_provider)


def _text(changes: Mapping[str, Any], key: str, limit: int, default: str) -> str:
    value = changes.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(N_("'{key}' must be a non-empty string"), key=key)
    value = value.strip()
    if len(value) > limit:
        raise Invalid(N_("'{key}' is longer than {limit} characters"), key=key, limit=limit)
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def normalize_names(values: Iterable[Any]) -> tuple[str, ...]:
    """Host names and aliases: stripped, lower case, each once."""
    out = set()
    for value in values:
        if not isinstance(value, str):
            raise Invalid(N_("a host name must be a string, got {value!r}"), value=value)
        name = value.strip().lower()
        if not name:
            continue
        if len(name) > 255:
            raise Invalid(N_("host name '{name}…' is longer than 255 characters"), name=name[:40])
        out.add(name)
    return tuple(sorted(out))


def normalize_external_ids(values: Iterable[Any]) -> tuple[tuple[str, str], ...]:
    out = set()
    for value in values:
        if isinstance(value, Mapping):
            source, external_id = value.get("source"), value.get("external_id")
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            source, external_id = value
        else:
            raise Invalid(
                N_("an external id is {{source, external_id}}, got {value!r}"), value=value
            )
        if not isinstance(source, str) or not source.strip() or len(source) > 64:
            raise Invalid(N_("an external id's source must be a string of 1 to 64 characters"))
        if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 200:
            raise Invalid(N_("an external id must be a string of 1 to 200 characters"))
        out.add((source.strip(), external_id.strip()))
    return tuple(sorted(out))


def _attributes(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(N_("'attributes' must be an object"))
    try:
        size = len(orjson.dumps(dict(value)))
    except TypeError as exc:
        raise Invalid(N_("'attributes' must be plain JSON: {exc}"), exc=exc) from exc
    if size > MAX_ATTRIBUTES_BYTES:
        raise Invalid(
            N_("'attributes' is over {max_attributes_bytes} bytes"),
            max_attributes_bytes=MAX_ATTRIBUTES_BYTES,
        )
    return dict(value)


def desired_state(
    lookup: Lookup, principal: Principal, base: CIState | None, changes: Mapping[str, Any]
) -> CIState:
    """The state `changes` asks for on top of `base` (None: a new CI). Keys: name, ci_type,
    provider (slug or None), tenants (slugs), environment, criticality, always_on,
    min_healthy, source, attributes, names, external_ids; an absent key keeps the value.
    A scoped user's tenant list keeps the tenants it cannot see (it cannot remove them)."""
    start = base or CIState(name="", ci_type="", provider_id=principal.provider_id, attributes={})
    values: dict[str, Any] = {}
    if base is None or "name" in changes:
        values["name"] = _text(changes, "name", 200, "")
    if base is None or "ci_type" in changes:
        ci_type = _lower(changes.get("ci_type"))
        if ci_type not in CI_TYPES:
            raise Invalid(
                N_("unknown CI type {ci_type!r}: one of {ci_types}"),
                ci_type=ci_type,
                ci_types=", ".join(CI_TYPES),
            )
        values["ci_type"] = str(ci_type)
    if "provider" in changes:
        slug = changes["provider"]
        values["provider_id"] = None if slug is None else lookup.provider_id(slug)
    if "environment" in changes:
        values["environment"] = _text(changes, "environment", 32, "").lower()
    if "criticality" in changes:
        value = _lower(changes["criticality"])
        if value not in CRITICALITIES:
            raise Invalid(
                N_("criticality {value!r}: one of {criticalities}"),
                value=value,
                criticalities=", ".join(CRITICALITIES),
            )
        values["criticality"] = str(value)
    if "always_on" in changes:
        if not isinstance(changes["always_on"], bool):
            raise Invalid(N_("'always_on' must be true or false"))
        values["always_on"] = changes["always_on"]
    if "min_healthy" in changes:
        value = changes["min_healthy"]
        if value is not None and (type(value) is not int or not 1 <= value <= 100_000):
            raise Invalid(N_("'min_healthy' must be a whole number from 1"))
        values["min_healthy"] = value
    if "source" in changes:
        values["source"] = _text(changes, "source", 64, "")
    if "attributes" in changes:
        values["attributes"] = _attributes(changes["attributes"])
    if "names" in changes:
        values["names"] = normalize_names(changes["names"] or ())
    if "external_ids" in changes:
        values["external_ids"] = normalize_external_ids(changes["external_ids"] or ())
    if "tenants" in changes:
        wanted = set(lookup.tenant_ids(principal, changes["tenants"] or ()))
        hidden = {t for t in start.tenant_ids if not principal.sees_tenant(t)}
        values["tenant_ids"] = tuple(sorted(wanted | hidden))
    state = replace(start, **values)
    if state.min_healthy is not None and state.ci_type != "cluster":
        raise Invalid(N_("'min_healthy' applies to clusters only"))
    return state


def taken_external_ids(
    session: Session, pairs: Iterable[tuple[str, str]], ci_id: int | None
) -> list[tuple[str, str]]:
    """The pairs another CI already holds (the key is unique across CIs)."""
    taken = []
    for source, external_id in pairs:
        owner = session.scalar(
            select(ExternalId.ci_id).where(
                ExternalId.source == source, ExternalId.external_id == external_id
            )
        )
        if owner is not None and owner != ci_id:
            taken.append((source, external_id))
    return taken


def put_fields(ci: ConfigurationItem, new: CIState) -> None:
    """The CI row's own columns (no flush)."""
    ci.name, ci.ci_type, ci.provider_id = new.name, new.ci_type, new.provider_id
    ci.environment, ci.criticality, ci.always_on = new.environment, new.criticality, new.always_on
    ci.min_healthy, ci.source = new.min_healthy, new.source
    ci.attributes = dict(new.attributes or {})
    ci.updated_at = utcnow()


@dataclass
class Inserts:
    """Rows added with one INSERT per table (executemany, no ORM objects): what keeps a
    10,000-CI import to seconds."""

    tenants: list[dict[str, Any]] = field(default_factory=list)
    names: list[dict[str, Any]] = field(default_factory=list)
    external_ids: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)

    def write(self, session: Session) -> None:
        for table, rows in (
            (CITenant, self.tenants),
            (CIName, self.names),
            (ExternalId, self.external_ids),
            (CIChange, self.changes),
        ):
            if rows:
                session.execute(insert(table), rows)
                rows.clear()


def put_collections(
    session: Session, ci_id: int, old: CIState | None, new: CIState, inserts: Inserts
) -> None:
    """The CI's tenant, name and external id rows: what goes is deleted now, what comes is
    queued on `inserts`."""
    before_tenants, after_tenants = set(old.tenant_ids if old else ()), set(new.tenant_ids)
    if before_tenants - after_tenants:
        session.execute(
            delete(CITenant).where(
                CITenant.ci_id == ci_id, CITenant.tenant_id.in_(before_tenants - after_tenants)
            )
        )
    inserts.tenants += ({"ci_id": ci_id, "tenant_id": t} for t in after_tenants - before_tenants)
    before_names, after_names = set(old.names if old else ()), set(new.names)
    if before_names - after_names:
        session.execute(
            delete(CIName).where(CIName.ci_id == ci_id, CIName.name.in_(before_names - after_names))
        )
    inserts.names += ({"ci_id": ci_id, "name": n} for n in after_names - before_names)
    before_ext, after_ext = set(old.external_ids if old else ()), set(new.external_ids)
    for source, external_id in before_ext - after_ext:
        session.execute(
            delete(ExternalId).where(
                ExternalId.ci_id == ci_id,
                ExternalId.source == source,
                ExternalId.external_id == external_id,
            )
        )
    inserts.external_ids += (
        {"ci_id": ci_id, "source": s, "external_id": e} for s, e in after_ext - before_ext
    )


def write_state(session: Session, ci: ConfigurationItem, old: CIState | None, new: CIState) -> None:
    """Put `new` on the CI row and its tenant, name and external id rows (only what differs)."""
    put_fields(ci, new)
    if ci.id is None:
        session.add(ci)
        session.flush()
    inserts = Inserts()
    put_collections(session, ci.id, old, new, inserts)
    inserts.write(session)
    session.flush()


def change_row(
    principal: Principal,
    action: str,
    changes: Diff,
    *,
    ci_id: int | None = None,
    relation_id: int | None = None,
) -> dict[str, Any]:
    """One history row's values: who, when, what (created / updated / retired / restored)."""
    return {
        "ci_id": ci_id,
        "relation_id": relation_id,
        "action": action,
        "actor": principal.actor,
        "at": utcnow(),
        "diff": changes,
    }


def record(
    session: Session,
    principal: Principal,
    action: str,
    changes: Diff,
    *,
    ci_id: int | None = None,
    relation_id: int | None = None,
) -> CIChange:
    """One history row, as an object in the session."""
    row = CIChange(**change_row(principal, action, changes, ci_id=ci_id, relation_id=relation_id))
    session.add(row)
    return row


def finish(session: Session, engine: StatusEngine | None) -> None:
    """End a topology change: bump the revision (every process reloads its graph) and, when
    this process's engine is given, rebuild it now and record the state changes it brings."""
    session.flush()
    bump_revision(session)
    if engine is not None:
        engine.reload(session)
