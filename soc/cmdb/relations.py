"""Relations between CIs: "`from` depends on / runs on / is hosted in / is a member of /
connects to `to`". Add (or bring back a retired one), retire, list.

A relation to an unknown, foreign or retired CI is refused with a message naming it; one
between CIs of different providers is the integrator's to write (A6: `cmdb.relate_cross`,
unscoped). A `depends_on` (or `runs_on`, `hosted_in`) loop is accepted, since real CMDBs hold
them and the correlation solves loops as a fixpoint, but it is returned so the caller shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from soc.cmdb.cistore import Diff, check_can_relate, chunks, finish, record
from soc.cmdb.engine import StatusEngine
from soc.cmdb.inventory import Visible, get_visible, may_see
from soc.cmdb.models import RELATION_TYPES, ConfigurationItem, Relation
from soc.cmdb.rules import PROPAGATING
from soc.core.db import utcnow
from soc.core.errors import Conflict, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal

MAX_CYCLE_SEARCH = 100_000  # CIs visited looking for a loop through a new relation


@dataclass
class RelationResult:
    relation: Relation
    restored: bool = False
    cycle: list[int] = field(default_factory=list)  # from … from, when the relation closes one


def _end(
    session: Session, principal: Principal, ci_id: int, visible: Visible, side: str
) -> ConfigurationItem:
    try:
        ci = get_visible(session, principal, ci_id, visible)
    except NotFound:
        raise NotFound(
            N_("relation {side}: CI {ci_id} not found"), side=side, ci_id=ci_id
        ) from None
    if ci.retired_at is not None:
        raise Invalid(
            N_("relation {side}: CI {ci_id} ('{name}') is retired"),
            side=side,
            ci_id=ci_id,
            name=ci.name,
        )
    return ci


def add_relation(
    session: Session,
    principal: Principal,
    from_ci_id: int,
    to_ci_id: int,
    rel_type: str,
    visible: Visible,
    engine: StatusEngine | None = None,
    source: str = "gos",
) -> RelationResult:
    """Relate two active CIs; a retired identical relation comes back (same id)."""
    principal.require("cmdb.manage")
    if rel_type not in RELATION_TYPES:
        raise Invalid(
            N_("unknown relation type {rel_type!r}: one of {relation_types}"),
            rel_type=rel_type,
            relation_types=", ".join(RELATION_TYPES),
        )
    if from_ci_id == to_ci_id:
        raise Invalid(N_("CI {from_ci_id} cannot be related to itself"), from_ci_id=from_ci_id)
    source_ci = _end(session, principal, from_ci_id, visible, "from")
    target_ci = _end(session, principal, to_ci_id, visible, "to")
    check_can_relate(principal, source_ci.provider_id, target_ci.provider_id)
    rel = session.scalar(
        select(Relation).where(
            Relation.from_ci_id == from_ci_id,
            Relation.to_ci_id == to_ci_id,
            Relation.rel_type == rel_type,
        )
    )
    restored = False
    if rel is not None and rel.retired_at is None:
        raise Conflict(N_("relation {id} already says this"), id=rel.id)
    if rel is not None:
        was = rel.retired_at.isoformat() if rel.retired_at else None
        rel.retired_at, restored = None, True
        record(
            session,
            principal,
            "restored",
            {"retired_at": [was, None]},
            ci_id=from_ci_id,
            relation_id=rel.id,
        )
    else:
        rel = Relation(
            from_ci_id=from_ci_id,
            to_ci_id=to_ci_id,
            rel_type=rel_type,
            source=source,
            created_by=principal.actor,
            created_at=utcnow(),
        )
        session.add(rel)
        session.flush()
        record(
            session, principal, "created", relation_diff(rel), ci_id=from_ci_id, relation_id=rel.id
        )
    cycle = find_cycle(session, from_ci_id, to_ci_id) if rel_type in PROPAGATING else []
    finish(session, engine)
    return RelationResult(rel, restored, cycle)


def relation_diff(rel: Relation) -> Diff:
    return {
        "from_ci_id": [None, rel.from_ci_id],
        "to_ci_id": [None, rel.to_ci_id],
        "rel_type": [None, rel.rel_type],
        "source": [None, rel.source],
    }


def find_cycle(session: Session, from_ci_id: int, to_ci_id: int) -> list[int]:
    """The loop `from → to → … → from` over active propagating relations, if the new edge
    closes one: a breadth-first walk down from `to`, one query per level."""
    parent: dict[int, int] = {to_ci_id: from_ci_id}
    frontier = [to_ci_id]
    while frontier and len(parent) < MAX_CYCLE_SEARCH:
        nxt: list[int] = []
        for part in chunks(frontier):
            for src, dst in session.execute(
                select(Relation.from_ci_id, Relation.to_ci_id).where(
                    Relation.from_ci_id.in_(part),
                    Relation.retired_at.is_(None),
                    Relation.rel_type.in_(sorted(PROPAGATING)),
                )
            ):
                if dst == from_ci_id:
                    path = [from_ci_id]
                    step = src
                    while step != from_ci_id:
                        path.append(step)
                        step = parent[step]
                    path.reverse()
                    return [from_ci_id, *path]
                if dst not in parent:
                    parent[dst] = src
                    nxt.append(dst)
        frontier = nxt
    return []


def retire_relation(
    session: Session,
    principal: Principal,
    relation_id: int,
    visible: Visible,
    engine: StatusEngine | None = None,
) -> Relation:
    """Retire (never delete) a relation; retiring a retired one changes nothing."""
    principal.require("cmdb.manage")
    rel = get_relation(session, principal, relation_id, visible)
    source_ci = session.get(ConfigurationItem, rel.from_ci_id)
    target_ci = session.get(ConfigurationItem, rel.to_ci_id)
    check_can_relate(
        principal,
        source_ci.provider_id if source_ci else None,
        target_ci.provider_id if target_ci else None,
    )
    if rel.retired_at is None:
        now = utcnow()
        rel.retired_at = now
        record(
            session,
            principal,
            "retired",
            {"retired_at": [None, now.isoformat()]},
            ci_id=rel.from_ci_id,
            relation_id=rel.id,
        )
        finish(session, engine)
    return rel


def get_relation(
    session: Session, principal: Principal, relation_id: int, visible: Visible
) -> Relation:
    """A relation both of whose ends the principal may see."""
    principal.require("cmdb.read")
    rel = session.get(Relation, relation_id)
    if rel is None:
        raise NotFound(N_("relation {name} not found"), name=relation_id)
    for ci_id in (rel.from_ci_id, rel.to_ci_id):
        ci = session.get(ConfigurationItem, ci_id)
        if ci is None or not may_see(principal, ci, visible):
            raise NotFound(N_("relation {name} not found"), name=relation_id)
    return rel


@dataclass
class RelationFilter:
    ci_id: int | None = None
    rel_type: str | None = None
    include_retired: bool = False


def list_relations(
    session: Session,
    principal: Principal,
    visible: Visible,
    filters: RelationFilter,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[Relation]]:
    """A page of the relations whose two ends the principal may see, by id."""
    principal.require("cmdb.read")
    query = select(Relation.id, Relation.from_ci_id, Relation.to_ci_id)
    if filters.ci_id is not None:
        query = query.where(
            or_(Relation.from_ci_id == filters.ci_id, Relation.to_ci_id == filters.ci_id)
        )
    if filters.rel_type:
        query = query.where(Relation.rel_type == filters.rel_type)
    if not filters.include_retired:
        query = query.where(Relation.retired_at.is_(None))
    if visible is None:
        total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        page_ids = list(
            session.scalars(
                select(Relation.id)
                .where(Relation.id.in_(query.with_only_columns(Relation.id).scalar_subquery()))
                .order_by(Relation.id)
                .limit(limit)
                .offset(offset)
            )
        )
    else:
        rows = session.execute(query.order_by(Relation.id)).all()
        own = _own_ids(session, principal)
        seen = visible | own
        ids = [r for r, a, b in rows if a in seen and b in seen]
        total, page_ids = len(ids), ids[offset : offset + limit]
    found = {r.id: r for r in session.scalars(select(Relation).where(Relation.id.in_(page_ids)))}
    return total, [found[i] for i in page_ids]


def _own_ids(session: Session, principal: Principal) -> frozenset[int]:
    if principal.provider_id is None:
        return frozenset()
    return frozenset(
        session.scalars(
            select(ConfigurationItem.id).where(
                ConfigurationItem.provider_id == principal.provider_id
            )
        )
    )
