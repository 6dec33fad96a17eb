"""Kinds of non-Windows events: recognised from the event's shape, or declared by the event.

An event's kind decides which rules it reaches (detections.engine.logsources.LogsourceFilter).
A Windows event is one with a Channel (or EventID and Provider_Name). Any other event is, in
this order:

1. **declared**: it carries its own Sigma log source, the object ``logsource`` with ``product``
   (required), ``service`` and ``category`` (or the flat keys ``logsource.product``, ... as a
   shipper or a tenant's field map writes them). It reaches the rules of that product whose
   service and category agree (a side that names none agrees with any), and the rules without a
   product. This is how sources without a recognisable shape (Zeek, macOS, network devices, ...)
   reach their rules: the shipper adds the field, or the tenant maps one of its fields to it.
2. of a **known shape** (SHAPES: AWS CloudTrail, Azure, GCP, Okta, M365, GitHub, web server
   logs, auditd, syslog): it reaches the rules of that product.
3. of **unknown shape**: it reaches only the rules without a product (``condition: not ...``
   rules of another product never see it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WINDOWS = "windows"
NON_WINDOWS = "other"  # a non-Windows event of unknown shape (and the rules' non-Windows kind)
DECLARED = "declared"  # a non-Windows event carrying its own log source (DECLARED_FIELD)
DECLARED_FIELD = "logsource"
DECLARED_PARTS = ("product", "category", "service")
DECLARED_SEPARATOR = "\x1f"

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
# unknown shape, which only the rules without a product see.
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
            (Present("facility"), Present("programname")),
            (Present("ident"), Present("pri")),
            (Present("PROGRAM"), Present("FACILITY")),
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


def declared_logsource(event: dict[str, Any]) -> str | None:
    """The event's own log source as "product<US>category<US>service" (lower case, "" for a
    part not given), or None when it declares none (no string ``product``)."""
    obj = event.get(DECLARED_FIELD)
    if isinstance(obj, dict):
        values = [obj.get(part) for part in DECLARED_PARTS]
    elif DECLARED_FIELD + ".product" in event:
        values = [event.get(f"{DECLARED_FIELD}.{part}") for part in DECLARED_PARTS]
    else:
        return None
    if not isinstance(values[0], str) or not values[0]:
        return None
    sep = DECLARED_SEPARATOR
    return sep.join(v.lower().replace(sep, "") if isinstance(v, str) else "" for v in values)


def declared_parts(declared: str) -> tuple[str, str, str]:
    """(product, category, service) of a declared_logsource string."""
    product, category, service = declared.split(DECLARED_SEPARATOR)
    return product, category, service
