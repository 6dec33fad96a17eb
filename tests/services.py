"""Real services for tests: their URLs come from SOC_TEST_*_URL (set by ./test.sh after
deploy/services.sh starts them). Without one, its tests skip locally and fail under CI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.engine import make_url

ENV = {
    "postgresql": "SOC_TEST_DATABASE_URL",
    "redis": "SOC_TEST_REDIS_URL",
    "opensearch": "SOC_TEST_OPENSEARCH_URL",
    "oidc": "SOC_TEST_OIDC_ISSUER",  # deploy/oidc.sh: a local OpenID Connect provider
}


def service_url(name: str) -> str:
    """The service's URL, or skip (fail in CI: a green CI must have tested it for real)."""
    url = os.environ.get(ENV[name])
    if url and name == "redis":
        return _worker_redis(url)
    if url:
        return url
    message = f"{ENV[name]} is not set: start the services with deploy/services.sh start"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _worker_redis(url: str) -> str:
    """Under pytest-xdist a Redis database per worker (gw0 -> 1, gw1 -> 2, ...): Celery
    workers started by tests consume the default queue, which must not be another worker's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    number = 1 + int(worker[2:]) % 15  # Redis has databases 0-15; 0 stays the sequential run's
    return make_url(url).set(database=str(number)).render_as_string(hide_password=False)


def _admin_conninfo(url: str) -> str:
    parsed = make_url(url)
    return f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} dbname=postgres"


def _database_url(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def admin(url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        yield conn


def create_database(url: str, template: str | None = None) -> tuple[str, str]:
    """A new database on the test server (copied from a template if given): (name, url)."""
    name = f"soc_t_{uuid.uuid4().hex[:12]}"
    with admin(url) as conn:
        suffix = f" TEMPLATE {template}" if template else ""
        conn.execute(f"CREATE DATABASE {name}{suffix}")
    return name, _database_url(url, name)


def drop_database(url: str, name: str) -> None:
    with admin(url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
