"""4me requests API mapping (`POST /v1/requests`, `PATCH /v1/requests/:id`). Pure functions.

4me has impact low|medium|high|top and a boolean `urgent`; it derives the priority itself
from impact and the service level. Case impact high|medium|low maps to the same word, a P1
case to `top`; `urgent` is the case urgency being high. Status: see STATUS_OUT / STATUS_IN.
"""

from __future__ import annotations

from typing import Any

from soc.cases.itsm_servicenow import assignment_group
from soc.core.settings import Settings

SOURCE = "soc"
STATUS_OUT = {
    "new": None,
    "triage": "in_progress",
    "in_progress": "in_progress",
    "waiting_on_customer": "waiting_for_customer",
    "resolved": "completed",
    "closed": "completed",
}
STATUS_IN: dict[str, str | None] = {
    "assigned": None,
    "accepted": "in_progress",
    "in_progress": "in_progress",
    "waiting_for": "in_progress",
    "waiting_for_customer": "waiting_on_customer",
    "completed": "resolved",
}
# A completed request is not reopened from here: a reopened case opens a new request.
FINAL_STATES = frozenset({"completed"})


def impact(case: dict[str, Any]) -> str:
    return "top" if case["priority"] == "P1" else str(case["impact"])


def _team(settings: Settings, case: dict[str, Any]) -> int | None:
    group = assignment_group(settings, case.get("provider"))
    return int(group) if group and group.isdigit() else None


def create_body(
    settings: Settings, case: dict[str, Any], previous: tuple[str, str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": f"[SOC #{case['id']}] {case['title']}"[:255],
        "category": "incident",
        "impact": impact(case),
        "urgent": case["urgency"] == "high",
        "source": SOURCE,
        "sourceID": str(case["id"]),
        "note": (
            f"Security case #{case['id']} ({case['tenant']}), host {case['host'] or '-'}, "
            f"rule level {case['level']}, SOC priority {case['priority']}."
        ),
    }
    team = _team(settings, case)
    if team is not None:
        body["team_id"] = team
    if settings.fourme_requested_by_id is not None:
        body["requested_by_id"] = settings.fourme_requested_by_id
    if previous is not None:
        body["internal_note"] = (
            f"SOC case #{case['id']} was reopened; it follows request #{previous[1]}."
        )
    return body


def update_body(
    settings: Settings, kind: str, case: dict[str, Any], detail: dict[str, Any]
) -> dict[str, Any] | None:
    if kind == "comment":
        return {"internal_note": str(detail.get("text", ""))}
    if kind == "priority":
        return {"impact": impact(case), "urgent": case["urgency"] == "high"}
    if kind in ("status", "reopened"):
        status = STATUS_OUT.get(str(detail.get("to") or case["status"]))
        if status is None:
            return None
        body: dict[str, Any] = {"status": status}
        if status == "completed":
            body["completion_reason"] = "solved"
        note = detail.get("note")
        if note:
            body["note"] = str(note)
        return body
    if kind == "assigned":
        team = _team(settings, case)
        return {"team_id": team} if team is not None else None
    return None


def case_status(status: str) -> str | None:
    return STATUS_IN.get(status)
