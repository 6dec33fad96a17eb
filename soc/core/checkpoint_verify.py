"""Check a tenant's audit bundle (soc.core.checkpoints) with the public key alone: no
database, no trust in whoever handed the bundle over.

Every entry's hash is recomputed from its content and looked up, by id, in the tenant's
signed statements; the statements are checked for their signatures and their links. Each
problem names the entry (or the checkpoint) it is about, in id order, so the first one is
the first bad entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from soc.core import signing
from soc.core.audit import FIELDS, GENESIS, fields_digest
from soc.core.checkpoints import BUNDLE_FORMAT, CHECKPOINT_FORMAT, TENANT_FORMAT


@dataclass(order=True)
class Problem:
    entry_id: int  # 0 when the problem is with the bundle or a checkpoint as a whole
    reason: str

    def __str__(self) -> str:
        return f"entry {self.entry_id}: {self.reason}" if self.entry_id else self.reason


@dataclass
class BundleReport:
    tenant_id: int | None = None
    checkpoint: int | None = None
    at: str | None = None
    head_id: int | None = None
    key_id: str | None = None
    entries: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Unusable(Exception):
    """The bundle cannot be read at all."""


def _signed(public: Ed25519PublicKey, part: Any, kind: str, what: str) -> dict[str, Any]:
    """A signed statement's content, after its signature and format are checked."""
    if not isinstance(part, dict) or not isinstance(part.get("statement"), str):
        raise _Unusable(f"{what} is missing or malformed")
    text, signature = part["statement"], part.get("signature")
    if not isinstance(signature, str) or not signing.check(public, text.encode(), signature):
        raise _Unusable(f"{what}: the signature does not verify with the given public key")
    content = orjson.loads(text)
    if not isinstance(content, dict) or content.get("format") != kind:
        raise _Unusable(f"{what} is not a {kind} statement")
    return content


def verify_bundle(data: bytes, public: Ed25519PublicKey) -> BundleReport:
    report = BundleReport(key_id=signing.key_id(public))
    try:
        _verify(data, public, report)
    except _Unusable as exc:
        report.problems.append(Problem(0, str(exc)))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        report.problems.append(Problem(0, f"the bundle is malformed ({exc.__class__.__name__})"))
    report.problems.sort()
    return report


def _verify(data: bytes, public: Ed25519PublicKey, report: BundleReport) -> None:
    bundle = orjson.loads(data)
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise _Unusable("not an audit bundle")
    tenant = bundle["tenant_id"]
    report.tenant_id = tenant
    head = _signed(public, bundle.get("checkpoint"), CHECKPOINT_FORMAT, "the checkpoint")
    report.checkpoint, report.at = head["checkpoint"], head["at"]
    report.head_id = head["head"]["id"]
    signed = _statements(public, bundle.get("statements"), tenant, head, report)
    problems = report.problems
    seen: set[int] = set()
    last_id = 0
    for entry in bundle.get("entries") or []:
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(entry_id, int) or isinstance(entry_id, bool):
            raise _Unusable("an entry without an id")
        report.entries += 1
        if entry_id <= last_id:
            problems.append(Problem(entry_id, f"out of order (after entry {last_id})"))
        last_id = max(last_id, entry_id)
        seen.add(entry_id)
        if entry.get("tenant_id") != tenant:
            problems.append(Problem(entry_id, "belongs to another tenant than the bundle's"))
        if set(entry) != {*FIELDS, "hash"}:
            problems.append(Problem(entry_id, "has missing or extra fields"))
        digest = fields_digest(entry)
        if digest != entry.get("hash"):
            problems.append(Problem(entry_id, "content does not match its hash (entry edited)"))
        if entry_id not in signed:
            problems.append(
                Problem(entry_id, "is not in any signed checkpoint (entry added or moved)")
            )
        elif signed[entry_id][0] != digest:
            problems.append(
                Problem(
                    entry_id,
                    f"differs from the hash signed in checkpoint {signed[entry_id][1]} "
                    "(entry edited)",
                )
            )
    for entry_id, (_, number) in signed.items():
        if entry_id not in seen:
            problems.append(
                Problem(entry_id, f"signed in checkpoint {number} but not in the bundle (removed)")
            )


def _statements(
    public: Ed25519PublicKey,
    parts: Any,
    tenant: Any,
    head: dict[str, Any],
    report: BundleReport,
) -> dict[int, tuple[str, int]]:
    """Entry id -> (signed hash, checkpoint number) from the tenant's chain of statements."""
    if not isinstance(parts, list) or not parts:
        raise _Unusable("the bundle has no signed statement of its tenant")
    signed: dict[int, tuple[str, int]] = {}
    previous, number, total = GENESIS, 0, 0
    for part in parts:
        what = "a tenant statement"
        content = _signed(public, part, TENANT_FORMAT, what)
        at = content["checkpoint"]
        what = f"checkpoint {at}"
        if content["tenant_id"] != tenant:
            raise _Unusable(f"{what} is another tenant's statement")
        if at <= number:
            raise _Unusable(f"{what} is out of order (after checkpoint {number})")
        if content["previous"] != previous:
            report.problems.append(
                Problem(0, f"{what}: the tenant's previous statement is missing (removed)")
            )
        for entry_id, entry_hash in content["entries"]:
            if entry_id in signed:
                raise _Unusable(f"{what} signs entry {entry_id} twice")
            signed[entry_id] = (entry_hash, at)
        total += len(content["entries"])
        if content["total"] != total:
            report.problems.append(
                Problem(0, f"{what}: counts {content['total']} entries, the chain {total}")
            )
        previous, number = hashlib.sha256(part["statement"].encode()).hexdigest(), at
    if number != head["checkpoint"] or content["head"] != head["head"]:
        raise _Unusable("the newest tenant statement is not the bundle's checkpoint")
    return signed
