"""The shell's own request dependency: the whole composition root, for the web pages and the
system routes (domain routers take the typed pieces of soc.core.deps instead)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from soc.core.deps import state_dependency
from soc.services import Services

get_services = state_dependency("services", Services)
ServicesDep = Annotated[Services, Depends(get_services)]
