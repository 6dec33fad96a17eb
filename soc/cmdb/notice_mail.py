"""Outage notices by e-mail: each affected customer's users get the notice in their
language, naming only their own affected applications (as the banner does)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from soc.cmdb.models import OutageNotice
from soc.core.i18n import N_, translate, when
from tenants.mail import Readers, Template, mail_users

KIND_WORDS = {"outage": N_("Outage"), "planned": N_("Planned unavailability")}
OUTAGE_NOTICE = Template(
    "outage_notice",
    N_("[Status] {kind}: {title}"),
    N_("{kind} since {at}: {title}\n\nAffected applications: {applications}\n\n{body}"),
)


def mail_notice(session: Session, notice: OutageNotice, apps_of: dict[int, list[str]]) -> int:
    """Queue the notice for every affected tenant; `apps_of` names each tenant's own
    affected applications."""
    queued = 0
    for tenant_id in notice.tenants:
        names = ", ".join(sorted(apps_of.get(int(tenant_id), []))) or "-"

        def fields(lang: str, names: str = names) -> dict[str, object]:
            return {
                "kind": translate(lang, KIND_WORDS.get(notice.kind, notice.kind)),
                "title": notice.title,
                "at": when(notice.published_at, lang),
                "applications": names,
                "body": notice.body,
            }

        who = Readers(tenant_id=int(tenant_id), tenant_roles=("customer",))
        key = f"status.notice.{notice.id}"
        queued += mail_users(session, who, OUTAGE_NOTICE, key, fields)
    return queued
