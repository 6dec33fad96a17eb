"""Which CIs a principal sees on status pages and endpoints.

Global users (integrator, authority) see every CI. A provider sees its own CIs, everything
that depends on them (what its outage impairs) and everything they depend on (what may be the
cause of their impairment). A customer sees the CIs serving its tenants and
the components under them (shared ones included), never another tenant's applications: the
names of a shared component's other tenants are not part of what it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cmdb.models import CITenant, ConfigurationItem
from soc.cmdb.rules import Correlator
from soc.core.principal import Principal


def visible_cis(
    session: Session, principal: Principal, corr: Correlator[int]
) -> frozenset[int] | None:
    """The CI ids the principal may see, or None for all of them."""
    principal.require("cmdb.read")
    if principal.is_global:
        return None
    seen: set[int] = set()
    if principal.provider_id is not None:
        own = list(
            session.scalars(
                select(ConfigurationItem.id).where(
                    ConfigurationItem.provider_id == principal.provider_id
                )
            )
        )
        _walk(corr, own, seen, upward=True)
        _walk(corr, own, seen, upward=False)
        return frozenset(seen)
    served = session.scalars(
        select(CITenant.ci_id).where(principal.tenant_filter(CITenant.tenant_id))
    )
    _walk(corr, served, seen, upward=False)
    return frozenset(seen)


def _walk(corr: Correlator[int], start: Iterable[int], seen: set[int], *, upward: bool) -> None:
    """Up the reads (dependents) or down them (dependencies and cluster members)."""
    graph = corr.graph
    frontier = [ci for ci in start if ci in graph]
    seen.update(frontier)
    while frontier:
        nxt = []
        for node in frontier:
            neighbours = graph.predecessors(node) if upward else graph.successors(node)
            for other in neighbours:
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        frontier = nxt


def filter_ids(ids: list[int], visible: frozenset[int] | None) -> list[int]:
    return ids if visible is None else [i for i in ids if i in visible]
