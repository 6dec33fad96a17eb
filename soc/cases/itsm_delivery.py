"""Outbox delivery to ServiceNow's Table API or 4me's requests API.

The generic connector sends one signed JSON per change; here each change becomes a create
(`POST`) or an update (`PATCH`) of the case's current remote ticket. Neither API takes an
idempotency key, so a create that is retried (after a lost reply or a timeout) first looks
for a ticket already made for the case (ServiceNow: `correlation_id`; 4me: `sourceID`) that
is not yet recorded, and adopts it instead of making a second one. Updates set fields and
are safe to repeat, except that a work note whose reply was lost may show twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx
import orjson

from soc.cases import itsm_4me, itsm_remote, itsm_servicenow
from soc.cases.models import OutboxMessage
from soc.core.db import Database
from soc.core.settings import Settings


class DeliveryError(Exception):
    """One failed attempt; the message stays in the outbox (or goes to the dead letters)."""


@dataclass(frozen=True)
class Ticket:
    id: int
    sys_id: str
    number: str
    state: str


@dataclass(frozen=True)
class Remote:
    """The (sys_id, number, state, sys_updated_on) a create or update answered with."""

    sys_id: str
    number: str
    state: str
    updated: str | None


class ServiceNow:
    system = "servicenow"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.table = settings.servicenow_table
        self.base = f"{(settings.servicenow_url or '').rstrip('/')}/api/now/table/{self.table}"
        self.final = itsm_servicenow.FINAL_STATES[self.table]

    def auth(self) -> dict[str, Any]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.settings.servicenow_token:
            headers["Authorization"] = f"Bearer {self.settings.servicenow_token}"
            return {"headers": headers}
        user, password = self.settings.servicenow_user or "", self.settings.servicenow_password
        return {"headers": headers, "auth": (user, password or "")}

    def create_body(self, case: dict[str, Any], previous: Ticket | None) -> dict[str, Any]:
        link = (previous.sys_id, previous.number) if previous else None
        return itsm_servicenow.create_body(self.settings, case, link)

    def update_body(self, kind: str, case: dict[str, Any], detail: dict[str, Any]) -> Any:
        return itsm_servicenow.update_body(self.settings, kind, case, detail)

    def create_url(self) -> str:
        return self.base

    def update_url(self, sys_id: str) -> str:
        return f"{self.base}/{sys_id}"

    def find_url(self, case_id: int) -> tuple[str, dict[str, str]]:
        query = (
            f"correlation_id={case_id}^correlation_display={itsm_servicenow.CORRELATION_DISPLAY}"
            "^ORDERBYDESCsys_created_on"
        )
        fields = "sys_id,number,state,sys_updated_on"
        return self.base, {"sysparm_query": query, "sysparm_fields": fields, "sysparm_limit": "10"}

    @staticmethod
    def parse(data: Any) -> Remote:
        row = data["result"]
        return Remote(
            str(row["sys_id"]), str(row["number"]), str(row["state"]), row.get("sys_updated_on")
        )

    @staticmethod
    def rows(data: Any) -> list[Any]:
        return list(data["result"])


class FourMe:
    system = "4me"
    table = "requests"
    final = itsm_4me.FINAL_STATES

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base = f"{(settings.fourme_url or '').rstrip('/')}/v1/requests"

    def auth(self) -> dict[str, Any]:
        return {
            "headers": {
                "Accept": "application/json",
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.settings.fourme_token or ''}",
                "X-4me-Account": self.settings.fourme_account or "",
            }
        }

    def create_body(self, case: dict[str, Any], previous: Ticket | None) -> dict[str, Any]:
        link = (previous.sys_id, previous.number) if previous else None
        return itsm_4me.create_body(self.settings, case, link)

    def update_body(self, kind: str, case: dict[str, Any], detail: dict[str, Any]) -> Any:
        return itsm_4me.update_body(self.settings, kind, case, detail)

    def create_url(self) -> str:
        return self.base

    def update_url(self, sys_id: str) -> str:
        return f"{self.base}/{sys_id}"

    def find_url(self, case_id: int) -> tuple[str, dict[str, str]]:
        return self.base, {"source": itsm_4me.SOURCE, "sourceID": str(case_id)}

    @staticmethod
    def parse(data: Any) -> Remote:
        return Remote(str(data["id"]), str(data["id"]), str(data["status"]), data.get("updated_at"))

    @staticmethod
    def rows(data: Any) -> list[Any]:
        return [{"sys_id": r["id"], "number": r["id"], "state": r["status"]} for r in data]


System = ServiceNow | FourMe


def system_for(settings: Settings) -> System:
    return ServiceNow(settings) if settings.itsm_kind == "servicenow" else FourMe(settings)


def _call(client: httpx.Client, system: System, method: str, url: str, **kwargs: Any) -> Any:
    try:
        answer = client.request(method, url, **system.auth(), **kwargs)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= answer.status_code < 300:
        raise DeliveryError(f"HTTP {answer.status_code}: {answer.text[:200]}")
    try:
        return answer.json()
    except ValueError as exc:
        raise DeliveryError(f"HTTP {answer.status_code}: not JSON") from exc


class Known(NamedTuple):
    ticket: Ticket | None
    attempts: int
    tenant_id: int
    sys_ids: set[str]


def _read(db: Database, system: System, message_id: int, case_id: int) -> Known:
    with db.session() as session:
        row = itsm_remote.current(session, case_id, system.system)
        ticket = Ticket(row.id, row.sys_id, row.number, row.state) if row else None
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        known = itsm_remote.known_sys_ids(session, case_id, system.system)
        return Known(ticket, message.attempts, message.tenant_id, known)


def _open(
    client: httpx.Client,
    db: Database,
    system: System,
    case: dict[str, Any],
    tenant_id: int,
    previous: Ticket | None,
    retried: bool,
    known: set[str],
) -> Ticket:
    made: Remote | None = None
    if retried:  # the last attempt may have made the ticket and lost the reply
        url, params = system.find_url(int(case["id"]))
        for row in system.rows(_call(client, system, "GET", url, params=params)):
            if str(row["sys_id"]) not in known:
                made = Remote(str(row["sys_id"]), str(row["number"]), str(row["state"]), None)
                break
    if made is None:
        body = orjson.dumps(system.create_body(case, previous))
        made = system.parse(_call(client, system, "POST", system.create_url(), content=body))
    with db.session() as session:
        row = itsm_remote.record_opened(
            session,
            case_id=int(case["id"]),
            tenant_id=tenant_id,
            system=system.system,
            table_name=system.table,
            sys_id=made.sys_id,
            number=made.number,
            state=made.state,
            previous_id=previous.id if previous else None,
        )
        itsm_remote.set_state(row, made.state, system.final, made.updated)
        return Ticket(row.id, row.sys_id, row.number, row.state)


def _update(
    client: httpx.Client, db: Database, system: System, ticket: Ticket, body: dict[str, Any]
) -> None:
    data = _call(
        client, system, "PATCH", system.update_url(ticket.sys_id), content=orjson.dumps(body)
    )
    made = system.parse(data)
    with db.session() as session:
        row = session.get(itsm_remote.RemoteTicket, ticket.id)
        if row is not None:
            itsm_remote.set_state(row, made.state, system.final, made.updated)


def deliver(
    client: httpx.Client, db: Database, settings: Settings, message_id: int, payload: str
) -> str | None:
    """One attempt at one outbox message; None on success, else the reason."""
    system = system_for(settings)
    message = orjson.loads(payload)
    kind, case, detail = message["kind"], message["case"], message.get("detail") or {}
    case_id = int(case["id"])
    known = _read(db, system, message_id, case_id)
    ticket = known.ticket
    try:
        if ticket is None or (kind == "reopened" and ticket.state in system.final):
            if ticket is None and kind != "created" and case["status"] in ("resolved", "closed"):
                return None  # a case done before the connector knew it: no ticket for it now
            previous = ticket
            ticket = _open(
                client,
                db,
                system,
                case,
                known.tenant_id,
                previous,
                known.attempts > 0,
                known.sys_ids,
            )
            if kind in ("created", "reopened"):
                return None
        elif kind == "created":
            return None  # the ticket exists (a replay of the create)
        body = system.update_body(kind, case, detail)
        if body is None:
            return None
        target = body.get("state", body.get("status"))
        if target is not None and target == ticket.state and ticket.state in system.final:
            return None  # resolved then closed on a tool with one final state: already there
        _update(client, db, system, ticket, body)
    except DeliveryError as exc:
        return str(exc)
    except (KeyError, TypeError, ValueError) as exc:
        return f"unexpected answer: {type(exc).__name__}: {exc}"
    return None
