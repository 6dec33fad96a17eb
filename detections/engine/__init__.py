"""Pure-Python streaming Sigma matcher built on pySigma's parsed condition trees.

Layers (each imports only those below it): ``ruleset`` (RuleSet: the per-event path) >
``cache`` (compiled rule sets on disk) > ``loader`` (rule files, pySigma parsing) > ``rule``
(CompiledRule) > ``compile`` (condition trees to plans, plans to closures) > ``patterns``
(string patterns), ``safe_regex`` (linear-time regexes) > ``fields`` (per-event context);
beside them ``index`` (candidate rules per event key) over ``prefilter`` (rule requirements)
and ``scanner`` (multi-literal scan), and ``logsources`` over ``shapes`` (which rules an
event reaches: Windows channel and EventID, a declared ``logsource``, a known shape, or none:
then only the rules without a product).
"""

from __future__ import annotations

from detections.engine.compile import Matcher, compile_condition
from detections.engine.errors import UnsafeRegexError, UnsupportedRuleError
from detections.engine.fields import MISSING, EventContext
from detections.engine.rule import CompiledRule, RuleLoadError
from detections.engine.ruleset import RuleSet, normalise_event

_Ctx = EventContext  # the name importers used before the package split

__all__ = [
    "MISSING",
    "CompiledRule",
    "EventContext",
    "Matcher",
    "RuleLoadError",
    "RuleSet",
    "UnsafeRegexError",
    "UnsupportedRuleError",
    "_Ctx",
    "compile_condition",
    "normalise_event",
]
