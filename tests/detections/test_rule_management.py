"""Rule state precedence, exception semantics, the per-tenant view cache, retro-hunt on the
OpenSearch store, and migration 0003 down and up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from alembic import command

from detections import service as mgmt
from detections.engine import RuleSet
from detections.exceptions import ExceptionFilter, normalise_conditions, suppressed_by
from detections.retrohunt import HuntProgress, day_windows, retro_hunt
from detections.tenant_view import Setting, effective_enabled
from ingest.events import normalise
from ingest.store.opensearch import OpenSearchEventStore
from soc.core.errors import Invalid
from soc.core.migrate import alembic_config, upgrade
from soc.core.principal import SYSTEM
from soc.services import Services
from tests.conftest import World
from tests.helpers import whoami_event
from tests.store import conftest as store_fixtures

opensearch_url = store_fixtures.opensearch_url  # the real node (shared fixtures)
os_store = store_fixtures.os_store

WHOAMI = "e6fb6eac-9ce3-4c04-b51b-cdaed8a36161"


def test_rule_setting_wins_then_latest_bulk(builtin_rules: RuleSet) -> None:
    rule = next(r for r in builtin_rules.rules if r.id == WHOAMI)  # level low, windows
    assert effective_enabled(rule, []) is True
    off_low = Setting("level", "low", False)
    on_windows = Setting("product", "windows", True)
    assert effective_enabled(rule, [off_low]) is False
    assert effective_enabled(rule, [off_low, on_windows]) is True  # later bulk wins
    assert effective_enabled(rule, [on_windows, off_low]) is False
    assert effective_enabled(rule, [Setting("rule", WHOAMI, True), off_low]) is True
    assert effective_enabled(rule, [Setting("tag", "ATTACK.T1033", False)]) is False


def test_exception_modifiers_and_expiry() -> None:
    now = datetime.now(UTC)
    conditions = normalise_conditions(
        [
            {"field": "Image", "modifier": "endswith", "value": "\\WHOAMI.exe"},
            {"field": "commandline", "modifier": "contains", "value": ["/ALL", "/priv"]},
        ]
    )
    flt = ExceptionFilter.build(1, conditions, None)
    event = whoami_event()
    assert suppressed_by([flt], event, now) == 1
    assert suppressed_by([flt], event | {"CommandLine": "whoami"}, now) is None  # AND
    expired = ExceptionFilter.build(2, conditions, now - timedelta(seconds=1))
    assert suppressed_by([expired], event, now) is None
    # Security 4688 aliases apply as in the matcher (NewProcessName -> Image)
    security = {"EventID": 4688, "Channel": "Security", "NewProcessName": "C:\\x\\whoami.exe"}
    only_image = ExceptionFilter.build(3, normalise_conditions(conditions[:1]), None)
    assert suppressed_by([only_image], security, now) == 3
    for bad in ([], [{"field": "", "value": "x"}], [{"field": "a", "modifier": "like"}]):
        with pytest.raises(Invalid):
            normalise_conditions(bad)


def test_view_is_cached_until_the_revision_moves(services: Services, world: World) -> None:
    views = services.detector.views
    with services.db.session() as session:
        first = views.get(session, 1)
        assert first.ruleset is services.ruleset  # no changes: the shared rule set
        assert views.get(session, 1) is first
        mgmt.create_exception(
            session, SYSTEM, views, "alpha", WHOAMI, [{"field": "Computer", "value": "x"}], "r"
        )
    with services.db.session() as session:
        second = views.get(session, 1)
        assert second is not first and WHOAMI in second.exceptions
        assert second.ruleset is services.ruleset
        mgmt.set_state(session, SYSTEM, views, "alpha", "level", "low", False)
    with services.db.session() as session:
        third = views.get(session, 1)
        assert WHOAMI in third.disabled
        assert all(r.id != WHOAMI for r in third.ruleset.rules)
        assert views.get(session, 2).ruleset is services.ruleset  # beta untouched


def test_retro_hunt_on_opensearch(
    services: Services, world: World, os_store: OpenSearchEventStore
) -> None:
    now = datetime.now(UTC)
    old = whoami_event("os-1", minutes_ago=60 * 30)
    new = whoami_event("os-2", minutes_ago=5)
    too_old = whoami_event("os-3", minutes_ago=60 * 24 * 4)
    events = [normalise(e, orjson.dumps(e), 1, now) for e in (old, new, too_old)]
    os_store.write(events)
    os_store.refresh(1)
    steps: list[tuple[int, int, int, int, int]] = []

    def progress(p: HuntProgress) -> None:
        steps.append((p.windows_done, p.windows, p.scanned, p.total, p.matched))

    with services.db.session() as session:
        view = services.detector.views.get(session, 1)
        rule = view.rules[WHOAMI]
        result = retro_hunt(session, os_store, view, rule, 3, progress=progress)
        again = retro_hunt(session, os_store, view, rule, 3)
    assert result.matched == 2 and result.new_alerts == 2 and result.scanned == 2
    assert again.new_alerts == 0 and again.existing_alerts == 2
    assert steps[0] == (0, 3, 0, 2, 0) and steps[-1] == (3, 3, 2, 2, 2)
    with pytest.raises(Invalid):
        day_windows(0, now)


def test_migration_0003_down_and_up_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    config = alembic_config(url)
    command.downgrade(config, "0002")
    names = set(sa.inspect(sa.create_engine(url)).get_table_names())
    assert "rule_exceptions" not in names and "tenant_rules" not in names
    upgrade(url)
    names = set(sa.inspect(sa.create_engine(url)).get_table_names())
    assert {
        "rule_settings",
        "tenant_rules",
        "rule_exceptions",
        "field_mappings",
        "detection_revisions",
    } <= names
