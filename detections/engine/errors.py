"""Errors raised while compiling a Sigma rule."""

from __future__ import annotations


class UnsupportedRuleError(ValueError):
    """Raised when a rule uses a construct this engine cannot evaluate."""


class UnsafeRegexError(UnsupportedRuleError):
    """An untrusted (tenant) rule's regular expression cannot run in linear time."""
