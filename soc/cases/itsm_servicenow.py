"""ServiceNow Table API mapping: a case snapshot (connector.snapshot) to an `incident` or
`sn_si_incident` body, and ServiceNow's choice values back to case terms. Pure functions.

Impact and urgency are ServiceNow's 1 (high) .. 3 (low); ServiceNow computes `priority`
itself from them (its default priority data lookup), so we never send `priority`:

    impact \\ urgency   1   2   3          case matrix (settings)    P1 P2 P3
    1 (high)            1   2   3          high                       P1 P2 P3
    2 (medium)          2   3   4          medium                     P2 P3 P4
    3 (low)             3   4   5          low                        P3 P4 P4

so case P1..P4 = ServiceNow 1..4 and ServiceNow 5 (planning) = case P4.
"""

from __future__ import annotations

from typing import Any

from soc.core.settings import Settings

LEVEL_TO_SN = {"high": "1", "medium": "2", "low": "3"}
SN_TO_LEVEL = {v: k for k, v in LEVEL_TO_SN.items()}
SN_PRIORITY_TO_CASE = {"1": "P1", "2": "P2", "3": "P3", "4": "P4", "5": "P4"}
CORRELATION_DISPLAY = "soc"

# Case status -> remote state, per table. Security Incident Response has no "on hold".
STATE_OUT: dict[str, dict[str, str]] = {
    "incident": {
        "new": "1",
        "triage": "2",
        "in_progress": "2",
        "waiting_on_customer": "3",
        "resolved": "6",
        "closed": "7",
    },
    "sn_si_incident": {
        "new": "10",
        "triage": "16",
        "in_progress": "16",
        "waiting_on_customer": "16",
        "resolved": "100",
        "closed": "3",
    },
}
# Remote state -> case status (None: no change). Closed and cancelled resolve the case:
# closing it for good stays the SOC's decision.
STATE_IN: dict[str, dict[str, str | None]] = {
    "incident": {
        "1": None,
        "2": "in_progress",
        "3": "waiting_on_customer",
        "6": "resolved",
        "7": "resolved",
        "8": "resolved",
    },
    "sn_si_incident": {
        "10": None,
        "16": "in_progress",
        "18": "in_progress",
        "19": "in_progress",
        "20": "in_progress",
        "100": "resolved",
        "3": "resolved",
        "7": "resolved",
    },
}
# A ticket in one of these states cannot be reopened: a reopened case opens a new one.
FINAL_STATES = {"incident": frozenset({"7", "8"}), "sn_si_incident": frozenset({"3", "7"})}


def sn_priority(impact: str, urgency: str) -> str:
    """ServiceNow's default priority for impact and urgency (1-3 each): 1..5."""
    return str(min(5, max(1, int(impact) + int(urgency) - 1)))


def case_priority(sn_value: str) -> str:
    return SN_PRIORITY_TO_CASE.get(sn_value, "P4")


def assignment_group(settings: Settings, provider: str | None) -> str | None:
    if provider and provider in settings.itsm_assignment_groups:
        return settings.itsm_assignment_groups[provider]
    return settings.itsm_default_assignment_group


def case_status(table: str, state: str) -> str | None:
    return STATE_IN.get(table, {}).get(state)


def remote_state(table: str, status: str) -> str:
    return STATE_OUT[table][status]


def create_body(
    settings: Settings,
    case: dict[str, Any],
    previous: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """POST body for a new ticket; `previous` = (sys_id, number) of the closed ticket that a
    reopened case follows."""
    table = settings.servicenow_table
    body: dict[str, Any] = {
        "short_description": f"[SOC #{case['id']}] {case['title']}"[:160],
        "description": (
            f"Security case #{case['id']} ({case['tenant']}), host {case['host'] or '-'}, "
            f"rule level {case['level']}, SOC priority {case['priority']}."
        ),
        "impact": LEVEL_TO_SN[case["impact"]],
        "urgency": LEVEL_TO_SN[case["urgency"]],
        "correlation_id": str(case["id"]),
        "correlation_display": CORRELATION_DISPLAY,
    }
    group = assignment_group(settings, case.get("provider"))
    if group:
        body["assignment_group"] = group
    if table == "incident":
        if settings.servicenow_caller:
            body["caller_id"] = settings.servicenow_caller
        if settings.servicenow_category:
            body["category"] = settings.servicenow_category
    if case["status"] not in ("new", "resolved", "closed"):
        body["state"] = remote_state(table, case["status"])
    if previous is not None:
        body["parent"] = previous[0]
        body["work_notes"] = f"SOC case #{case['id']} was reopened; it follows {previous[1]}."
    return body


def update_body(
    settings: Settings, kind: str, case: dict[str, Any], detail: dict[str, Any]
) -> dict[str, Any] | None:
    """PATCH body for one case change, or None when ServiceNow has nothing to learn."""
    table = settings.servicenow_table
    if kind == "comment":
        return {"work_notes": str(detail.get("text", ""))}
    if kind == "priority":
        body: dict[str, Any] = {
            "impact": LEVEL_TO_SN[case["impact"]],
            "urgency": LEVEL_TO_SN[case["urgency"]],
        }
        if detail.get("reason"):
            body["work_notes"] = f"SOC priority {case['priority']}: {detail['reason']}"
        return body
    if kind in ("status", "reopened"):
        status = str(detail.get("to") or case["status"])
        body = {"state": remote_state(table, status)}
        note = detail.get("note")
        if status in ("resolved", "closed"):
            if table == "incident":
                body["close_code"] = settings.servicenow_close_code
            body["close_notes"] = str(note or f"Resolved in SOC case #{case['id']}.")
        elif note:
            body["work_notes"] = str(note)
        if status == "waiting_on_customer" and table == "incident":
            body["hold_reason"] = "1"  # awaiting caller
        return body
    if kind == "assigned":
        group = assignment_group(settings, case.get("provider"))
        return {"assignment_group": group} if group else None
    if kind in ("escalated", "root_cause", "merged_into"):
        return {"work_notes": f"SOC: {kind.replace('_', ' ')} {_short(detail)}"}
    return None


def _short(detail: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in sorted(detail.items()) if v is not None)
    return text[:1000]
