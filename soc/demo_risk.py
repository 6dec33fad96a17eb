"""Demo risk register: something for every role to see and do on first start. The analyst's
operational risk on the demo tenant (aligned, with advice, awaiting the authority's
acceptance), a strategic common risk steered by the authority, a new risk not yet aligned
(customers do not see it), mitigation actions of the risk owner and the provider (one due
within five working days, so the early warning is out), a non-conformity with an improvement
proposal for the customer to decide, an audit finding, and a deadline change awaiting the
customer. Loaded once, with the rest of the demo."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk import acceptance, actions, deadline_changes, nonconformities, risks
from risk.action_schemas import ActionCreate
from risk.models import Risk, RiskAction
from risk.nc_schemas import NCIn
from risk.schemas import RiskCreate
from risk.warnings import send_due_warnings
from risk.workdays import WorkCalendar
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.login import principal_for
from tenants.models import User


def _as(session: Session, username: str) -> Principal:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, f"demo user {username} is missing"
    return principal_for(session, user)


def load_demo_risk(session: Session, settings: Settings, tenant: str, provider: str) -> int:
    """Returns the number of risks created (0 when the register already has some)."""
    if session.scalar(select(Risk.id).limit(1)) is not None:
        return 0
    analyst, authority = _as(session, "analyst"), _as(session, "authority")
    prov = _as(session, "provider")
    today = date.today()
    cal = WorkCalendar.with_closing_days(settings.risk_extra_closing_days)

    def risk(**fields: object) -> Risk:
        return risks.create_risk(session, analyst, settings, RiskCreate.model_validate(fields))

    phishing = risk(
        title="Phishing of municipal staff leads to stolen mailbox credentials",
        description="Repeated credential phishing seen in security cases this quarter.",
        category="operational",
        source="soc_case",
        scope="specific",
        tenants=[tenant],
        providers=[provider],
        owner="riskowner",
        owning_provider=provider,
        likelihood=4,
        impact=4,
        residual_likelihood=2,
        residual_impact=4,
        treatment="mitigate",
        review_date=cal.after(today, 20).isoformat(),
        review_cadence_days=90,
    )
    risks.transition(session, analyst, phishing.id, "assessed")
    risks.align(
        session,
        authority,
        phishing.id,
        "Enforce phishing-resistant MFA for mailboxes and train staff; the residual risk is "
        "then acceptable.",
        today,
    )
    acceptance.request_acceptance(
        session, analyst, settings, phishing.id, "Residual score 8 after MFA rollout."
    )
    supplier = risk(
        title="Concentration on one hosting provider for every municipality",
        category="strategic",
        source="integrator",
        scope="common",
        likelihood=2,
        impact=5,
        review_date=cal.after(today, 40).isoformat(),
    )
    risks.align(
        session, authority, supplier.id, "Plan an exit strategy in the next contract.", today
    )
    risk(
        title="Backups of the permit system are not tested",
        category="operational",
        source="audit",
        scope="specific",
        tenants=[tenant],
        owning_provider=provider,
        likelihood=3,
        impact=5,
    )

    def action(who: Principal, **fields: object) -> RiskAction:
        data = ActionCreate.model_validate(fields)
        return actions.create_action(session, who, settings, data, today)

    action(
        analyst,
        register="mitigation",
        title="Roll out phishing-resistant MFA to all mailboxes",
        scope="specific",
        tenant=tenant,
        risk_id=phishing.id,
        owner_user="riskowner",
        due=cal.after(today, 3).isoformat(),
    )
    mfa_training = action(
        analyst,
        register="mitigation",
        title="Phishing awareness training",
        scope="specific",
        tenant=tenant,
        risk_id=phishing.id,
        owner_provider=provider,
        due=cal.after(today, 25).isoformat(),
    )
    nc = nonconformities.create_nc(
        session,
        analyst,
        NCIn(
            title="Patch window exceeded for internet-facing servers",
            kind="process",
            source="process_metric",
            scope="specific",
            tenant=tenant,
            provider=provider,
        ),
    )
    action(
        prov,
        register="improvement_proposal",
        title="Automate monthly patching of the web tier",
        scope="specific",
        tenant=tenant,
        nc_id=nc.id,
        service="Burgerzaken portal",
        window_start=cal.after(today, 10).isoformat(),
        window_end=cal.after(today, 15).isoformat(),
        due=cal.after(today, 30).isoformat(),
    )
    action(
        analyst,
        register="audit_finding",
        title="Firewall rule review overdue (pen test 2026-Q3)",
        scope="common",
        origin="Pen test report 2026-Q3",
        proposed_mitigation="Quarterly rule review by the network provider.",
        owner_provider=provider,
        due=cal.after(today, 12).isoformat(),
    )
    deadline_changes.request_change(
        session, prov, mfa_training.id, cal.after(today, 35), "Trainer available later."
    )
    send_due_warnings(session, settings, today)
    return 3
