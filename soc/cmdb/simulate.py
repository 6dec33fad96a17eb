"""`soc cmdb simulate`: the correlation rules on a JSON topology and event list, as a pure
function (what-if analysis, and the harness acceptance checks run on held-back topologies).

Input and output schemas are in the README ("CMDB simulate"). A relation reads "`from`
depends on / runs on / is hosted in / is a member of `to`". The state of a fingerprint is its
latest shared event up to `as_of`; events after `as_of` do not exist yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from soc.cmdb.rules import SEVERITY_RANK, Correlator, TopologyError

Json = dict[str, Any]


class SimulationError(ValueError):
    """The input does not follow the schema; the message names the offending item."""


def parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise SimulationError(f"{where}: a time must be an ISO 8601 string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SimulationError(f"{where}: not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _item(value: Any, where: str) -> Json:
    if not isinstance(value, dict):
        raise SimulationError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _text(item: Json, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise SimulationError(f"{where}: '{key}' must be a non-empty string")
    return value


def _list(doc: Json, key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise SimulationError(f"'{key}' must be a list")
    return value


def build(doc: Json) -> tuple[Correlator[str], dict[str, str | None]]:
    """The correlator of the input's CIs and relations, and each CI's provider."""
    corr: Correlator[str] = Correlator()
    providers: dict[str, str | None] = {}
    for n, raw in enumerate(_list(doc, "cis")):
        where = f"cis[{n}]"
        ci = _item(raw, where)
        ci_id = _text(ci, "id", where)
        if ci_id in providers:
            raise SimulationError(f"{where}: duplicate CI id {ci_id!r}")
        min_healthy = ci.get("min_healthy")
        if min_healthy is not None and (
            not isinstance(min_healthy, int) or isinstance(min_healthy, bool) or min_healthy < 0
        ):
            raise SimulationError(f"{where}: 'min_healthy' must be a non-negative integer")
        tenants = ci.get("tenants") or []
        if not isinstance(tenants, list):
            raise SimulationError(f"{where}: 'tenants' must be a list")
        corr.add_ci(ci_id, _text(ci, "type", where), min_healthy=min_healthy, tenants=tenants)
        provider = ci.get("provider")
        providers[ci_id] = str(provider) if provider is not None else None
    for n, raw in enumerate(_list(doc, "relations")):
        where = f"relations[{n}]"
        rel = _item(raw, where)
        try:
            corr.add_relation(
                _text(rel, "from", where), _text(rel, "to", where), _text(rel, "type", where)
            )
        except TopologyError as exc:
            raise SimulationError(f"{where}: {exc}") from exc
    return corr, providers


def _shared(event: Json, provider: str | None, policy: Mapping[str, Any], where: str) -> bool:
    rule = policy.get(provider) if provider is not None else None
    if rule is None:
        return True
    rule = _item(rule, f"share_policy[{provider!r}]")
    min_sev = rule.get("min_severity", "info")
    if min_sev not in SEVERITY_RANK:
        raise SimulationError(f"share_policy[{provider!r}]: unknown min_severity {min_sev!r}")
    if SEVERITY_RANK[event["severity"]] < SEVERITY_RANK[min_sev]:
        return False
    types = rule.get("event_types")
    return types is None or event.get("event_type") in types


def _events(doc: Json, as_of: datetime) -> list[tuple[datetime, int, Json]]:
    events = []
    for n, raw in enumerate(_list(doc, "events")):
        where = f"events[{n}]"
        event = _item(raw, where)
        _text(event, "fingerprint", where)
        if event.get("severity") not in SEVERITY_RANK:
            raise SimulationError(f"{where}: severity must be one of {sorted(SEVERITY_RANK)}")
        if event.get("state") not in ("firing", "resolved"):
            raise SimulationError(f"{where}: state must be 'firing' or 'resolved'")
        at = parse_time(event.get("time"), where)
        if at <= as_of:
            events.append((at, n, event))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def simulate(doc: Json) -> Json:
    """The README's output document for one input document."""
    return simulate_with_cycles(doc)[0]


def simulate_with_cycles(doc: Json) -> tuple[Json, list[list[str]]]:
    """The output document and the dependency cycles found (reported, never fatal)."""
    doc = _item(doc, "input")
    corr, providers = build(doc)
    as_of = parse_time(doc["as_of"], "as_of") if "as_of" in doc else datetime.now(UTC)
    policy = _item(doc.get("share_policy") or {}, "share_policy")
    for n, raw in enumerate(_list(doc, "maintenance")):
        where = f"maintenance[{n}]"
        window = _item(raw, where)
        ci = _text(window, "ci", where)
        if ci not in providers:
            raise SimulationError(f"{where}: unknown CI {ci!r}")
        if parse_time(window.get("from"), where) <= as_of < parse_time(window.get("to"), where):
            corr.set_maintenance(ci, True)
    unmatched: set[str] = set()
    not_shared: set[str] = set()
    for _at, n, event in _events(doc, as_of):
        fingerprint = str(event["fingerprint"])
        target = event.get("ci")
        if not isinstance(target, str) or target not in providers:
            unmatched.add(fingerprint)
            continue
        provider = event.get("provider") or providers[target]
        if not _shared(event, str(provider) if provider else None, policy, f"events[{n}]"):
            not_shared.add(fingerprint)
            continue
        corr.apply_alert(fingerprint, target, event["severity"], event["state"] == "firing")
    cycles = corr.finalize()
    result = {
        "cis": {ci: {"state": corr.state[ci], "own": corr.is_own(ci)} for ci in providers},
        "applications": {
            app: {"status": corr.state[app], "root_causes": corr.root_causes(app)}
            for app in corr.applications()
        },
        "incidents": [
            {
                "root_causes": list(i.root_causes),
                "applications": list(i.applications),
                "tenants": list(i.tenants),
            }
            for i in corr.incidents()
        ],
        "unmatched": sorted(unmatched),
        "not_shared": sorted(not_shared),
    }
    return result, cycles
