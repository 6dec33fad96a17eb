"""`soc users set-role`, `soc users end-sessions` and `soc users access` on a real SQLite
database: output, exit codes, the sessions ended, the CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from soc.core.db import Database
from soc.core.errors import DomainError
from soc.core.settings import get_settings
from tenants import service as tenant_service
from tenants.access import APPROVER_COLUMNS, COLUMNS
from tests.tenants.test_admin_cli import data_dir, onboard_acme, soc

__all__ = ["data_dir"]  # the fixture, used by name


def test_set_role_end_sessions_and_the_access_csv(data_dir: Path) -> None:
    code, out = onboard_acme()
    assert code == 0, out
    code, out = soc("users", "reset-password", "acme-ann")
    password = out.split("(shown once): ")[1].strip()
    db = Database(get_settings().sqlalchemy_url)
    try:
        token, _ = tenant_service.login(db, "acme-ann", password, None, 5)

        def works() -> bool:
            try:
                with db.read_session() as session:
                    tenant_service.principal_from_token(session, token)
                return True
            except DomainError:
                return False

        assert works()
        code, out = soc("users", "set-role", "acme-ann", "risk_owner")
        assert code == 0 and "acme-ann is now risk_owner; sessions ended" in out
        assert not works()
        token, _ = tenant_service.login(db, "acme-ann", password, None, 5)
        code, out = soc("users", "end-sessions", "acme-ann")
        assert code == 0 and "1 session(s) of acme-ann ended" in out
        assert not works()
    finally:
        db.engine.dispose()
    code, out = soc("users", "set-role", "acme-ann", "provider")
    assert code == 1 and "needs a user of a provider" in out
    code, out = soc("users", "set-role", "nobody", "customer")
    assert code == 1 and "not found" in out

    code, out = soc("users", "access")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == COLUMNS
    assert {r["username"]: (r["role"], r["approver"]) for r in rows} == {
        "acme-ann": ("risk_owner", "no"),
        "acme-bob": ("customer", "yes"),
    }
    code, out = soc("users", "access", "--approvers")
    assert code == 0
    assert out.splitlines() == [",".join(APPROVER_COLUMNS), "acme,Acme NV,1"]
