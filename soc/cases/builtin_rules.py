"""The rules the SOC raises cases with that are not Sigma rules: checks of the platform itself
rather than matches on events (a silent log source is the absence of events, which no Sigma
detection can express and no arriving event would ever trigger). They are not loaded into the
detection engine, so they cannot be listed, tuned or disabled per tenant on the rules pages;
this registry gives their cases what a Sigma rule gives its own: a title, a description, tags
and known false positives, in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from soc.cases.source_silence import RULE_ID as SILENT_SOURCE
from soc.core.i18n import N_, gettext


@dataclass(frozen=True)
class BuiltinRule:
    id: str
    title: str  # English message ids, translated by `facts`
    description: str
    level: str
    tags: tuple[str, ...]
    falsepositives: tuple[str, ...]
    references: tuple[str, ...] = ()


BUILTIN: dict[str, BuiltinRule] = {
    SILENT_SOURCE: BuiltinRule(
        id=SILENT_SOURCE,
        title=N_("Log source silent"),
        description=N_(
            "A log source declared for this tenant sent no events for longer than its own "
            "silence limit (silent_after_hours). While it is silent, attacks on the hosts it "
            "covers go unseen. Check that the hosts are up, that the log shipper runs and can "
            "reach the SOC, and that the ingest key is still valid. One case is raised per "
            "silence: the next one only after the source has sent events again."
        ),
        level="medium",
        tags=("soc.log-source", "soc.visibility", "attack.defense-evasion", "attack.t1562.006"),
        falsepositives=(
            N_("Planned maintenance or a decommissioned host whose source was not disabled"),
            N_("A source that sends only now and then, with a silence limit set too short"),
            N_("A host renamed so that it no longer matches the declared host pattern"),
        ),
    ),
}


def facts(rule_id: str, lang: str) -> dict[str, Any] | None:
    """What the case page shows of a built-in rule, translated; None for any other rule."""
    rule = BUILTIN.get(rule_id)
    if rule is None:
        return None
    return {
        "title": gettext(lang, rule.title),
        "description": gettext(lang, rule.description),
        "status": gettext(lang, N_("built-in check")),
        "tags": list(rule.tags),
        "falsepositives": [gettext(lang, f) for f in rule.falsepositives],
        "references": list(rule.references),
    }
