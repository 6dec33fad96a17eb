"""Migrations 0012 (risk register) and 0013 (KRIs) go down and up again on SQLite and
PostgreSQL, and their unique indexes hold (one report per subject and version, with NULL
subjects; one DWH export per day; one common follow-up per month)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from soc.core.migrate import alembic_config, upgrade
from tests.services import create_database, drop_database, service_url

RISK_TABLES = {"risks", "risk_actions", "risk_nonconformities", "risk_followups"}
KRI_TABLES = {"kri_definitions", "kri_values", "kri_reports", "dwh_exports"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    server = service_url("postgresql")
    name, database_url = create_database(server)
    try:
        yield database_url
    finally:
        sa.create_engine(database_url).dispose()
        drop_database(server, name)


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_down_and_up(url: str) -> None:
    upgrade(url)
    assert tables(url) >= RISK_TABLES | KRI_TABLES
    command.downgrade(alembic_config(url), "0012")
    assert not KRI_TABLES & tables(url) and tables(url) >= RISK_TABLES
    command.downgrade(alembic_config(url), "0011")
    assert not (RISK_TABLES | KRI_TABLES) & tables(url)
    upgrade(url)
    assert tables(url) >= RISK_TABLES | KRI_TABLES


def test_unique_indexes_hold_with_null_subjects(url: str) -> None:
    upgrade(url)
    engine = sa.create_engine(url)
    report = (
        "INSERT INTO kri_reports (kind, period, version, reason, generated_at, generated_by,"
        " content, sha256) VALUES ('end_to_end', '2026-03', 1, '', '2026-04-09 06:00:00',"
        " 'system', '{}', 'x')"
    )
    followup = (
        "INSERT INTO risk_followups (month, generated_at, body, sha256)"
        " VALUES ('2026-03', '2026-04-01 06:00:00', '{}', 'x')"
    )
    export = (
        "INSERT INTO dwh_exports (day, schema_version, path, rows, sha256, created_at)"
        " VALUES ('2026-03-18', '1.0', 'p', '{}', 'x', '2026-03-18 00:30:00')"
    )
    try:
        for statement in (report, followup, export):
            with engine.begin() as conn:
                conn.execute(sa.text(statement))
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()
