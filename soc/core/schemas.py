"""Shared pydantic pieces for API answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

# Row ids are 64-bit signed integers in the database: a larger number in a URL or a body must
# be a 422, not an OverflowError from the driver (a 500). One type for path parameters, query
# parameters and body fields alike (FastAPI reads the bounds from the Field).
DB_INT_MAX = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
RowId = Id  # the older name, kept for the routers that import it


def parse_id(raw: str | None) -> int | None:
    """A row id from untyped text (web form values, URL segments), or None when the text is
    not one: ASCII digits only (str.isdigit also accepts '²'), within the database's range."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 1 <= value <= DB_INT_MAX else None


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    total: int
    limit: int
    offset: int
    items: list[T]


class ErrorOut(BaseModel):
    error: str
    detail: str


class JobProgressOut(BaseModel):
    done: int
    total: int | None
    percent: float


class JobOut(BaseModel):
    id: int
    kind: str
    tenant_id: int
    state: Literal["queued", "running", "done", "failed"]
    actor: str
    params: dict[str, Any]
    progress: JobProgressOut
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    finished_at: datetime | None
