"""Shared pydantic pieces for API answers."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Path
from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

# Row ids are 64-bit signed integers in the database: a larger number in a URL must be a 422,
# not an OverflowError from the driver (a 500).
DB_INT_MAX = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]


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
