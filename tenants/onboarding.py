"""Tenant onboarding in one step: the customer, its ingest key, its rule set, its price plan,
its SLA calendar and its portal users, in the caller's one transaction.

Every part goes through the service that owns it (tenancy, api_keys, users, billing), so each
is checked and audited as it would be on its own; one more audit entry, `tenant.onboard`, sums
the whole up. Any error raises before the caller commits: the caller's transaction rolls back
and nothing of the onboarding is kept (no tenant without its key, no key without its users).

The rule set is applied by a `RuleApplier` the caller passes in: the detection domain sits a
floor above the tenants domain (see the import layers), so the API route, the page and the CLI
hand over `detections.service.set_state` bound to their rule views.

The SLA calendar is a tenant field (`Tenant.sla_calendar`: 'business_hours', the default, or
'24x7' when 24/7 availability was agreed). The setting `case_24x7` (slug or '*' -> priorities)
still runs the listed priorities day and night on a business-hours tenant: an override kept for
configurations from before the field. Onboarding reports the clock each priority runs on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.api_keys import create_api_key
from tenants.billing import service as billing
from tenants.billing.rules import PLANS
from tenants.models import SLA_CALENDARS, ApiKey, Tenant, User
from tenants.tenancy import create_tenant
from tenants.users import create_user, new_password


@dataclass(frozen=True)
class RuleChoice:
    """Enable or disable the rules a selector picks (rule, level, status, tag, product)."""

    selector: str
    value: str
    enabled: bool


# (tenant slug, the choices) -> how many rules the choices selected in all
RuleApplier = Callable[[str, Sequence[RuleChoice]], int]


@dataclass(frozen=True)
class OnboardingRequest:
    slug: str
    name: str
    retention_days: int = 365
    key_name: str = "ingest"
    rules: Sequence[RuleChoice] = ()
    plan: str = "standard"
    ceiling: Decimal | None = None
    portal_users: Sequence[str] = ()
    sla_calendar: str = "business_hours"  # one of SLA_CALENDARS


@dataclass
class Onboarded:
    tenant: Tenant
    key: ApiKey
    secret: str  # the ingest key, shown once
    rules_selected: int
    plan: str
    plan_from: str  # the first month of service (YYYY-MM)
    ceiling: Decimal | None
    sla_calendar: dict[str, str]  # priority -> "24x7" or "office hours"
    users: list[tuple[User, str]] = field(default_factory=list)  # with their initial passwords


def sla_calendar(settings: Settings, slug: str, calendar: str = "business_hours") -> dict[str, str]:
    """The clock of each priority for this tenant: its calendar, then the settings' override."""
    if calendar == "24x7":
        return {p: "24x7" for p in sorted(settings.case_sla_minutes)}
    always = set(settings.case_24x7.get(slug, settings.case_24x7.get("*", [])))
    return {p: "24x7" if p in always else "office hours" for p in sorted(settings.case_sla_minutes)}


def _check(request: OnboardingRequest) -> None:
    if request.sla_calendar not in SLA_CALENDARS:
        raise Invalid(
            N_("sla_calendar must be one of {sla_calendars}"),
            sla_calendars=", ".join(SLA_CALENDARS),
        )
    if request.plan not in PLANS:
        raise Invalid(N_("plan must be one of {plans}"), plans=", ".join(PLANS))
    names = [u.strip() for u in request.portal_users]
    if any(not n for n in names):
        raise Invalid(N_("a portal user needs a username"))
    if len(set(names)) != len(names):
        raise Invalid(N_("the portal usernames must differ from each other"))
    if not request.name.strip():
        raise Invalid(N_("a tenant needs a name"))
    if not request.key_name.strip():
        raise Invalid(N_("the ingest key needs a name"))


def onboard(
    session: Session,
    actor: Principal,
    request: OnboardingRequest,
    settings: Settings,
    apply_rules: RuleApplier | None = None,
    today: date | None = None,
) -> Onboarded:
    """Create the tenant and everything it needs to start; raises (and the caller rolls back)
    on the first error. Admins only (`tenants.manage`, and the rights of each part)."""
    actor.require("tenants.manage")
    _check(request)
    if request.rules and apply_rules is None:
        raise Invalid(N_("rule choices were given but no rule set is at hand"))
    # A savepoint of its own: a page that answers an error with a redirect still commits
    # its transaction, and must not commit half an onboarding.
    with session.begin_nested():
        tenant = create_tenant(
            session, actor, request.slug, request.name.strip(), request.retention_days
        )
        tenant.sla_calendar = request.sla_calendar
        key, secret = create_api_key(session, actor, tenant.id, request.key_name.strip())
        selected = apply_rules(tenant.slug, request.rules) if request.rules and apply_rules else 0
        start = billing.month_of(today or tenant.created_at.date())
        if request.ceiling is not None:
            billing.set_account(session, actor, tenant.slug, ceiling=request.ceiling)
        if request.plan != "standard":
            billing.decide_plan(
                session, actor, tenant.slug, request.plan, start, note="chosen at onboarding"
            )
        users = []
        for username in request.portal_users:
            password = new_password(username, settings.password_min_length)
            created = create_user(
                session,
                actor,
                username.strip(),
                password,
                "customer",
                tenant=tenant.slug,
                totp_required_roles=tuple(settings.totp_required_roles),
            )
            users.append((created.user, password))
        calendar = sla_calendar(settings, tenant.slug, tenant.sla_calendar)
        audit.record(
            session,
            actor=actor.actor,
            action="tenant.onboard",
            object_type="tenant",
            object_id=tenant.id,
            tenant_id=tenant.id,
            detail={
                "slug": tenant.slug,
                "api_key": key.prefix,
                "rule_choices": [[c.selector, c.value, c.enabled] for c in request.rules],
                "rules_selected": selected,
                "plan": request.plan,
                "ceiling": None if request.ceiling is None else str(request.ceiling),
                "sla_calendar": tenant.sla_calendar,
                "clocks": calendar,
                "portal_users": [u.username for u, _ in users],
            },
        )
        return Onboarded(
            tenant, key, secret, selected, request.plan, start, request.ceiling, calendar, users
        )
