"""Old API paths kept working after a rename.

An old path stays in the OpenAPI document marked ``deprecated`` with its successor named
(``x-successor``), and every answer on it carries ``Deprecation: true`` (RFC 9745) and
``Link: <successor>; rel="successor-version"`` (RFC 8288), so a client sees the new name
without breaking. :func:`alias` serves a routed endpoint under its old path too;
``**replaced_by("/api/v1/...")`` marks a route of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute

SUCCESSOR = "x-successor"


def successor_link(successor: str, path_params: dict[str, Any]) -> dict[str, str]:
    """The two headers of an answer on a deprecated path (for endpoints that build their own
    Response, whose headers FastAPI does not merge)."""
    try:  # percent-encoded: a header is Latin-1, a path parameter may be anything
        target = successor.format(**{k: quote(str(v), safe="") for k, v in path_params.items()})
    except (KeyError, IndexError):
        target = successor
    return {"Deprecation": "true", "Link": f'<{target}>; rel="successor-version"'}


def _mark(successor: str) -> Callable[[Request, Response], None]:
    def mark_deprecated(request: Request, response: Response) -> None:
        response.headers.update(successor_link(successor, request.path_params))

    return mark_deprecated


def replaced_by(successor: str) -> dict[str, Any]:
    """Route keyword arguments for a path replaced by ``successor`` (a full path template)."""
    return {
        "deprecated": True,
        "openapi_extra": {SUCCESSOR: successor},
        "dependencies": [Depends(_mark(successor))],
    }


def alias(
    router: APIRouter, old_path: str, endpoint: Callable[..., Any], *, successor: str
) -> None:
    """Serve ``endpoint`` (already routed on ``router``) under ``old_path`` too, deprecated in
    favour of ``successor``."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)
    summary = route.summary or route.name.replace("_", " ").title()
    marks = replaced_by(successor)
    router.add_api_route(
        old_path,
        endpoint,
        methods=sorted(route.methods or ()),
        response_model=route.response_model,
        status_code=route.status_code,
        tags=[t for t in route.tags if t not in router.tags],  # the router adds its own
        dependencies=[*route.dependencies, *marks["dependencies"]],
        summary=f"{summary} (old path)",
        description=f"Deprecated path: use `{successor}`.\n\n{route.description}",
        responses=dict(route.responses),
        deprecated=True,
        response_class=route.response_class,
        name=f"{route.name}_old_path",
        openapi_extra=marks["openapi_extra"],
    )
