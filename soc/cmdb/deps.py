"""Typed request dependency on the process's status engine."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from soc.cmdb.engine import StatusEngine
from soc.core.deps import state_dependency

CmdbEngineDep = Annotated[StatusEngine, Depends(state_dependency("cmdb_engine", StatusEngine))]
