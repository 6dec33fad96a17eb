"""Find the CI an event or a request names: by id, `source:external_id`, external id, host
name or alias (case-insensitive), or exact name. Retired CIs are never found."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from soc.cmdb.models import CIName, ConfigurationItem, ExternalId


def resolve_ci(session: Session, ref: str) -> ConfigurationItem | None:
    ref = ref.strip()
    if not ref:
        return None
    for ci_id in _candidates(session, ref):
        ci = session.get(ConfigurationItem, ci_id)
        if ci is not None and ci.retired_at is None:
            return ci
    return None


def _candidates(session: Session, ref: str) -> list[int]:
    found: list[int] = []
    if ref.isdigit() and len(ref) < 10:
        found.append(int(ref))
    if ":" in ref:
        source, _, external = ref.partition(":")
        found += session.scalars(
            select(ExternalId.ci_id).where(
                ExternalId.source == source, ExternalId.external_id == external
            )
        ).all()
    found += session.scalars(select(ExternalId.ci_id).where(ExternalId.external_id == ref)).all()
    found += session.scalars(select(CIName.ci_id).where(CIName.name == ref.lower())).all()
    found += session.scalars(
        select(ConfigurationItem.id)
        .where(func.lower(ConfigurationItem.name) == ref.lower())
        .order_by(ConfigurationItem.id)
    ).all()
    return found
