"""The action registers: mitigations (of a risk), corrective actions and improvement
proposals (of a non-conformity), complaints and audit findings, in one table with a
`register` kind. Create, change, follow up with progress notes, list.

Every read goes through `risk.visibility` (another tenant's item is a NotFound). Who may
update an item: the integrator and the authority (unscoped, with actions.write), the users
of the owning provider, the owner in person, and a tenant's risk owner for the specific items
of that tenant. Each answer carries the deadline verdict of `risk.deadlines` as of today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from risk.action_schemas import ActionCreate
from risk.deadlines import Item, ItemScope, Verdict, judge
from risk.models import Risk, RiskAction, RiskActionNote, RiskTenant
from risk.risk_names import nameable_user
from risk.visibility import action_filter, visible_action, visible_nc, visible_risk
from risk.workdays import WorkCalendar
from risk.writing import check_writer
from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import Conflict, Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant, User

PROPOSALS = frozenset({"improvement_proposal", "complaint"})
NC_REGISTERS = frozenset({"corrective_action", "improvement_proposal"})
CLOSED = frozenset({"handled", "cancelled"})
# Status moves of a progress note; handled and cancelled are final.
MOVES: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "handled", "cancelled"}),
    "in_progress": frozenset({"handled", "cancelled"}),
    "handled": frozenset(),
    "cancelled": frozenset(),
}
EDITABLE = (
    "title",
    "description",
    "owner_name",
    "outside_ecosystem",
    "origin",
    "proposed_mitigation",
    "service",
    "ci_id",
    "window_start",
    "window_end",
)


@dataclass(frozen=True)
class ActionView:
    """An action with its names resolved and its deadline verdict as of `today`."""

    action: RiskAction
    tenant: str | None
    owner_provider: str | None
    owner_user: str | None
    verdict: Verdict


@dataclass(frozen=True)
class ActionFilter:
    register: str | None = None
    status: str | None = None
    tenant: str | None = None
    owner_provider: str | None = None
    owner_user: str | None = None
    risk_id: int | None = None
    nc_id: int | None = None
    due_before: date | None = None


def calendar(settings: Settings) -> WorkCalendar:
    return WorkCalendar.with_closing_days(settings.risk_extra_closing_days)


def verdict(settings: Settings, action: RiskAction, today: date) -> Verdict:
    item = Item(
        id=str(action.id),
        scope=cast(ItemScope, action.scope),
        due=action.due,
        handled=action.handled_on,
        warned=action.warned_on,
        outside_ecosystem=action.outside_ecosystem,
    )
    return judge(calendar(settings), item, today, settings.risk_early_warning_working_days)


def views(
    session: Session, settings: Settings, actions: list[RiskAction], today: date
) -> list[ActionView]:
    tenant_ids = {a.tenant_id for a in actions if a.tenant_id is not None}
    provider_ids = {a.owner_provider_id for a in actions if a.owner_provider_id is not None}
    user_ids = {a.owner_user_id for a in actions if a.owner_user_id is not None}
    tenants = _names(session, Tenant, Tenant.slug, tenant_ids)
    providers = _names(session, Provider, Provider.slug, provider_ids)
    users = _names(session, User, User.username, user_ids)
    return [
        ActionView(
            action=a,
            tenant=tenants.get(a.tenant_id) if a.tenant_id else None,
            owner_provider=providers.get(a.owner_provider_id) if a.owner_provider_id else None,
            owner_user=users.get(a.owner_user_id) if a.owner_user_id else None,
            verdict=verdict(settings, a, today),
        )
        for a in actions
    ]


def view(session: Session, settings: Settings, action: RiskAction, today: date) -> ActionView:
    return views(session, settings, [action], today)[0]


def _names(session: Session, model: Any, column: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(model.id, column).where(model.id.in_(sorted(ids))))
    return {row[0]: row[1] for row in rows}


def tenant_by_slug(session: Session, principal: Principal, slug: str) -> Tenant:
    """The named tenant if the principal sees it (NotFound otherwise, known or not)."""
    tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).first()
    if tenant is None or not principal.sees_tenant(tenant.id):
        raise NotFound(N_("tenant '{ref}' not found"), ref=slug)
    return tenant


def _provider(session: Session, slug: str) -> Provider:
    provider = session.scalars(select(Provider).where(Provider.slug == slug)).first()
    if provider is None:
        raise NotFound(N_("provider '{ref}' not found"), ref=slug)
    return provider


def _user(session: Session, principal: Principal, username: str) -> User:
    """An owner the principal may name (`risk.risk_names.nameable_user`: the same rule as
    for a risk's owner)."""
    return nameable_user(session, principal, username)


def can_update(principal: Principal, action: RiskAction) -> bool:
    if principal.is_global:
        return principal.can("actions.write")
    if principal.provider_id is not None and action.owner_provider_id == principal.provider_id:
        return principal.can("actions.write")
    if principal.user_id is not None and action.owner_user_id == principal.user_id:
        return principal.can("actions.read")
    return (
        principal.role == "risk_owner"
        and action.scope == "specific"
        and principal.sees_tenant(action.tenant_id)
    )


def may_update(session: Session, principal: Principal, action_id: int) -> RiskAction:
    """The action if the principal may update it: NotFound when it cannot see it, Forbidden
    when it sees it without a say in it."""
    principal.require("actions.read")
    action = visible_action(session, principal, action_id)
    if not can_update(principal, action):
        raise Forbidden(
            N_("'{actor}' may not update action {action_id}"),
            actor=principal.actor,
            action_id=action_id,
        )
    return action


def _anchor(session: Session, principal: Principal, data: ActionCreate) -> int | None:
    """The item's tenant (None for a common item), after checking what it hangs on: a
    mitigation's risk, a corrective action's or proposal's non-conformity."""
    risk: Risk | None = None
    if data.register_ == "mitigation":
        if data.risk_id is None:
            raise Invalid(N_("a mitigation names its risk (risk_id)"))
        risk = visible_risk(session, principal, data.risk_id)
        check_writer(session, principal, risk)  # a mitigation changes how the risk is treated
    elif data.risk_id is not None:
        raise Invalid(N_("only a mitigation names a risk"))
    if data.nc_id is not None and data.register_ not in NC_REGISTERS:
        raise Invalid(N_("only corrective actions and improvement proposals name an NC"))
    tenant_id: int | None = None
    if data.scope == "specific":
        if data.tenant is not None:
            tenant_id = tenant_by_slug(session, principal, data.tenant).id
        elif principal.tenant_id is not None:
            tenant_id = principal.tenant_id
        else:
            raise Invalid(N_("a specific item names its tenant"))
    elif data.tenant is not None:
        raise Invalid(N_("a common item names no tenant"))
    if risk is not None and risk.scope == "specific":
        concerned = set(
            session.scalars(select(RiskTenant.tenant_id).where(RiskTenant.risk_id == risk.id))
        )
        if tenant_id not in concerned:
            raise Invalid(N_("a specific risk's mitigation is for one of the risk's tenants"))
    if data.nc_id is not None:
        nc = visible_nc(session, principal, data.nc_id)
        if nc.scope == "specific" and nc.tenant_id != tenant_id:
            raise Invalid(N_("the item's tenant is not the non-conformity's"))
    return tenant_id


def may_exclude(principal: Principal) -> bool:
    """Who may say an item is outside the ecosystem (left out of the on-time share): the
    unscoped integrator (admin, analysts) and the authority, never the measured party."""
    return principal.role == "authority" or (
        principal.is_global and principal.role in {"admin", "soc_analyst"}
    )


def _check_exclusion(principal: Principal) -> None:
    if not may_exclude(principal):
        raise Forbidden(N_("only the integrator or the authority sets outside_ecosystem"))


def create_action(
    session: Session, principal: Principal, settings: Settings, data: ActionCreate, today: date
) -> RiskAction:
    principal.require("actions.propose" if data.register_ in PROPOSALS else "actions.write")
    if data.outside_ecosystem:
        _check_exclusion(principal)
    tenant_id = _anchor(session, principal, data)
    _check_window(data.window_start, data.window_end)
    provider_id = _provider(session, data.owner_provider).id if data.owner_provider else None
    owner = _user(session, principal, data.owner_user) if data.owner_user else None
    if provider_id is None and owner is None and principal.provider_id is not None:
        provider_id = principal.provider_id
    now = utcnow()
    action = RiskAction(
        register=data.register_,
        title=data.title,
        description=data.description,
        risk_id=data.risk_id,
        nc_id=data.nc_id,
        scope=data.scope,
        tenant_id=tenant_id,
        owner_provider_id=provider_id,
        owner_user_id=owner.id if owner else None,
        owner_name=data.owner_name or (owner.username if owner else ""),
        origin=data.origin,
        proposed_mitigation=data.proposed_mitigation,
        due=data.due,
        status="open",
        progress_pct=0,
        warning_late=False,
        outside_ecosystem=data.outside_ecosystem,
        decision="pending" if data.register_ == "improvement_proposal" else None,
        decision_note="",
        service=data.service,
        ci_id=data.ci_id,
        window_start=data.window_start,
        window_end=data.window_end,
        external_ref=data.external_ref,
        created_by=principal.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(action)
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="risk.action.created",
        object_type="risk_action",
        object_id=action.id,
        tenant_id=tenant_id,
        detail={
            "register": action.register,
            "scope": action.scope,
            "due": action.due.isoformat(),
            "title": action.title,
        },
    )
    return action


def _check_window(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise Invalid(N_("window_end is before window_start"))


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def update_action(
    session: Session, principal: Principal, action_id: int, changes: dict[str, Any]
) -> RiskAction:
    """Change some fields (not the due date: that needs an approved deadline change)."""
    if "due" in changes:
        raise Invalid(N_("the due date changes through a deadline change (approved)"))
    action = may_update(session, principal, action_id)
    if "outside_ecosystem" in changes and changes["outside_ecosystem"] != action.outside_ecosystem:
        _check_exclusion(principal)
    diff: dict[str, dict[str, object]] = {}
    if "owner_provider" in changes:
        slug = changes.pop("owner_provider")
        new_id = _provider(session, slug).id if slug else None
        if new_id != action.owner_provider_id:
            diff["owner_provider"] = {"old": action.owner_provider_id, "new": new_id}
            action.owner_provider_id = new_id
    if "owner_user" in changes:
        username = changes.pop("owner_user")
        new_user = _user(session, principal, username).id if username else None
        if new_user != action.owner_user_id:
            diff["owner_user"] = {"old": action.owner_user_id, "new": new_user}
            action.owner_user_id = new_user
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(N_("not changeable here: {unknown}"), unknown=", ".join(sorted(unknown)))
    for key, value in changes.items():
        if value is None and key in ("title", "description", "owner_name", "outside_ecosystem"):
            raise Invalid(N_("{key} may not be null"), key=key)
        if value is None and key in ("origin", "proposed_mitigation", "service"):
            value = ""
        old = getattr(action, key)
        if old != value:
            diff[key] = {"old": _plain(old), "new": _plain(value)}
            setattr(action, key, value)
    _check_window(action.window_start, action.window_end)
    if diff:
        action.updated_at = utcnow()
        audit.record(
            session,
            actor=principal.actor,
            action="risk.action.updated",
            object_type="risk_action",
            object_id=action.id,
            tenant_id=action.tenant_id,
            detail={"changes": diff},
        )
    return action


def add_note(
    session: Session,
    principal: Principal,
    action_id: int,
    text: str,
    progress_pct: int | None = None,
    status: str | None = None,
    *,
    today: date,
    handled_on: date | None = None,
) -> RiskActionNote:
    """A progress note, moving the progress and the status along: open -> in progress ->
    handled (on `handled_on`, default today, never in the future nor before the item was
    created) or cancelled."""
    action = may_update(session, principal, action_id)
    if handled_on is not None and status != "handled":
        raise Invalid(N_("handled_on goes with status handled"))
    if status is not None and status != action.status:
        if status not in MOVES[action.status]:
            raise Conflict(
                N_("an action {current} cannot become {status}"),
                current=action.status,
                status=status,
            )
        if status == "handled":
            if action.register == "improvement_proposal" and action.decision != "approved":
                raise Conflict(N_("a proposal is executed once the customer (or authority) agreed"))
            day = handled_on or today
            if day > today:
                raise Invalid(N_("handled_on is in the future"))
            if day < action.created_at.date():
                raise Invalid(N_("handled_on is before the item was created"))
            action.handled_on = day
            if progress_pct is None:
                progress_pct = 100
        action.status = status
    elif status is None and action.status in CLOSED and progress_pct is not None:
        raise Conflict(N_("the action is {status}: its progress is final"), status=action.status)
    if progress_pct is not None:
        action.progress_pct = progress_pct
        if status is None and action.status == "open" and progress_pct > 0:
            action.status = "in_progress"  # progress reported: work has started
    now = utcnow()
    action.updated_at = now
    row = RiskActionNote(
        action_id=action.id,
        at=now,
        actor=principal.actor,
        text=text,
        progress_pct=progress_pct,
        status=status,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="risk.action.note",
        object_type="risk_action",
        object_id=action.id,
        tenant_id=action.tenant_id,
        detail={
            "note_id": row.id,
            "status": action.status,
            "progress_pct": action.progress_pct,
            "handled_on": _plain(action.handled_on),
        },
    )
    return row


def list_notes(session: Session, principal: Principal, action_id: int) -> list[RiskActionNote]:
    principal.require("actions.read")
    action = visible_action(session, principal, action_id)
    query = select(RiskActionNote).where(RiskActionNote.action_id == action.id)
    return list(session.scalars(query.order_by(RiskActionNote.id)))


def get_action(session: Session, principal: Principal, action_id: int) -> RiskAction:
    principal.require("actions.read")
    return visible_action(session, principal, action_id)


def list_actions(
    session: Session,
    principal: Principal,
    filters: ActionFilter,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[RiskAction]]:
    principal.require("actions.read")
    query = select(RiskAction).where(action_filter(principal))
    if filters.register is not None:
        query = query.where(RiskAction.register == filters.register)
    if filters.status is not None:
        query = query.where(RiskAction.status == filters.status)
    if filters.tenant is not None:
        query = query.where(
            RiskAction.tenant_id == tenant_by_slug(session, principal, filters.tenant).id
        )
    if filters.owner_provider is not None:
        provider = session.scalars(
            select(Provider).where(Provider.slug == filters.owner_provider)
        ).first()
        query = query.where(RiskAction.owner_provider_id == (provider.id if provider else -1))
    if filters.owner_user is not None:
        user = session.scalars(select(User).where(User.username == filters.owner_user)).first()
        query = query.where(RiskAction.owner_user_id == (user.id if user else -1))
    if filters.risk_id is not None:
        query = query.where(RiskAction.risk_id == filters.risk_id)
    if filters.nc_id is not None:
        query = query.where(RiskAction.nc_id == filters.nc_id)
    if filters.due_before is not None:
        query = query.where(RiskAction.due < filters.due_before)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(RiskAction.due, RiskAction.id).limit(limit).offset(offset)
    )
    return total, list(rows)
