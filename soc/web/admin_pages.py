"""The admin console: tenants, users, API keys, providers, log sources, one-step onboarding."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
