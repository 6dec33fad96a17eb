"""Notice e-mails to people: who reads a notice (users by id, by tenant and role, by
provider, or by global role), each in their own language, through the core outbox.

A domain calls `mail_users` in the transaction that records its notice, so the mail exists
exactly when the notice does; `key` is the notice's idempotency key (one mail per key and
address, whatever reruns). A user without an address, inactive, or opted out gets none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import LANGUAGES, N_, language, translate
from soc.core.mail_outbox import Mail, enqueue
from soc.core.principal import Principal
from soc.core.settings import Settings, get_settings
from tenants.models import Tenant, User

EMAIL_MAX = 320
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FOOTER = N_(
    "You receive this e-mail because of your role in the SOC. To stop these e-mails, ask"
    " an administrator to turn off e-mail notices for your account."
)
Fields = Mapping[str, object] | Callable[[str], Mapping[str, object]]


@dataclass(frozen=True)
class Template:
    """A notice's subject and body (English message ids with `{field}`s; Dutch from the
    catalogue)."""

    kind: str
    subject: str
    body: str

    def render(self, lang: str, fields: Fields) -> tuple[str, str]:
        values = fields(lang) if callable(fields) else fields
        subject = translate(lang, self.subject).format(**values)
        body = translate(lang, self.body).format(**values)
        return subject, f"{body}\n\n-- \n{translate(lang, FOOTER)}\n"


@dataclass(frozen=True)
class Readers:
    """Who should read a notice; any of the parts (their union)."""

    user_ids: tuple[int, ...] = ()
    tenant_id: int | None = None
    tenant_roles: tuple[str, ...] = ()
    provider_id: int | None = None
    global_roles: tuple[str, ...] = ()

    def condition(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.user_ids:
            parts.append(User.id.in_(sorted(set(self.user_ids))))
        if self.tenant_id is not None and self.tenant_roles:
            parts.append(and_(User.tenant_id == self.tenant_id, User.role.in_(self.tenant_roles)))
        if self.provider_id is not None:
            parts.append(User.provider_id == self.provider_id)
        if self.global_roles:
            parts.append(
                and_(
                    User.tenant_id.is_(None),
                    User.provider_id.is_(None),
                    User.role.in_(self.global_roles),
                )
            )
        return or_(*parts) if parts else false()


def _settings(session: Session) -> Settings:
    found = session.info.get("settings")
    return found if isinstance(found, Settings) else get_settings()


def readers(session: Session, who: Readers) -> list[User]:
    """The active users of `who` that take notice e-mails (an address, not opted out)."""
    return list(
        session.scalars(
            select(User)
            .where(
                who.condition(),
                User.active.is_(True),
                User.email.is_not(None),
                User.mail_opt_out.is_(False),
            )
            .order_by(User.id)
        )
    )


def user_language(session: Session, user: User, settings: Settings) -> str:
    """The user's own language, else its tenant's, else `mail_default_language`."""
    tenant = session.get(Tenant, user.tenant_id) if user.tenant_id is not None else None
    return language(user.language or (tenant and tenant.language) or settings.mail_default_language)


def mail_users(session: Session, who: Readers, template: Template, key: str, fields: Fields) -> int:
    """Queue the notice for each reader of `who`; returns how many mails were new."""
    settings = _settings(session)
    mails = []
    for user in readers(session, who):
        lang = user_language(session, user, settings)
        subject, body = template.render(lang, fields)
        mails.append(
            Mail(key, template.kind, user.email or "", lang, subject, body, user_id=user.id)
        )
    return enqueue(session, mails)


def mail_many(session: Session, items: Iterable[tuple[Readers, Template, str, Fields]]) -> int:
    return sum(mail_users(session, who, t, key, fields) for who, t, key, fields in items)


def set_mail_profile(
    session: Session,
    actor: Principal,
    username: str,
    email: str | None = None,
    lang: str | None = None,
    opt_out: bool | None = None,
) -> User:
    """Set a user's notice address (`""` removes it), language and opt-out."""
    actor.require("users.manage")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(N_("user '{username}' not found"), username=username)
    if email is not None:
        email = email.strip()
        if email and not EMAIL_RE.match(email) or len(email) > EMAIL_MAX:
            raise Invalid(N_("not an e-mail address: {email!r}"), email=email[:80])
        user.email = email or None
    if lang is not None:
        if lang not in LANGUAGES:
            raise Invalid(
                N_("unknown language '{lang}'; one of: {languages}"),
                lang=lang,
                languages=", ".join(LANGUAGES),
            )
        user.language = lang
    if opt_out is not None:
        user.mail_opt_out = opt_out
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="user.mail_profile",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
        detail={"email": user.email, "language": user.language, "opt_out": user.mail_opt_out},
    )
    return user
