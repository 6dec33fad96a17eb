"""Demo CMDB: the demo tenant's applications on shared infrastructure of two providers, a
failed hypervisor in a cluster (the portal is degraded, its root cause shown), a planned
weekend maintenance window, and one event for a CI nobody knows (the service desk's
unmatched list). Loaded once, with the rest of the demo."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cmdb import events
from soc.cmdb.engine import StatusEngine, bump_revision
from soc.cmdb.models import CIName, CITenant, ConfigurationItem, Maintenance, Relation
from soc.core.db import utcnow
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from tenants import service as tenant_service
from tenants.models import Provider

NETWORK_PROVIDER = "demo-network"

# name, type, provider ("hosting" = the demo provider, "network"), serves the demo tenant
CIS = (
    ("Burgerzaken portal", "application", "hosting", True),
    ("Belastingen", "application", "hosting", True),
    ("web-01", "vm", "hosting", True),
    ("app-01", "vm", "hosting", True),
    ("db-01", "database", "hosting", True),
    ("esx-cluster", "cluster", "hosting", False),
    ("esx-1", "server", "hosting", False),
    ("esx-2", "server", "hosting", False),
    ("esx-3", "server", "hosting", False),
    ("fw-edge", "firewall", "network", False),
    ("lb-01", "load_balancer", "network", False),
)
RELATIONS = (
    ("Burgerzaken portal", "web-01", "runs_on"),
    ("Burgerzaken portal", "db-01", "depends_on"),
    ("Burgerzaken portal", "lb-01", "depends_on"),
    ("Belastingen", "app-01", "runs_on"),
    ("Belastingen", "db-01", "depends_on"),
    ("web-01", "esx-cluster", "hosted_in"),
    ("app-01", "esx-cluster", "hosted_in"),
    ("db-01", "esx-cluster", "hosted_in"),
    ("esx-1", "esx-cluster", "member_of"),
    ("esx-2", "esx-cluster", "member_of"),
    ("esx-3", "esx-cluster", "member_of"),
    ("lb-01", "fw-edge", "depends_on"),
)


def load_demo_cmdb(
    session: Session,
    settings: Settings,
    engine: StatusEngine,
    tenant_id: int,
    hosting_provider: str,
) -> int:
    """The demo topology and its events; returns the number of CIs written (0 when there)."""
    if session.scalar(select(ConfigurationItem.id).limit(1)) is not None:
        return 0
    tenant_service.create_provider(session, SYSTEM, NETWORK_PROVIDER, "Demo Network Provider")
    providers = {
        "hosting": session.scalar(select(Provider.id).where(Provider.slug == hosting_provider)),
        "network": session.scalar(select(Provider.id).where(Provider.slug == NETWORK_PROVIDER)),
    }
    ids: dict[str, int] = {}
    for name, ci_type, provider, serves in CIS:
        ci = ConfigurationItem(
            name=name,
            ci_type=ci_type,
            provider_id=providers[provider],
            min_healthy=2 if ci_type == "cluster" else None,
            criticality="high" if ci_type == "application" else "medium",
            attributes={},
        )
        session.add(ci)
        session.flush()
        ids[name] = ci.id
        session.add(CIName(ci_id=ci.id, name=name.lower()))
        if serves:
            session.add(CITenant(ci_id=ci.id, tenant_id=tenant_id))
    for source, target, rel_type in RELATIONS:
        session.add(Relation(from_ci_id=ids[source], to_ci_id=ids[target], rel_type=rel_type))
    now = utcnow()
    saturday = (now + timedelta(days=(5 - now.weekday()) % 7 or 7)).replace(
        hour=6, minute=0, second=0, microsecond=0
    )
    session.add(
        Maintenance(
            ci_id=ids["db-01"],
            starts_at=saturday,
            ends_at=saturday + timedelta(hours=4),
            title="Database patching",
        )
    )
    bump_revision(session)
    engine.reload(session)
    events.receive(
        session,
        settings,
        engine,
        SYSTEM,
        [
            events.EventInput(
                fingerprint="esx-2-host-down",
                severity="critical",
                state="firing",
                time=now - timedelta(minutes=12),
                ci="esx-2",
                event_type="availability",
                source="demo",
                summary="esx-2 does not answer",
                provider=hosting_provider,
            ),
            events.EventInput(
                fingerprint="unknown-switch",
                severity="major",
                state="firing",
                time=now - timedelta(minutes=3),
                ci="sw-core-9",
                event_type="availability",
                source="demo",
                summary="switch port errors",
                provider=NETWORK_PROVIDER,
            ),
        ],
        now=now,
    )
    return len(ids)
