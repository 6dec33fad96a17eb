"""Demo data: one tenant, one provider, a user per role, an ingest key and Windows events that
the product's own rules detect. Loading twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import typer
from sqlalchemy import select

from ingest.parse import Parsed
from soc.core.db import utcnow
from soc.core.principal import SYSTEM, TenantRef
from soc.core.settings import Settings
from soc.demo_cmdb import load_demo_cmdb
from soc.demo_kri import load_demo_kri
from soc.demo_risk import load_demo_risk
from soc.services import build_services
from tenants import scope as scope_service
from tenants import service as tenant_service
from tenants.models import Tenant, User

DEMO_TENANT = "demo"
DEMO_PROVIDER = "demo-provider"
# (username, role, scope kind, password); admin and soc_analyst also need their TOTP code.
# The passwords meet the password policy (no username in them, 12+ characters).
DEMO_USERS = (
    ("admin", "admin", None, "demo-kestrel-orbit"),
    ("analyst", "soc_analyst", None, "demo-heron-lantern"),
    ("customer", "customer", "tenant", "demo-otter-meadow"),
    ("finance", "finance", None, "demo-badger-ledger"),
    ("provider", "provider", "provider", "demo-falcon-bridge"),
    ("authority", "authority", None, "demo-lynx-charter"),
    ("riskowner", "risk_owner", "tenant", "demo-puffin-harbor"),
)


@dataclass
class DemoInfo:
    users: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    api_key: str | None = None
    events: int = 0
    cis: int = 0
    risks: int = 0
    kri_values: int = 0


def _windows_event(
    computer: str,
    event_id: int,
    channel: str,
    provider: str,
    minutes_ago: int,
    record: int,
    data: dict[str, Any],
) -> dict[str, Any]:
    """An event in the evtx_dump JSON shape, as Winlogbeat-less collectors send it."""
    when = (utcnow() - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": provider}},
                "EventID": event_id,
                "TimeCreated": {"#attributes": {"SystemTime": when}},
                "EventRecordID": record,
                "Channel": channel,
                "Computer": computer,
            },
            "EventData": data,
        }
    }


SYSMON = ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon")


def demo_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    record = 1000

    def proc(host: str, minutes: int, image: str, cmd: str, parent: str) -> None:
        nonlocal record
        record += 1
        events.append(
            _windows_event(
                host,
                1,
                *SYSMON,
                minutes,
                record,
                {
                    "Image": image,
                    "CommandLine": cmd,
                    "ParentImage": parent,
                    "OriginalFileName": image.rsplit("\\", 1)[-1],
                    "User": "DEMO\\jan",
                },
            )
        )

    for i in range(12):  # ordinary activity
        proc(
            f"ws-{i % 4 + 1:03d}.demo.local",
            300 - i * 7,
            "C:\\Windows\\System32\\notepad.exe",
            "notepad.exe C:\\Users\\jan\\notes.txt",
            "C:\\Windows\\explorer.exe",
        )
    for minutes in (42, 40, 35):  # discovery on one host: three alerts, one case
        proc(
            "ws-001.demo.local",
            minutes,
            "C:\\Windows\\System32\\whoami.exe",
            "whoami /all",
            "C:\\Windows\\System32\\cmd.exe",
        )
    proc(
        "ws-002.demo.local",
        30,
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "powershell.exe -NoP -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
        "C:\\Windows\\System32\\cmd.exe",
    )
    events.append(
        _windows_event(
            "dc-01.demo.local",
            4732,
            "Security",
            "Microsoft-Windows-Security-Auditing",
            25,
            5001,
            {
                "TargetUserName": "Administrators",
                "TargetSid": "S-1-5-32-544",
                "MemberSid": "S-1-5-21-1-2-3-1107",
                "SubjectUserName": "svc",
            },
        )
    )
    events.append(
        _windows_event(
            "dc-01.demo.local",
            1102,
            "Security",
            "Microsoft-Windows-Eventlog",
            20,
            5002,
            {"SubjectUserName": "svc", "SubjectDomainName": "DEMO"},
        )
    )
    return events


EXAMPLE_PRICES = Path(__file__).resolve().parents[1] / "docs" / "billing-prices.example.json"


def demo_prices(settings: Settings) -> Settings:
    """The demo bills with the example price table when no price table is configured, so the
    finance console, invoices and the customers' projections work out of the box."""
    if settings.billing_prices is not None or settings.billing_prices_file is not None:
        return settings
    if not EXAMPLE_PRICES.is_file():
        return settings
    return settings.model_copy(update={"billing_prices_file": EXAMPLE_PRICES})


def load_demo(settings: Settings) -> DemoInfo:
    info = DemoInfo()
    services = build_services(settings)
    try:
        with services.db.session() as session:
            tenant = session.scalar(select(Tenant).where(Tenant.slug == DEMO_TENANT))
            fresh = tenant is None
            if tenant is None:
                tenant = tenant_service.create_tenant(session, SYSTEM, DEMO_TENANT, "Demo Gemeente")
                tenant_service.create_provider(session, SYSTEM, DEMO_PROVIDER, "Demo ICT Provider")
            demo_id = tenant.id
            # Every run: a demo loaded before providers served tenants gets the relation too.
            scope_service.serve(session, SYSTEM, DEMO_PROVIDER, DEMO_TENANT)
            for username, role, scope, password in DEMO_USERS:
                user = session.scalar(select(User).where(User.username == username))
                if user is None:
                    user = tenant_service.create_user(
                        session,
                        SYSTEM,
                        username,
                        password,
                        role,
                        tenant=DEMO_TENANT if scope == "tenant" else None,
                        provider=DEMO_PROVIDER if scope == "provider" else None,
                        totp_required_roles=tuple(settings.totp_required_roles),
                    ).user
                info.users.append((username, role, password, user.totp_secret))
            if fresh:
                _, info.api_key = tenant_service.create_api_key(
                    session, SYSTEM, DEMO_TENANT, "demo"
                )
                items = [Parsed(i + 1, orjson.dumps(e), e) for i, e in enumerate(demo_events())]
                batch = services.ingestor.accept_objects(session, TenantRef(demo_id), items)
                info.events = len(batch.events)
            info.cis = load_demo_cmdb(
                session, settings, services.cmdb_engine, demo_id, DEMO_PROVIDER
            )
            info.risks = load_demo_risk(session, settings, DEMO_TENANT, DEMO_PROVIDER)
            info.kri_values = load_demo_kri(session, settings, DEMO_PROVIDER)
    finally:
        services.close()
    return info


def print_demo(info: DemoInfo, host: str, port: int) -> None:
    url = f"http://{host}:{port}"
    typer.echo(f"\nsoc is starting on {url}  (API docs: {url}/docs)")
    if info.events:
        typer.echo(f"demo tenant '{DEMO_TENANT}' loaded with {info.events} Windows events")
    if info.cis:
        typer.echo(f"demo CMDB loaded with {info.cis} CIs: status dashboard at {url}/status")
    if info.risks:
        typer.echo(f"demo risk register loaded: {url}/risk (authority queue: {url}/risk/authority)")
    if info.kri_values:
        typer.echo(f"demo KRIs loaded ({info.kri_values} values): {url}/kri, {url}/kri/authority")
    typer.echo("demo logins (username / password):")
    for username, role, password, secret in info.users:
        extra = (
            f"  + TOTP code: `.venv/bin/soc users totp-code {username}` (secret {secret})"
            if secret
            else ""
        )
        typer.echo(f"  {username:<10} {role:<12} {password}{extra}")
    if info.api_key:
        typer.echo(f"demo ingest key (shown once): {info.api_key}")
        typer.echo(
            f"  curl -H 'X-API-Key: {info.api_key}' -H 'Content-Type: application/x-ndjson'"
            f" --data-binary @events.ndjson {url}/api/v1/ingest"
        )
    typer.echo("")
