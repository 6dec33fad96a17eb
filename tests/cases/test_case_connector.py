"""ITSM connector against a real HTTP receiver process: every case change exactly once, in
order per case, through failures and a lost reply; dead letters and an admin replay."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from soc.cases.connector import deliver_due
from soc.cases.models import OutboxMessage
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event

RECEIVER = Path(__file__).with_name("itsm_receiver.py")
SECRET = "outbound-test-secret"


class Receiver:
    def __init__(self, *flags: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(RECEIVER), "--secret", SECRET, *flags],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def state(self) -> dict:
        return httpx.get(f"{self.url}/state", timeout=5).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    flags = getattr(request, "param", ("--fail-first", "3", "--lose-reply", "2"))
    started = Receiver(*flags)
    yield started
    started.stop()


@pytest.fixture
def settings(settings: Settings, receiver: Receiver) -> Settings:
    return settings.model_copy(
        update={
            "itsm_url": f"{receiver.url}/incident",
            "itsm_secret": SECRET,
            "itsm_backoff_seconds": 0.05,
            "itsm_backoff_max_seconds": 0.2,
            "itsm_max_attempts": 4,
        }
    )


def make_changes(client: TestClient, world: World) -> int:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("h1"), whoami_event("h2")),
        headers=key_headers(world.keys["alpha"]),
    )
    analyst = world["soc_analyst"].headers
    case_id = client.get("/api/v1/cases", headers=analyst).json()["items"][0]["id"]
    url = f"/api/v1/cases/{case_id}"
    assert client.post(f"{url}/assign", json={"provider": "prov-a"}, headers=analyst).is_success
    assert client.post(f"{url}/comments", json={"text": "on it"}, headers=analyst).is_success
    assert client.post(f"{url}/status", json={"status": "resolved"}, headers=analyst).is_success
    return case_id


def drain(services: Services, settings: Settings, rounds: int = 60) -> None:
    for _ in range(rounds):
        deliver_due(services.db, settings)
        with services.db.session() as session:
            left = session.query(OutboxMessage).filter(OutboxMessage.state == "pending").count()
        if not left:
            return
        time.sleep(0.06)
    raise AssertionError("outbox did not drain")


def test_every_change_is_delivered_exactly_once_in_order(
    client: TestClient, world: World, services: Services, settings: Settings, receiver: Receiver
) -> None:
    case_id = make_changes(client, world)
    drain(services, settings)
    with services.db.session() as session:
        sent = [
            (m.idempotency_key, m.case_id, m.kind, m.state)
            for m in session.query(OutboxMessage).order_by(OutboxMessage.id)
        ]
    assert len(sent) == 5 and {s[3] for s in sent} == {"delivered"}
    state = receiver.state()
    applied = [a["key"] for a in state["applied"]]
    assert sorted(applied) == sorted(s[0] for s in sent)  # every change, once
    assert len(applied) == len(set(applied))
    assert len(state["attempts"]) >= len(sent) + 4  # 3 failures and a lost reply were retried
    kinds = [a["kind"] for a in state["applied"] if a["case"] == case_id]
    assert kinds == ["created", "assigned", "comment", "status"]  # in order per case


@pytest.mark.parametrize("receiver", [("--fail-first", "5")], indirect=True)
def test_dead_letters_and_admin_replay(
    client: TestClient, world: World, services: Services, settings: Settings, receiver: Receiver
) -> None:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("h1")),
        headers=key_headers(world.keys["alpha"]),
    )
    drain(services, settings)  # 4 attempts, all refused: dead
    admin = world["admin"].headers
    dead = client.get("/api/v1/itsm/dead-letters", headers=admin).json()
    assert [(d["kind"], d["attempts"], d["state"]) for d in dead] == [("created", 4, "dead")]
    assert "503" in dead[0]["last_error"]
    replay = client.post(f"/api/v1/itsm/dead-letters/{dead[0]['id']}/replay", headers=admin)
    assert replay.status_code == 200 and replay.json()["state"] == "pending"
    drain(services, settings)  # the fifth refusal, then accepted
    assert client.get("/api/v1/itsm/dead-letters", headers=admin).json() == []
    assert [a["key"] for a in receiver.state()["applied"]] == [dead[0]["idempotency_key"]]
    again = client.post(f"/api/v1/itsm/dead-letters/{dead[0]['id']}/replay", headers=admin)
    assert again.status_code == 404
