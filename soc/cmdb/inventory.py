"""The CMDB inventory: create, update, retire and restore CIs, find one from what an event or
a file names it by, list and read them within what the principal may see, and their history.

No HTTP here: the router passes the principal, the CIs it may see (`visible_cis`, None = all)
and the status engine (to rebuild the graph after a change). A CI is never deleted; a foreign
CI is a NotFound, never a 403. Relations live in `soc.cmdb.relations`, imports in
`soc.cmdb.importer`, the CMDB map in `soc.cmdb.cmdb_map`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from soc.cmdb.cistore import (
    CIState,
    Lookup,
    check_can_edit,
    desired_state,
    diff,
    finish,
    record,
    snapshot,
    taken_external_ids,
    write_state,
)
from soc.cmdb.engine import StatusEngine
from soc.cmdb.models import (
    CIChange,
    CIName,
    CIStatus,
    ConfigurationItem,
    ExternalId,
    Relation,
)
from soc.core.db import utcnow
from soc.core.errors import Conflict, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal

Visible = frozenset[int] | None


# --- finding ------------------------------------------------------------------------------


def _one(session: Session, ids: list[int]) -> ConfigurationItem | None:
    """The CI when exactly one active CI matched (an ambiguous name resolves to none)."""
    active = list(
        session.scalars(
            select(ConfigurationItem).where(
                ConfigurationItem.id.in_(set(ids)), ConfigurationItem.retired_at.is_(None)
            )
        )
    )
    return active[0] if len(active) == 1 else None


def resolve_external(session: Session, ref: str) -> ConfigurationItem | None:
    """By "source:external_id" (every split is tried: sources contain colons too) or a bare
    external id held by exactly one active CI."""
    for at in range(len(ref) - 1, 0, -1):
        if ref[at] != ":":
            continue
        owner = session.scalar(
            select(ExternalId.ci_id).where(
                ExternalId.source == ref[:at], ExternalId.external_id == ref[at + 1 :]
            )
        )
        if owner is not None:
            return _one(session, [owner])
    owners = list(session.scalars(select(ExternalId.ci_id).where(ExternalId.external_id == ref)))
    return _one(session, owners) if owners else None


def resolve_ci(session: Session, ref: str) -> ConfigurationItem | None:
    """The active CI an event or a file names: a numeric id ("42"), "source:external_id" or a
    bare external id, a host name or alias (case-insensitive), or the exact name. Retired CIs
    never resolve; a name shared by several active CIs resolves to none (never a guess)."""
    ref = ref.strip()
    if not ref:
        return None
    if ref.isascii() and ref.isdigit() and len(ref) <= 18:
        found = session.get(ConfigurationItem, int(ref))
        if found is not None and found.retired_at is None:
            return found
    found = resolve_external(session, ref)
    if found is not None:
        return found
    by_host = list(session.scalars(select(CIName.ci_id).where(CIName.name == ref.lower())))
    if by_host:
        return _one(session, by_host)
    by_name = list(
        session.scalars(select(ConfigurationItem.id).where(ConfigurationItem.name == ref))
    )
    return _one(session, by_name) if by_name else None


def may_see(principal: Principal, ci: ConfigurationItem, visible: Visible) -> bool:
    """In the visible set, or the principal's provider's own CI (retired ones included)."""
    if visible is None or ci.id in visible:
        return True
    return principal.provider_id is not None and ci.provider_id == principal.provider_id


def get_visible(
    session: Session, principal: Principal, ci_id: int, visible: Visible
) -> ConfigurationItem:
    principal.require("cmdb.read")
    ci = session.get(ConfigurationItem, ci_id)
    if ci is None or not may_see(principal, ci, visible):
        raise NotFound(N_("CI {ci_id} not found"), ci_id=ci_id)
    return ci


# --- writing ------------------------------------------------------------------------------


def _check_external_ids(session: Session, state: CIState, ci_id: int | None) -> None:
    taken = taken_external_ids(session, state.external_ids, ci_id)
    if taken:
        listed = ", ".join(f"{s}:{e}" for s, e in taken)
        raise Conflict(N_("external id already held by another CI: {listed}"), listed=listed)


def create_ci(
    session: Session,
    principal: Principal,
    changes: Mapping[str, Any],
    engine: StatusEngine | None = None,
) -> ConfigurationItem:
    """A new CI (name and ci_type required; a provider's user creates its own provider's)."""
    principal.require("cmdb.manage")
    state = desired_state(Lookup(session), principal, None, changes)
    check_can_edit(principal, state.provider_id)
    _check_external_ids(session, state, None)
    ci = ConfigurationItem(created_at=utcnow())
    write_state(session, ci, None, state)
    record(session, principal, "created", diff(None, state), ci_id=ci.id)
    finish(session, engine)
    return ci


def update_ci(
    session: Session,
    principal: Principal,
    ci_id: int,
    changes: Mapping[str, Any],
    visible: Visible,
    engine: StatusEngine | None = None,
) -> ConfigurationItem:
    """Change the given fields; no history row and no revision bump when nothing changed."""
    ci = get_visible(session, principal, ci_id, visible)
    check_can_edit(principal, ci.provider_id)
    if ci.retired_at is not None:
        raise Invalid(N_("CI {ci_id} is retired: restore it first"), ci_id=ci_id)
    old = snapshot(session, ci)
    new = desired_state(Lookup(session), principal, old, changes)
    check_can_edit(principal, new.provider_id)
    changed = diff(old, new)
    if not changed:
        return ci
    _check_external_ids(session, new, ci.id)
    write_state(session, ci, old, new)
    record(session, principal, "updated", changed, ci_id=ci.id)
    finish(session, engine)
    return ci


def retire_relations_of(session: Session, principal: Principal, ci_ids: set[int]) -> list[int]:
    """Retire every active relation touching these CIs (history rows; no bump)."""
    if not ci_ids:
        return []
    now, retired = utcnow(), []
    rows = session.scalars(
        select(Relation).where(
            Relation.retired_at.is_(None),
            or_(Relation.from_ci_id.in_(ci_ids), Relation.to_ci_id.in_(ci_ids)),
        )
    )
    for rel in rows:
        rel.retired_at = now
        record(
            session,
            principal,
            "retired",
            {"retired_at": [None, now.isoformat()]},
            ci_id=rel.from_ci_id,
            relation_id=rel.id,
        )
        retired.append(rel.id)
    return retired


def mark_retired(session: Session, principal: Principal, ci: ConfigurationItem) -> None:
    """Retire a CI and its relations (no bump: the caller finishes the transaction)."""
    now = utcnow()
    retire_relations_of(session, principal, {ci.id})
    ci.retired_at, ci.updated_at = now, now
    record(session, principal, "retired", {"retired_at": [None, now.isoformat()]}, ci_id=ci.id)


def retire_ci(
    session: Session,
    principal: Principal,
    ci_id: int,
    visible: Visible,
    engine: StatusEngine | None = None,
) -> ConfigurationItem:
    """Retire (never delete) a CI and its relations; retiring a retired CI changes nothing."""
    ci = get_visible(session, principal, ci_id, visible)
    check_can_edit(principal, ci.provider_id)
    if ci.retired_at is None:
        mark_retired(session, principal, ci)
        finish(session, engine)
    return ci


def restore_ci(
    session: Session,
    principal: Principal,
    ci_id: int,
    visible: Visible,
    engine: StatusEngine | None = None,
) -> ConfigurationItem:
    """Bring a retired CI back (its relations stay retired until related again)."""
    ci = get_visible(session, principal, ci_id, visible)
    check_can_edit(principal, ci.provider_id)
    if ci.retired_at is not None:
        was = ci.retired_at.isoformat()
        ci.retired_at, ci.updated_at = None, utcnow()
        record(session, principal, "restored", {"retired_at": [was, None]}, ci_id=ci.id)
        finish(session, engine)
    return ci


# --- reading ------------------------------------------------------------------------------


@dataclass
class CIFilter:
    ci_type: str | None = None
    provider: str | None = None
    q: str | None = None
    include_retired: bool = False


def list_cis(
    session: Session,
    principal: Principal,
    visible: Visible,
    filters: CIFilter,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[ConfigurationItem]]:
    """A page of the visible CIs matching the filters, by id."""
    principal.require("cmdb.read")
    query = select(ConfigurationItem.id, ConfigurationItem.provider_id)
    if filters.ci_type:
        query = query.where(ConfigurationItem.ci_type == filters.ci_type)
    if filters.provider:
        provider_id = Lookup(session).providers.get(filters.provider)
        if provider_id is None:
            return 0, []
        query = query.where(ConfigurationItem.provider_id == provider_id)
    if not filters.include_retired:
        query = query.where(ConfigurationItem.retired_at.is_(None))
    if filters.q:
        text = filters.q.strip()
        pattern = f"%{text.lower()}%"
        query = query.where(
            or_(
                func.lower(ConfigurationItem.name).like(pattern),
                ConfigurationItem.id.in_(select(CIName.ci_id).where(CIName.name.like(pattern))),
                ConfigurationItem.id.in_(
                    select(ExternalId.ci_id).where(ExternalId.external_id == text)
                ),
            )
        )
    rows = session.execute(query.order_by(ConfigurationItem.id)).all()
    own = principal.provider_id
    ids = [
        ci_id
        for ci_id, provider_id in rows
        if visible is None or ci_id in visible or (own is not None and provider_id == own)
    ]
    page = ids[offset : offset + limit]
    found = {
        c.id: c
        for c in session.scalars(select(ConfigurationItem).where(ConfigurationItem.id.in_(page)))
    }
    return len(ids), [found[i] for i in page]


def states(session: Session, ci_ids: list[int]) -> dict[int, str]:
    """The computed state of each CI (no row: operational)."""
    if not ci_ids:
        return {}
    rows = session.execute(select(CIStatus.ci_id, CIStatus.state).where(CIStatus.ci_id.in_(ci_ids)))
    found = {ci_id: state for ci_id, state in rows}
    return {i: found.get(i, "operational") for i in ci_ids}


@dataclass
class CIDetail:
    ci: ConfigurationItem
    state: CIState
    status: str
    relations: list[Relation] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # related CI id → name
    history: list[ChangeView] = field(default_factory=list)


def relations_of(
    session: Session, principal: Principal, ci_id: int, visible: Visible, active: bool = True
) -> list[Relation]:
    """The relations of a CI whose other end the principal may see."""
    query = select(Relation).where(or_(Relation.from_ci_id == ci_id, Relation.to_ci_id == ci_id))
    if active:
        query = query.where(Relation.retired_at.is_(None))
    rels = list(session.scalars(query.order_by(Relation.id)))
    if visible is None:
        return rels
    others = {r.to_ci_id if r.from_ci_id == ci_id else r.from_ci_id for r in rels}
    allowed = {
        c.id
        for c in session.scalars(select(ConfigurationItem).where(ConfigurationItem.id.in_(others)))
        if may_see(principal, c, visible)
    }
    return [
        r for r in rels if r.from_ci_id in allowed | {ci_id} and r.to_ci_id in allowed | {ci_id}
    ]


def get_ci(
    session: Session, principal: Principal, ci_id: int, visible: Visible, history: int = 50
) -> CIDetail:
    """A CI with its state, relations (other end visible), tenants, names, external ids and
    its latest history rows."""
    ci = get_visible(session, principal, ci_id, visible)
    rels = relations_of(session, principal, ci.id, visible)
    ends = {r.from_ci_id for r in rels} | {r.to_ci_id for r in rels}
    names = {
        ci_id: name
        for ci_id, name in session.execute(
            select(ConfigurationItem.id, ConfigurationItem.name).where(
                ConfigurationItem.id.in_(ends)
            )
        )
    }
    return CIDetail(
        ci=ci,
        state=snapshot(session, ci),
        status=states(session, [ci.id])[ci.id],
        relations=rels,
        names=names,
        history=ci_history(session, principal, ci.id, visible, limit=history)[1],
    )


@dataclass(frozen=True)
class ChangeView:
    """A history row as this reader may see it."""

    id: int
    ci_id: int | None
    relation_id: int | None
    action: str
    actor: str
    at: datetime
    diff: dict[str, Any]


def ci_history(
    session: Session,
    principal: Principal,
    ci_id: int,
    visible: Visible,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[ChangeView]]:
    """Changes of the CI and of the relations touching it, newest first. A scoped principal
    sees no relation whose other end it may not see, and no tenant it may not see."""
    get_visible(session, principal, ci_id, visible)
    if visible is None:
        touching = select(Relation.id).where(
            or_(Relation.from_ci_id == ci_id, Relation.to_ci_id == ci_id)
        )
        rel_filter = CIChange.relation_id.in_(touching)
    else:
        rels = relations_of(session, principal, ci_id, visible, active=False)
        rel_filter = CIChange.relation_id.in_([r.id for r in rels])
    query = select(CIChange).where(
        or_((CIChange.ci_id == ci_id) & CIChange.relation_id.is_(None), rel_filter)
    )
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(
        query.order_by(CIChange.at.desc(), CIChange.id.desc()).limit(limit).offset(offset)
    )
    return total, [
        ChangeView(r.id, r.ci_id, r.relation_id, r.action, r.actor, r.at, redact(principal, r.diff))
        for r in rows
    ]


def redact(principal: Principal, changes: dict[str, Any]) -> dict[str, Any]:
    """Drop the tenants the principal may not see from a diff's tenant lists."""
    if principal.is_global or "tenant_ids" not in changes:
        return changes
    out = dict(changes)
    out["tenant_ids"] = [
        None if side is None else [t for t in side if principal.sees_tenant(t)]
        for side in changes["tenant_ids"]
    ]
    return out
