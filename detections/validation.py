"""Validation report for Sigma rule files: which rules load, which cannot be used and why, and
what pySigma's core validators (sigma.validators.core) find in each."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule
from sigma.validation import SigmaValidator
from sigma.validators.core import validators as core_validators

from detections.attack_data import use_offline_reference_data
from detections.correlation import CorrelationRule
from detections.engine import CompiledRule
from detections.engine.loader import iter_rule_files
from detections.engine.safe_regex import untrusted as untrusted_regex

# TLP v1 and v2 tag checks contradict each other; SigmaHQ uses v2.
EXCLUDED_VALIDATORS = frozenset({"tlpv1_tag"})


@dataclass
class Finding:
    validator: str
    severity: str
    description: str


@dataclass
class RuleReport:
    """One rule of a file: ``loaded`` (with its kind) or ``unusable`` with the reason."""

    path: str | None
    rule_id: str | None
    title: str | None
    status: str
    kind: str = "rule"
    reason: str | None = None
    findings: list[Finding] = field(default_factory=list)
    compiled: CompiledRule | None = field(default=None, repr=False)
    text: str | None = field(default=None, repr=False)  # the file, when it holds one rule

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "rule_id": self.rule_id,
            "title": self.title,
            "status": self.status,
            "kind": self.kind,
            "reason": self.reason,
            "findings": [f.__dict__ for f in self.findings],
        }


@dataclass
class ValidationReport:
    rules: list[RuleReport] = field(default_factory=list)
    skipped_validators: dict[str, str] = field(default_factory=dict)

    @property
    def loaded(self) -> int:
        return sum(r.status == "loaded" for r in self.rules)

    @property
    def unusable(self) -> int:
        return sum(r.status == "unusable" for r in self.rules)

    @property
    def with_findings(self) -> int:
        return sum(bool(r.findings) for r in self.rules)

    def summary(self) -> dict[str, int]:
        return {
            "rules": len(self.rules),
            "loaded": self.loaded,
            "unusable": self.unusable,
            "with_findings": self.with_findings,
        }


def make_validator() -> SigmaValidator:
    use_offline_reference_data()  # the tag validators' ATT&CK/D3FEND tables, no internet
    return SigmaValidator(
        cls for name, cls in core_validators.items() if name not in EXCLUDED_VALIDATORS
    )


def _short(value: Any) -> str:
    """Issue detail in a few words (a detection item by its field, long text cut)."""
    if hasattr(value, "detection_items") or hasattr(value, "value_linking"):
        return f"field {getattr(value, 'field', None) or '(keywords)'}"
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _finding(issue: Any) -> Finding:
    extra = " ".join(
        f"{k}={_short(v)}"
        for k, v in vars(issue).items()
        if k not in ("rules", "severity", "description") and v not in (None, "")
    )
    description = issue.description + (f" ({extra})" if extra else "")
    return Finding(type(issue).__name__, issue.severity.name.lower(), description)


class _Run:
    """One validation pass; uniqueness validators report when it is finalised."""

    def __init__(self) -> None:
        self.validator = make_validator()
        self.report = ValidationReport()
        self.by_rule: dict[int, RuleReport] = {}
        self.failures: dict[str, int] = {}

    def add_text(self, text: str, source: str | None) -> list[RuleReport]:
        try:
            collection = SigmaCollection.from_yaml(
                text, collect_errors=True, resolve_references=False
            )
        except Exception as exc:  # noqa: BLE001 - any parse failure is reported
            return self._add(
                RuleReport(source, None, None, "unusable", reason=f"parse error: {exc}")
            )
        reports = [
            RuleReport(source, None, None, "unusable", reason=f"parse error: {error}")
            for error in getattr(collection, "errors", []) or []
        ]
        for item in collection.rules:
            reports.append(self._rule(item, source))
        if len(collection.rules) == 1 and not reports[:-1]:
            reports[-1].text = text
        for r in reports:
            self._add(r)
        return reports

    def _add(self, report: RuleReport) -> list[RuleReport]:
        self.report.rules.append(report)
        return [report]

    def _rule(self, item: Any, source: str | None) -> RuleReport:
        rid = str(item.id) if getattr(item, "id", None) else None
        report = RuleReport(source, rid, getattr(item, "title", None), "loaded")
        if isinstance(item, SigmaCorrelationRule):
            report.kind = "correlation"
            try:
                CorrelationRule.from_sigma(item, source)
            except Exception as exc:  # noqa: BLE001 - unsupported correlations are reported
                report.status, report.reason = "unusable", f"{type(exc).__name__}: {exc}"
        elif not isinstance(item, SigmaRule):
            report.status, report.reason = "unusable", f"unsupported type {type(item).__name__}"
        elif item.errors:
            report.status = "unusable"
            report.reason = "invalid rule: " + "; ".join(str(e) for e in item.errors)
        else:
            try:
                report.compiled = CompiledRule.from_sigma(item, source)
            except Exception as exc:  # noqa: BLE001 - unsupported constructs are reported
                report.status, report.reason = "unusable", f"{type(exc).__name__}: {exc}"
        report.findings = self._validate(item)
        self.by_rule[id(item)] = report
        return report

    def _validate(self, item: Any) -> list[Finding]:
        """Every validator on one rule. One that cannot load its reference data (MITRE, from
        the network) is dropped for the run; failures are named in ``skipped_validators``."""
        findings: list[Finding] = []
        for validator in list(self.validator.validators):
            try:
                findings.extend(_finding(i) for i in validator.validate(item))
            except RuntimeError as exc:  # reference data it cannot load: drop it for the run
                self.validator.validators.remove(validator)
                self.report.skipped_validators[type(validator).__name__] = str(exc)
            except Exception as exc:  # noqa: BLE001 - a failing validator never stops the report
                name = type(validator).__name__
                count = self.failures[name] = self.failures.get(name, 0) + 1
                self.report.skipped_validators[name] = (
                    f"failed on {count} rule(s): {type(exc).__name__}: {exc}"
                )
        return findings

    def finish(self) -> ValidationReport:
        try:
            issues = self.validator.finalize()
        except Exception:  # noqa: BLE001 - cross-rule checks are best effort
            issues = []
        for issue in issues:
            for rule in issue.rules:
                report = self.by_rule.get(id(rule))
                if report is not None:
                    report.findings.append(_finding(issue))
        return self.report


def validate_text(text: str, source: str | None = None) -> ValidationReport:
    """Report on the rule(s) of one YAML text, compiled as a tenant's (untrusted) rules would
    be: a regular expression RE2 cannot run is reported unusable."""
    run = _Run()
    with untrusted_regex():
        run.add_text(text, source)
    return run.finish()


# pySigma's own refusal (its default policy compiles every `re` value with RE2)
_PYSIGMA_REGEX_ERROR = re.compile(r"Regular expression '(?P<pattern>.*)' is invalid: (?P<why>.*)$")


def _regex_fields(text: str) -> dict[str, list[str]]:
    """`re` pattern -> the detection fields (``Field|re|i``) that use it, from the YAML."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return {}
    found: dict[str, list[str]] = {}

    def walk(node: Any, key: str | None) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif key is not None and "|re" in key and isinstance(node, str):
            found.setdefault(node, []).append(key)

    for doc in docs:
        if isinstance(doc, dict):
            walk(doc.get("detection"), None)
    return found


def explain_regex_errors(text: str, reasons: list[str]) -> str:
    """The load errors of a tenant rule as one message; a refused regular expression is named
    with its field and the reason (RE2 runs it in linear time, or not at all)."""
    fields: dict[str, list[str]] | None = None
    out: list[str] = []
    for reason in reasons:
        found = _PYSIGMA_REGEX_ERROR.search(reason)
        if found is None:
            out.append(reason)
            continue
        if fields is None:
            fields = _regex_fields(text)
        pattern, why = found["pattern"], found["why"]
        if why.startswith(("b'", 'b"')) and why.endswith(why[1]):
            why = why[2:-1]
        names = ", ".join(dict.fromkeys(fields.get(pattern, []))) or "a `re` value"
        out.append(
            f"{names}: regular expression '{pattern}' is refused ({why}): regular expressions "
            "run on a linear-time engine (RE2), without backreferences, lookarounds or "
            "repetition counts above 1000"
        )
    return "; ".join(dict.fromkeys(out))


def validate_paths(
    paths: Iterable[Path], on_file: Callable[[Path], None] | None = None
) -> ValidationReport:
    """Report on every rule file below ``paths`` (a SigmaHQ checkout's rule folders, say)."""
    run = _Run()
    for path in iter_rule_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            run._add(RuleReport(str(path), None, None, "unusable", reason=f"unreadable: {exc}"))
        else:
            run.add_text(text, str(path))
        if on_file is not None:
            on_file(path)
    return run.finish()
