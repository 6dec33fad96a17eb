"""Per-event field look-up for the matcher: the event context and value conversions.

Field names are looked up exactly, then case-insensitively, then as a dotted path through nested
objects. Windows EventData names with spaces (Defender's `Threat Name`) are stored without them
by the flattening (ingest.windows), as Zircolite does, so look-ups here stay a plain dict get.
"""

from __future__ import annotations

from typing import Any

from detections.engine.prefilter import EVENT_ID_FIELD

SEPARATOR = "\x00"
MISSING: Any = object()


class EventContext:
    """Per-event evaluation context with cached field lookups and string forms."""

    __slots__ = ("data", "_lower_keys", "_strs", "_lstrs", "_all")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self._lower_keys: dict[str, Any] | None = None
        self._strs: dict[str, list[str]] = {}
        self._lstrs: dict[str, list[str]] = {}
        self._all: list[str] | None = None

    def get(self, name: str) -> Any:
        """Field value: exact name, then case-insensitive, then dotted path; else MISSING."""
        data = self.data
        if name in data:
            return data[name]
        if self._lower_keys is None:
            self._lower_keys = {k.lower(): v for k, v in data.items() if isinstance(k, str)}
        value = self._lower_keys.get(name.lower(), MISSING)
        if value is MISSING and "." in name:
            cur: Any = data
            for part in name.split("."):
                if not isinstance(cur, dict):
                    return MISSING
                if part in cur:
                    cur = cur[part]
                else:
                    low = part.lower()
                    cur = next((v for k, v in cur.items() if str(k).lower() == low), MISSING)
                    if cur is MISSING:
                        return MISSING
            return cur
        return value

    def strs(self, name: str) -> list[str]:
        """String forms of the (scalar or list) field value; None values are skipped."""
        cached = self._strs.get(name)
        if cached is None:
            cached = as_strings(self.get(name))
            self._strs[name] = cached
        return cached

    def lstrs(self, name: str) -> list[str]:
        """Lower-cased string forms of the field value."""
        cached = self._lstrs.get(name)
        if cached is None:
            cached = [s.lower() for s in self.strs(name)]
            self._lstrs[name] = cached
        return cached

    def haystack(self) -> str:
        """Every lower-cased value joined by NUL: the text the literal index scans."""
        if self._all is None:
            out: list[str] = []
            collect_strings(self.data, out)
            joined = SEPARATOR.join(out)
            # lower() of ASCII is per character: one call for all values, split back after.
            if joined.isascii() and joined.count(SEPARATOR) == len(out) - 1:
                lowered = joined.lower()
                self._all = lowered.split(SEPARATOR) if out else []
                return lowered
            self._all = [s.lower() for s in out]
        return SEPARATOR.join(self._all)

    def event_ids(self) -> list[Any]:
        """Numeric EventID values, compared the way the matcher compares numbers."""
        return [
            n
            for v in as_values(self.get(EVENT_ID_FIELD))
            if not isinstance(v, bool) and (n := to_number(v)) is not None
        ]

    def all_strings(self) -> list[str]:
        """Lower-cased string forms of every value in the event (for keyword search)."""
        if self._all is None:
            out: list[str] = []
            collect_strings(self.data, out)
            self._all = [s.lower() for s in out]
        return self._all


def scalar_str(value: Any) -> str | None:
    if value is None or value is MISSING:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def as_strings(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [s for v in value if (s := scalar_str(v)) is not None]
    s = scalar_str(value)
    return [] if s is None else [s]


def as_values(value: Any) -> list[Any]:
    if value is MISSING:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def collect_strings(value: Any, out: list[str]) -> None:
    if type(value) is dict:  # fast path: flat events of scalars
        for v in value.values():
            kind = type(v)
            if kind is str:
                out.append(v)
            elif kind is int or kind is float:  # bool is its own type: _scalar_str spells it
                out.append(str(v))
            elif v is not None:
                collect_strings(v, out)
        return
    if isinstance(value, dict):
        for v in value.values():
            collect_strings(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            collect_strings(v, out)
    else:
        s = scalar_str(value)
        if s is not None:
            out.append(s)


def to_number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 0)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return None
    return None
