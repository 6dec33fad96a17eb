"""Event search over the store: time range, field filters, full text."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
