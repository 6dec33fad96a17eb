"""Fixtures for service and API tests: a migrated database in a temp dir, the app, and a
world of two tenants with a user of every role and an ingest key each."""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from detections.engine import RuleSet
from soc.app import create_app
from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import BUILTIN_RULES, Services, build_services
from tenants import scope as scope_service
from tenants import service as tenant_service
from tests.services import create_database, drop_database, service_url

# The shared demo server of the browser journeys (`demo_site`, `browser_page`); scheduling
# and locks for pytest-xdist workers (tests/parallel.py).
pytest_plugins = ["tests.web.demo_server", "tests.parallel"]

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def builtin_rules() -> RuleSet:
    return RuleSet.from_dirs([BUILTIN_RULES])


@pytest.fixture
def db_backend() -> str:
    """The relational database under test; tests/api and tests/cli run on both (their
    conftest overrides this with params sqlite and postgresql)."""
    return "sqlite"


@pytest.fixture
def settings(tmp_path: Path, db_backend: str, request: pytest.FixtureRequest) -> Settings:
    """Settings for one test: data under tmp_path; on PostgreSQL a database of its own, copied
    from the migrated template (with the world in it when the test uses `world`)."""
    url = None
    if db_backend == "postgresql":
        server = service_url("postgresql")
        templates: PgTemplates = request.getfixturevalue("pg_templates")
        template = templates.world if "world" in request.fixturenames else templates.empty
        name, url = create_database(server, template)
        request.addfinalizer(lambda: drop_database(server, name))
    return Settings(
        data_dir=tmp_path / "var", database_url=url, max_event_bytes=4096, max_request_bytes=200_000
    )


@pytest.fixture
def services(
    settings: Settings, builtin_rules: RuleSet, db_backend: str, request: pytest.FixtureRequest
) -> Iterator[Services]:
    """Services on a fresh database: a copy of the world template when the test uses `world`
    (argon2 hashing a dozen users per test would cost seconds), else a copy of the migrated
    template (running every migration costs about half a second a test)."""
    if db_backend == "postgresql":
        pass  # the database was copied from a migrated template in `settings`
    elif "world" in request.fixturenames:
        template: Path = request.getfixturevalue("world_template")[0]
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, settings.data_dir / "soc.db")
    elif settings.database_url is None:  # SQLite in data_dir, as the world's copy above
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(request.getfixturevalue("sqlite_template"), settings.data_dir / "soc.db")
    else:
        upgrade(settings.sqlalchemy_url)
    built = build_services(settings, ruleset=builtin_rules)
    yield built
    built.close()


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services)) as test_client:
        yield test_client


@dataclass
class Actor:
    username: str
    role: str
    tenant: str | None
    totp_secret: str | None
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    actors: dict[str, Actor] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Actor:
        return self.actors[name]


ROLE_SCOPES = {
    "admin": None,
    "soc_analyst": None,
    "authority": None,
    "finance": None,
    "customer": "tenant",
    "risk_owner": "tenant",
    "provider": "provider",
}
# Provider-scoped users beyond the `provider` role: an analyst and a finance officer working
# for each provider. prov-a serves alpha and prov-b serves beta (see build_world).
PROVIDER_STAFF = ("soc_analyst-prov-a", "soc_analyst-prov-b", "finance-prov-a", "finance-prov-b")
PROVIDER_SCOPED = ("provider-prov-a", "provider-prov-b", *PROVIDER_STAFF)


def build_world(url: str) -> World:
    """Tenants 'alpha' and 'beta', providers 'prov-a' (serves alpha) and 'prov-b' (serves
    beta); per tenant a customer and a risk owner ('customer-alpha', ...); global admin,
    analyst, authority and finance; per provider a provider user, an analyst and a finance
    officer scoped to it ('provider-prov-a', 'soc_analyst-prov-a', 'finance-prov-a', ...); an
    ingest key per tenant; everyone logged in (tokens valid for hours)."""
    upgrade(url)
    db = Database(url)
    built = World()
    with db.session() as session:
        for slug in ("alpha", "beta"):
            tenant_service.create_tenant(session, SYSTEM, slug, slug.title())
        for slug in ("prov-a", "prov-b"):
            tenant_service.create_provider(session, SYSTEM, slug, slug.upper())

        def add(username: str, role: str, tenant: str | None, provider: str | None) -> None:
            created = tenant_service.create_user(
                session, SYSTEM, username, PASSWORD, role, tenant, provider
            )
            built.actors[username] = Actor(username, role, tenant, created.totp_secret)

        for role, scope in ROLE_SCOPES.items():
            if scope == "tenant":
                for slug in ("alpha", "beta"):
                    add(f"{role}-{slug}", role, slug, None)
            elif scope == "provider":
                for slug in ("prov-a", "prov-b"):
                    add(f"{role}-{slug}", role, None, slug)
            else:
                add(role, role, None, None)
        for name in PROVIDER_STAFF:
            role, provider = name.split("-", 1)
            add(name, role, None, provider)
        for provider, tenant in (("prov-a", "alpha"), ("prov-b", "beta")):
            scope_service.serve(session, SYSTEM, provider, tenant)
        for slug in ("alpha", "beta"):
            key, secret = tenant_service.create_api_key(session, SYSTEM, slug, "test")
            built.keys[slug], built.key_ids[slug] = secret, key.id
    for actor in built.actors.values():  # a login opens its own transactions
        # The previous step's code (still accepted): tests may then log in with now().
        totp = pyotp.TOTP(actor.totp_secret) if actor.totp_secret else None
        code = totp.at(time.time() - totp.interval) if totp else None
        actor.token, _ = tenant_service.login(db, actor.username, PASSWORD, code, 600)
    db.engine.dispose()
    return built


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file, built once; each test gets a copy of the file."""
    db_path = tmp_path_factory.mktemp("migrated") / "soc.db"
    upgrade(f"sqlite:///{db_path}")
    return db_path


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """The world in a SQLite file, built once; each test gets a copy of the file."""
    db_path = tmp_path_factory.mktemp("world") / "soc.db"
    return db_path, build_world(f"sqlite:///{db_path}")


@dataclass
class PgTemplates:
    empty: str
    world: str
    world_actors: World


@pytest.fixture(scope="session")
def pg_templates() -> Iterator[PgTemplates]:
    """Two template databases on the test PostgreSQL server, built once: migrated, and
    migrated with the world; each test copies one (CREATE DATABASE ... TEMPLATE)."""
    server = service_url("postgresql")
    empty, empty_url = create_database(server)
    upgrade(empty_url)
    world, world_url = create_database(server)
    actors = build_world(world_url)
    yield PgTemplates(empty, world, actors)
    drop_database(server, empty)
    drop_database(server, world)


@pytest.fixture
def world(db_backend: str, services: Services, request: pytest.FixtureRequest) -> World:
    """The template world, on this test's own copy of the database (see `services`)."""
    if db_backend == "postgresql":
        return copy.deepcopy(request.getfixturevalue("pg_templates").world_actors)
    return copy.deepcopy(request.getfixturevalue("world_template")[1])


@pytest.fixture(scope="session")
def corpus_ruleset() -> RuleSet:
    """All SigmaHQ corpus rules, loaded once per test session (about 7 s)."""
    from tests.detections.conftest import CORPUS, RULE_DIRS, corpus_available

    if not corpus_available():
        pytest.skip("SigmaHQ corpus not available")
    return RuleSet.from_dirs([CORPUS / d for d in RULE_DIRS])
