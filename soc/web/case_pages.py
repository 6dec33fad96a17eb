"""One security case: its rule, alerts, events, timeline, triage, merge, split, evidence."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
