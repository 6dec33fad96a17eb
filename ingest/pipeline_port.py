"""What the ingest routers need of the ingest → detect → case pipeline (`soc.pipeline`).

The pipeline lives above this floor (it raises cases), so the routers reach it through this
protocol, from `app.state.pipeline` (see ingest.deps.PipelineDep).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ingest.parse import Parsed
from ingest.service import IngestResult, StoredBatch
from soc.core.principal import TenantRef


@runtime_checkable
class IngestPipeline(Protocol):
    def ingest_body(self, tenant: TenantRef, body: bytes, content_type: str) -> IngestResult:
        """Parse, store, meter, detect and raise cases for one request body."""
        ...

    def ingest_items(self, tenant: TenantRef, items: Sequence[Parsed]) -> StoredBatch:
        """Store, meter, detect and raise cases for already parsed objects (`_bulk`)."""
        ...
