"""Which tenant a syslog message belongs to: the listener's port (a port per tenant) or an
ingest key in structured data, `[soc@32473 key="<ingest api key>"]`, verified as the HTTP
ingest verifies keys (tenants.api_keys). The key never reaches the stored event."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ingest.syslog.parse import Bad
from soc.core.errors import DomainError

SD_ID = "soc@32473"
KEY_CACHE_SECONDS = 60.0  # a revoked key stops working within this


def take_key(fields: dict[str, Any]) -> str | None:
    """Remove the key element from the fields; return the key it carried."""
    sd = fields.get("structured_data")
    if not isinstance(sd, dict) or SD_ID not in sd:
        return None
    element = sd.pop(SD_ID)
    if not sd:
        del fields["structured_data"]
    key = element.get("key")
    return key if isinstance(key, str) else None


class TenantResolver:
    """Port → tenant id, and key → tenant id (cached; `lookup` asks the database)."""

    def __init__(self, port_tenants: dict[int, int], lookup: Callable[[str], int]) -> None:
        self.port_tenants = port_tenants
        self.lookup = lookup
        self._cache: dict[str, tuple[float, int | str]] = {}

    def _key_tenant(self, key: str) -> int | Bad:
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is None or cached[0] < now:
            try:
                answer: int | str = self.lookup(key)
            except DomainError as exc:
                answer = exc.message
            cached = (now + KEY_CACHE_SECONDS, answer)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = cached
        return cached[1] if isinstance(cached[1], int) else Bad(f"ingest key: {cached[1]}")

    def tenant_of(self, port: int, key: str | None) -> int | Bad:
        fixed = self.port_tenants.get(port)
        if key is None:
            if fixed is None:
                return Bad(f'no tenant: send [{SD_ID} key="<ingest key>"] or use a tenant port')
            return fixed
        tenant = self._key_tenant(key)
        if fixed is not None and not isinstance(tenant, Bad) and tenant != fixed:
            return Bad("the ingest key is for another tenant than this port's")
        return tenant
