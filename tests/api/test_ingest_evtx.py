"""POST /api/v1/ingest/evtx: real SigmaHQ EVTX files, raw and multipart; corrupt records
reported by offset while the rest is stored; replays are duplicates, metered once; not-EVTX
bodies refused; only the key's tenant written; a corpus rule fires on an uploaded sample."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from detections.engine import RuleSet
from detections.models import Alert
from soc.app import create_app
from soc.cases.models import Case
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import Services, build_services
from tenants import service as tenant_service
from tenants.models import UsageDaily
from tests.conftest import World
from tests.detections.conftest import CORPUS, corpus_available
from tests.evtx_samples import all_corpus_chunks, build_evtx, chunks_of, record_offsets

pytestmark = pytest.mark.skipif(not corpus_available(), reason="SigmaHQ corpus not available")

# What the isolation walk (tests/api/test_isolation.py) finds covered here:
# test_a_key_writes_evtx_only_to_its_own_tenant.
ISOLATION_COVERED = {("POST", "/api/v1/ingest/evtx")}

PROCESS = CORPUS / "regression_data/rules/windows/process_creation"
SIX_RECORDS = (
    CORPUS / "regression_data/rules-emerging-threats/2025/Malware/Shai-Hulud"
    "/proc_creation_win_mal_shai_hulud_malicious_node_bun_execution"
    "/5299fadf-f228-4526-8274-251db1960be9.evtx"
)
RESTORE_RULE = (
    CORPUS / "rules/windows/process_creation/proc_creation_win_reg_system_restore_modification.yml"
)
RESTORE_SAMPLE = (
    PROCESS
    / "proc_creation_win_reg_system_restore_modification"
    / "7c06ab9b-b1d2-4ba9-b06e-09491ded20d9.evtx"
)
RAW = "application/octet-stream"


def post_raw(client: TestClient, key: str, body: bytes) -> dict:
    answer = client.post(
        "/api/v1/ingest/evtx", content=body, headers={"X-API-Key": key, "Content-Type": RAW}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def metered_events(services: Services, tenant_id: int) -> int:
    with services.db.read_session() as session:
        total = session.scalar(
            select(func.coalesce(func.sum(UsageDaily.events), 0)).where(
                UsageDaily.tenant_id == tenant_id
            )
        )
    return int(total or 0)


def test_raw_upload_stores_every_record_and_a_replay_is_duplicates(
    client: TestClient, world: World, services: Services
) -> None:
    body = build_evtx(all_corpus_chunks())
    first = post_raw(client, world.keys["alpha"], body)
    # 120 records; two samples share one record, which is one event
    assert (first["accepted"], first["new"], first["rejected"]) == (120, 119, 0)
    assert first["files"] == [
        {
            "name": "body",
            "bytes": len(body),
            "accepted": 120,
            "duplicates": 1,
            "new": 119,
            "rejected": 0,
        }
    ]
    assert services.store.stats(1).events == 119
    metered = metered_events(services, 1)
    again = post_raw(client, world.keys["alpha"], body)
    assert (again["accepted"], again["duplicates"], again["new"]) == (120, 120, 0)
    assert services.store.stats(1).events == 119
    assert metered_events(services, 1) == metered  # a replay is not metered twice


def test_corrupt_record_is_reported_by_offset_and_the_rest_stored(
    client: TestClient, world: World, services: Services
) -> None:
    good = chunks_of(RESTORE_SAMPLE)[0]
    damaged = bytearray(chunks_of(SIX_RECORDS)[0])
    body = bytearray(build_evtx([bytes(damaged), good]))
    third = record_offsets(bytes(body), 4096)[2]  # record 3 of the first chunk
    body[third + 24 : third + 40] = b"\xfe" * 16  # its BinXML: no longer a valid token
    broken_chunk = bytearray(good)
    broken_chunk[:8] = b"NotAChk!"
    body += bytes(broken_chunk) + good  # a chunk without its signature, then a good one again
    result = post_raw(client, world.keys["alpha"], bytes(body))
    assert result["rejected"] == 2
    record_error, chunk_error = result["errors"]
    assert record_error["record"] == 3 and record_error["offset"] == third
    assert "record number 3" in record_error["reason"]
    assert chunk_error == {
        "file": "body",
        "record": None,
        "offset": 4096 + 2 * 65536,
        "reason": "not an EVTX chunk (bad 'ElfChnk' signature)",
    }
    # 5 of the 6 records, the 4 of the good chunk (twice: the same events, stored once)
    assert result["accepted"] == 5 + 4 + 4 and result["new"] == 9
    assert services.store.stats(1).events == 9


def test_multipart_files_and_refusals(client: TestClient, world: World) -> None:
    key = {"X-API-Key": world.keys["alpha"]}
    files = [
        ("file", ("a.evtx", RESTORE_SAMPLE.read_bytes(), RAW)),
        ("file", ("b.evtx", SIX_RECORDS.read_bytes(), RAW)),
    ]
    answer = client.post("/api/v1/ingest/evtx", files=files, data={"note": "x"}, headers=key)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert [(f["name"], f["accepted"]) for f in out["files"]] == [("a.evtx", 4), ("b.evtx", 6)]
    assert out["accepted"] == 10

    not_evtx = [
        ("file", ("a.evtx", RESTORE_SAMPLE.read_bytes(), RAW)),
        ("file", ("c.json", b"{}", RAW)),
    ]
    refused = client.post("/api/v1/ingest/evtx", files=not_evtx, headers=key)
    assert refused.status_code == 422
    assert "c.json: not an EVTX file" in refused.json()["detail"]
    raw = client.post(
        "/api/v1/ingest/evtx", content=b'{"a": 1}', headers=key | {"Content-Type": RAW}
    )
    assert raw.status_code == 422 and "not an EVTX file" in raw.json()["detail"]
    empty = client.post("/api/v1/ingest/evtx", content=b"", headers=key | {"Content-Type": RAW})
    assert empty.status_code == 422
    wrong = client.post(
        "/api/v1/ingest/evtx", content=b"x", headers=key | {"Content-Type": "text/csv"}
    )
    assert wrong.status_code == 415
    no_file = client.post(
        "/api/v1/ingest/evtx",
        data={"note": "x"},
        files={},
        headers=key | {"Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert no_file.status_code == 422
    bad_key = client.post(
        "/api/v1/ingest/evtx", content=b"x", headers={"X-API-Key": "nope", "Content-Type": RAW}
    )
    assert bad_key.status_code == 401


@pytest.fixture
def small_limit(settings: Settings) -> Settings:
    settings.ingest_evtx_max_bytes = 100_000
    return settings


def test_upload_over_the_limit_is_413_and_leaves_no_file(
    small_limit: Settings, client: TestClient, world: World
) -> None:
    body = build_evtx(chunks_of(RESTORE_SAMPLE) * 2)  # 135 KB
    headers = {"X-API-Key": world.keys["alpha"], "Content-Type": RAW}
    declared = client.post("/api/v1/ingest/evtx", content=body, headers=headers)
    assert declared.status_code == 413
    streamed = client.post(
        "/api/v1/ingest/evtx", content=iter([body[:60_000], body[60_000:]]), headers=headers
    )
    assert streamed.status_code == 413
    assert list(small_limit.upload_path.iterdir()) == []


def test_a_key_writes_evtx_only_to_its_own_tenant(
    client: TestClient, world: World, services: Services
) -> None:
    before = services.store.stats(2).events
    post_raw(client, world.keys["alpha"], RESTORE_SAMPLE.read_bytes())
    assert services.store.stats(2).events == before
    assert services.store.stats(1).events == 4
    post_raw(client, world.keys["beta"], RESTORE_SAMPLE.read_bytes())
    assert services.store.stats(2).events == before + 4  # the same file: another tenant's events


@pytest.fixture(scope="module")
def restore_rule() -> RuleSet:
    return RuleSet.from_dirs([RESTORE_RULE])


@pytest.fixture
def rule_services(tmp_path: Path, restore_rule: RuleSet) -> Iterator[Services]:
    settings = Settings(data_dir=tmp_path / "var", include_builtin_rules=False)
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings, ruleset=restore_rule)
    yield services
    services.close()


def test_uploaded_sample_raises_its_sigma_rule_and_a_case(rule_services: Services) -> None:
    with rule_services.db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "corpus", "Corpus")
        _, key = tenant_service.create_api_key(session, SYSTEM, "corpus", "test")
    with TestClient(create_app(rule_services.settings, rule_services)) as client:
        result = post_raw(client, key, RESTORE_SAMPLE.read_bytes())
    assert result["new"] == 4
    with rule_services.db.read_session() as session:
        alerts = session.scalars(select(Alert.rule_id)).all()
        cases = session.scalars(select(Case.title)).all()
    assert alerts and set(alerts) == {"7c06ab9b-b1d2-4ba9-b06e-09491ded20d9"}
    assert any("System Restore" in title for title in cases), cases
