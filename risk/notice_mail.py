"""Risk notices by e-mail: each notice row also goes to its party's people (the owner,
the customer's customer and risk-owner users, the authority's users, the provider's users)
in their language. The notice's own text is written in English by the register; the
subject and the introduction are translated."""

from __future__ import annotations

from sqlalchemy.orm import Session

from risk.models import RiskNotification
from soc.core.i18n import N_, translate
from tenants.mail import Readers, Template, mail_users

KINDS: dict[str, str] = {
    "early_warning": N_("early warning"),
    "review_due": N_("review due"),
    "proposal_decided": N_("proposal decided"),
    "deadline_change": N_("deadline change"),
    "risk_aligned": N_("risk aligned"),
    "alignment_needed": N_("alignment needed"),
    "acceptance_review": N_("acceptance review"),
    "acceptance_requested": N_("acceptance requested"),
}
SUBJECTS: dict[str, str] = {"risk": N_("risk"), "action": N_("action")}
RISK_NOTICE = Template(
    "risk_notice",
    N_("[Risk register] {what}: {subject} {id}"),
    N_("The risk register has a notice for you ({what}, {subject} {id}):\n\n{text}"),
)


def readers_of(row: RiskNotification) -> Readers:
    if row.party == "owner":
        return Readers(user_ids=(row.user_id,) if row.user_id is not None else ())
    if row.party == "customer":
        return Readers(tenant_id=row.tenant_id, tenant_roles=("customer", "risk_owner"))
    if row.party == "provider":
        return Readers(provider_id=row.provider_id)
    return Readers(global_roles=("authority",))


def mail_notices(session: Session, rows: list[RiskNotification]) -> int:
    """Queue the e-mails of notices just written (their ids are their idempotency keys)."""
    queued = 0
    for row in rows:

        def fields(lang: str, row: RiskNotification = row) -> dict[str, object]:
            kind = KINDS.get(row.kind)
            return {
                "what": translate(lang, kind) if kind else row.kind.replace("_", " "),
                "subject": translate(lang, SUBJECTS.get(row.subject_type, row.subject_type)),
                "id": row.subject_id,
                "text": row.text,
            }

        queued += mail_users(session, readers_of(row), RISK_NOTICE, f"risk.notice.{row.id}", fields)
    return queued
