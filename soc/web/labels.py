"""The words for the states people read: case statuses, SLA clock states, priorities, roles.

Values stay English in the database and the API; pages show them through these tables
(`status_label`, `sla_label`, `role_label` template filters in `soc.web.shell`).
"""

from __future__ import annotations

from soc.core.i18n import N_, gettext

CASE_STATUS: dict[str, str] = {
    "new": N_("New"),
    "triage": N_("Triage"),
    "in_progress": N_("In progress"),
    "waiting_on_customer": N_("Waiting on the customer"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
}

SLA_STATE: dict[str, str] = {
    "running": N_("running"),
    "warning": N_("due soon"),
    "breached": N_("breached"),
    "paused": N_("paused"),
    "met": N_("met"),
    "missed": N_("missed"),
}

ROLE: dict[str, str] = {
    "admin": N_("Administrator"),
    "soc_analyst": N_("SOC analyst"),
    "customer": N_("Customer"),
    "risk_owner": N_("Risk owner"),
    "finance": N_("Finance"),
    "provider": N_("Provider"),
    "authority": N_("Authority"),
    "tenant_admin": N_("Tenant administrator"),
}


def label(table: dict[str, str], value: str | None, lang: str) -> str:
    """`value` in words in `lang`; an unknown value as itself."""
    if value is None:
        return ""
    message = table.get(value)
    return gettext(lang, message) if message else value
