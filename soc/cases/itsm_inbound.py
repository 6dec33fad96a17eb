"""State changes made in ServiceNow or 4me, brought back to the case: from their webhooks
(soc.cases.itsm_api) or by polling ServiceNow for tickets updated since the newest change
seen (`sys_updated_on`)."""

from __future__ import annotations

import logging
import threading
from typing import NamedTuple

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from soc.cases import itsm_4me, itsm_delivery, itsm_remote, itsm_servicenow
from soc.cases import service as svc
from soc.cases.connector import ITSM_PRINCIPAL
from soc.cases.models import Case
from soc.core.db import Database
from soc.core.errors import NotFound
from soc.core.i18n import N_
from soc.core.settings import Settings

log = logging.getLogger(__name__)
POLL_PAGE = 200


class Applied(NamedTuple):
    case_id: int
    status: str
    changed: bool


def apply_state(
    session: Session,
    settings: Settings,
    system: str,
    sys_id: str,
    state: str,
    updated: str | None = None,
) -> Applied:
    """Record the remote ticket's new state and move the case when the state means something
    to it and the case may move there. A change older than the newest one seen is ignored; a
    change on a ticket that a newer ticket of the case replaced only updates that ticket."""
    ticket = itsm_remote.by_sys_id(session, system, sys_id)
    if ticket is None:
        raise NotFound(N_("no case has the {system} ticket {sys_id}"), system=system, sys_id=sys_id)
    case = session.get(Case, ticket.case_id)
    assert case is not None
    if updated and ticket.remote_updated and updated < ticket.remote_updated:
        return Applied(case.id, case.status, False)
    if system == "servicenow":
        final = itsm_servicenow.FINAL_STATES.get(ticket.table_name, frozenset())
        target = itsm_servicenow.case_status(ticket.table_name, state)
    else:
        final, target = itsm_4me.FINAL_STATES, itsm_4me.case_status(state)
    itsm_remote.set_state(ticket, state, final, updated)
    newest = itsm_remote.current(session, case.id, system)
    if newest is None or newest.id != ticket.id or target is None:
        return Applied(case.id, case.status, False)
    steps = _path(case.status, target)
    note = f"{system} {ticket.number}: state {state}"
    for step in steps:
        svc.change_status(session, ITSM_PRINCIPAL, case.id, step, note, settings=settings)
    return Applied(case.id, case.status, bool(steps))


def _path(status: str, target: str) -> list[str]:
    """The case statuses to pass through to reach target: one step, or two through
    in_progress (a new case put on hold remotely was taken up first); [] if none."""
    allowed = svc.TRANSITIONS.get(status, frozenset())
    if target == status:
        return []
    if target in allowed:
        return [target]
    if "in_progress" in allowed and target in svc.TRANSITIONS["in_progress"]:
        return ["in_progress", target]
    return []


def poll_servicenow(db: Database, settings: Settings) -> int:
    """Apply every ServiceNow ticket of ours updated since the newest change seen; returns
    how many changed a case."""
    if settings.itsm_kind != "servicenow" or not settings.servicenow_url:
        return 0
    system = itsm_delivery.ServiceNow(settings)
    with db.session() as session:
        mark = session.scalar(
            select(func.max(itsm_remote.RemoteTicket.remote_updated)).where(
                itsm_remote.RemoteTicket.system == "servicenow"
            )
        )
    query = f"correlation_display={itsm_servicenow.CORRELATION_DISPLAY}"
    if mark:
        query += f"^sys_updated_on>={mark}"
    params = {
        "sysparm_query": query + "^ORDERBYsys_updated_on",
        "sysparm_fields": "sys_id,number,state,sys_updated_on",
        "sysparm_limit": str(POLL_PAGE),
    }
    changed = 0
    with httpx.Client(timeout=settings.itsm_timeout_seconds) as client:
        for offset in range(0, 50 * POLL_PAGE, POLL_PAGE):  # bounded: at most 50 pages a poll
            answer = client.get(
                system.base, params={**params, "sysparm_offset": str(offset)}, **system.auth()
            )
            answer.raise_for_status()
            rows = answer.json()["result"]
            for row in rows:
                with db.session() as session:
                    if itsm_remote.by_sys_id(session, "servicenow", str(row["sys_id"])) is None:
                        continue
                    applied = apply_state(
                        session,
                        settings,
                        "servicenow",
                        str(row["sys_id"]),
                        str(row["state"]),
                        row.get("sys_updated_on"),
                    )
                    changed += applied.changed
            if len(rows) < POLL_PAGE:
                break
    return changed


def poll_until(db: Database, settings: Settings, stop: threading.Event) -> None:
    """In-process poller for the embedded mode (the Celery ITSM task polls too)."""
    while not stop.wait(settings.servicenow_poll_seconds):
        try:
            poll_servicenow(db, settings)
        except Exception:  # keep polling; a missed round is caught up by the next one
            log.exception("ServiceNow poll failed")
