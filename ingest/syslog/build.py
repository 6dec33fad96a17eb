"""Listeners, tenant map and TLS context from the settings."""

from __future__ import annotations

import ssl
from typing import Any

from ingest.gate import IngestGate
from ingest.syslog.server import Batcher, Ingest, Listener, Receiver, SyslogServer, SyslogStats
from ingest.syslog.tenancy import TenantResolver
from soc.core.db import Database
from soc.core.principal import Principal
from tenants.api_keys import principal_from_api_key
from tenants.tenancy import get_tenant

ADMIN = Principal(actor="syslog", role="admin")


def listeners_of(settings: Any) -> tuple[list[Listener], dict[tuple[str, int], str]]:
    """The listeners to open and (proto, port) -> tenant slug for the tenant ports."""
    out: list[Listener] = []
    for proto in ("udp", "tcp", "tls"):
        port = getattr(settings, f"syslog_{proto}_port")
        if port is not None:
            out.append(Listener(proto, port))
    tenants: dict[tuple[str, int], str] = {}
    for spec, slug in settings.syslog_tenant_ports.items():
        proto, _, number = spec.rpartition("/")
        for one in [proto] if proto else ["udp", "tcp"]:
            if one not in ("udp", "tcp", "tls") or not number.isdigit():
                raise ValueError(f"syslog_tenant_ports: {spec!r} is not [udp|tcp|tls/]PORT")
            tenants[(one, int(number))] = slug
            out.append(Listener(one, int(number)))
    return out, tenants


def tls_context(settings: Any) -> ssl.SSLContext | None:
    if settings.syslog_tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.syslog_tls_cert, settings.syslog_tls_key)
    return context


def build_server(
    settings: Any, db: Database, ingest: Ingest, gate: IngestGate
) -> tuple[SyslogServer, dict[tuple[str, int], str]]:
    listeners, tenant_slugs = listeners_of(settings)
    with db.read_session() as session:
        ids = {slug: get_tenant(session, ADMIN, slug).id for slug in set(tenant_slugs.values())}
    # A port is one tenant's for every protocol it is open on (ports are per protocol).
    port_tenants = {port: ids[slug] for (_, port), slug in tenant_slugs.items()}

    def lookup(key: str) -> int:
        with db.read_session() as session:
            tenant_id = principal_from_api_key(session, key).tenant_id
        assert tenant_id is not None
        return tenant_id

    stats = SyslogStats()
    batcher = Batcher(ingest, gate, stats, settings.syslog_batch_max)
    receiver = Receiver(
        TenantResolver(port_tenants, lookup), batcher, stats, settings.syslog_max_message_bytes
    )
    server = SyslogServer(
        receiver,
        settings.syslog_host,
        listeners,
        tls_context(settings),
        settings.syslog_udp_queue_max,
    )
    return server, tenant_slugs
