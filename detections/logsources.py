"""Sigma logsource → Windows channel / EventID mapping and event normalisation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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

WINDOWS = "windows"
NON_WINDOWS = "other"


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
    """Key used to select candidate rules: (kind, channel, EventID)."""
    if is_windows_flat(event):
        return (WINDOWS, event_channel(event), event_id(event))
    return (NON_WINDOWS, "", None)


@dataclass(frozen=True)
class LogsourceFilter:
    """Decides which events a rule's logsource applies to.

    ``kind``: "windows" (Windows events only), "other" (non-Windows only) or "any".
    ``pairs``: allowed (channel, EventIDs-or-None) combinations (None = any Windows event).
    """

    kind: str
    pairs: tuple[tuple[str, frozenset[int] | None], ...] | None = None
    exclude_channels: frozenset[str] = frozenset()
    registry_types: frozenset[str] | None = None

    def accepts_key(self, key: EventKey) -> bool:
        """Static (cacheable) check on the event key."""
        kind, channel, eid = key
        if self.kind == "any":
            return True
        if kind != self.kind:
            return False
        if channel in self.exclude_channels:
            return False
        if self.pairs is None:
            return True
        return any(ch == channel and (ids is None or eid in ids) for ch, ids in self.pairs)

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
        return LogsourceFilter(NON_WINDOWS)
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
