"""Rule file discovery and pySigma parsing; every failure becomes a RuleLoadError."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from detections.correlation import CorrelationRule
from detections.engine.rule import CompiledRule, RuleLoadError

RULE_SUFFIXES = (".yml", ".yaml")
ErrorCallback = Callable[[RuleLoadError], None]
# libyaml's parser builds the same documents as PyYAML's pure-Python one (the constructor is
# the same SafeConstructor) in a tenth of the time: it was most of a corpus load.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def iter_rule_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield rule files below ``paths`` in a stable order (files are yielded as-is)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file()
            )
        else:
            yield path


def decode_rule_text(data: bytes) -> str:
    """A rule file's text as ``Path.read_text`` gives it (UTF-8, universal newlines); from
    bytes, because the cache hashes the bytes that were read."""
    text = data.decode("utf-8")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _rule_id(obj: object) -> str | None:
    rid = getattr(obj, "id", None)
    return str(rid) if rid else None


def parse_collection(text: str) -> SigmaCollection:
    """pySigma's ``SigmaCollection.from_yaml`` (errors collected, references unresolved), with
    the YAML parsed by libyaml; a text libyaml refuses goes through pySigma's own path, so a
    broken file is reported in the same words as before."""
    try:
        documents = list(yaml.load_all(text, Loader=_FAST_LOADER))
    except Exception:  # noqa: BLE001 - the reference parser below gives the error
        return SigmaCollection.from_yaml(text, collect_errors=True, resolve_references=False)
    return SigmaCollection.from_dicts(documents, collect_errors=True, resolve_references=False)


def sigma_rule_at(text: str, index: int) -> SigmaRule | None:
    """The ``index``-th item of the collection in ``text`` (parsed again), if a Sigma rule."""
    item = parse_collection(text).rules[index]
    return item if isinstance(item, SigmaRule) else None


def load_yaml_text(
    text: str, source: str | None, correlations: list[CorrelationRule] | None = None
) -> tuple[list[CompiledRule], list[RuleLoadError]]:
    """Parse and compile all rules of one YAML document set; correlation rules go to
    ``correlations`` (reported as unsupported when no list is given)."""
    indexed, errors = load_yaml_indexed(text, source, correlations)
    return [rule for _, rule in indexed], errors


def load_yaml_indexed(
    text: str, source: str | None, correlations: list[CorrelationRule] | None = None
) -> tuple[list[tuple[int, CompiledRule]], list[RuleLoadError]]:
    """``load_yaml_text`` with each rule's position among the collection's items."""
    rules: list[tuple[int, CompiledRule]] = []
    errors: list[RuleLoadError] = []
    try:
        collection = parse_collection(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a load error
        return rules, [RuleLoadError(source, None, f"parse error: {exc}")]
    for error in getattr(collection, "errors", []) or []:
        errors.append(RuleLoadError(source, None, f"parse error: {error}"))
    for position, item in enumerate(collection.rules):
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
            rules.append((position, CompiledRule.from_sigma(item, source)))
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
            text = decode_rule_text(path.read_bytes())
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
