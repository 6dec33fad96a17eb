"""Run a compiled Sigma rule over stored events: the same rule, either as a Python predicate
(embedded store) or as an OpenSearch query converted by pySigma's OpenSearch backend.

Both apply the rule's log source (detections/engine/logsources.py) and both see the event fields
under the same names: the OpenSearch documents keep the event under `data.`, which the conversion
pipeline adds to every field name. A tenant's field map applies to both: the predicate copies
mapped fields to their Sigma names first; the conversion lets each mapped Sigma field match
under either name (Sigma name OR the tenant's field).
"""

from __future__ import annotations

import copy
from functools import cached_property
from typing import Any

from detections.engine import CompiledRule
from detections.engine.logsources import (
    DECLARED_FIELD,
    LINUX_SYSMON,
    LINUX_SYSMON_KIND,
    NON_WINDOWS,
    SHAPE_KINDS,
    SHAPES,
    SYSMON,
    Condition,
    EndsWith,
    LogsourceFilter,
    OneOf,
    normalise_event,
)
from detections.tenant_view import FieldMap, apply_field_map

DATA_PREFIX = "data."


LUCENE_REGEX_OPERATORS = set('@&<>~#"')


def lucene_search_regex(pattern: str) -> str:
    """A Sigma regex (a search, case-sensitive, PCRE-ish) as a Lucene regexp over the store's
    lowercased keyword terms: anchored by Lucene, so unanchored ends get `.*`; literal letters
    lowercased (the stored terms are, so a case-sensitive regex can only match more, never
    less); Lucene's extra operators (@ & < > ~ # ") escaped; inline `(?i)` dropped."""
    body = pattern.replace("(?i)", "")
    head = "" if body.startswith("^") else ".*"
    body = body.removeprefix("^")
    tail = ".*"
    if body.endswith("$") and not body.endswith("\\$"):
        body, tail = body[:-1], ""
    out: list[str] = []
    escaped = False
    for char in body:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char in LUCENE_REGEX_OPERATORS:
            out.append("\\" + char)
        else:
            out.append(char.lower())
    return head + "".join(out) + tail


def opensearch_backend(field_map: FieldMap = ()) -> Any:
    """pySigma's OpenSearch Lucene backend with the store's field pipeline; with a tenant's
    ``field_map``, a mapped Sigma field matches under its own name or the tenant's field."""
    from sigma.backends.opensearch.opensearch import OpensearchLuceneBackend
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import (
        AddFieldnamePrefixTransformation,
        FieldMappingTransformation,
    )
    from sigma.types import SigmaRegularExpression

    class StoreBackend(OpensearchLuceneBackend):
        def convert_condition_field_eq_val_re(self, cond: Any, state: Any) -> Any:
            value = cond.value
            cond.value = SigmaRegularExpression(lucene_search_regex(str(value.regexp)))
            try:
                return super().convert_condition_field_eq_val_re(cond, state)
            finally:
                cond.value = value

    items = []
    if field_map:
        names: dict[str | None, list[str]] = {}
        for source, sigma in field_map:
            names.setdefault(sigma, [sigma]).append(source)
        items.append(
            ProcessingItem(
                identifier="soc_tenant_field_map",
                transformation=FieldMappingTransformation(dict(names)),
            )
        )
    items.append(
        ProcessingItem(
            identifier="soc_data_prefix",
            transformation=AddFieldnamePrefixTransformation(DATA_PREFIX),
        )
    )
    pipeline = ProcessingPipeline(name="soc event store fields", priority=10, items=items)
    return StoreBackend(processing_pipeline=pipeline)


_BACKENDS: dict[FieldMap, Any] = {}


def _backend(field_map: FieldMap = ()) -> Any:
    backend = _BACKENDS.get(field_map)
    if backend is None:
        if len(_BACKENDS) > 256:  # one per distinct field map; bounded
            _BACKENDS.clear()
        backend = _BACKENDS[field_map] = opensearch_backend(field_map)
    return backend


def _term(field: str, value: Any) -> dict[str, Any]:
    return {"term": {DATA_PREFIX + field: value}}


def _channel_is(channel: str) -> dict[str, Any]:
    """Channel equals, or (for Sysmon) no Channel but the Sysmon provider, as in event_channel."""
    if channel != SYSMON:
        return _term("Channel", channel)
    return {
        "bool": {
            "should": [
                _term("Channel", channel),
                {
                    "bool": {
                        "must_not": [{"exists": {"field": DATA_PREFIX + "Channel"}}],
                        "must": [_term("Provider_Name", "microsoft-windows-sysmon")],
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


def _is_windows() -> dict[str, Any]:
    return {
        "bool": {
            "should": [
                {"exists": {"field": DATA_PREFIX + "Channel"}},
                {
                    "bool": {
                        "must": [
                            {"exists": {"field": DATA_PREFIX + "EventID"}},
                            {"exists": {"field": DATA_PREFIX + "Provider_Name"}},
                        ]
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


def _condition(cond: Condition) -> dict[str, Any]:
    """One shape condition (detections.engine.shapes.SHAPES); value tests are lenient so a field
    mapped as a number in some index does not fail the query."""
    field = DATA_PREFIX + cond.field
    if isinstance(cond, OneOf | EndsWith):
        if isinstance(cond, OneOf):
            terms = " OR ".join(f'"{v}"' for v in sorted(cond.values))
        else:
            terms = "*" + "".join("\\" + c if not c.isalnum() else c for c in cond.suffix)
        query = f"{field.replace('-', chr(92) + '-')}:({terms})"
        return {"query_string": {"query": query, "lenient": True, "analyze_wildcard": True}}
    return {"exists": {"field": field}}


def _shape(kind: str) -> dict[str, Any]:
    alternatives = dict(SHAPES)[kind]
    return {
        "bool": {
            "should": [
                {"bool": {"must": [_condition(c) for c in conds]}} for conds in alternatives
            ],
            "minimum_should_match": 1,
        }
    }


_DECLARED_PRODUCT = {"exists": {"field": f"{DATA_PREFIX}{DECLARED_FIELD}.product"}}


def _kind_is(kind: str) -> dict[str, Any]:
    """A non-Windows event whose shape (detections.engine.shapes.event_shape) is ``kind``: the
    first shape that holds wins, so every earlier shape must not hold; a declared log source
    comes before every shape."""
    earlier = SHAPE_KINDS if kind == NON_WINDOWS else SHAPE_KINDS[: SHAPE_KINDS.index(kind)]
    must = [] if kind == NON_WINDOWS else [_shape(kind)]
    must_not = [_is_windows(), _DECLARED_PRODUCT, *(_shape(k) for k in earlier)]
    return {"bool": {"must": must, "must_not": must_not}}


def _declared_is(flt: LogsourceFilter) -> dict[str, Any]:
    """A non-Windows event declaring a log source that agrees with the rule's (as
    LogsourceFilter.accepts_declared: a part the event leaves empty agrees with any)."""
    must: list[dict[str, Any]] = [_DECLARED_PRODUCT]
    for part, want in zip(("product", "category", "service"), flt.logsource, strict=True):
        if want is None:
            continue
        name = f"{DECLARED_FIELD}.{part}"
        if part == "product":
            must.append(_term(name, want))
            continue
        absent = {"bool": {"must_not": [{"exists": {"field": DATA_PREFIX + name}}]}}
        agrees = [absent, _term(name, ""), _term(name, want)]
        must.append({"bool": {"should": agrees, "minimum_should_match": 1}})
    return {"bool": {"must": must, "must_not": [_is_windows()]}}


def _non_windows_query(flt: LogsourceFilter) -> dict[str, Any]:
    kinds = [k for k in SHAPE_KINDS if flt.shapes is None or k in flt.shapes]
    options = [_declared_is(flt), *(_kind_is(k) for k in kinds)]
    if flt.logsource[0] is None:  # events of unknown shape reach the rules without a product
        options.append(_kind_is(NON_WINDOWS))
    if flt.shapes is not None and LINUX_SYSMON_KIND in flt.shapes:
        for channel, ids in flt.pairs or ((LINUX_SYSMON, None),):
            clause = [_is_windows(), _channel_is(channel)]
            if ids is not None:
                clause.append({"terms": {DATA_PREFIX + "EventID": sorted(ids)}})
            options.append({"bool": {"must": clause}})
    return {"bool": {"should": options, "minimum_should_match": 1}}


def logsource_query(flt: LogsourceFilter) -> dict[str, Any]:
    """The OpenSearch form of LogsourceFilter.accepts_key/accepts_event."""
    if flt.kind == "any":
        return {"match_all": {}}
    if flt.kind != "windows":
        return _non_windows_query(flt)
    must: list[dict[str, Any]] = [_is_windows()]
    must_not = [_channel_is(ch) for ch in sorted(flt.exclude_channels | {LINUX_SYSMON})]
    if flt.pairs is not None:
        options = []
        for channel, ids in flt.pairs:
            clause = [_channel_is(channel)]
            if ids is not None:
                clause.append({"terms": {DATA_PREFIX + "EventID": sorted(ids)}})
            options.append({"bool": {"must": clause}})
        must.append({"bool": {"should": options, "minimum_should_match": 1}})
    if flt.registry_types is not None:
        must.append(
            {
                "bool": {
                    "should": [
                        {"bool": {"must_not": [{"exists": {"field": DATA_PREFIX + "EventType"}}]}},
                        {"terms": {DATA_PREFIX + "EventType": sorted(flt.registry_types)}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    return {"bool": {"must": must, "must_not": must_not}}


class HuntRule:
    """A compiled rule as an event store's `hunt` needs it (ingest.store.base.HuntQuery)."""

    def __init__(self, rule: CompiledRule, field_map: FieldMap = ()) -> None:
        self.rule = rule
        self.id = rule.id
        self.sigma_rule = rule.sigma_rule
        self.field_map = field_map

    def matches(self, event: dict[str, Any]) -> bool:
        event = normalise_event(apply_field_map(self.field_map, event))
        return self.rule.applies_to(event) and self.rule.matches(event)

    @cached_property
    def lucene(self) -> list[str]:
        if self.sigma_rule is None:
            raise ValueError(f"rule {self.id} has no Sigma source to convert")
        # pySigma applies the pipeline to the rule object in place: convert a copy, so the
        # loaded rule (shared by every hunt and the streaming matcher) keeps its field names.
        return list(_backend(self.field_map).convert_rule(copy.deepcopy(self.sigma_rule)))

    def query_for(self, store_kind: str) -> dict[str, Any]:
        if store_kind != "opensearch":
            raise ValueError(f"no query form for store '{store_kind}'")
        detection = {
            "bool": {
                "should": [
                    {"query_string": {"query": q, "analyze_wildcard": True, "lenient": True}}
                    for q in self.lucene
                ],
                "minimum_should_match": 1,
            }
        }
        return {"bool": {"must": [detection, logsource_query(self.rule._filter)]}}
