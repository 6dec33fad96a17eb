"""Evidence uploads are authenticated and authorised before the body is read, and read no
further than the evidence limit. The body is streamed to the app through httpx's ASGI transport,
which pulls each chunk only when the server asks for it, so the test counts what was read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from soc.app import create_app
from soc.cases.upload import MULTIPART_SLACK
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event

LIMIT = 256 * 1024
CHUNK = 64 * 1024
BOUNDARY = "soc-test-boundary"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"case_evidence_max_bytes": LIMIT})


class CountingBody:
    """A multipart body of `size` file bytes, produced only as the server reads it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces():
            self.sent += len(piece)
            yield piece

    def _pieces(self) -> Iterator[bytes]:
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            'filename="dump.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        left = self.size
        while left > 0:
            take = min(CHUNK, left)
            yield b"x" * take
            left -= take
        yield f"\r\n--{BOUNDARY}--\r\n".encode()


def post(
    services: Services, settings: Settings, url: str, body: CountingBody, headers: dict
) -> httpx.Response:
    app = create_app(settings, services)

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://soc.test") as client:
            return await client.post(
                url,
                content=body,
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **headers},
            )

    return asyncio.run(run())


@pytest.fixture
def case_url(client: TestClient, world: World) -> str:
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("ev-1")),
        headers=key_headers(world.keys["alpha"]),
    )
    assert answer.status_code == 200
    (case,) = client.get("/api/v1/cases", headers=world["admin"].headers).json()["items"]
    return f"/api/v1/cases/{case['id']}/evidence"


HUGE = 1_500_000_000  # what the campaign sent; only the first chunks may ever be produced


def test_unauthenticated_upload_is_refused_before_the_body_is_read(
    services: Services, settings: Settings, case_url: str
) -> None:
    body = CountingBody(HUGE)
    answer = post(services, settings, case_url, body, {})
    assert answer.status_code == 401, answer.text
    assert body.sent == 0  # not one byte of the body was read
    junk = CountingBody(HUGE)
    assert (
        post(services, settings, case_url, junk, {"Authorization": "Bearer nope"}).status_code
        == 401
    )
    assert junk.sent == 0


def test_upload_to_a_case_out_of_scope_is_refused_before_the_body_is_read(
    services: Services, settings: Settings, world: World, case_url: str
) -> None:
    for user, status in (("customer-beta", 404), ("finance", 403)):
        body = CountingBody(HUGE)
        answer = post(services, settings, case_url, body, world[user].headers)
        assert answer.status_code == status, (user, answer.text)
        assert body.sent == 0


def test_over_limit_upload_stops_at_the_limit(
    services: Services, settings: Settings, world: World, case_url: str
) -> None:
    body = CountingBody(HUGE)
    answer = post(services, settings, case_url, body, world["soc_analyst"].headers)
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"] == "payload_too_large"
    assert body.sent <= LIMIT + MULTIPART_SLACK + CHUNK  # the limit, plus one chunk in flight
    declared = CountingBody(HUGE)  # a Content-Length over the limit: refused before reading
    headers = world["soc_analyst"].headers | {"Content-Length": str(HUGE + 200)}
    assert post(services, settings, case_url, declared, headers).status_code == 413
    assert declared.sent == 0


def test_uploads_within_the_limit_still_work(
    client: TestClient, world: World, case_url: str
) -> None:
    analyst = world["soc_analyst"].headers
    just = client.post(
        case_url, files={"file": ("limit.txt", b"y" * LIMIT, "text/plain")}, headers=analyst
    )
    assert just.status_code == 201, just.text
    over = client.post(
        case_url, files={"file": ("over.txt", b"y" * (LIMIT + 1), "text/plain")}, headers=analyst
    )
    assert over.status_code == 413
    pdf = client.post(case_url, files={"file": ("r.pdf", PDF, "application/pdf")}, headers=analyst)
    assert pdf.status_code == 201 and pdf.json()["size"] == len(PDF)
    assert client.post(case_url, content=b"raw", headers=analyst).status_code == 415
    listed = client.get(case_url, headers=analyst).json()
    assert [e["filename"] for e in listed] == ["limit.txt", "r.pdf"]
