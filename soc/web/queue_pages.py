"""The analyst's case queue: columns, filters, sorting, cursor paging, saved views, bulk actions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
