"""The finance console: months, usage, closing, invoices, exports, plans, corrections, ceilings."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
