"""The KRI catalogue as configuration: a YAML file shipped with defaults (kri/catalogue.yaml,
or settings.kri_catalogue_path) seeded into `kri_definitions`, then read and edited through
the API.

Seeding inserts the ids missing from the table and nothing else, so an edit made through the
API is never overwritten and a second seed is one SELECT of ids. An entry naming a provider
that does not exist yet is skipped (and logged) until a later seed finds it. Edits need
`kri.catalogue` (admin, unscoped), are validated like the file (thresholds agree with the
direction) and audited with the changed fields.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kri.models import KriDefinition
from kri.schemas import KriNameOut, KriOut, KriSpec, QualityOut, check_thresholds
from soc.core.audit import record
from soc.core.db import utcnow
from soc.core.errors import Conflict, Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).with_name("catalogue.yaml")
# Columns an edit may change (besides owner_provider, name and quality, mapped below).
PLAIN_FIELDS = (
    "definition",
    "unit",
    "direction",
    "norm",
    "green",
    "amber",
    "frequency",
    "due_working_days",
    "domain",
    "weight",
    "is_sla",
    "enabled",
)


class CatalogueError(Invalid):
    """The catalogue file is not valid; the message names the file and the entry."""


def _message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "entry"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def load_yaml(path: Path) -> list[dict[str, Any]]:
    """The entries of a catalogue file (a list, or a mapping with `kris:`), each validated
    as a `KriSpec` and returned as a plain dict; CatalogueError naming the entry otherwise."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(
            N_("{path}: cannot read the catalogue: {exc}"), path=path, exc=exc
        ) from exc
    entries = raw.get("kris") if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        raise CatalogueError(
            N_("{path}: the catalogue is a list of KRIs (or 'kris:' holding one)"), path=path
        )
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        name = entry.get("id") if isinstance(entry, dict) else None
        label = f"{path}: entry {number}" + (f" ('{name}')" if name else "")
        try:
            spec = KriSpec.model_validate(entry)
        except ValidationError as exc:
            raise CatalogueError(N_("{which}: {exc}"), which=label, exc=_message(exc)) from exc
        if spec.id in seen:
            raise CatalogueError(
                N_("{label}: the id is already used by entry {other}"),
                label=label,
                other=seen[spec.id],
            )
        seen[spec.id] = number
        out.append(spec.model_dump())
    return out


def catalogue_path(settings: Settings) -> Path:
    return settings.kri_catalogue_path or SHIPPED


def default_due_days(settings: Settings, scope: str) -> int:
    if scope == "end_to_end":
        return settings.kri_due_working_days_end_to_end
    return settings.kri_due_working_days_provider


def _row(spec: dict[str, Any], owner_id: int | None, due_days: int, actor: str) -> KriDefinition:
    return KriDefinition(
        id=spec["id"],
        name_en=spec["name"]["en"],
        name_nl=spec["name"]["nl"],
        definition=spec["definition"],
        unit=spec["unit"],
        direction=spec["direction"],
        norm=spec["norm"],
        green=spec["green"],
        amber=spec["amber"],
        scope=spec["scope"],
        source=spec["source"],
        computation=spec["computation"],
        owner_provider_id=owner_id,
        frequency=spec["frequency"],
        due_working_days=due_days,
        quality=dict(spec["quality"]),
        domain=spec["domain"],
        weight=spec["weight"],
        is_sla=spec["is_sla"],
        enabled=spec["enabled"],
        updated_at=utcnow(),
        updated_by=actor,
    )


def _provider_ids(session: Session) -> dict[str, int]:
    return {s: i for s, i in session.execute(select(Provider.slug, Provider.id))}


_parsed: dict[tuple[Path, int], list[dict[str, Any]]] = {}


def _entries(path: Path) -> list[dict[str, Any]]:
    """`load_yaml`, parsed once per file version (start-up seeds many apps in tests)."""
    try:
        key = (path, path.stat().st_mtime_ns)
    except OSError as exc:
        raise CatalogueError(
            N_("{path}: cannot read the catalogue: {exc}"), path=path, exc=exc
        ) from exc
    if key not in _parsed:
        _parsed.clear()
        _parsed[key] = load_yaml(path)
    return _parsed[key]


def seed_catalogue(session: Session, settings: Settings) -> int:
    """Insert the catalogue entries whose id is not in the table yet; returns how many.
    Idempotent; existing rows (API edits included) are left alone. Cheap when there is
    nothing to add: one SELECT of ids (the file is parsed once per version)."""
    entries = _entries(catalogue_path(settings))
    existing = set(session.scalars(select(KriDefinition.id)))
    missing = [e for e in entries if e["id"] not in existing]
    if not missing:
        return 0
    providers = _provider_ids(session)
    added = 0
    try:
        # Two processes starting together (workers, the server) may seed at once: whoever
        # inserts second finds the rows there and leaves them.
        with session.begin_nested():
            for spec in missing:
                slug = spec["owner_provider"]
                if slug is not None and slug not in providers:
                    log.warning(
                        "KRI %s names provider %s, which does not exist: not seeded",
                        spec["id"],
                        slug,
                    )
                    continue
                due = spec["due_working_days"]
                due = default_due_days(settings, spec["scope"]) if due is None else due
                session.add(_row(spec, providers.get(slug) if slug else None, due, "catalogue"))
                added += 1
            session.flush()
    except IntegrityError:
        return 0
    if added:
        record(
            session,
            actor="system",
            action="kri.catalogue.seeded",
            object_type="kri_catalogue",
            object_id=catalogue_path(settings).name,
            detail={"added": added},
        )
    return added


def describe(kri: KriDefinition, providers: dict[int, str]) -> KriOut:
    quality = kri.quality or {}
    return KriOut(
        id=kri.id,
        name=KriNameOut(en=kri.name_en, nl=kri.name_nl),
        definition=kri.definition,
        unit=kri.unit,
        direction=kri.direction,
        norm=kri.norm,
        green=kri.green,
        amber=kri.amber,
        scope=kri.scope,
        source=kri.source,
        owner_provider=providers.get(kri.owner_provider_id) if kri.owner_provider_id else None,
        frequency=kri.frequency,
        due_working_days=kri.due_working_days,
        quality=QualityOut(
            min=quality.get("min"), max=quality.get("max"), required=quality.get("required", True)
        ),
        domain=kri.domain,
        weight=kri.weight,
        is_sla=kri.is_sla,
        enabled=kri.enabled,
        computation=kri.computation,
        updated_at=kri.updated_at,
        updated_by=kri.updated_by,
    )


def provider_slugs(session: Session) -> dict[int, str]:
    return {i: s for i, s in session.execute(select(Provider.id, Provider.slug))}


def list_kris(
    session: Session,
    principal: Principal,
    source: str | None = None,
    scope: str | None = None,
    domain: str | None = None,
) -> list[KriDefinition]:
    """The catalogue (every reader sees the definitions; values are what is scoped)."""
    principal.require("kri.read")
    query = select(KriDefinition).order_by(KriDefinition.id)
    for column, value in (
        (KriDefinition.source, source),
        (KriDefinition.scope, scope),
        (KriDefinition.domain, domain),
    ):
        if value is not None:
            query = query.where(column == value)
    return list(session.scalars(query))


def get_kri(session: Session, principal: Principal, kri_id: str) -> KriDefinition:
    principal.require("kri.read")
    kri = session.get(KriDefinition, kri_id)
    if kri is None:
        raise NotFound(N_("KRI '{kri_id}' not found"), kri_id=kri_id)
    return kri


def _require_editor(principal: Principal) -> None:
    principal.require("kri.catalogue")
    if not principal.is_global:
        raise Forbidden(N_("the catalogue is shared by every tenant: only unscoped users edit it"))


def _owner_id(session: Session, slug: str | None) -> int | None:
    if slug is None:
        return None
    owner = session.scalar(select(Provider.id).where(Provider.slug == slug))
    if owner is None:
        raise Invalid(N_("provider '{provider}' does not exist"), provider=slug)
    return int(owner)


def create_kri(
    session: Session, principal: Principal, settings: Settings, spec: KriSpec
) -> KriDefinition:
    _require_editor(principal)
    if session.get(KriDefinition, spec.id) is not None:
        raise Conflict(N_("KRI '{id}' already exists"), id=spec.id)
    data = spec.model_dump()
    due = data["due_working_days"]
    due = default_due_days(settings, spec.scope) if due is None else due
    kri = _row(data, _owner_id(session, spec.owner_provider), due, principal.actor)
    session.add(kri)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="kri.catalogue.created",
        object_type="kri_definition",
        object_id=kri.id,
        detail={k: v for k, v in data.items() if k != "definition"},
    )
    return kri


def _wanted(session: Session, patch: dict[str, Any]) -> dict[str, Any]:
    """The patch as column values."""
    wanted = {k: v for k, v in patch.items() if k in PLAIN_FIELDS}
    for key in PLAIN_FIELDS:
        if key in wanted and wanted[key] is None:
            raise Invalid(N_("'{key}' cannot be null"), key=key)
    if "name" in patch:
        if patch["name"] is None:
            raise Invalid(N_("'name' cannot be null"))
        wanted["name_en"], wanted["name_nl"] = patch["name"]["en"], patch["name"]["nl"]
    if "quality" in patch:
        if patch["quality"] is None:
            raise Invalid(N_("'quality' cannot be null"))
        wanted["quality"] = dict(patch["quality"])
    if "owner_provider" in patch:
        wanted["owner_provider_id"] = _owner_id(session, patch["owner_provider"])
    return wanted


def update_kri(
    session: Session, principal: Principal, kri_id: str, patch: dict[str, Any]
) -> KriDefinition:
    """Change the given fields (a KriPatch's `changes()`); nothing changed: nothing written.
    The result must still be consistent (thresholds against the direction, weight >= 0)."""
    _require_editor(principal)
    kri = session.get(KriDefinition, kri_id)
    if kri is None:
        raise NotFound(N_("KRI '{kri_id}' not found"), kri_id=kri_id)
    wanted = _wanted(session, patch)
    diff = {k: [getattr(kri, k), v] for k, v in wanted.items() if getattr(kri, k) != v}
    if not diff:
        return kri
    merged = {k: getattr(kri, k) for k in ("direction", "green", "amber", "weight")}
    merged.update({k: v[1] for k, v in diff.items() if k in merged})
    try:
        check_thresholds(merged["direction"], merged["green"], merged["amber"])
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    if Decimal(merged["weight"]) < 0:
        raise Invalid(N_("weight is never negative"))
    for key, (_, new) in diff.items():
        setattr(kri, key, new)
    kri.updated_at = utcnow()
    kri.updated_by = principal.actor
    record(
        session,
        actor=principal.actor,
        action="kri.catalogue.updated",
        object_type="kri_definition",
        object_id=kri.id,
        detail=diff,
    )
    session.flush()
    return kri
