"""Typed request dependencies for the tenants domain's long-lived objects."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from soc.core.deps import state_dependency
from tenants.login_guard import LoginGuard

LoginGuardDep = Annotated[LoginGuard, Depends(state_dependency("login_guard", LoginGuard))]
