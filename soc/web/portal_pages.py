"""The customer portal: its cases (with replies), usage, invoices, status, reports, KRIs, risks."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
