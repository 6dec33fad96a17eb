"""Which rules an event reaches: Sigma logsource → Windows channel / EventID, or the kind of a
non-Windows event (detections.engine.shapes: declared, known shape, unknown); and the additive
normalisation of events before matching.

A rule sees an event only when its ``logsource`` (product/category/service) can describe it:
Windows rules see Windows events of their channels and EventIDs; rules of another product see
the events of that product's shape or declaring that product (``logsource.product``); an event
of unknown shape reaches only the rules without a product.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from detections.engine.shapes import (
    AUDITD_TYPES,
    AWS,
    AZURE,
    DECLARED,
    DECLARED_FIELD,
    GCP,
    GITHUB,
    LINUX_AUDITD,
    LINUX_KINDS,
    LINUX_SYSLOG,
    LINUX_SYSMON,
    LINUX_SYSMON_CATEGORIES,
    LINUX_SYSMON_KIND,
    M365,
    NON_WINDOWS,
    OKTA,
    PRODUCT_SHAPES,
    SHAPE_KINDS,
    SHAPES,
    WEB,
    WEB_CATEGORIES,
    WEB_SERVICES,
    WINDOWS,
    Condition,
    EndsWith,
    OneOf,
    Present,
    condition_holds,
    declared_logsource,
    declared_parts,
    event_shape,
)

__all__ = [
    "AUDITD_TYPES",
    "AWS",
    "AZURE",
    "DECLARED",
    "DECLARED_FIELD",
    "GCP",
    "GITHUB",
    "LINUX_AUDITD",
    "LINUX_SYSLOG",
    "M365",
    "OKTA",
    "SHAPE_KINDS",
    "SHAPES",
    "WEB",
    "LINUX_SYSMON",
    "LINUX_SYSMON_KIND",
    "NON_WINDOWS",
    "WINDOWS",
    "Condition",
    "EndsWith",
    "EventKey",
    "LogsourceFilter",
    "OneOf",
    "Present",
    "condition_holds",
    "event_key",
    "logsource_filter",
    "normalise_event",
]

SYSMON = "microsoft-windows-sysmon/operational"
PS_OPERATIONAL = "microsoft-windows-powershell/operational"
PS_CORE = "powershell core/operational"
PS_CLASSIC = "windows powershell"
SECURITY = "security"

# category -> list of (channel (lower case), EventIDs)
CATEGORY_TABLE: dict[str, list[tuple[str, frozenset[int]]]] = {
    "process_creation": [(SYSMON, frozenset({1})), (SECURITY, frozenset({4688}))],
    "file_change": [(SYSMON, frozenset({2}))],
    "network_connection": [(SYSMON, frozenset({3}))],
    "sysmon_status": [(SYSMON, frozenset({4, 16}))],
    "process_termination": [(SYSMON, frozenset({5}))],
    "driver_load": [(SYSMON, frozenset({6}))],
    "image_load": [(SYSMON, frozenset({7}))],
    "create_remote_thread": [(SYSMON, frozenset({8}))],
    "raw_access_thread": [(SYSMON, frozenset({9}))],
    "process_access": [(SYSMON, frozenset({10}))],
    "file_event": [(SYSMON, frozenset({11}))],
    "registry_add": [(SYSMON, frozenset({12}))],
    "registry_delete": [(SYSMON, frozenset({12}))],
    "registry_set": [(SYSMON, frozenset({13}))],
    "registry_rename": [(SYSMON, frozenset({14}))],
    "registry_event": [(SYSMON, frozenset({12, 13, 14}))],
    "create_stream_hash": [(SYSMON, frozenset({15}))],
    "pipe_created": [(SYSMON, frozenset({17, 18}))],
    "wmi_event": [(SYSMON, frozenset({19, 20, 21}))],
    "dns_query": [(SYSMON, frozenset({22}))],
    "file_delete": [(SYSMON, frozenset({23, 26}))],
    "clipboard_capture": [(SYSMON, frozenset({24}))],
    "process_tampering": [(SYSMON, frozenset({25}))],
    "file_block_executable": [(SYSMON, frozenset({27}))],
    "file_block_shredding": [(SYSMON, frozenset({28}))],
    "file_executable_detected": [(SYSMON, frozenset({29}))],
    "sysmon_error": [(SYSMON, frozenset({255}))],
    "ps_module": [(PS_OPERATIONAL, frozenset({4103})), (PS_CORE, frozenset({4103}))],
    "ps_script": [(PS_OPERATIONAL, frozenset({4104})), (PS_CORE, frozenset({4104}))],
    "ps_classic_start": [(PS_CLASSIC, frozenset({400}))],
    "ps_classic_provider_start": [(PS_CLASSIC, frozenset({600}))],
    "ps_classic_script": [(PS_CLASSIC, frozenset({800}))],
}

# Windows categories without a well-known channel (ETW-based in SigmaHQ): any non-Sysmon event.
LOOSE_WINDOWS_CATEGORIES = {"file_access", "file_rename"}

# Sysmon registry EventType values accepted per category (when the event carries EventType).
REGISTRY_EVENT_TYPES: dict[str, frozenset[str]] = {
    "registry_add": frozenset({"createkey"}),
    "registry_delete": frozenset({"deletekey", "deletevalue"}),
    "registry_set": frozenset({"setvalue"}),
    "registry_rename": frozenset({"renamekey"}),
}

# service -> channels (lower case)
SERVICE_TABLE: dict[str, tuple[str, ...]] = {
    "security": (SECURITY,),
    "system": ("system",),
    "application": ("application",),
    "sysmon": (SYSMON,),
    "powershell": (PS_OPERATIONAL, PS_CORE),
    "powershell-classic": (PS_CLASSIC,),
    "taskscheduler": ("microsoft-windows-taskscheduler/operational",),
    "wmi": ("microsoft-windows-wmi-activity/operational",),
    "dns-server": ("dns server",),
    "dns-server-analytic": ("microsoft-windows-dns-server/analytical",),
    "dns-server-audit": ("microsoft-windows-dns-server/audit",),
    "dns-client": ("microsoft-windows-dns client events/operational",),
    "driver-framework": ("microsoft-windows-driverframeworks-usermode/operational",),
    "codeintegrity-operational": ("microsoft-windows-codeintegrity/operational",),
    "bits-client": ("microsoft-windows-bits-client/operational",),
    "firewall-as": ("microsoft-windows-windows firewall with advanced security/firewall",),
    "windefend": ("microsoft-windows-windows defender/operational",),
    "applocker": (
        "microsoft-windows-applocker/exe and dll",
        "microsoft-windows-applocker/msi and script",
        "microsoft-windows-applocker/packaged app-deployment",
        "microsoft-windows-applocker/packaged app-execution",
    ),
    "appxdeployment-server": ("microsoft-windows-appxdeploymentserver/operational",),
    "appxpackaging-om": ("microsoft-windows-appxpackagingom/operational",),
    "appmodel-runtime": ("microsoft-windows-appmodel-runtime/admin",),
    "msexchange-management": ("msexchange management",),
    "iis-configuration": (
        "microsoft-iis-configuration/operational",
        "microsoft-iis-configuration/administrative",
    ),
    "ntlm": ("microsoft-windows-ntlm/operational",),
    "security-mitigations": (
        "microsoft-windows-security-mitigations/kernel mode",
        "microsoft-windows-security-mitigations/user mode",
    ),
    "microsoft-servicebus-client": ("microsoft-servicebus-client",),
    "terminalservices-localsessionmanager": (
        "microsoft-windows-terminalservices-localsessionmanager/operational",
    ),
    "shell-core": ("microsoft-windows-shell-core/operational",),
    "certificateservicesclient-lifecycle-system": (
        "microsoft-windows-certificateservicesclient-lifecycle-system/operational",
    ),
    "ldap": ("microsoft-windows-ldap-client/debug",),
    "ldap_debug": ("microsoft-windows-ldap-client/debug",),
    "smbclient-security": ("microsoft-windows-smbclient/security",),
    "smbclient-connectivity": ("microsoft-windows-smbclient/connectivity",),
    "smbserver-connectivity": ("microsoft-windows-smbserver/connectivity",),
    "diagnosis-scripted": ("microsoft-windows-diagnosis-scripted/operational",),
    "lsa-server": ("microsoft-windows-lsa/operational",),
    "openssh": ("openssh/operational",),
    "capi2": ("microsoft-windows-capi2/operational",),
    "printservice-admin": ("microsoft-windows-printservice/admin",),
    "printservice-operational": ("microsoft-windows-printservice/operational",),
    "vhdmp": ("microsoft-windows-vhdmp-operational",),
    "hyper-v-worker": ("microsoft-windows-hyper-v-worker-admin",),
    "kernel-shimengine": ("microsoft-windows-kernel-shimengine/operational",),
    "ntfs": ("microsoft-windows-ntfs/operational",),
    "sysmon-operational": (SYSMON,),
}

# Security 4688 field names → Sysmon process_creation names (added when absent).
PROCESS_CREATION_4688_ALIASES = {
    "NewProcessName": "Image",
    "ParentProcessName": "ParentImage",
    "NewProcessId": "ProcessId",
}


def is_windows_flat(event: dict[str, Any]) -> bool:
    """True if a (flattened) event looks like a Windows event log record."""
    return "Channel" in event or ("EventID" in event and "Provider_Name" in event)


def event_channel(event: dict[str, Any]) -> str:
    """Lower-case channel of a flattened Windows event ('' if unknown)."""
    channel = event.get("Channel")
    if isinstance(channel, str) and channel:
        return channel.lower()
    provider = event.get("Provider_Name")
    if isinstance(provider, str) and provider.lower() == "microsoft-windows-sysmon":
        return SYSMON
    return ""


def event_id(event: dict[str, Any]) -> int | None:
    """EventID as int, or None."""
    value = event.get("EventID")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def normalise_event(event: dict[str, Any]) -> dict[str, Any]:
    """Return the event with additive aliases (e.g. Security 4688 → Sysmon names)."""
    if event.get("EventID") in (4688, "4688") and str(event.get("Channel", "")).lower() == SECURITY:
        missing = {
            dst: event[src]
            for src, dst in PROCESS_CREATION_4688_ALIASES.items()
            if src in event and dst not in event
        }
        if missing:
            return {**event, **missing}
    return event


EventKey = tuple[str, str, int | None]
Predicate = Callable[[EventKey, dict[str, Any]], bool]


def event_key(event: dict[str, Any]) -> EventKey:
    """Key used to select candidate rules: (kind, channel, EventID); for a declared log
    source, (DECLARED, its declared_logsource string, None)."""
    if is_windows_flat(event):
        channel = event_channel(event)
        if channel == LINUX_SYSMON:
            return (LINUX_SYSMON_KIND, channel, event_id(event))
        return (WINDOWS, channel, event_id(event))
    if DECLARED_FIELD in event or DECLARED_FIELD + ".product" in event:
        declared = declared_logsource(event)
        if declared is not None:
            return (DECLARED, declared, None)
    return (event_shape(event), "", None)


Logsource = tuple[str | None, str | None, str | None]  # (product, category, service)


def _agrees(want: str | None, declared: str) -> bool:
    return want is None or not declared or want == declared


@dataclass(frozen=True)
class LogsourceFilter:
    """Decides which events a rule's logsource applies to.

    ``kind``: "windows" (Windows events only), "other" (non-Windows only) or "any".
    ``pairs``: allowed (channel, EventIDs-or-None) combinations (None = any Windows event; for
    "other", the Sysmon for Linux events accepted, None = all of them).
    ``shapes``: for "other", the known event shapes accepted (None = every shape but Sysmon for
    Linux, for a logsource without a product; empty for a product without a known shape).
    ``logsource``: for "other", the rule's (product, category, service): events of unknown shape
    are accepted when it has no product; declared ones when it agrees with their declaration.
    """

    kind: str
    pairs: tuple[tuple[str, frozenset[int] | None], ...] | None = None
    exclude_channels: frozenset[str] = frozenset()
    registry_types: frozenset[str] | None = None
    shapes: frozenset[str] | None = None
    logsource: Logsource = (None, None, None)

    def accepts_key(self, key: EventKey) -> bool:
        """Static (cacheable) check on the event key."""
        kind, channel, eid = key
        if self.kind == "any":
            return True
        if kind == DECLARED:
            return self.kind == NON_WINDOWS and self.accepts_declared(channel)
        if self.kind == NON_WINDOWS and kind != WINDOWS:
            if kind == NON_WINDOWS:
                return self.logsource[0] is None
            if kind == LINUX_SYSMON_KIND:
                if self.shapes is None or kind not in self.shapes:
                    return False
            else:
                return self.shapes is None or kind in self.shapes
        elif kind != self.kind:
            return False
        if channel in self.exclude_channels:
            return False
        if self.pairs is None:
            return True
        return any(ch == channel and (ids is None or eid in ids) for ch, ids in self.pairs)

    def accepts_declared(self, declared: str) -> bool:
        """True if an event declaring ``declared`` (declared_logsource) is for this rule."""
        product, category, service = declared_parts(declared)
        want_product, want_category, want_service = self.logsource
        if want_product is not None and want_product != product:
            return False
        return _agrees(want_category, category) and _agrees(want_service, service)

    def accepts_event(self, event: dict[str, Any]) -> bool:
        """Dynamic per-event check (registry EventType refinement)."""
        if self.registry_types is None:
            return True
        etype = event.get("EventType")
        return not isinstance(etype, str) or etype.lower() in self.registry_types


def logsource_filter(
    product: str | None, category: str | None, service: str | None
) -> LogsourceFilter:
    """Build the filter for a rule logsource (permissive for unknown combinations)."""
    product = (product or "").lower() or None
    category = (category or "").lower() or None
    service = (service or "").lower() or None
    windowsish = product == WINDOWS or (
        product is None and (category in CATEGORY_TABLE or service in SERVICE_TABLE)
    )
    if not windowsish:
        if product is None and category is None and service is None:
            return LogsourceFilter("any")
        return non_windows_filter(product, category, service)
    pairs: list[tuple[str, frozenset[int] | None]] | None = None
    if category in CATEGORY_TABLE:
        pairs = list(CATEGORY_TABLE[category])
    if service in SERVICE_TABLE:
        channels = SERVICE_TABLE[service]
        if pairs is None:
            pairs = [(ch, None) for ch in channels]
        else:
            pairs = [(ch, ids) for ch, ids in pairs if ch in channels] or pairs
    if pairs is not None:
        return LogsourceFilter(
            WINDOWS, tuple(pairs), registry_types=REGISTRY_EVENT_TYPES.get(category or "")
        )
    if category in LOOSE_WINDOWS_CATEGORIES:
        return LogsourceFilter(WINDOWS, None, exclude_channels=frozenset({SYSMON}))
    return LogsourceFilter(WINDOWS, None)


def non_windows_filter(
    product: str | None, category: str | None, service: str | None
) -> LogsourceFilter:
    """The event shapes a non-Windows logsource can match (lower-case arguments); a product
    without a known shape matches only the events declaring it."""
    ls = (product, category, service)
    if product == "linux":
        if service == "auditd":
            return LogsourceFilter(NON_WINDOWS, shapes=frozenset({LINUX_AUDITD}), logsource=ls)
        if category in LINUX_SYSMON_CATEGORIES:
            pairs = ((LINUX_SYSMON, LINUX_SYSMON_CATEGORIES[category]),)
            kinds = frozenset({LINUX_SYSMON_KIND})
            return LogsourceFilter(NON_WINDOWS, pairs, shapes=kinds, logsource=ls)
        return LogsourceFilter(NON_WINDOWS, shapes=LINUX_KINDS, logsource=ls)
    if product in PRODUCT_SHAPES:
        kinds = frozenset({PRODUCT_SHAPES[product]})
        return LogsourceFilter(NON_WINDOWS, shapes=kinds, logsource=ls)
    if product is None and (category in WEB_CATEGORIES or service in WEB_SERVICES):
        return LogsourceFilter(NON_WINDOWS, shapes=frozenset({WEB}), logsource=ls)
    if product is None:
        return LogsourceFilter(NON_WINDOWS, logsource=ls)
    return LogsourceFilter(NON_WINDOWS, shapes=frozenset(), logsource=ls)
