"""Helpers of the status notification and notice tests: CIs written straight to the database,
a real local SMTP server (aiosmtpd, from `tests.smtp_server`) and a real local HTTP
receiver for webhooks."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

from soc.cmdb.engine import bump_revision
from soc.cmdb.models import CITenant, ConfigurationItem, Relation, StatusChange
from soc.cmdb.notify import enqueue
from soc.core.db import Database
from tenants.models import Provider, Tenant, User
from tests.smtp_server import Inbox, SmtpServer, free_port  # noqa: F401 (the status tests')


def tenant_id(db: Database, slug: str) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(Tenant.id).where(Tenant.slug == slug)) or 0)


def user_id(db: Database, username: str) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(User.id).where(User.username == username)) or 0)


def add_ci(
    db: Database,
    name: str,
    ci_type: str = "application",
    tenants: tuple[str, ...] = (),
    provider: str | None = None,
    depends_on: tuple[int, ...] = (),
) -> int:
    """A CI (with the tenants it serves and what it depends on), committed; every process's
    status engine reloads (the topology revision moves)."""
    with db.session() as session:
        provider_id = (
            session.scalar(select(Provider.id).where(Provider.slug == provider))
            if provider
            else None
        )
        ci = ConfigurationItem(name=name, ci_type=ci_type, provider_id=provider_id)
        session.add(ci)
        session.flush()
        for slug in tenants:
            tid = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            session.add(CITenant(ci_id=ci.id, tenant_id=tid))
        for target in depends_on:
            session.add(Relation(from_ci_id=ci.id, to_ci_id=target, rel_type="depends_on"))
        bump_revision(session)
        return ci.id


def status_change(db: Database, ci_id: int, state: str, previous: str, at: datetime) -> int:
    """A status change as the engine records it, queued for the subscribers."""
    with db.session() as session:
        row = StatusChange(ci_id=ci_id, state=state, previous=previous, at=at)
        session.add(row)
        session.flush()
        enqueue(session, [row])
        return row.id


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 answering `status` to every POST."""

    port: int
    status: int = 200
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.received.append(Received(dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
