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
NON_WINDOWS = "other"  # a non-Windows event of unknown shape (and the rules' non-Windows kind)

# Non-Windows event kinds recognised from the event's shape (see SHAPES).
LINUX_SYSMON = "linux-sysmon/operational"
LINUX_SYSMON_KIND = "linux-sysmon"
LINUX_AUDITD = "linux-auditd"
LINUX_SYSLOG = "linux-syslog"
WEB = "web"
AWS = "aws"
AZURE = "azure"
GCP = "gcp"
OKTA = "okta"
M365 = "m365"
GITHUB = "github"

# Sysmon for Linux (Windows-shaped events on the "Linux-Sysmon/Operational" channel).
LINUX_SYSMON_CATEGORIES: dict[str, frozenset[int]] = {
    "process_creation": frozenset({1}),
    "network_connection": frozenset({3}),
    "process_termination": frozenset({5}),
    "raw_access_thread": frozenset({9}),
    "file_event": frozenset({11}),
    "file_delete": frozenset({23}),
}

AUDITD_TYPES = frozenset(
    t.lower()
    for t in [
        "SYSCALL",
        "EXECVE",
        "PATH",
        "CWD",
        "PROCTITLE",
        "SOCKADDR",
        "CONFIG_CHANGE",
        "USER_AUTH",
        "USER_ACCT",
        "USER_START",
        "USER_END",
        "USER_LOGIN",
        "USER_LOGOUT",
        "USER_CMD",
        "USER_CHAUTHTOK",
        "USER_ERR",
        "USER_MGMT",
        "USER_ROLE_CHANGE",
        "USER_AVC",
        "USER_TTY",
        "TTY",
        "CRED_ACQ",
        "CRED_DISP",
        "CRED_REFR",
        "LOGIN",
        "SERVICE_START",
        "SERVICE_STOP",
        "ADD_USER",
        "DEL_USER",
        "ADD_GROUP",
        "DEL_GROUP",
        "GRP_MGMT",
        "ACCT_LOCK",
        "ACCT_UNLOCK",
        "AVC",
        "SELINUX_ERR",
        "MAC_STATUS",
        "MAC_POLICY_LOAD",
        "NETFILTER_CFG",
        "BPRM_FCAPS",
        "KERN_MODULE",
        "DAEMON_START",
        "DAEMON_END",
        "DAEMON_ABORT",
        "ANOM_ABEND",
        "ANOM_PROMISCUOUS",
        "ANOM_LOGIN_FAILURES",
        "ANOM_EXEC",
        "MMAP",
        "FD_PAIR",
        "IPC",
        "OBJ_PID",
        "SECCOMP",
        "SYSTEM_BOOT",
        "SYSTEM_SHUTDOWN",
        "SYSTEM_RUNLEVEL",
        "INTEGRITY_RULE",
        "TIME_INJOFFSET",
    ]
)


@dataclass(frozen=True)
class Present:
    """The field holds a value (not null, not an empty list or object), as OpenSearch `exists`."""

    field: str


@dataclass(frozen=True)
class OneOf:
    """The field is a string equal (case-insensitively) to one of ``values`` (lower case)."""

    field: str
    values: frozenset[str]


@dataclass(frozen=True)
class EndsWith:
    """The field is a string ending (case-insensitively) with ``suffix`` (lower case)."""

    field: str
    suffix: str


Condition = Present | OneOf | EndsWith
# kind -> alternatives, each a conjunction of conditions; the first kind that holds wins.
# Field names are exact (case-sensitive, as in the store); a near miss leaves the event of
# unknown shape, which every non-Windows rule still sees.
WEB_FIELDS = [
    "cs-method",
    "c-uri",
    "cs-uri-query",
    "sc-status",
    "c-useragent",
    "cs-user-agent",
    "cs-host",
    "r-dns",
    "cs-uri-stem",
    "cs-uri",
    "cs-referer",
    "c-uri-query",
    "c-uri-extension",
]
SHAPES: tuple[tuple[str, tuple[tuple[Condition, ...], ...]], ...] = (
    (AWS, ((EndsWith("eventSource", "amazonaws.com"), Present("eventName")),)),
    (
        GCP,
        (
            (Present("protoPayload"),),
            (Present("data.protoPayload"),),
        ),
    ),
    (OKTA, ((Present("eventType"), Present("displayMessage")),)),
    (M365, ((Present("Workload"), Present("Operation")),)),
    (GITHUB, ((Present("action"), Present("org")), (Present("action"), Present("business")))),
    (
        AZURE,
        tuple(
            (Present(op), Present(other))
            for op in ("operationName", "OperationName", "OperationNameValue")
            for other in (
                "category",
                "Category",
                "CategoryValue",
                "resultType",
                "ResultType",
                "resourceId",
                "ResourceId",
            )
        ),
    ),
    (WEB, tuple((Present(f),) for f in WEB_FIELDS)),
    (
        LINUX_AUDITD,
        (
            (OneOf("type", AUDITD_TYPES),),
            (Present("syscall"), Present("exe")),
            (Present("syscall"), Present("a0")),
        ),
    ),
    (
        LINUX_SYSLOG,
        (
            (Present("SYSLOG_IDENTIFIER"),),
            (Present("facility"), Present("program")),
            (Present("facility"), Present("appname")),
        ),
    ),
)
SHAPE_KINDS = tuple(kind for kind, _ in SHAPES)
LINUX_KINDS = frozenset({LINUX_AUDITD, LINUX_SYSLOG, LINUX_SYSMON_KIND})
PRODUCT_SHAPES = {"aws": AWS, "azure": AZURE, "gcp": GCP, "okta": OKTA, "m365": M365}
PRODUCT_SHAPES["github"] = GITHUB
WEB_CATEGORIES = frozenset({"webserver", "proxy"})
WEB_SERVICES = frozenset({"apache", "nginx"})


def _has_value(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(_has_value(v) for v in value)
    if isinstance(value, dict):
        return any(_has_value(v) for v in value.values())
    return True


def _values_at(obj: dict[str, Any], path: str) -> list[Any]:
    """Values at a dotted path, through nested objects and dotted keys (as the store maps them)."""
    out: list[Any] = []
    if path in obj:
        out.append(obj[path])
    prefix = path + "."
    if any(isinstance(k, str) and k.startswith(prefix) for k in obj):
        out.append({k: v for k, v in obj.items() if isinstance(k, str) and k.startswith(prefix)})
    if "." in path:
        parts = path.split(".")
        for i in range(1, len(parts)):
            sub = obj.get(".".join(parts[:i]))
            if isinstance(sub, dict):
                out.extend(_values_at(sub, ".".join(parts[i:])))
    return out


def _strings(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, str):
                out.append(item.lower())
    return out


def condition_holds(cond: Condition, event: dict[str, Any], dotted: bool = True) -> bool:
    """``dotted``: the event may have dotted keys (False allows a plain key look-up)."""
    if dotted or "." in cond.field:
        values = _values_at(event, cond.field)
    else:
        values = [event[cond.field]] if cond.field in event else []
    if isinstance(cond, Present):
        return any(_has_value(v) for v in values)
    if isinstance(cond, OneOf):
        return any(s in cond.values for s in _strings(values))
    return any(s.endswith(cond.suffix) for s in _strings(values))


# First path segments of every shape field: an event with none of them has no known shape.
SHAPE_ROOTS = frozenset(
    c.field.split(".")[0] for _, alternatives in SHAPES for conds in alternatives for c in conds
)

_SHAPE_FIELDS = tuple(
    (kind, tuple((frozenset(c.field.split(".")[0] for c in conds), conds) for conds in alts))
    for kind, alts in SHAPES
)


def event_shape(event: dict[str, Any]) -> str:
    """Kind of a non-Windows event from its shape (SHAPES), or NON_WINDOWS if unknown."""
    dotted = any(isinstance(k, str) and "." in k for k in event)
    if not dotted and SHAPE_ROOTS.isdisjoint(event):
        return NON_WINDOWS
    keys = event.keys()
    for kind, alternatives in _SHAPE_FIELDS:
        for roots, conditions in alternatives:
            if not dotted and not keys >= roots:
                continue
            if all(condition_holds(c, event, dotted) for c in conditions):
                return kind
    return NON_WINDOWS


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
        channel = event_channel(event)
        if channel == LINUX_SYSMON:
            return (LINUX_SYSMON_KIND, channel, event_id(event))
        return (WINDOWS, channel, event_id(event))
    return (event_shape(event), "", None)


@dataclass(frozen=True)
class LogsourceFilter:
    """Decides which events a rule's logsource applies to.

    ``kind``: "windows" (Windows events only), "other" (non-Windows only) or "any".
    ``pairs``: allowed (channel, EventIDs-or-None) combinations (None = any Windows event; for
    "other", the Sysmon for Linux events accepted, None = all of them).
    ``shapes``: for "other", the known event shapes accepted (None = every shape but Sysmon for
    Linux, as for a logsource we cannot place). Events of unknown shape are always accepted.
    """

    kind: str
    pairs: tuple[tuple[str, frozenset[int] | None], ...] | None = None
    exclude_channels: frozenset[str] = frozenset()
    registry_types: frozenset[str] | None = None
    shapes: frozenset[str] | None = None

    def accepts_key(self, key: EventKey) -> bool:
        """Static (cacheable) check on the event key."""
        kind, channel, eid = key
        if self.kind == "any":
            return True
        if self.kind == NON_WINDOWS and kind != WINDOWS:
            if kind == NON_WINDOWS:
                return True
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
    """The event shapes a non-Windows logsource can match (lower-case arguments)."""
    if product == "linux":
        if service == "auditd":
            return LogsourceFilter(NON_WINDOWS, shapes=frozenset({LINUX_AUDITD}))
        if category in LINUX_SYSMON_CATEGORIES:
            pairs = ((LINUX_SYSMON, LINUX_SYSMON_CATEGORIES[category]),)
            return LogsourceFilter(NON_WINDOWS, pairs, shapes=frozenset({LINUX_SYSMON_KIND}))
        return LogsourceFilter(NON_WINDOWS, shapes=LINUX_KINDS)
    if product in PRODUCT_SHAPES:
        return LogsourceFilter(NON_WINDOWS, shapes=frozenset({PRODUCT_SHAPES[product]}))
    if product is None and (category in WEB_CATEGORIES or service in WEB_SERVICES):
        return LogsourceFilter(NON_WINDOWS, shapes=frozenset({WEB}))
    return LogsourceFilter(NON_WINDOWS)
