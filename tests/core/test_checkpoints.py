"""Signed audit checkpoints on PostgreSQL: a customer's bundle verifies with the public key
alone (the command runs with no database reachable), holds nothing of another tenant's, and
an entry edited, removed or reordered — or a bundle signed by another key — fails, naming
the first bad entry."""

from __future__ import annotations

from pathlib import Path

import orjson
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from soc.cli import app as cli_app
from soc.core import audit, checkpoints, signing
from soc.core.checkpoint_verify import verify_bundle
from soc.core.errors import Conflict
from soc.core.settings import get_settings
from soc.services import Services
from tenants.models import Tenant
from tests.conftest import World

# Global routes (no tenant in the path): their roles are tested here; the bundle route has
# its probe in tests/api/test_isolation.py as well.
ISOLATION_COVERED = {
    ("POST", "/api/v1/audit/checkpoints"),
    ("GET", "/api/v1/audit/checkpoints"),
}
BETA_MARKER = "beta-only-secret-7f3a"


@pytest.fixture
def db_backend() -> str:
    return "postgresql"


@pytest.fixture
def ids(services: Services, world: World) -> dict[str, int]:
    """Tenant ids, and a few entries of each tenant between them (interleaved)."""
    with services.db.session() as session:
        found = dict(session.execute(select(Tenant.slug, Tenant.id)).all())
        for n in range(3):
            for slug in ("alpha", "beta"):
                marker = BETA_MARKER if slug == "beta" else "alpha-note"
                audit.record(
                    session,
                    actor="soc_analyst",
                    action="case.commented",
                    object_type="case",
                    object_id=n,
                    tenant_id=found[slug],
                    detail={"note": f"{marker} {n}"},
                )
    return found


def public_key_file(services: Services, tmp_path: Path) -> Path:
    path = tmp_path / "integrator.pub.pem"
    path.write_bytes(signing.public_pem(signing.signing_key(services.settings).public_key()))
    return path


def intruder(services: Services, *statements: str) -> None:
    """SQL as someone with superuser access to the database, outside the application."""
    url = str(services.settings.database_url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as db:
        db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        for statement in statements:
            db.execute(statement)


def bundle_of(services: Services, tenant_id: int) -> bytes:
    with services.db.read_session() as session:
        return orjson.dumps(checkpoints.bundle(session, tenant_id))


def verify_offline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bundle: bytes, key: Path
) -> tuple[int, str]:
    """`soc audit verify --anchor BUNDLE --public-key KEY` with no database to reach."""
    path = tmp_path / "bundle.json"
    path.write_bytes(bundle)
    monkeypatch.setenv("SOC_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "nowhere"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli_app, ["audit", "verify", "--anchor", str(path), "--public-key", str(key)]
        )
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.output


def test_a_customer_verifies_its_bundle_with_the_public_key_alone(
    client: TestClient,
    world: World,
    services: Services,
    ids: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin, customer = world["admin"].headers, world["customer-alpha"].headers
    before = client.get("/api/v1/tenants/alpha/audit/bundle", headers=customer)
    assert before.status_code == 409  # no checkpoint yet
    taken = client.post("/api/v1/audit/checkpoints", headers=admin)
    assert taken.status_code == 201, taken.text
    assert taken.json()["head_id"] >= 6
    answer = client.get("/api/v1/tenants/alpha/audit/bundle", headers=customer)
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    bundle = orjson.loads(answer.content)

    # Only alpha's own entries and statements; nothing of beta's, not even its text.
    assert {e["tenant_id"] for e in bundle["entries"]} == {ids["alpha"]}
    assert BETA_MARKER not in answer.text
    for part in bundle["statements"]:
        assert orjson.loads(part["statement"])["tenant_id"] == ids["alpha"]
    with services.db.read_session() as session:
        beta_hashes = set(
            session.scalars(
                select(audit.AuditEntry.hash).where(audit.AuditEntry.tenant_id == ids["beta"])
            )
        )
    signed = {h for p in bundle["statements"] for _, h in orjson.loads(p["statement"])["entries"]}
    assert not beta_hashes & signed
    assert client.get("/api/v1/tenants/beta/audit/bundle", headers=customer).status_code == 404

    key = public_key_file(services, tmp_path)
    code, out = verify_offline(monkeypatch, tmp_path, answer.content, key)
    assert code == 0, out
    assert f"entries of tenant {ids['alpha']} verified against checkpoint 1" in out

    # A second checkpoint after more entries: the bundle carries both linked statements.
    with services.db.session() as session:
        audit.record(
            session,
            actor="cli",
            action="tenant.updated",
            object_type="tenant",
            object_id=ids["alpha"],
            tenant_id=ids["alpha"],
        )
        checkpoints.take(session, services.settings, "cli")
    later = bundle_of(services, ids["alpha"])
    report = verify_bundle(later, signing.load_public_key(key))
    assert report.ok and report.checkpoint == 2 and report.entries == len(bundle["entries"]) + 1

    # A statement dropped from the bundle breaks the link to the next one.
    cut = orjson.loads(later)
    cut["statements"] = cut["statements"][1:]
    problems = [
        str(p) for p in verify_bundle(orjson.dumps(cut), signing.load_public_key(key)).problems
    ]
    assert "checkpoint 2: the tenant's previous statement is missing (removed)" in problems


def test_an_edited_entry_fails_naming_it(
    services: Services, ids: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with services.db.session() as session:
        checkpoints.take(session, services.settings, "cli")
    key = public_key_file(services, tmp_path)
    good = orjson.loads(bundle_of(services, ids["alpha"]))
    victim, after = good["entries"][-2]["id"], good["entries"][-1]["id"]

    # Edited in the database (content only): its hash no longer matches.
    intruder(services, f"UPDATE audit_log SET detail = '{{}}' WHERE id = {victim}")
    code, out = verify_offline(monkeypatch, tmp_path, bundle_of(services, ids["alpha"]), key)
    assert code == 1
    assert f"entry {victim}: content does not match its hash (entry edited)" in out
    assert f"first bad entry {victim}" in out

    # Edited with its hash recomputed too: the signed statement still names it.
    forged = next(e for e in good["entries"] if e["id"] == victim) | {"detail": "{}"}
    forged_hash = audit.fields_digest(forged)
    intruder(services, f"UPDATE audit_log SET hash = '{forged_hash}' WHERE id = {victim}")
    report = verify_bundle(bundle_of(services, ids["alpha"]), signing.load_public_key(key))
    assert [str(p) for p in report.problems] == [
        f"entry {victim}: differs from the hash signed in checkpoint 1 (entry edited)"
    ]

    # Removed: named as signed but missing.
    intruder(services, f"DELETE FROM audit_log WHERE id = {after}")
    report = verify_bundle(bundle_of(services, ids["alpha"]), signing.load_public_key(key))
    assert f"entry {after}: signed in checkpoint 1 but not in the bundle (removed)" in [
        str(p) for p in report.problems
    ]

    # Damage since the last checkpoint is never signed (older entries are already in it).
    with services.db.session() as session:
        fresh = audit.record(
            session, actor="cli", action="x", object_type="t", object_id=1, tenant_id=ids["alpha"]
        ).id
    intruder(services, f"UPDATE audit_log SET actor = 'mallory' WHERE id = {fresh}")
    refused = pytest.raises(Conflict, match=f"entry {fresh} .* no checkpoint signed")
    with refused, services.db.session() as session:
        checkpoints.take(session, services.settings, "cli")


def test_reordered_entries_and_another_key_fail(
    services: Services, ids: dict[str, int], tmp_path: Path
) -> None:
    with services.db.session() as session:
        checkpoints.take(session, services.settings, "cli")
    public = signing.load_public_key(public_key_file(services, tmp_path))
    bundle = orjson.loads(bundle_of(services, ids["alpha"]))
    assert verify_bundle(orjson.dumps(bundle), public).ok

    swapped = dict(bundle)
    entries = list(bundle["entries"])
    entries[1], entries[2] = entries[2], entries[1]
    swapped["entries"] = entries
    problems = verify_bundle(orjson.dumps(swapped), public).problems
    assert (
        str(problems[0])
        == f"entry {entries[2]['id']}: out of order (after entry {entries[1]['id']})"
    )

    # Moved: two entries' contents exchanged between their ids.
    a, b = bundle["entries"][1], bundle["entries"][2]
    moved = dict(bundle)
    moved["entries"] = [
        *bundle["entries"][:1],
        b | {"id": a["id"]},
        a | {"id": b["id"]},
        *bundle["entries"][3:],
    ]
    named = {p.entry_id for p in verify_bundle(orjson.dumps(moved), public).problems}
    assert named == {a["id"], b["id"]}

    # Another key (a forger's, or a changed statement) fails at the signature.
    other = Ed25519PrivateKey.generate().public_key()
    report = verify_bundle(orjson.dumps(bundle), other)
    assert not report.ok
    assert "the signature does not verify with the given public key" in str(report.problems[0])
    edited = dict(bundle)
    statement = orjson.loads(bundle["statements"][-1]["statement"])
    statement["total"] += 1
    edited["statements"] = [
        {**bundle["statements"][-1], "statement": checkpoints.canonical(statement)}
    ]
    assert "signature does not verify" in str(
        verify_bundle(orjson.dumps(edited), public).problems[0]
    )


def test_checkpoint_routes_are_for_the_integrator(
    client: TestClient, world: World, ids: dict[str, int]
) -> None:
    for user, post, get in (
        ("admin", 201, 200),
        ("authority", 403, 200),
        ("soc_analyst", 403, 403),
        ("customer-alpha", 403, 403),
        ("provider-prov-a", 403, 403),
        ("finance", 403, 403),
    ):
        headers = world[user].headers
        assert client.post("/api/v1/audit/checkpoints", headers=headers).status_code == post, user
        assert client.get("/api/v1/audit/checkpoints", headers=headers).status_code == get, user
    listed = client.get("/api/v1/audit/checkpoints", headers=world["authority"].headers).json()
    assert [c["id"] for c in listed] == [1]
    assert (
        client.get("/api/v1/audit/checkpoints?limit=0", headers=world["admin"].headers).status_code
        == 422
    )


def test_a_daily_checkpoint_is_taken_once_per_period(
    services: Services, ids: dict[str, int]
) -> None:
    with services.db.session() as session:
        first = checkpoints.take_if_due(session, services.settings)
    with services.db.session() as session:
        again = checkpoints.take_if_due(session, services.settings)
    assert first == 1 and again is None
