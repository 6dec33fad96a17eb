"""Rule file discovery and pySigma parsing; every failure becomes a RuleLoadError."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from detections.correlation import CorrelationRule
from detections.engine.rule import CompiledRule, RuleLoadError

RULE_SUFFIXES = (".yml", ".yaml")
ErrorCallback = Callable[[RuleLoadError], None]


def iter_rule_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield rule files below ``paths`` in a stable order (files are yielded as-is)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file()
            )
        else:
            yield path


def _rule_id(obj: object) -> str | None:
    rid = getattr(obj, "id", None)
    return str(rid) if rid else None


def load_yaml_text(
    text: str, source: str | None, correlations: list[CorrelationRule] | None = None
) -> tuple[list[CompiledRule], list[RuleLoadError]]:
    """Parse and compile all rules of one YAML document set; correlation rules go to
    ``correlations`` (reported as unsupported when no list is given)."""
    rules: list[CompiledRule] = []
    errors: list[RuleLoadError] = []
    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=True, resolve_references=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a load error
        return rules, [RuleLoadError(source, None, f"parse error: {exc}")]
    for error in getattr(collection, "errors", []) or []:
        errors.append(RuleLoadError(source, None, f"parse error: {error}"))
    for item in collection.rules:
        rid = _rule_id(item)
        if isinstance(item, SigmaCorrelationRule):
            if correlations is None:
                errors.append(RuleLoadError(source, rid, "correlation rule outside a rule set"))
                continue
            try:
                correlations.append(CorrelationRule.from_sigma(item, source))
            except Exception as exc:  # noqa: BLE001 - unsupported correlations are reported
                errors.append(RuleLoadError(source, rid, f"{type(exc).__name__}: {exc}"))
            continue
        if not isinstance(item, SigmaRule):
            errors.append(
                RuleLoadError(source, rid, f"unsupported rule type {type(item).__name__}")
            )
            continue
        if item.errors:
            reason = "; ".join(str(e) for e in item.errors)
            errors.append(RuleLoadError(source, rid, f"invalid rule: {reason}"))
            continue
        try:
            rules.append(CompiledRule.from_sigma(item, source))
        except Exception as exc:  # noqa: BLE001 - unsupported constructs become load errors
            errors.append(RuleLoadError(source, rid, f"{type(exc).__name__}: {exc}"))
    return rules, errors


def load_paths(
    paths: Iterable[Path],
    on_error: ErrorCallback | None = None,
    correlations: list[CorrelationRule] | None = None,
) -> tuple[list[CompiledRule], list[RuleLoadError]]:
    """Load every rule file below ``paths``; never raises for bad rules."""
    rules: list[CompiledRule] = []
    errors: list[RuleLoadError] = []
    for path in iter_rule_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            new_errors = [RuleLoadError(str(path), None, f"unreadable: {exc}")]
        else:
            good, new_errors = load_yaml_text(text, str(path), correlations)
            rules.extend(good)
        errors.extend(new_errors)
        if on_error is not None:
            for err in new_errors:
                on_error(err)
    return rules, errors
