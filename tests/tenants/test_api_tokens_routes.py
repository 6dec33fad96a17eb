"""The API-token check walks the whole API: from the OpenAPI document, every operation a token
must not reach answers 403 before its input is even read, and the document's `apiToken`
requirement names exactly the scopes that open it (the table the check enforces)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from soc.core.principal import TOKEN_SCOPES, token_scopes_for
from tests.conftest import World

WRITES = ("post", "put", "patch", "delete")


def token(client: TestClient, world: World, scopes: list[str]) -> dict[str, str]:
    """An administrator's token: whatever it is refused, the role did not refuse it."""
    answer = client.post(
        "/api/v1/auth/api-tokens",
        json={"name": "walk", "scopes": scopes, "expires_days": 1},
        headers=world["admin"].headers,
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def bearer_operations(client: TestClient) -> list[tuple[str, str, str, dict]]:
    """(method, concrete path, tag, operation) of every operation a user's session may call."""
    found = []
    for template, operations in client.app.openapi()["paths"].items():
        path = re.sub(r"\{[^}]+\}", "1", template)
        for method, operation in operations.items():
            if {"bearerAuth": []} in operation.get("security", []):
                found.append((method, path, operation["tags"][0], operation))
    return found


def test_a_token_without_the_scope_gets_403_on_every_route_of_a_tag(
    client: TestClient, world: World
) -> None:
    operations = bearer_operations(client)
    assert len(operations) > 150  # the walk found the API
    read_only = token(client, world, [n for n, s in TOKEN_SCOPES.items() if not s.write])
    # Per tag with a write scope: a token with every scope but that one.
    writers = {
        tag: token(
            client, world, [n for n in TOKEN_SCOPES if n not in token_scopes_for([tag], "POST")]
        )
        for tag in {t for s in TOKEN_SCOPES.values() if s.write for t in s.tags}
    }
    failures = []
    checked = 0
    for method, path, tag, _ in operations:
        writing = method in WRITES
        if not writing and token_scopes_for([tag], "GET"):
            continue  # a read some scope opens: the read-only token has it
        for headers in (read_only, writers.get(tag, read_only)) if writing else (read_only,):
            # No body: the answer must be the token's 403, not a 422 on the input.
            got = client.request(method.upper(), path, headers=headers).status_code
            checked += 1
            if got != 403:
                failures.append(f"{method.upper()} {path} ({tag}): {got}")
    assert checked > 150
    assert not failures, "\n".join(failures)


def test_the_scopes_open_their_tags_reads(client: TestClient, world: World) -> None:
    """Each read scope alone opens a list of its own tag (the administrator sees it)."""
    for scope, path in (
        ("cases:read", "/api/v1/cases"),
        ("billing:read", "/api/v1/billing/usage"),
        ("risks:read", "/api/v1/risk/risks"),
        ("kri:read", "/api/v1/kri/catalogue"),
        ("status:read", "/api/v1/status/notices"),
        ("ingest", "/api/v1/log-sources"),
    ):
        headers = token(client, world, [scope])
        assert client.get(path, headers=headers).status_code == 200, scope
        assert client.get("/api/v1/cmdb/cis", headers=headers).status_code == 403, scope


def test_the_document_declares_the_scheme_and_each_operations_scopes(
    client: TestClient,
) -> None:
    document = client.app.openapi()
    scheme = document["components"]["securitySchemes"]["apiToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert all(f"`{name}`" in scheme["description"] for name in TOKEN_SCOPES)
    for method, _, tag, operation in bearer_operations(client):
        wanted = token_scopes_for([tag], method)
        declared = [r["apiToken"] for r in operation["security"] if "apiToken" in r]
        assert declared == ([wanted] if wanted else []), (method, tag)
    comments = document["paths"]["/api/v1/cases/{case_id}/comments"]["post"]["security"]
    assert comments == [{"bearerAuth": []}, {"apiToken": ["cases:write"]}]
