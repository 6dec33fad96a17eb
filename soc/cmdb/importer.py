"""Import and sync a provider's CMDB: CSV, JSON or a ServiceNow Table API export (formats in
`soc.cmdb.import_formats` and docs/cmdb-import.md).

A CI is known by its external id in the import's *source* (by default `servicenow:<provider>`
for ServiceNow exports, `file:<provider>` for CSV and JSON; a JSON file or the caller may name
another), so re-importing a file keeps every CI id and changes nothing. `preview` computes what
an import would do: CIs added / changed (field diffs) / restored / retired, relations added /
retired, per-row errors and warnings, and the dependency loops it would close. `apply`
computes the same plan inside the caller's transaction and writes it only when there is no
error: all or nothing. A *full sync* retires the provider's CIs of that source that the file
no longer lists, and their relations, plus the relations of that source the file no longer
lists; nothing is ever deleted, and a CI that comes back is restored (same id).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from soc.cmdb.cistore import (
    CIState,
    Diff,
    Inserts,
    Lookup,
    change_row,
    check_can_edit,
    chunks,
    desired_state,
    diff,
    finish,
    put_collections,
    put_fields,
    record,
    snapshots,
)
from soc.cmdb.engine import StatusEngine, lock_revision
from soc.cmdb.import_formats import CIRow, RelationRow, RowError, parse
from soc.cmdb.import_plan import CIItem, ImportPlan, ImportRequest, Key, RelationItem, Work, Write
from soc.cmdb.inventory import mark_retired, resolve_external
from soc.cmdb.models import RELATION_TYPES, ConfigurationItem, ExternalId, Relation
from soc.cmdb.relations import relation_diff
from soc.cmdb.rules import PROPAGATING
from soc.core.db import utcnow
from soc.core.errors import DomainError, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal

__all__ = ["ImportPlan", "ImportRequest", "apply", "default_source", "preview"]


def default_source(fmt: str, provider: str | None) -> str:
    return f"{'servicenow' if fmt == 'servicenow' else 'file'}:{provider or 'gos'}"


def preview(session: Session, principal: Principal, request: ImportRequest) -> ImportPlan:
    """What applying would do; writes nothing."""
    return _plan(session, principal, request)[0]


def apply(
    session: Session,
    principal: Principal,
    request: ImportRequest,
    engine: StatusEngine | None = None,
) -> ImportPlan:
    """Plan and, when the plan has no error, write it all in the caller's transaction (then
    rebuild the engine's graph if one is given). With errors nothing is written."""
    lock_revision(session)  # imports and other topology writers, one at a time
    plan, work = _plan(session, principal, request)
    if plan.errors:
        return plan
    _write(session, principal, plan, work)
    if plan.has_changes:
        finish(session, engine)
    plan.applied = True
    return plan


# --- planning -----------------------------------------------------------------------------


def _plan(
    session: Session, principal: Principal, request: ImportRequest
) -> tuple[ImportPlan, Work]:
    principal.require("cmdb.manage")
    lookup = Lookup(session)
    provider = request.provider  # a provider's user importing names no provider: its own
    if provider is None and principal.provider_id is not None:
        provider = lookup.provider_slugs.get(principal.provider_id)
    provider_id = lookup.provider_id(provider) if provider else None
    check_can_edit(principal, provider_id)
    parsed = parse(request.format, request.content)
    source = request.source or parsed.source or default_source(request.format, provider)
    source = source.strip()
    if not source or len(source) > 64:
        raise Invalid(N_("the import's source must be 1 to 64 characters"))
    plan = ImportPlan(request.format, provider, source, request.full_sync)
    plan.errors.extend(parsed.errors)
    plan.warnings.extend(parsed.warnings)
    work = Work(provider_id)
    for row in parsed.cis:  # a row with errors is named, so relations to it are not "unknown"
        work.dropped.setdefault(row.external_id, "")
    rows = _unique(parsed.cis, plan.errors)
    stored = _stored(session, source, [r.external_id for r in rows])
    states = snapshots(session, list(stored.values()))
    for row in rows:
        ci = stored.get(row.external_id)
        _plan_ci(lookup, principal, plan, work, row, ci, states.get(ci.id) if ci else None)
    if request.full_sync:
        _plan_sync(session, plan, work)
    _plan_relations(session, principal, plan, work, parsed.relations)
    if any(rel_type in PROPAGATING for _, _, rel_type, _, _ in work.add):
        plan.cycles = _cycles(session, plan, work)
    return plan, work


def _unique(rows: list[CIRow], errors: list[RowError]) -> list[CIRow]:
    first: dict[str, str] = {}
    out = []
    for row in rows:
        if row.external_id in first:
            errors.append(
                RowError(
                    row.where,
                    f"duplicate external id '{row.external_id}'"
                    f" (first at {first[row.external_id]})",
                )
            )
            continue
        first[row.external_id] = row.where
        out.append(row)
    return out


def _stored(session: Session, source: str, ids: list[str]) -> dict[str, ConfigurationItem]:
    """The CIs that already hold these external ids in this source."""
    found: dict[str, ConfigurationItem] = {}
    for part in chunks(ids):
        for ext, ci in session.execute(
            select(ExternalId.external_id, ConfigurationItem)
            .join(ConfigurationItem, ConfigurationItem.id == ExternalId.ci_id)
            .where(ExternalId.source == source, ExternalId.external_id.in_(part))
        ):
            found[ext] = ci
    return found


def _plan_ci(
    lookup: Lookup,
    principal: Principal,
    plan: ImportPlan,
    work: Work,
    row: CIRow,
    ci: ConfigurationItem | None,
    old: CIState | None,
) -> None:
    ext = row.external_id
    if row.provider is not None and row.provider != plan.provider:
        plan.errors.append(
            RowError(row.where, f"provider '{row.provider}' is not the import's provider")
        )
        return
    if ci is not None and ci.provider_id != work.provider_id:
        plan.errors.append(RowError(row.where, f"'{ext}' is a CI of another provider"))
        return
    if row.retired:
        work.dropped[ext] = "retired in the source"
        if ci is not None and ci.retired_at is None:
            work.retire.append(ci)
            plan.retired.append(CIItem(ext, ci.name, ci.ci_type, ci.id))
        else:
            plan.warnings.append(RowError(row.where, f"'{ext}' is retired in the source"))
        return
    changes: dict[str, Any] = dict(row.fields)
    changes["provider"], changes["source"] = plan.provider, plan.source
    changes["external_ids"] = sorted({*(old.external_ids if old else ()), (plan.source, ext)})
    if old is not None and "attributes" in changes:
        changes["attributes"] = {**(old.attributes or {}), **changes["attributes"]}
    try:
        new = desired_state(lookup, principal, old, changes)
    except DomainError as exc:
        plan.errors.append(RowError(row.where, exc.message))
        return
    item = CIItem(ext, new.name, new.ci_type, ci.id if ci else None, diff(old, new))
    if ci is None or old is None:
        work.present[ext] = ext
        work.writes.append(Write(item, None, None, new, "created"))
        plan.added.append(item)
        return
    work.present[ext] = ci.id
    if ci.retired_at is not None:
        item.diff["retired_at"] = [ci.retired_at.isoformat(), None]
        work.writes.append(Write(item, ci, old, new, "restored"))
        plan.restored.append(item)
    elif item.diff:
        work.writes.append(Write(item, ci, old, new, "updated"))
        plan.changed.append(item)
    else:
        plan.unchanged += 1


def _plan_sync(session: Session, plan: ImportPlan, work: Work) -> None:
    """The provider's active CIs of this source that the file no longer lists."""
    query = (
        select(ExternalId.external_id, ConfigurationItem)
        .join(ConfigurationItem, ConfigurationItem.id == ExternalId.ci_id)
        .where(ExternalId.source == plan.source, ConfigurationItem.retired_at.is_(None))
        .order_by(ConfigurationItem.id)
    )
    if work.provider_id is None:
        query = query.where(ConfigurationItem.provider_id.is_(None))
    else:
        query = query.where(ConfigurationItem.provider_id == work.provider_id)
    listed = set(work.present) | set(work.dropped)
    already = {ci.id for ci in work.retire}
    for ext, ci in session.execute(query):
        if ext not in listed and ci.id not in already:
            work.retire.append(ci)
            plan.retired.append(CIItem(ext, ci.name, ci.ci_type, ci.id))
            already.add(ci.id)


def _plan_relations(
    session: Session,
    principal: Principal,
    plan: ImportPlan,
    work: Work,
    rows: list[RelationRow],
) -> None:
    retiring = {ci.id for ci in work.retire}
    providers: dict[Key, int | None] = {k: work.provider_id for k in work.present.values()}
    wanted: dict[tuple[Key, Key, str], RelationItem] = {}
    for row in rows:
        ends = [
            _key(session, principal, plan, work, retiring, providers, r, row.where)
            for r in (row.from_ref, row.to_ref)
        ]
        if row.rel_type not in RELATION_TYPES:
            plan.errors.append(RowError(row.where, f"unknown relation type {row.rel_type!r}"))
            continue
        source, target = ends
        if source is None or target is None:
            continue
        if source == target:
            plan.errors.append(RowError(row.where, f"'{row.from_ref}' related to itself"))
            continue
        cross = providers[source] != providers[target]
        if cross and not (principal.can("cmdb.relate_cross") and principal.is_global):
            plan.errors.append(
                RowError(row.where, "a relation between providers is the integrator's to write")
            )
            continue
        triple = (source, target, row.rel_type)
        if triple in wanted:
            plan.errors.append(RowError(row.where, "the same relation twice"))
            continue
        wanted[triple] = RelationItem(row.from_ref, row.to_ref, row.rel_type)
    stored_ids = sorted({k for t in wanted for k in t[:2] if isinstance(k, int)})
    existing = _relations_from(session, stored_ids)
    for triple, item in wanted.items():
        rel = existing.get(triple)
        if rel is None or rel.retired_at is not None:
            work.add.append((triple[0], triple[1], triple[2], rel, item))
            plan.relations_added.append(item)
    labels = _labels(session, plan, work)
    seen: set[int] = set()
    if plan.full_sync:
        ours = [k for k in work.present.values() if isinstance(k, int)]
        for rel in _relations_from(session, ours).values():
            key = (rel.from_ci_id, rel.to_ci_id, rel.rel_type)
            if rel.retired_at is None and rel.source == plan.source and key not in wanted:
                work.retire_relations.append(rel)
                seen.add(rel.id)
    for rel in _touching(session, retiring):
        seen.add(rel.id)
    for rel in session.scalars(select(Relation).where(Relation.id.in_(sorted(seen)))):
        plan.relations_retired.append(
            RelationItem(labels(rel.from_ci_id), labels(rel.to_ci_id), rel.rel_type, rel.id)
        )


def _key(
    session: Session,
    principal: Principal,
    plan: ImportPlan,
    work: Work,
    retiring: set[int],
    providers: dict[Key, int | None],
    ref: str,
    where: str,
) -> Key | None:
    """What a relation end names: a CI of the file, else a stored active CI (by external id
    in this source, or "source:external_id"). A scoped user never learns of other providers'
    CIs: they are "unknown"."""
    if ref in work.present:
        return work.present[ref]
    if ref in work.dropped:
        why = work.dropped[ref] or "its row has errors"
        plan.errors.append(RowError(where, f"relation to '{ref}': {why}"))
        return None
    ci = resolve_external(session, f"{plan.source}:{ref}") or resolve_external(session, ref)
    if ci is not None and not principal.is_global and ci.provider_id != principal.provider_id:
        ci = None
    if ci is None:
        plan.errors.append(RowError(where, f"relation to unknown CI '{ref}'"))
        return None
    if ci.id in retiring:
        plan.errors.append(RowError(where, f"relation to '{ref}', which this import retires"))
        return None
    providers[ci.id] = ci.provider_id
    return ci.id


def _relations_from(session: Session, ci_ids: list[int]) -> dict[tuple[Key, Key, str], Relation]:
    out: dict[tuple[Key, Key, str], Relation] = {}
    for part in chunks(ci_ids):
        for rel in session.scalars(select(Relation).where(Relation.from_ci_id.in_(part))):
            out[(rel.from_ci_id, rel.to_ci_id, rel.rel_type)] = rel
    return out


def _touching(session: Session, ci_ids: Iterable[int]) -> list[Relation]:
    ids = sorted(ci_ids)
    out: list[Relation] = []
    for part in chunks(ids):
        out.extend(
            session.scalars(
                select(Relation).where(
                    Relation.retired_at.is_(None),
                    or_(Relation.from_ci_id.in_(part), Relation.to_ci_id.in_(part)),
                )
            )
        )
    return out


def _labels(session: Session, plan: ImportPlan, work: Work) -> Any:
    """CI id → its external id in this source, else "ci <id>" (never another's name)."""
    by_id = {k: ext for ext, k in work.present.items() if isinstance(k, int)}
    by_id.update(
        {ci.id: item.external_id for ci, item in zip(work.retire, plan.retired, strict=True)}
    )

    def label(ci_id: int) -> str:
        if ci_id not in by_id:
            ext = session.scalar(
                select(ExternalId.external_id).where(
                    ExternalId.ci_id == ci_id, ExternalId.source == plan.source
                )
            )
            by_id[ci_id] = ext or f"ci {ci_id}"
        return by_id[ci_id]

    return label


def _cycles(session: Session, plan: ImportPlan, work: Work) -> list[list[str]]:
    """The loops over propagating relations that the added relations would be part of."""
    graph: nx.DiGraph[Key] = nx.DiGraph()
    gone = {r.id for r in work.retire_relations}
    retiring = {ci.id for ci in work.retire}
    for rel_id, src, dst in session.execute(
        select(Relation.id, Relation.from_ci_id, Relation.to_ci_id).where(
            Relation.retired_at.is_(None), Relation.rel_type.in_(sorted(PROPAGATING))
        )
    ):
        if rel_id not in gone and src not in retiring and dst not in retiring:
            graph.add_edge(src, dst)
    touched: set[Key] = set()
    for new_src, new_dst, rel_type, _, _ in work.add:
        if rel_type in PROPAGATING:
            graph.add_edge(new_src, new_dst)
            touched.update((new_src, new_dst))
    label = _labels(session, plan, work)
    cycles = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 and component & touched:
            cycles.append(sorted(k if isinstance(k, str) else label(k) for k in component))
    return sorted(cycles)


# --- writing ------------------------------------------------------------------------------


def _write(session: Session, principal: Principal, plan: ImportPlan, work: Work) -> None:
    """All rows of one kind, then one flush: a 10,000-CI file is a few statements per table."""
    ids: dict[str, int] = {}  # external id → id of the CIs created here
    pairs = []
    for write in work.writes:
        ci = write.ci or ConfigurationItem(created_at=utcnow())
        if write.action == "restored":
            ci.retired_at = None
        put_fields(ci, write.new)
        if write.ci is None:
            session.add(ci)
        pairs.append((write, ci))
    session.flush()
    inserts = Inserts()
    for write, ci in pairs:
        put_collections(session, ci.id, write.old, write.new, inserts)
        inserts.changes.append(change_row(principal, write.action, write.item.diff, ci_id=ci.id))
        write.item.ci_id = ci.id
        ids[write.item.external_id] = ci.id
    inserts.write(session)
    now = utcnow()
    for rel in work.retire_relations:
        rel.retired_at = now
        record(
            session,
            principal,
            "retired",
            {"retired_at": [None, now.isoformat()]},
            ci_id=rel.from_ci_id,
            relation_id=rel.id,
        )
    for ci in work.retire:
        mark_retired(session, principal, ci)
    made: list[tuple[Relation, str, Diff, RelationItem]] = []
    for src, dst, rel_type, existing, item in work.add:
        if existing is not None:
            was = existing.retired_at.isoformat() if existing.retired_at else None
            existing.retired_at = None
            made.append((existing, "restored", {"retired_at": [was, None]}, item))
            continue
        rel = Relation(
            from_ci_id=src if isinstance(src, int) else ids[src],
            to_ci_id=dst if isinstance(dst, int) else ids[dst],
            rel_type=rel_type,
            source=plan.source,
            created_by=principal.actor,
            created_at=now,
        )
        session.add(rel)
        made.append((rel, "created", {}, item))
    session.flush()
    for rel, action, changes, item in made:
        changes = changes or relation_diff(rel)
        inserts.changes.append(
            change_row(principal, action, changes, ci_id=rel.from_ci_id, relation_id=rel.id)
        )
        item.relation_id = rel.id
    inserts.write(session)
    session.flush()
