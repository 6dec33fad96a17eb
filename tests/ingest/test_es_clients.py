"""The official Elasticsearch clients and opensearch-py ship to /es as to a cluster.

A real `soc run` server (uvicorn, its own SQLite database, two SigmaHQ rules) is started once;
each client then pings, reads the cluster info, ships real SigmaHQ sample events with
`helpers.bulk` and one more with `index()` (`POST /{index}/_doc`), and the test asserts through
the API that the events are stored and that each raised its case.

- `elasticsearch` 9.x is a dev dependency (imported here);
- `elasticsearch` 8.x cannot share the venv with 9.x: it is pip-installed once into
  `.venv/es-clients/elasticsearch-8` (PyPI only) and this file runs itself as a script in a
  subprocess with that directory first on `sys.path`;
- `opensearch-py` is a product dependency.

Run as a script: `python tests/ingest/test_es_clients.py CLIENT URL KEY HOST` ships like the
tests do and prints the outcome as JSON.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "sigmahq"
PROCESS = "windows/process_creation"
# (rule, SigmaHQ regression sample it detects)
SAMPLES = [
    (
        f"rules/{PROCESS}/proc_creation_win_bitsadmin_download_susp_extensions.yml",
        f"regression_data/rules/{PROCESS}/proc_creation_win_bitsadmin_download_susp_extensions"
        "/5b80a791-ad9b-4b75-bcc1-ad4e1e89c200.json",
    ),
    (
        f"rules/{PROCESS}/proc_creation_win_amsi_registry_tampering.yml",
        f"regression_data/rules/{PROCESS}/proc_creation_win_amsi_registry_tampering"
        "/7dbbcac2-57a0-45ac-b306-ff30a8bd2981.json",
    ),
]
ES8_SPEC = "elasticsearch>=8.15,<9"
ES8_DIR = ROOT / ".venv" / "es-clients" / "elasticsearch-8"
PASSWORD = "es-clients-password"
BENIGN = 40  # plain events shipped beside the samples by each client

# What the isolation walk (tests/api/test_isolation.py) finds covered here: every /es route
# takes only a tenant's ingest key (test_only_an_ingest_key_opens_every_es_route).
ISOLATION_COVERED = {
    ("HEAD", "/es/"),
    ("PUT", "/es/_bulk"),
    ("PUT", "/es/{index}/_bulk"),
    ("POST", "/es/{index}/_doc"),
    ("PUT", "/es/{index}/_doc/{doc_id}"),
    ("POST", "/es/{index}/_doc/{doc_id}"),
    ("PUT", "/es/{index}/_create/{doc_id}"),
    ("POST", "/es/{index}/_create/{doc_id}"),
}


def sample_events(host: str) -> list[dict[str, Any]]:
    """The SigmaHQ samples as shipped by a Windows agent, renamed to `host`."""
    events = []
    for _, sample in SAMPLES:
        event = json.loads((CORPUS / sample).read_text())
        event = copy.deepcopy(event)
        event["Event"]["System"]["Computer"] = host
        events.append(event)
    return events


def benign_events(host: str) -> list[dict[str, Any]]:
    return [
        {
            "@timestamp": "2026-01-05T10:00:00Z",
            "host": {"name": host},
            "message": f"{host} heartbeat {n}",
            "event": {"kind": "event", "sequence": n},
        }
        for n in range(BENIGN)
    ]


def ship(client_name: str, url: str, key: str, host: str) -> dict[str, Any]:
    """Ship with the named client as its users do; what each call answered."""
    samples = sample_events(host)
    single = samples.pop()  # the last sample goes through index() (POST /{index}/_doc)
    actions = [{"_index": "logs-windows", "_source": e} for e in samples + benign_events(host)]
    if client_name == "opensearch-py":
        from opensearchpy import OpenSearch
        from opensearchpy import helpers as os_helpers

        os_client = OpenSearch([url], http_auth=("shipper", key), timeout=60)
        version = __import__("opensearchpy").__versionstr__
        ping, info = os_client.ping(), os_client.info()
        shipped, errors = os_helpers.bulk(os_client, actions, raise_on_error=False)
        indexed = os_client.index(index="logs-windows", body=single)
    else:
        import elasticsearch
        from elasticsearch import Elasticsearch
        from elasticsearch import helpers as es_helpers

        es_client = Elasticsearch(url, api_key=("shipper", key), request_timeout=60)
        version = elasticsearch.__versionstr__
        ping, info = es_client.ping(), es_client.info()
        shipped, errors = es_helpers.bulk(es_client, actions, raise_on_error=False)
        indexed = es_client.index(index="logs-windows", document=single)
    return {
        "client_version": version,
        "ping": ping,
        "info": dict(info),
        "shipped": shipped,
        "errors": errors,
        "indexed": dict(indexed),
    }


if __name__ == "__main__":  # the subprocess that runs a client not in the venv
    print(json.dumps(ship(*sys.argv[1:5])))
    sys.exit(0)


import httpx  # noqa: E402  (the script above needs no test dependencies)
import pyotp  # noqa: E402
import pytest  # noqa: E402

from soc.core.db import Database  # noqa: E402
from soc.core.migrate import upgrade  # noqa: E402
from soc.core.principal import SYSTEM  # noqa: E402
from tenants import service as tenant_service  # noqa: E402

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(
        not all((CORPUS / s).exists() for _, s in SAMPLES), reason="SigmaHQ corpus not present"
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class EsServer:
    url: str
    key: str
    analyst: dict[str, str]  # Authorization header of a signed-in analyst
    log: Path

    @property
    def es(self) -> str:
        return f"{self.url}/es"


@contextmanager
def running_server(base_dir: Path) -> Iterator[EsServer]:
    """`soc run` on a free port with its own SQLite database and the SigmaHQ rules of SAMPLES;
    a tenant `alpha` with an ingest key and a signed-in analyst."""
    data_dir, rules = base_dir / "var", base_dir / "rules"
    rules.mkdir()
    for rule, _ in SAMPLES:
        shutil.copy(CORPUS / rule, rules / Path(rule).name)
    url = f"sqlite:///{data_dir / 'soc.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "alpha", "Alpha")
        analyst = tenant_service.create_user(
            session, SYSTEM, "analyst", PASSWORD, "soc_analyst", None, None
        )
        _, key = tenant_service.create_api_key(session, SYSTEM, "alpha", "shippers")
        secret = analyst.totp_secret or ""
    db.engine.dispose()
    port = free_port()
    env = os.environ | {
        "SOC_DATA_DIR": str(data_dir),
        "SOC_DATABASE_URL": url,
        "SOC_RULES_DIRS": f'["{rules}"]',
        "SOC_INCLUDE_BUILTIN_RULES": "false",
        "SOC_MODE": "embedded",
    }
    log_path = base_dir / "server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "soc.cli", "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                pytest.fail(log_path.read_text())
            time.sleep(0.1)
        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"username": "analyst", "password": PASSWORD, "totp": pyotp.TOTP(secret).now()},
        )
        assert login.status_code == 200, login.text
        yield EsServer(base, key, {"Authorization": f"Bearer {login.json()['token']}"}, log_path)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def es_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EsServer]:
    with running_server(tmp_path_factory.mktemp("es-clients")) as server:
        yield server


@pytest.fixture(scope="session")
def es8_path() -> Path:
    """elasticsearch 8.x installed from PyPI beside the venv (once; reused after)."""
    marker = ES8_DIR / ".installed"
    if not marker.exists():
        shutil.rmtree(ES8_DIR, ignore_errors=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(ES8_DIR), ES8_SPEC],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            message = f"pip could not install {ES8_SPEC}: {done.stderr[-2000:]}"
            pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
        marker.write_text(ES8_SPEC)
    return ES8_DIR


def ship_in_subprocess(path: Path, server: EsServer, host: str) -> dict[str, Any]:
    env = os.environ | {"PYTHONPATH": str(path)}
    done = subprocess.run(
        [sys.executable, __file__, "elasticsearch", server.es, server.key, host],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-4000:] + server.log.read_text()[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def assert_stored_and_detected(server: EsServer, host: str, result: dict[str, Any]) -> None:
    assert result["ping"] is True
    assert result["info"]["version"]["number"].startswith("8.")
    assert result["info"]["tagline"] == "You Know, for Search"
    assert result["errors"] == [] and result["shipped"] == len(SAMPLES) - 1 + BENIGN
    assert result["indexed"]["result"] == "created" and result["indexed"]["_id"]
    events = httpx.get(
        f"{server.url}/api/v1/events",
        params={"tenant": "alpha", "q": host, "limit": 1000},
        headers=server.analyst,
    )
    assert events.status_code == 200, events.text
    assert events.json()["total"] == len(SAMPLES) + BENIGN
    indexed = httpx.get(
        f"{server.url}/api/v1/events/{result['indexed']['_id']}",
        params={"tenant": "alpha"},
        headers=server.analyst,
    )
    assert indexed.status_code == 200, indexed.text
    cases = httpx.get(f"{server.url}/api/v1/cases", headers=server.analyst).json()["items"]
    raised = sorted(c["title"] for c in cases if c["host"] == host)
    assert len(raised) == len(SAMPLES), cases  # one case per SigmaHQ rule, on this host
    assert any("Bitsadmin" in title for title in raised), raised


def test_elasticsearch_9_client_ships_and_detects(es_server: EsServer) -> None:
    result = ship("elasticsearch", es_server.es, es_server.key, "es9-host")
    assert result["client_version"].startswith("9.")
    assert_stored_and_detected(es_server, "es9-host", result)


def test_elasticsearch_8_client_ships_and_detects(es_server: EsServer, es8_path: Path) -> None:
    result = ship_in_subprocess(es8_path, es_server, "es8-host")
    assert result["client_version"].startswith("8.")
    assert_stored_and_detected(es_server, "es8-host", result)


def test_opensearch_py_ships_and_detects(es_server: EsServer) -> None:
    result = ship("opensearch-py", es_server.es, es_server.key, "opensearch-host")
    assert_stored_and_detected(es_server, "opensearch-host", result)


def es_key(key: str) -> dict[str, str]:
    return {"Authorization": "ApiKey " + base64.b64encode(f"id:{key}".encode()).decode()}


COMPAT_JSON = "application/vnd.elasticsearch+json; compatible-with=8"


def test_answers_carry_the_product_header_and_compatible_types(es_server: EsServer) -> None:
    key = es_key(es_server.key)
    for version in ("8", "9"):
        headers = key | {
            "Accept": f"application/vnd.elasticsearch+json; compatible-with={version}",
            "Content-Type": f"application/vnd.elasticsearch+x-ndjson; compatible-with={version}",
        }
        body = b'{"create":{}}\n{"message":"compat %s"}\n' % version.encode()
        answer = httpx.put(f"{es_server.es}/_bulk", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-elastic-product"] == "Elasticsearch"
        assert answer.headers["content-type"] == (
            f"application/vnd.elasticsearch+json;compatible-with={version}"
        )
        assert answer.json()["items"][0]["create"]["status"] == 201
    head = httpx.head(f"{es_server.es}/", headers=key)
    assert head.status_code == 200 and head.headers["x-elastic-product"] == "Elasticsearch"
    assert httpx.head(f"{es_server.es}/").status_code == 401
    health = httpx.get(f"{es_server.es}/_cluster/health", headers=key)
    assert health.json()["status"] == "green" and "x-elastic-product" in health.headers


def es_error_of(answer: httpx.Response, status: int, kind: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["x-elastic-product"] == "Elasticsearch"
    body = answer.json()
    assert body["status"] == status
    assert body["error"]["type"] == kind and body["error"]["root_cause"][0]["type"] == kind
    reason: str = body["error"]["reason"]
    return reason


def test_refusals_are_elasticsearch_errors(es_server: EsServer) -> None:
    key = es_key(es_server.key)
    es = es_server.es
    es_error_of(httpx.get(f"{es}/"), 401, "security_exception")
    es_error_of(httpx.get(f"{es}/", headers=es_key("soc_wrong")), 401, "security_exception")
    reason = es_error_of(
        httpx.delete(f"{es}/_bulk", headers=key), 405, "method_not_allowed_exception"
    )
    assert "allowed: [POST, PUT]" in reason
    es_error_of(httpx.get(f"{es}/_nope/x", headers=key), 404, "resource_not_found_exception")
    csv = key | {"Content-Type": "text/csv"}
    es_error_of(
        httpx.post(f"{es}/_bulk", content=b"a\n", headers=csv), 415, "media_type_header_exception"
    )
    odd = key | {"Content-Type": "application/vnd.elasticsearch+x-ndjson; compatible-with=5"}
    es_error_of(
        httpx.post(f"{es}/_bulk", content=b"{}\n", headers=odd), 400, "media_type_header_exception"
    )
    json_type = key | {"Content-Type": "application/json"}
    es_error_of(
        httpx.post(f"{es}/logs/_doc", content=b"[1]", headers=json_type),
        400,
        "illegal_argument_exception",
    )
    bad_op = httpx.put(f"{es}/logs/_doc/1?op_type=delete", content=b"{}", headers=json_type)
    es_error_of(bad_op, 400, "illegal_argument_exception")


def test_single_documents_and_create_conflicts(es_server: EsServer) -> None:
    headers = es_key(es_server.key) | {"Content-Type": COMPAT_JSON, "Accept": COMPAT_JSON}
    doc = json.dumps({"message": "single doc", "host": {"name": "doc-host"}}).encode()
    first = httpx.put(f"{es_server.es}/logs/_doc/abc", content=doc, headers=headers)
    assert first.status_code == 201 and first.json()["result"] == "created", first.text
    again = httpx.put(f"{es_server.es}/logs/_doc/abc", content=doc, headers=headers)
    assert again.status_code == 200 and again.json()["result"] == "noop"
    assert again.json()["_id"] == first.json()["_id"]  # the id comes from the content
    conflict = httpx.put(f"{es_server.es}/logs/_create/abc", content=doc, headers=headers)
    es_error_of(conflict, 409, "version_conflict_engine_exception")


def test_gzip_bodies_as_beats_send_them(es_server: EsServer) -> None:
    import gzip

    body = gzip.compress(b'{"index":{}}\n{"message":"gzipped beat"}\n')
    headers = es_key(es_server.key) | {
        "Content-Type": "application/x-ndjson",
        "Content-Encoding": "gzip",
    }
    answer = httpx.post(f"{es_server.es}/_bulk", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["errors"] is False, answer.text
    broken = httpx.post(f"{es_server.es}/_bulk", content=b"not gzip", headers=headers)
    es_error_of(broken, 400, "illegal_argument_exception")


def test_only_an_ingest_key_opens_every_es_route(es_server: EsServer) -> None:
    """No key, a wrong key or a user's token: 401 on every route, new ones included."""
    for method, template in sorted(ISOLATION_COVERED):
        path = template.replace("{index}", "logs").replace("{doc_id}", "1")
        for headers in ({}, es_key("soc_wrong"), es_server.analyst):
            got = httpx.request(
                method, es_server.url + path, content=b"{}", headers=headers
            ).status_code
            assert got == 401, f"{method} {path}: {got}"
