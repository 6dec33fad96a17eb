"""A case timeline entry as one sentence in the reader's language.

Each entry kind of `soc.cases.timeline` (written by soc.cases.service, grouping, merging,
evidence, warnings) has its sentence here; the detail's keys fill it. A kind this table does
not know gets a generic sentence, never the raw `key=value` detail.

Also `attack_link`: the ATT&CK page of a Sigma tag (the case and rules pages show both).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from soc.core import i18n
from soc.core.i18n import N_, gettext
from soc.web import labels

SYSTEM = N_("The system")
CLOCKS: dict[str, str] = {"response": N_("response"), "resolution": N_("resolution")}
SENTENCES: dict[str, str] = {
    "created": N_("The case was opened by rule {rule} on host {host} with priority {priority}."),
    "created_split": N_("{actor} split this case off case #{case} with {count} alert(s)."),
    "assigned": N_("{actor} assigned the case to {assignee}."),
    "assigned_provider": N_("{actor} assigned the case to {provider}."),
    "assigned_both": N_("{actor} assigned the case to {assignee} at {provider}."),
    "assigned_moved": N_("{actor} moved the case from {previous} to {provider}."),
    "bouncing": N_(
        "The case moved between providers {count} times (limit {limit}): it is marked as bouncing."
    ),
    "status": N_("{actor} changed the status from {old} to {new}."),
    "status_note": N_("{actor} changed the status from {old} to {new}: {note}"),
    "reopened": N_("{actor} reopened the case: {old} to {new}."),
    "reopened_note": N_("{actor} reopened the case: {old} to {new}: {note}"),
    "problem_opened": N_("Problem record #{problem} was opened; its root cause is due {due}."),
    "comment": N_("{actor} commented: {text}"),
    "priority": N_("{actor} changed the priority from {old} to {new}: reason {reason}"),
    "priority_level": N_("The priority changed from {old} to {new}: the alert level rose."),
    "root_cause": N_("{actor} recorded the root cause: {text}"),
    "escalated": N_("{actor} escalated the case to level {level}: reason {reason}"),
    "escalated_to": N_(
        "{actor} escalated the case to level {level} and {provider}: reason {reason}"
    ),
    "merged_into": N_("{actor} merged this case into case #{case}; {count} alert(s) moved."),
    "merged": N_("{actor} merged case(s) {cases} into this case; it now has {count} alert(s)."),
    "split": N_("{actor} split {count} alert(s) off into case #{case}."),
    "evidence": N_("{actor} added the evidence file {filename} ({size} bytes)."),
    "alerts_added": N_("{count} new alert(s) joined the case ({total} in all)."),
    "sla_warning": N_("The {clock} deadline is close: due {due}."),
    "confirmed": N_("{actor} confirmed the case: it is billable from {day}."),
    "generic": N_("{actor} changed the case ({kind})."),
}


class _Filled(dict[str, str]):
    """Format values; a placeholder without a value shows as "-" (never "None")."""

    def __missing__(self, key: str) -> str:
        return "-"


def _say(lang: str, key: str, **values: Any) -> str:
    shown = _Filled({k: "-" if v is None or v == "" else str(v) for k, v in values.items()})
    return gettext(lang, SENTENCES[key]).format_map(shown)


def _moment(lang: str, value: Any) -> str:
    try:
        return i18n.when(datetime.fromisoformat(str(value)), lang)
    except (TypeError, ValueError):
        return str(value or "-")


def sentence(
    lang: str,
    kind: str,
    actor: str,
    detail: Mapping[str, Any],
    providers: Mapping[Any, str] | None = None,
) -> str:
    """The entry as one sentence; `providers` names providers by slug and by id."""
    names = providers or {}
    who = gettext(lang, SYSTEM) if actor in ("system", "") else actor.removeprefix("user:")
    d = detail if isinstance(detail, Mapping) else {}

    def status(value: Any) -> str:
        return labels.label(labels.CASE_STATUS, value, lang) if value else "-"

    def provider(value: Any) -> str:
        return names.get(value, str(value)) if value is not None else "-"

    if kind == "created" and "split_from" in d:
        return _say(lang, "created_split", actor=who, case=d["split_from"], count=len(d["alerts"]))
    if kind == "created":
        return _say(
            lang, "created", rule=d.get("rule_id"), host=d.get("host"), priority=d.get("priority")
        )
    if kind == "assigned":
        previous = d.get("previous_provider_id")
        if d.get("provider") and previous is not None and d.get("assignee") is None:
            new_name = provider(d["provider"])
            if names.get(previous) != new_name:
                return _say(
                    lang,
                    "assigned_moved",
                    actor=who,
                    previous=provider(previous),
                    provider=new_name,
                )
        if d.get("assignee") and d.get("provider"):
            key = "assigned_both"
        elif d.get("provider"):
            key = "assigned_provider"
        else:
            key = "assigned"
        return _say(
            lang, key, actor=who, assignee=d.get("assignee"), provider=provider(d.get("provider"))
        )
    if kind == "bouncing":
        return _say(lang, "bouncing", count=d.get("reassignments"), limit=d.get("limit"))
    if kind in ("status", "reopened"):
        key = kind + ("_note" if d.get("note") else "")
        return _say(
            lang,
            key,
            actor=who,
            old=status(d.get("from")),
            new=status(d.get("to")),
            note=d.get("note"),
        )
    if kind == "problem_opened":
        return _say(
            lang,
            "problem_opened",
            problem=d.get("problem_id"),
            due=_moment(lang, d.get("root_cause_due")),
        )
    if kind in ("comment", "root_cause"):
        return _say(lang, kind, actor=who, text=d.get("text"))
    if kind == "priority":
        old, new = d.get("from"), d.get("to")
        if isinstance(old, Mapping):
            old = old.get("priority")
        if isinstance(new, Mapping):
            new = new.get("priority")
        if d.get("reason") == "level" and actor == "system":
            return _say(lang, "priority_level", old=old, new=new)
        return _say(lang, "priority", actor=who, old=old, new=new, reason=d.get("reason"))
    if kind == "escalated":
        key = "escalated_to" if d.get("provider") else "escalated"
        return _say(
            lang,
            key,
            actor=who,
            level=d.get("level"),
            reason=d.get("reason"),
            provider=provider(d.get("provider")),
        )
    if kind == "merged_into":
        return _say(lang, "merged_into", actor=who, case=d.get("target"), count=d.get("alerts"))
    if kind == "merged":
        cases = ", ".join(f"#{c}" for c in d.get("sources") or [])
        return _say(lang, "merged", actor=who, cases=cases, count=d.get("alerts"))
    if kind == "split":
        return _say(
            lang, "split", actor=who, count=len(d.get("alerts") or []), case=d.get("new_case")
        )
    if kind == "evidence":
        size = i18n.number(d.get("size") or 0, lang)
        return _say(lang, "evidence", actor=who, filename=d.get("filename"), size=size)
    if kind == "alerts_added":
        return _say(lang, "alerts_added", count=d.get("count"), total=d.get("total"))
    if kind == "sla_warning":
        clock = CLOCKS.get(str(d.get("clock")))
        named = gettext(lang, clock) if clock else str(d.get("clock"))
        return _say(lang, "sla_warning", clock=named, due=_moment(lang, d.get("due")))
    if kind == "confirmed":
        return _say(lang, "confirmed", actor=who, day=d.get("billed_on"))
    return _say(lang, "generic", actor=who, kind=kind)


ATTACK = re.compile(r"^attack\.([tgs])(\d{4})(?:\.(\d{3}))?$", re.IGNORECASE)
ATTACK_KINDS = {"t": "techniques", "g": "groups", "s": "software"}


def attack_link(tag: str) -> str | None:
    """The attack.mitre.org page of an ATT&CK technique, group or software tag; else None."""
    found = ATTACK.match(tag)
    if found is None:
        return None
    kind, number, sub = found.groups()
    path = f"{ATTACK_KINDS[kind.lower()]}/{kind.upper()}{number}"
    return f"https://attack.mitre.org/{path}/" + (f"{sub}/" if sub else "")
